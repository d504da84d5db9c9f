"""The planning map: main map, village pages, map data per view, coverage tiles."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from urllib.parse import urlsplit

import folium
import pandas as pd
from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from folium.plugins import Fullscreen, MarkerCluster
from markupsafe import Markup

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.layers import normalise_code
from geo_p2dd.project import generation_number
from geo_p2dd.schema import (
    GAP_CLASSES,
    LOCATION_KINDS,
    LOCATION_STATUS,
    SITE_KINDS,
    SITE_STATUS,
    gap_definition,
)
from geo_p2dd.scoring import FACTORS, factor_label, rank
from web import auth, compression, mapdata, tiles
from web.assets import (
    PAGE_BUNDLES,
    folium_replacements,
    inline_wanted,
    localise,
    prefetch_urls,
)
from web.context import current_view
from web.security import (
    NONCE_PLACEHOLDER,
    content_security_policy,
    hash_scripts,
    nonce_scripts,
)

bp = Blueprint("maps", __name__)

BASEMAPS = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'),
    "light": ("https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png",
              '&copy; OpenStreetMap, &copy; CARTO'),
}
BASEMAP_COOKIE = "basemap"
MAX_TABLE_ROWS = 500  # the ranked table shows the top gaps; filters narrow larger regions
MAX_KECAMATAN_FILTER = 300
#: map pages for visitors not signed in: kept by the browser for a day and shown again
#: without a round trip; map.js revalidates them in the background (see _revalidated)
KEPT_PAGE = "private, max-age=86400"
#: kept pages up to this size get a best Brotli copy (about a second of a core per
#: 500 kB, once per page, in the background)
KEPT_PAGE_BEST_BYTES = 768 * 1024


def tile_hosts() -> tuple[str, ...]:
    """Origins of the basemap tile servers the visitor's page may load images from.

    None with the basemap "none" (offline); otherwise every basemap's, since the layer
    control switches between them without reloading the page.
    """
    if _basemap() == "none":
        return ()
    return tuple(dict.fromkeys(
        "https://" + urlsplit(url).netloc.replace("{s}", "*") for url, _attr in BASEMAPS.values()))


def _basemap() -> str:
    chosen = request.cookies.get(BASEMAP_COOKIE) or current_app.config["BASEMAP"]
    return chosen if chosen in ("osm", "light", "none") else "osm"


def _coverage_layer(view) -> dict | None:
    """The raster shown as the signal overlay: an imported 4G raster, else modelled 4G."""
    for entry in view.project.coverage_entries():
        if entry.get("technology") in ("4G", "5G"):
            return {"name": entry["name"], "values": entry.get("values", "classes"),
                    "label": f"{entry.get('operator') or ''} {entry['technology']}".strip()}
    analysis = view.project.config.get("analysis") or {}
    for entry in analysis.get("modelled", []):
        if entry["name"] == "modelled_4g":
            return {"name": "modelled_4g", "values": "classes", "label": _("modelled 4G")}
    return None


def _raster_file(view, name: str):
    for entry in view.project.coverage_entries():
        if entry["name"] == name:
            return view.project.path / entry["file"], entry.get("values", "classes")
    analysis = view.project.config.get("analysis") or {}
    for entry in analysis.get("modelled", []):
        if entry["name"] == name:
            return view.project.path / entry["file"], "classes"
    return None, None


def _regions(view) -> list[dict]:
    """Kabupaten the project holds (for the region picker)."""
    if view.areas is None:
        return []
    kab = view.areas[view.areas["level"] == "kabupaten"]
    return [{"kode": r.kode, "nama": r.nama} for r in kab.itertuples()]


def _area_name(view, code: str) -> str | None:
    if view.areas is not None:
        hit = view.areas[view.areas["kode"] == code]
        if len(hit):
            return str(hit.iloc[0]["nama"])
    return None


def _default_region(view) -> str:
    regions = _regions(view)
    if len(regions) == 1:
        return regions[0]["kode"]
    return view.project.region_code or ""


def build_map(view, region: str, lang: str) -> dict:
    """The folium map and the data our script needs, for one region."""
    frame = mapdata.region_villages(view, region or None)
    if len(frame) == 0:
        raise NotFoundError(_("No village in region %(region)s.", region=region))
    bounds = frame.total_bounds
    zoom = mapdata.zoom_for_bounds(bounds)
    tolerance = mapdata.degrees_per_pixel(zoom) / 2
    embedded = len(frame) <= mapdata.MAX_EMBEDDED_VILLAGES
    basemap = _basemap()
    m = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
                   zoom_start=zoom, tiles=None, control_scale=True, prefer_canvas=False)
    names = {"osm": "OpenStreetMap", "light": _("Light basemap")}
    for key, (url, attr) in BASEMAPS.items():
        if basemap == "none":  # no outside images on this page (CSP): map.js reloads on choice
            folium.FeatureGroup(name=names[key], overlay=False, control=True,
                                show=False).add_to(m)
            continue
        folium.TileLayer(url, attr=attr, name=names[key], overlay=False, control=True,
                         show=basemap == key, max_zoom=19).add_to(m)
    cov = _coverage_layer(view)
    if cov is not None:
        tile_url = url_for("maps.tile", name=cov["name"], z=0, x=0, y=0).replace(
            "/0/0/0.png", "/{z}/{x}/{y}.png")
        folium.TileLayer(tile_url, attr=_("signal: geo_p2dd"), name=_("Signal (%(label)s)",
                         label=cov["label"]), overlay=True, control=True, show=True,
                         opacity=0.85, max_zoom=19).add_to(m)
    aggregate = None
    if not embedded:
        level = "kecamatan" if region and len(region.split(".")) >= 2 else "kabupaten"
        data = mapdata.area_geojson(view, level, region, tolerance, lang)
        if data is not None:
            aggregate = folium.GeoJson(
                data, name=_("Share of blank-spot kampung per %(level)s", level=level),
                zoom_on_click=False,
                style_function=lambda f: {"fillColor": mapdata.share_colour(
                    f["properties"].get("blank_share")), "color": "#ffffff", "weight": 0.6,
                    "fillOpacity": 0.65},
                highlight_function=lambda f: {"weight": 2.5, "color": "#102a43"})
            aggregate.add_to(m)
    outline_levels = ("kabupaten", "kecamatan") if embedded else ()
    for level in outline_levels:
        data = mapdata.area_geojson(view, level, region, tolerance, lang)
        if data is None:
            continue
        weight = 2.5 if level == "kabupaten" else 1.5
        folium.GeoJson(data, name=_("Kabupaten outline") if level == "kabupaten" else
                       _("Kecamatan outlines"), interactive=False,
                       style_function=lambda f, w=weight: _outline_style(w)).add_to(m)
    villages = None
    if embedded:
        data = mapdata.villages_geojson(frame, tolerance, lang,
                                        mapdata.region_coverage(view, frame))
        villages = folium.GeoJson(
            data, name=_("Villages"), zoom_on_click=False,
            style_function=lambda f: {"fillColor": mapdata.GAP_COLOURS.get(
                f["properties"]["cls"], "#bdbdbd"), "color": "#ffffff", "weight": 1,
                "fillOpacity": 0.5},
            highlight_function=lambda f: {"weight": 3, "color": "#102a43"})
        villages.add_to(m)
        loc = mapdata.locations_geojson(view, region, lang)
        loc_layer = folium.FeatureGroup(name=_("Settlements and facilities"), show=True)
        loc_layer.add_to(m)
    else:
        loc, loc_layer = None, None
    sites = mapdata.sites_geojson(view, region, lang)
    site_layer = MarkerCluster(name=_("Connectivity sites"),
                               options={"maxClusterRadius": 30,
                                        "disableClusteringAtZoom": 12}) if len(
        sites["features"]) > 40 else folium.FeatureGroup(name=_("Connectivity sites"))
    site_layer.add_to(m)
    Fullscreen(position="topleft", title=_("Full screen"),
               title_cancel=_("Exit full screen")).add_to(m)
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(m)
    fig = m.get_root()
    fig.render()
    static = url_for("static", filename="")
    replace = folium_replacements()
    return {
        "header": Markup(nonce_scripts(localise(fig.header.render(), static, replace))),
        "html": Markup(fig.html.render()),
        "script": Markup(localise(fig.script.render(), static, replace)),
        "config": {
            "map": m.get_name(), "control": control.get_name(),
            "villages": villages.get_name() if villages is not None else None,
            "aggregate": aggregate.get_name() if aggregate is not None else None,
            "shareBins": mapdata.SHARE_BINS,
            "locations": loc_layer.get_name() if loc_layer is not None else None,
            "sites": site_layer.get_name(),
            "locationData": loc, "siteData": sites,
            "basemap": basemap, "embedded": embedded,
            "bboxUrl": url_for("maps.villages_bbox", region=region) if not embedded else None,
            "villageMinZoom": mapdata.VILLAGE_MIN_ZOOM,
            "villageUrl": url_for("maps.village", kode="KODE"),
            "colours": mapdata.GAP_COLOURS, "scoreBins": mapdata.SCORE_BINS,
            "locationColours": mapdata.LOCATION_COLOURS, "siteColours": mapdata.SITE_COLOURS,
            "labels": _js_labels(lang),
        },
        "frame": frame, "coverage": cov,
    }


def _outline_style(weight: float) -> dict:
    style = {"color": "#243b53", "weight": weight, "fill": False}
    if weight < 2:
        style["dashArray"] = "4 3"
    return style


def _js_labels(lang: str) -> dict:
    return {
        "noneBasemap": _("No basemap (offline)"),
        "basemapFailed": _("The basemap could not be loaded; the map is shown without it."),
        "class": _("Class"), "score": _("Score"), "rank": _("Rank"),
        "peopleUnserved": _("People unserved"),
        "facilitiesUnserved": _("Public facilities unserved"),
        "no4g": _("Without 4G"), "nearest": _("Main settlement to the nearest service"),
        "sites": _("Sites"), "installed": SITE_STATUS.label("installed", lang),
        "inProgress": SITE_STATUS.label("in_progress", lang),
        "planned": SITE_STATUS.label("planned", lang),
        "proposed": SITE_STATUS.label("proposed", lang),
        "siteStatus": SITE_STATUS.labels(lang),
        "details": _("Village page"), "afterPlanned": _("After planned sites"),
        "people": _("people"), "zoomIn": _("Zoom in to see villages"),
        "agency": _("Agency"), "year": _("Year"), "kecamatan": "Kecamatan",
        "noResults": _("No village matches"),
        "villagesN": _("kampung"), "blankN": _("blank spots"),
        "openRegion": _("Click to open this area"),
        "newerPage": _("Your browser showed the page it kept; the data changed since."),
        "showNewer": _("Show the current page"),
    }


def _data_version(view) -> str:
    """Which data a page shows (a kept page can be older than the project)."""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    return _("Data: generation %(generation)s, register version %(register)s; page made "
             "%(made)s UTC", generation=generation_number(view.project.path),
             register=view.project.register_version, made=made)


def _table_rows(frame: pd.DataFrame, lang: str, limit: int) -> tuple[list[dict], int]:
    """The ranked table: the ``limit`` largest gaps of the region, ranked within it."""
    if "score" not in frame.columns:
        return [], 0
    table = pd.DataFrame(frame.drop(columns="geometry"))
    table["rank"] = rank(table)
    top = table.nsmallest(limit, "rank")
    rows = []
    for r in top.itertuples():
        rows.append({"kode": r.kode, "nama": r.nama, "kec": r.kecamatan or r.kecamatan_kode,
                     "kec_kode": r.kecamatan_kode, "cls": r.gap_class,
                     "cls_label": GAP_CLASSES.label(r.gap_class, lang), "score": r.score,
                     "rank": int(r.rank), "pu": r.people_unserved,
                     "fu": int(r.facilities_unserved), "programme": bool(r.in_programme)})
    return rows, len(table)


def _page_key(*parts) -> tuple:
    """What a rendered page depends on besides the project view: the page, the language,
    the basemap, where the app is mounted and whether assets are bundled."""
    return (*parts, g.lang, _basemap(), request.script_root,
            current_app.config.get("BUNDLE_ASSETS", True))


@bp.get("/")
def index():
    view = current_view()
    region = request.args.get("region")
    region = normalise_code(region) if region else _default_region(view)
    key = _page_key("index", region)
    # the same page either way (one entity tag): its bundles inline or as versioned files
    inline = inline_wanted()
    return _revalidated(view, key, lambda: view.pages.get(
        (*key, inline), lambda: _index_page(view, region, inline)))


def _revalidated(view, key: tuple, page) -> Response:
    """A map page the browser keeps (:data:`KEPT_PAGE`): ``304 Not Modified`` when unchanged.

    The entity tag stands for everything the page is made of: the page key, the project
    view's files (:attr:`ProjectView.stamp`), who is asking (:func:`web.auth.visitor_stamp`:
    the page carries their sign-in links and CSRF token) and this process (its templates, code and
    asset bundles; :data:`NONCE_PLACEHOLDER` is random per process). The kept copy holds the
    script nonce it was sent with; a 304 carries no policy, so the kept one still applies.

    On a satellite link a repeat visit then costs no round trip: the browser shows its
    copy at once, and ``map.js`` asks in the background (a conditional request, which
    also refreshes the browser's copy for the next visit) whether the page changed; if
    so it says so and offers the newer page. A visitor who signs in (another cookie:
    ``Vary: Cookie``) is sent a fresh page, and signed-in pages are always revalidated
    (:func:`web.auth.personalise_page`), so an editor sees an edit at once.
    """
    tag = hashlib.sha256(repr((key, view.stamp, NONCE_PLACEHOLDER, auth.visitor_stamp())
                              ).encode()).hexdigest()[:32]
    if tag in request.if_none_match:
        resp = Response(status=304)
    else:
        resp = _same_bytes(page())
    resp.set_etag(tag)
    resp.headers.setdefault("Cache-Control", KEPT_PAGE)  # signed in: no-cache (personalised)
    resp.vary.add("Cookie")
    return resp


def _same_bytes(html: str) -> Response:
    """A kept page as the same bytes on every request (to a visitor, for a project view).

    Its scripts are allowed by their hashes, not a per-request nonce
    (:func:`web.security.hash_scripts`), so the page is the same bytes each time and
    its best Brotli copy (about a sixth smaller than the quick one, made once in the
    background the second time the page is asked for) is what the next visitors get:
    on a 1 Mbit/s link the Mahakam Ulu map page a first visitor gets (81 kB instead of
    97 kB) is in 0.13 s sooner. Compressed here, with the visitor's sign-in links in
    (:func:`web.auth.personalise_page`), since pages can be larger than other
    responses given a best copy (:data:`KEPT_PAGE_BEST_BYTES`).
    """
    html, hashes = hash_scripts(html)
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = content_security_policy(None, tile_hosts(),
                                                                      hashes)
    auth.personalise_page(resp)
    packed = compression.encode(resp.get_data(), request.accept_encodings,
                                best_max_bytes=KEPT_PAGE_BEST_BYTES)
    if packed is not None:
        resp.set_data(packed[0])
        resp.headers["Content-Encoding"] = packed[1]
        resp.vary.add("Accept-Encoding")
    return resp


def _index_page(view, region: str, inline: bool = False) -> str:
    lang = g.lang
    built = build_map(view, region, lang)
    frame = built["frame"]
    rows, total_rows = _table_rows(frame, lang, MAX_TABLE_ROWS)
    kecamatan = []
    if "kecamatan_kode" in frame.columns:
        kec = frame[["kecamatan_kode", "kecamatan"]].drop_duplicates("kecamatan_kode")
        if len(kec) <= MAX_KECAMATAN_FILTER:
            kecamatan = sorted((k, n if isinstance(n, str) else k) for k, n in
                               kec.itertuples(index=False))
    # the schema's classes, labels and definitions (the one home of these texts)
    legend = [(c, GAP_CLASSES.label(c, lang), mapdata.GAP_COLOURS[c], gap_definition(c, lang))
              for c in GAP_CLASSES.ids
              if c != "unknown" or any(r["cls"] == "unknown" for r in rows)]
    region_name = view.project.config["project"].get("region_name") or view.project.name
    if region and region != view.project.region_code:
        region_name = _area_name(view, region) or region
    return render_template(
        "maps/index.html", built=built, rows=rows, kecamatan=kecamatan, legend=legend,
        region=region, regions=_regions(view), region_name=region_name,
        total_rows=total_rows, max_rows=MAX_TABLE_ROWS, project_region=view.project.region_code,
        no_data_colour=mapdata.NO_DATA_COLOUR,
        signal_legend=tiles.SIGNAL_LEGEND, config_json=Markup(_json(built["config"])),
        refs_js=_refs_js(built["config"]), data_version=_data_version(view),
        analysed=view.results is not None, inline_assets=inline,
        prefetch=_prefetch(inline))


def _refs_js(config: dict) -> Markup:
    """A script object literal pointing at folium's layer variables (some are ``let``)."""
    keys = ("map", "control", "villages", "locations", "sites", "aggregate")
    parts = [f"{k}: {config[k]}" for k in keys if config.get(k)]
    return Markup("{" + ", ".join(parts) + "}")


def _json(data) -> str:
    # safe inside <script>: no closing tags, no HTML comment openers
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@bp.get("/api/villages.geojson")
def villages_bbox():
    view = current_view()
    try:
        bbox = tuple(float(v) for v in request.args["bbox"].split(","))
        zoom = float(request.args.get("zoom", 10))
        if len(bbox) != 4 or bbox[0] > bbox[2] or bbox[1] > bbox[3] or not all(
                math.isfinite(v) for v in bbox):
            raise ValueError
    except (KeyError, ValueError) as exc:
        raise InputError("bbox must be west,south,east,north in degrees") from exc
    if not (math.isfinite(zoom) and 0 <= zoom <= 24):
        raise InputError("zoom must be a number from 0 to 24", found=request.args.get("zoom"))
    region = request.args.get("region")
    text = mapdata.bbox_villages(view, bbox, zoom, g.lang, normalise_code(region)
                                 if region else None)
    return Response(text, mimetype="application/geo+json")


@bp.get("/tiles/<name>/<int:z>/<int:x>/<int:y>.png")
def tile(name: str, z: int, x: int, y: int):
    view = current_view()
    path, values = _raster_file(view, name)
    if path is None or not path.exists():
        abort(404)
    try:
        png = tiles.render_tile(path, z, x, y, values=values,
                                thresholds=view.project.config["thresholds"]["rsrp_dbm"])
    except ValueError:
        abort(404)
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.get("/village/<kode>")
def village(kode: str):
    view = current_view()
    kode = normalise_code(kode)
    row = view.village(kode)
    if row is None:
        raise NotFoundError(_("No village with code %(kode)s.", kode=kode))
    key = _page_key("village", kode)
    inline = inline_wanted()  # a link to a kampung shared in a message: one round trip
    return _revalidated(view, key, lambda: view.pages.get((*key, inline), lambda: _village_page(
        view, kode, row, inline)))


def _village_page(view, kode: str, row: pd.Series, inline: bool = False) -> str:
    lang = g.lang
    frame = mapdata.region_villages(view, kode)
    bounds = frame.total_bounds
    zoom = mapdata.zoom_for_bounds(bounds, 600, 420)
    m = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
                   zoom_start=zoom, tiles=None, control_scale=True)
    basemap = _basemap()
    if basemap in BASEMAPS:
        url, attr = BASEMAPS[basemap]
        folium.TileLayer(url, attr=attr, name=basemap).add_to(m)
    cov = _coverage_layer(view)
    if cov is not None:
        tile_url = url_for("maps.tile", name=cov["name"], z=0, x=0, y=0).replace(
            "/0/0/0.png", "/{z}/{x}/{y}.png")
        folium.TileLayer(tile_url, attr=_("signal: geo_p2dd"), name="signal", overlay=True,
                         opacity=0.85).add_to(m)
    folium.GeoJson(mapdata.villages_geojson(frame, mapdata.degrees_per_pixel(zoom) / 2, lang),
                   style_function=lambda f: {"fillColor": mapdata.GAP_COLOURS.get(
                       f["properties"]["cls"], "#bdbdbd"), "color": "#102a43", "weight": 2,
                       "fillOpacity": 0.25}, interactive=False).add_to(m)
    locs = view.locations[view.locations["village_kode"] == kode] \
        if view.locations is not None else pd.DataFrame()
    sites = view.sites[view.sites["village_kode"] == kode] if view.sites is not None \
        else pd.DataFrame()
    loc_group = folium.FeatureGroup(name="locations").add_to(m)
    site_group = folium.FeatureGroup(name="sites").add_to(m)
    fig = m.get_root()
    fig.render()
    static = url_for("static", filename="")
    replace = folium_replacements()
    factors = []
    if "score" in row.index:
        for f in FACTORS:
            c = row.get(f"c_{f}")
            if c is None or pd.isna(c):
                continue
            factors.append({"label": factor_label(f, lang), "value": float(c),
                            "norm": float(row.get(f"f_{f}", 0.0))})
    config = {"map": m.get_name(), "locations": loc_group.get_name(),
              "sites": site_group.get_name(),
              "locationData": mapdata.locations_geojson(view, kode, lang),
              "siteData": mapdata.sites_geojson(view, kode, lang),
              "locationColours": mapdata.LOCATION_COLOURS, "siteColours": mapdata.SITE_COLOURS,
              "labels": _js_labels(lang)}
    n = len(view.results) if view.results is not None else len(view.villages)
    return render_template(
        "maps/village.html", row=row, n=n, factors=factors,
        locations=[{**r, "kind_label": LOCATION_KINDS.label(r["kind"], lang),
                    "status_label": LOCATION_STATUS.label(r["status"], lang)}
                   for r in locs.to_dict("records")],
        sites=[{**r, "kind_label": SITE_KINDS.label(r["kind"], lang),
                "status_label": SITE_STATUS.label(r["status"], lang)}
               for r in sites.drop(columns="geometry", errors="ignore").to_dict("records")],
        gap_label=GAP_CLASSES.label(row.get("gap_class", "unknown") or "unknown", lang),
        gap_planned_label=GAP_CLASSES.label(row.get("gap_class_planned", "unknown") or
                                            "unknown", lang),
        colour=mapdata.GAP_COLOURS.get(row.get("gap_class", "unknown"), "#bdbdbd"),
        map_header=Markup(nonce_scripts(localise(fig.header.render(), static, replace))),
        map_html=Markup(fig.html.render()),
        map_script=Markup(localise(fig.script.render(), static, replace)),
        config_json=Markup(_json(config)), refs_js=_refs_js(config),
        data_version=_data_version(view), inline_assets=inline, prefetch=_prefetch(inline))


def _prefetch(inline: bool) -> Markup | None:
    """The versioned files a page that carried its bundles fetches once loaded."""
    return Markup(_json(prefetch_urls(*PAGE_BUNDLES, "map.js"))) if inline else None
