"""Map data sent to the browser: simplified, rounded, escaped by the client.

Polygons are simplified for the zoom they are shown at (half a screen pixel)
and coordinates rounded to 5 decimals (~1 m). Large regions show aggregates
(kecamatan or kabupaten) and load villages per view (bbox) when zoomed in.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.codes import in_region as code_matches
from geo_p2dd.schema import GAP_CLASSES, LOCATION_KINDS, LOCATION_STATUS, SITE_KINDS, SITE_STATUS
from geo_p2dd.style import GAP_COLOURS, LOCATION_COLOURS, SITE_COLOURS  # noqa: F401 (web.maps)
from web.context import ProjectView
from web.i18n import format_int, format_km, format_pct

MAX_EMBEDDED_VILLAGES = 3000  # above this the map shows aggregates and loads villages per view
MAX_BBOX_FEATURES = 8000
MAX_EMBEDDED_SITES = 3000  # above this the map groups sites (village, kecamatan, ...)
SITE_GROUP_WIDTHS = (13, 8, 5, 2)  # code prefixes: village, kecamatan, kabupaten, province
VILLAGE_MIN_ZOOM = 10

SCORE_BINS = [(0, "#ffffb2"), (20, "#fecc5c"), (40, "#fd8d3c"), (60, "#f03b20"),
              (80, "#bd0026")]
SHARE_BINS = [(0.0, "#fee5d9"), (0.2, "#fcae91"), (0.4, "#fb6a4a"), (0.6, "#de2d26"),
              (0.8, "#a50f15")]


def share_colour(share) -> str:
    """Fill colour of an area by its share of blank-spot kampung."""
    if share is None or share != share:
        return "#bdbdbd"
    colour = SHARE_BINS[0][1]
    for lo, c in SHARE_BINS:
        if share >= lo:
            colour = c
    return colour


SITE_LETTERS = {"starlink": "S", "bts": "B", "vsat": "V", "wifi": "W", "fiber": "F"}


def degrees_per_pixel(zoom: float, lat: float = 0.0) -> float:
    """Width of one screen pixel in degrees of longitude at a web-map zoom level."""
    return 360.0 / (256.0 * 2 ** zoom)


def zoom_for_bounds(bounds, width_px: int = 900, height_px: int = 800) -> int:
    west, south, east, north = bounds
    span = max(east - west, (north - south) * width_px / height_px, 1e-6)
    return int(max(1, min(18, math.floor(math.log2(360.0 * width_px / (256.0 * span))))))


def _drop_specks(geoms: np.ndarray, min_area: float) -> np.ndarray:
    """Drop polygon parts smaller than ``min_area`` (a pixel), keeping each largest part."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    if len(parts) == len(geoms):
        return geoms
    area = shapely.area(parts)
    order = np.lexsort((-area, owner))
    largest = np.zeros(len(parts), dtype=bool)
    largest[order[np.r_[True, owner[order][1:] != owner[order][:-1]]]] = True
    keep = (area >= min_area) | largest
    out = shapely.multipolygons(parts[keep], indices=owner[keep])
    return out


def _geojson_strings(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """GeoJSON geometry texts, specks dropped, simplified, rounded to 5 decimals (~1 m)."""
    geoms = _drop_specks(np.asarray(geoms, dtype=object), (2 * tolerance) ** 2)
    simple = shapely.simplify(geoms, tolerance, preserve_topology=True)
    rounded = shapely.set_precision(simple, 1e-5, mode="pointwise")
    return shapely.to_geojson(rounded)


def _round_geojson(geoms: np.ndarray, tolerance: float) -> list[dict]:
    return [json.loads(s) for s in _geojson_strings(geoms, tolerance)]


def region_villages(view: ProjectView, region: str | None) -> pd.DataFrame:
    """Village results (or bare villages) with geometry, limited to a code prefix."""
    base = view.villages[["kode", "geometry"]]
    table = view.results if view.results is not None else view.villages.drop(
        columns="geometry")
    frame = base.merge(table, on="kode", how="left")
    if region:
        frame = frame[code_matches(frame["kode"], region)]
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


def village_properties(row, lang: str) -> dict:
    """Properties of one village feature; text is escaped by the client."""
    cls = row.get("gap_class") if "gap_class" in row else None
    cls = cls if isinstance(cls, str) else "unknown"
    props = {"kode": row["kode"], "nama": str(row["nama"]),
             "kec": str(row.get("kecamatan") or row.get("kecamatan_kode") or ""),
             "cls": cls, "cls_label": GAP_CLASSES.label(cls, lang)}
    if "score" in row and pd.notna(row.get("score")):
        planned = row.get("gap_class_planned")
        props.update({
            "score": round(float(row["score"]), 1), "rank": int(row["rank"]),
            "pu": format_int(row["people_unserved"]),
            "fu": format_int(row["facilities_unserved"]),
            "no4g": format_pct(row["no_4g_share"]),
            "near": format_km(row["dist_service_km"]),
            "inst": int(row["sites_installed"]), "prog": int(row["sites_in_progress"]),
            "plan": int(row["sites_planned"]), "prop": int(row["sites_proposed"]),
            "prog_label": GAP_CLASSES.label(planned, lang) if isinstance(planned, str)
            and planned != cls else "",
        })
    return props


def _village_features(frame: gpd.GeoDataFrame, tolerance: float, lang: str):
    """(kode, geometry as GeoJSON text, properties) of each village, for both builders."""
    geoms = _geojson_strings(frame.geometry.values, tolerance)
    inside = shapely.point_on_surface(frame.geometry.values)
    records = frame.drop(columns="geometry").to_dict("records")
    for r, g, pt in zip(records, geoms, inside, strict=True):
        props = village_properties(r, lang)
        props["rp"] = [round(pt.x, 5), round(pt.y, 5)]  # a point inside, for labels and tests
        yield r["kode"], g, props


def villages_geojson(frame: gpd.GeoDataFrame, tolerance: float, lang: str) -> dict:
    features = [{"type": "Feature", "id": kode, "geometry": json.loads(g), "properties": props}
                for kode, g, props in _village_features(frame, tolerance, lang)]
    return {"type": "FeatureCollection", "features": features}


def area_geojson(view: ProjectView, level: str, region: str | None, tolerance: float,
                 lang: str) -> dict | None:
    """Outlines (and class counts) of kecamatan or kabupaten in the region (cached per view)."""
    key = ("areas", level, region, round(tolerance, 9), lang)
    if key not in view.extra:
        view.extra[key] = _area_geojson(view, level, region, tolerance, lang)
    return view.extra[key]


def _area_geojson(view: ProjectView, level: str, region: str | None, tolerance: float,
                  lang: str) -> dict | None:
    areas = view.project.read_layer(level, required=False)
    if areas is None or len(areas) == 0:
        return None
    if region:
        inside = code_matches(areas["kode"], region) | pd.Series(
            [region.startswith(k + ".") or region == k for k in areas["kode"]],
            index=areas.index)
        areas = areas[inside]
    geoms = _round_geojson(areas.geometry.values, tolerance)
    stats = {}
    if view.areas is not None:
        stats = view.areas[view.areas["level"] == level].set_index("kode").to_dict("index")
    features = []
    for kode, nama, g in zip(areas["kode"], areas["nama"], geoms, strict=True):
        s = stats.get(kode, {})
        props = {"kode": kode, "nama": str(nama), "level": level}
        if s:
            n = max(int(s.get("villages", 0)), 1)
            props.update({"villages": int(s["villages"]),
                          "blank": int(s["n_blank_spot"]),
                          "blank_share": round(int(s["n_blank_spot"]) / n, 3),
                          "pu": format_int(s["people_unserved"])})
        features.append({"type": "Feature", "id": kode, "geometry": g, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def locations_geojson(view: ProjectView, region: str | None, lang: str) -> dict:
    loc = view.locations
    if loc is None or len(loc) == 0:
        return {"type": "FeatureCollection", "features": []}
    if region:
        loc = loc[code_matches(loc["village_kode"], region)]
    features = [_point(r.lon, r.lat, {
        "name": str(r.name), "kind": LOCATION_KINDS.label(r.kind, lang), "status": r.status,
        "status_label": LOCATION_STATUS.label(r.status, lang),
        "people": format_int(r.people) if pd.notna(r.people) else "",
        "reason": str(getattr(r, "reason_id", r.reason_en) if lang == "id" else r.reason_en)})
        for r in loc.itertuples()]
    return {"type": "FeatureCollection", "features": features}


def _point(lon: float, lat: float, properties: dict) -> dict:
    """A point feature with coordinates rounded to ~1 m."""
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}}


def sites_geojson(view: ProjectView, region: str | None, lang: str) -> dict:
    """The register's sites in ``region`` as points; grouped when there are very many.

    Up to :data:`MAX_EMBEDDED_SITES` sites are embedded one by one. Above that the
    sites are counted per village (or kecamatan, kabupaten, province: the finest
    level that stays under the limit), one marker per group at the mean position of
    its sites, so the page stays small whatever the register's size (740,000 sites
    made a 189 MB page); every site is on its village's page.
    """
    sites = view.sites
    if sites is None or len(sites) == 0:
        return {"type": "FeatureCollection", "features": []}
    if region:
        sites = sites[code_matches(sites["village_kode"].fillna(""), region)]
    if len(sites) > MAX_EMBEDDED_SITES:
        return _grouped_sites(sites, lang)
    features = [_point(r.geometry.x, r.geometry.y, {
        "name": str(r.name), "kind": r.kind, "kind_label": SITE_KINDS.label(r.kind, lang),
        "letter": SITE_LETTERS.get(r.kind, "?"), "status": r.status,
        "status_label": SITE_STATUS.label(r.status, lang), "agency": str(r.agency or ""),
        "year": "" if pd.isna(r.year) else str(int(r.year)),
        "operator": str(r.operator or "")}) for r in sites.itertuples()]
    return {"type": "FeatureCollection", "features": features}


def _grouped_sites(sites: gpd.GeoDataFrame, lang: str) -> dict:
    from flask_babel import gettext

    codes = sites["village_kode"].fillna("").astype(str)
    for width in SITE_GROUP_WIDTHS:
        keys = codes.str.slice(0, width)
        if keys.nunique() <= MAX_EMBEDDED_SITES:
            break
    frame = pd.DataFrame({"key": keys.to_numpy(), "status": sites["status"].to_numpy(),
                          "x": sites.geometry.x.to_numpy(), "y": sites.geometry.y.to_numpy()})
    names = {}
    if width >= len("64.11.01.2006") and "village" in sites.columns:
        known = sites.dropna(subset=["village"])
        names = dict(zip(known["village_kode"], known["village"].astype(str), strict=True))
    counts = pd.crosstab(frame["key"], frame["status"])
    where = frame.groupby("key")[["x", "y"]].mean()
    features = []
    for key, row in counts.iterrows():
        n = int(row.sum())
        top = str(row.idxmax())
        parts = ", ".join(f"{SITE_STATUS.label(st, lang)} {format_int(row[st])}"
                          for st in SITE_STATUS.ids if st in row.index and row[st])
        features.append(_point(float(where.at[key, "x"]), float(where.at[key, "y"]), {
            "name": gettext("%(n)s sites in %(area)s", n=format_int(n),
                            area=names.get(key) or key or "?"),
            "kind": "group", "kind_label": parts, "letter": str(n) if n < 100 else "99+",
            "status": top, "status_label": SITE_STATUS.label(top, lang), "agency": "",
            "year": "", "operator": "", "count": n}))
    return {"type": "FeatureCollection", "features": features, "grouped": True}


def villages_in_bbox(view: ProjectView, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Row positions of the villages whose bounds meet ``bbox`` (an STRtree kept per view)."""
    tree = view.extra.get("village_tree")
    if tree is None:
        tree = shapely.STRtree(view.villages.geometry.values)
        view.extra["village_tree"] = tree
    return tree.query(shapely.box(*bbox))


FEATURE_CACHE_CHARS = 128 * 1024 * 1024  # village feature texts kept per view (all zooms)


def bbox_villages(view: ProjectView, bbox: tuple[float, float, float, float], zoom: float,
                  lang: str, region: str | None = None) -> str:
    """Villages intersecting a view, simplified for its zoom (for large projects).

    Each village's feature text is made once per zoom and language and kept with the
    view (simplifying a real boundary costs ~20 ms), so panning mostly joins texts.
    """
    idx = villages_in_bbox(view, bbox)
    if len(idx) > MAX_BBOX_FEATURES:
        return json.dumps({"type": "FeatureCollection", "features": [],
                           "too_many": int(len(idx))})
    idx = np.sort(idx)
    if region:
        idx = idx[code_matches(view.villages["kode"].iloc[idx], region).to_numpy()]
    tolerance = degrees_per_pixel(zoom) / 2
    cache = view.extra.setdefault("village_features", {})
    keys = [(int(i), tolerance, lang) for i in idx]
    texts = {k: cache.get(k) for k in keys}
    missing = [k for k, t in texts.items() if t is None]
    if missing:
        made = _feature_texts(_with_results(view, view.villages.iloc[[k[0] for k in missing]]),
                              tolerance, lang)
        texts.update(zip(missing, made, strict=True))
        size = view.extra.get("village_features_chars", 0) + sum(map(len, made))
        if size > FEATURE_CACHE_CHARS:  # bounded: start again rather than grow
            cache.clear()
            size = sum(map(len, made))
        view.extra["village_features_chars"] = size
        cache.update(zip(missing, made, strict=True))
    parts = [texts[k] for k in keys]
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


def _with_results(view: ProjectView, base: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Village rows of the villages layer joined to their analysis results, if any."""
    if view.results is None:
        return base
    table = view.extra.get("results_by_kode")
    if table is None:
        table = view.extra["results_by_kode"] = view.results.set_index("kode", drop=False)
    extra = table.reindex(base["kode"].to_numpy()).reset_index(drop=True)
    extra["kode"] = base["kode"].to_numpy()
    extra["nama"] = extra["nama"].fillna(pd.Series(base["nama"].to_numpy()))
    return gpd.GeoDataFrame(extra, geometry=base.geometry.to_numpy(), crs="EPSG:4326")


def _feature_texts(frame: gpd.GeoDataFrame, tolerance: float, lang: str) -> list[str]:
    return ['{"type":"Feature","id":' + json.dumps(kode) + ',"geometry":' + g +
            ',"properties":' + json.dumps(props, ensure_ascii=False, separators=(",", ":")) +
            "}" for kode, g, props in _village_features(frame, tolerance, lang)]


def villages_geojson_text(frame: gpd.GeoDataFrame, tolerance: float, lang: str) -> str:
    """The same FeatureCollection as :func:`villages_geojson`, built as text (large views)."""
    return ('{"type":"FeatureCollection","features":['
            + ",".join(_feature_texts(frame, tolerance, lang)) + "]}")
