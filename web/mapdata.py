"""Map data sent to the browser: simplified, rounded, escaped by the client.

Polygons are simplified for the zoom they are shown at (half a screen pixel)
and coordinates rounded to 5 decimals (~1 m). Large regions show aggregates
(kecamatan or kabupaten) and load villages per view (bbox) when zoomed in.

Per-view village data (:func:`bbox_villages`) only selects and joins texts: the
geometry of every village is simplified once per zoom band (:data:`ZOOM_BANDS`,
half a pixel at the band's most detailed zoom) and project data version, kept in
the project's cache (``villagegeoms-<key>-z<band>.bin``, memory-mapped) and in memory; the
properties of each village are made once per view and language. A large project
builds a band in the background on its first request (that request simplifies
only its own villages, as before); a small one builds it at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd import boundaries
from geo_p2dd import i18n as numbers
from geo_p2dd.codes import in_region
from geo_p2dd.io.atomic import atomic_path
from geo_p2dd.schema import GAP_CLASSES, LOCATION_KINDS, LOCATION_STATUS, SITE_KINDS, SITE_STATUS
from geo_p2dd.style import GAP_COLOURS, LOCATION_COLOURS, SITE_COLOURS  # noqa: F401 (web.maps)
from web.context import ProjectView
from web.i18n import format_int

MAX_EMBEDDED_VILLAGES = 3000  # above this the map shows aggregates and loads villages per view
MAX_BBOX_FEATURES = 8000
MAX_EMBEDDED_SITES = 3000  # above this the map groups sites (village, kecamatan, ...)
SITE_GROUP_WIDTHS = (13, 8, 5, 2)  # code prefixes: village, kecamatan, kabupaten, province
VILLAGE_MIN_ZOOM = 10
#: zoom bands of pre-simplified village geometry: a view at zoom z uses the first band >= z
ZOOM_BANDS = (8, 10, 12, 14, 16)
#: bump when the stored geometry texts change (simplification, rounding)
BAND_CACHE_VERSION = 1
#: projects with more villages build a band in the background (first requests go on)
SYNC_BAND_VILLAGES = 20_000
#: villages simplified per task when building a band (two tasks at a time)
BAND_CHUNK = 2_000

#: bump when the cleaned coverage of the area levels is made differently
COVERAGE_CACHE_VERSION = 1
#: coverage simplification (Visvalingam-Whyatt in GEOS) at this many times the
#: Douglas-Peucker tolerance keeps about as many vertices as the latter (Mahakam Ulu
#: villages at zoom 9: 4,691 against 4,725), within two pixels of the original
COVERAGE_TOLERANCE_FACTOR = 2.0
#: a region's villages are cleaned into a coverage up to this many coordinates
MAX_COVERAGE_CLEAN = 400_000

SCORE_BINS = [(0, "#ffffb2"), (20, "#fecc5c"), (40, "#fd8d3c"), (60, "#f03b20"),
              (80, "#bd0026")]
SHARE_BINS = [(0.0, "#fee5d9"), (0.2, "#fcae91"), (0.4, "#fb6a4a"), (0.6, "#de2d26"),
              (0.8, "#a50f15")]


#: an area without signal data in its own colour (the gap class "unknown"'s), not a bin
NO_DATA_COLOUR = GAP_COLOURS["unknown"]


def share_colour(share) -> str:
    """Fill colour of an area by its share of blank-spot kampung (None: no data)."""
    if share is None or share != share:
        return NO_DATA_COLOUR
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


def _coverage_geojson(cleaned: np.ndarray, tolerance: float) -> list[str]:
    """GeoJSON geometry texts of polygons that tile a region, simplified as a coverage.

    ``cleaned`` is a valid coverage (:func:`geo_p2dd.boundaries.clean_coverage`): each
    shared edge is simplified once, so neighbours keep meeting at every zoom, then
    rounded to 5 decimals (~1 m; shared vertices round alike).
    """
    simple = boundaries.simplify_coverage(cleaned, tolerance * COVERAGE_TOLERANCE_FACTOR,
                                          clean=False)
    return list(shapely.to_geojson(shapely.set_precision(simple, 1e-5, mode="pointwise")))


def coverage_cache_path(view: ProjectView, level: str) -> Path:
    """The cache file of a level's cleaned coverage: keyed by the project's data version."""
    cfg = view.project.config.get("project", {})
    ident = (COVERAGE_CACHE_VERSION, str(cfg.get("created", "")), view.project.data_version,
             level, boundaries.GAP_WIDTH)
    key = hashlib.sha1(repr(ident).encode()).hexdigest()[:20]
    return view.project.cache_dir() / f"coverage-{key}-{level}.parquet"


def cleaned_level(view: ProjectView, level: str, layer: gpd.GeoDataFrame) -> np.ndarray:
    """The polygons of ``layer`` (all of a level) as a valid coverage, in layer order.

    Made once per project data version and kept in the project cache (cleaning the
    national kecamatan takes half a minute) and in memory.
    """
    key = ("coverage", level)
    made = view.extra.get(key)
    if made is not None and len(made) == len(layer):
        return made
    try:
        path = coverage_cache_path(view, level)
    except OSError:
        path = None
    if path is not None and path.exists():
        try:
            stored = gpd.read_parquet(path).geometry.values
            if len(stored) == len(layer):
                made = np.asarray(stored, dtype=object)
        except (OSError, ValueError):
            made = None
    if made is None or len(made) != len(layer):
        made = boundaries.clean_coverage(layer.geometry.values)
        if path is not None:
            try:
                with atomic_path(path, fsync=False) as tmp:
                    gpd.GeoDataFrame(geometry=made, crs="EPSG:4326").to_parquet(tmp)
                for old in path.parent.glob(f"coverage-*-{level}.parquet"):
                    if old != path:
                        old.unlink(missing_ok=True)
            except OSError:
                pass  # a full or read-only disk: kept in memory
    view.extra[key] = made
    return made


def region_coverage(view: ProjectView, frame: gpd.GeoDataFrame) -> np.ndarray:
    """The villages of ``frame`` (a region) as a valid coverage, kept per view and region.

    Cleaned on their own (the villages around the region are not shown with them);
    up to :data:`MAX_COVERAGE_CLEAN` coordinates, beyond that they are simplified as
    given (shared edges that match exactly are still simplified once).
    """
    cache = view.extra.setdefault("region_coverage", {})
    key = tuple(frame["kode"])
    if key not in cache:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        if shapely.get_num_coordinates(geoms).sum() <= MAX_COVERAGE_CLEAN:
            geoms = boundaries.clean_coverage(geoms)
        if len(cache) > 64:
            cache.clear()
        cache[key] = geoms
    return cache[key]


def region_villages(view: ProjectView, region: str | None) -> pd.DataFrame:
    """Village results (or bare villages) with geometry, limited to a code prefix."""
    base = view.villages[["kode", "geometry"]]
    table = view.results if view.results is not None else view.villages.drop(
        columns="geometry")
    frame = base.merge(table, on="kode", how="left")
    if region:
        frame = frame[in_region(frame["kode"], region)]
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
            "pu": numbers.format_int(row["people_unserved"], lang),
            "fu": numbers.format_int(row["facilities_unserved"], lang),
            "no4g": numbers.format_pct(row["no_4g_share"], lang),
            "near": numbers.format_km(row["dist_service_km"], lang),
            "inst": int(row["sites_installed"]), "prog": int(row["sites_in_progress"]),
            "plan": int(row["sites_planned"]), "prop": int(row["sites_proposed"]),
            "prog_label": GAP_CLASSES.label(planned, lang) if isinstance(planned, str)
            and planned != cls else "",
            "cls_planned": planned if isinstance(planned, str) else cls,
        })
    return props


def _village_features(frame: gpd.GeoDataFrame, tolerance: float, lang: str,
                      geoms: list[str] | None = None):
    """(kode, geometry as GeoJSON text, properties) of each village, for both builders."""
    if geoms is None:
        geoms = _geojson_strings(frame.geometry.values, tolerance)
    inside = shapely.point_on_surface(frame.geometry.values)
    records = frame.drop(columns="geometry").to_dict("records")
    for r, g, pt in zip(records, geoms, inside, strict=True):
        props = village_properties(r, lang)
        props["rp"] = [round(pt.x, 5), round(pt.y, 5)]  # a point inside, for labels and tests
        yield r["kode"], g, props


def villages_geojson(frame: gpd.GeoDataFrame, tolerance: float, lang: str,
                     coverage: np.ndarray | None = None) -> dict:
    """The villages of ``frame`` as a FeatureCollection.

    With ``coverage`` (their polygons as a valid coverage, :func:`region_coverage`) the
    outlines are simplified together, so neighbours meet without gaps at any zoom;
    without, each on its own.
    """
    texts = None if coverage is None else _coverage_geojson(coverage, tolerance)
    features = [{"type": "Feature", "id": kode, "geometry": json.loads(g), "properties": props}
                for kode, g, props in _village_features(frame, tolerance, lang, texts)]
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
    cleaned = cleaned_level(view, level, areas)
    if region:
        inside = in_region(areas["kode"], region) | pd.Series(
            [region.startswith(k + ".") or region == k for k in areas["kode"]],
            index=areas.index)
        areas, cleaned = areas[inside], cleaned[inside.to_numpy()]
    geoms = [json.loads(t) for t in _coverage_geojson(cleaned, tolerance)]
    stats = {}
    if view.areas is not None:
        stats = view.areas[view.areas["level"] == level].set_index("kode").to_dict("index")
    features = []
    for kode, nama, g in zip(areas["kode"], areas["nama"], geoms, strict=True):
        s = stats.get(kode, {})
        props = {"kode": kode, "nama": str(nama), "level": level}
        if s:
            # the share among kampung with signal data: none known is "no data", not 0 %
            n = int(s.get("villages", 0)) - int(s.get("n_unknown", 0) or 0)
            props.update({"villages": int(s["villages"]),
                          "blank": int(s["n_blank_spot"]),
                          "blank_share": round(int(s["n_blank_spot"]) / n, 3) if n > 0
                          else None,
                          "pu": format_int(s["people_unserved"])})
        features.append({"type": "Feature", "id": kode, "geometry": g, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def locations_geojson(view: ProjectView, region: str | None, lang: str) -> dict:
    loc = view.locations
    if loc is None or len(loc) == 0:
        return {"type": "FeatureCollection", "features": []}
    if region:
        loc = loc[in_region(loc["village_kode"], region)]
    features = [_point(r.lon, r.lat, {
        "name": str(r.name), "kind": LOCATION_KINDS.label(r.kind, lang), "status": r.status,
        "status_label": LOCATION_STATUS.label(r.status, lang),
        "people": format_int(r.people) if pd.notna(r.people) else "",
        "evidence": str(getattr(r, "evidence", "modelled")),  # measured: drawn with a ring
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
        sites = sites[in_region(sites["village_kode"].fillna(""), region)]
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


def zoom_band(zoom: float) -> int:
    """The zoom band whose pre-simplified geometry a view at ``zoom`` shows."""
    return next((b for b in ZOOM_BANDS if b >= zoom), ZOOM_BANDS[-1])


def band_tolerance(band: int) -> float:
    """Simplification tolerance of a band: half a pixel at its zoom, in degrees."""
    return degrees_per_pixel(band) / 2


@dataclass(frozen=True)
class BandTexts:
    """GeoJSON geometry texts of every village (in villages-layer order) at one band.

    ``text`` holds the ASCII texts one after another from position ``base`` (bytes,
    or a read-only memory map of the cache file once stored); ``offsets`` the
    len(villages) + 1 positions between them, counted from ``base``.
    """

    text: bytes | mmap.mmap
    offsets: np.ndarray
    base: int = 0

    def __getitem__(self, i: int) -> str:
        a = self.base + int(self.offsets[i])
        return self.text[a:self.base + int(self.offsets[i + 1])].decode("utf-8")

    def data(self) -> bytes:
        """All texts, one after another."""
        return bytes(self.text[self.base:self.base + int(self.offsets[-1])])


def band_cache_path(view: ProjectView, band: int) -> Path:
    """The cache file of a band: keyed by the project, its data version and the villages."""
    cfg = view.project.config.get("project", {})
    ident = (BAND_CACHE_VERSION, str(cfg.get("created", "")), view.project.data_version,
             len(view.villages), band, band_tolerance(band))
    key = hashlib.sha1(repr(ident).encode()).hexdigest()[:20]
    return view.project.cache_dir() / f"villagegeoms-{key}-z{band}.bin"


def build_band(geoms: np.ndarray, band: int) -> BandTexts:
    """Simplify every village for ``band`` (in chunks, on two cores)."""
    tolerance = band_tolerance(band)
    chunks = [geoms[a:a + BAND_CHUNK] for a in range(0, len(geoms), BAND_CHUNK)]
    with ThreadPoolExecutor(2) as pool:  # shapely releases the GIL
        parts = list(pool.map(lambda c: _geojson_strings(c, tolerance), chunks))
    texts = [t for part in parts for t in part]
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    return BandTexts("".join(texts).encode("ascii"),
                     np.concatenate(([0], np.cumsum(lengths))).astype(np.int64))


BAND_MAGIC = b"GP2DDVG1"  # cache file: magic, village count, offsets (int64 LE), texts


def _save_band(path: Path, band: BandTexts, others: str | None = None) -> None:
    """Store ``band`` at ``path``; files matching ``others`` (other versions) are removed."""
    n = len(band.offsets) - 1
    with atomic_path(path, fsync=False) as tmp, open(tmp, "wb") as fh:
        fh.write(BAND_MAGIC)
        fh.write(np.array([n], dtype="<i8").tobytes())
        fh.write(np.asarray(band.offsets, dtype="<i8").tobytes())
        fh.write(band.data())
    others = others or f"villagegeoms-*-z{path.stem.rsplit('-z', 1)[1]}.bin"
    for old in path.parent.glob(others):
        if old != path:  # other data versions
            old.unlink(missing_ok=True)


def _load_band(path: Path, n: int) -> BandTexts | None:
    """The band stored at ``path`` (memory-mapped), or None when unreadable or not for n."""
    base = len(BAND_MAGIC) + 8 * (n + 2)
    try:
        with open(path, "rb") as fh:
            if fh.read(len(BAND_MAGIC)) != BAND_MAGIC:
                return None
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None  # unreadable (or empty): built again
    if len(mapped) < base or \
            int(np.frombuffer(mapped[8:16], dtype="<i8")[0]) != n:
        return None
    offsets = np.frombuffer(mapped[16:base], dtype="<i8")
    if offsets[0] != 0 or int(offsets[-1]) != len(mapped) - base or \
            (np.diff(offsets) < 0).any():
        return None
    return BandTexts(mapped, offsets, base)


_building: dict = {}  # cache path (or view and band) -> the thread building it
_building_lock = threading.Lock()


def _in_background(key, work) -> None:
    """Run ``work()`` in a daemon thread unless one under ``key`` is still running."""
    with _building_lock:
        running = _building.get(key)
        if running is not None and running.is_alive():
            return

        def run() -> None:
            try:
                work()
            finally:
                with _building_lock:
                    _building.pop(key, None)

        thread = threading.Thread(target=run, name=f"village-data-{key}", daemon=True)
        _building[key] = thread
        thread.start()


def band_texts(view: ProjectView, band: int, *, wait: bool | None = None,
               start: bool = True) -> BandTexts | None:
    """The band's geometry texts: from memory, else the cache file, else built.

    A project of at most :data:`SYNC_BAND_VILLAGES` villages (or ``wait=True``)
    builds the band now; a larger one gets None until the band is ready, and
    (with ``start``) starts building it in a background thread, which then also
    makes the properties of every village in the languages asked so far.
    """
    bands = view.extra.setdefault("village_bands", {})
    if band in bands:
        return bands[band]
    try:
        path = band_cache_path(view, band)
    except OSError:  # no cache directory (a read-only project): kept in memory only
        path = None
    loaded = _load_band(path, len(view.villages)) if path and path.exists() else None
    if loaded is not None:
        bands[band] = loaded
        return loaded
    geoms = np.asarray(view.villages.geometry.values, dtype=object)
    if wait is None:
        wait = len(geoms) <= SYNC_BAND_VILLAGES

    def build() -> BandTexts:
        made = build_band(geoms, band)
        if path is not None:
            try:
                _save_band(path, made)
            except OSError:
                pass  # a full or read-only disk: the band stays in memory
            made = _load_band(path, len(geoms)) or made  # the memory map, not a copy
        bands[band] = made
        return made

    if wait:
        return build()
    if start:
        def build_and_warm() -> None:
            build()
            for lang in list(view.extra.get("village_props", {})):
                _warm_properties(view, lang)

        _in_background(path or (id(view), band), build_and_warm)
    return None


def props_cache_path(view: ProjectView, lang: str) -> Path:
    """The cache file of the villages' properties: keyed by the view's files and language."""
    ident = (BAND_CACHE_VERSION, str(view.project.path.resolve()), view.stamp,
             len(view.villages), lang)
    key = hashlib.sha1(repr(ident).encode()).hexdigest()[:20]
    return view.project.cache_dir() / f"villageprops-{key}-{lang}.bin"


def _warm_properties(view: ProjectView, lang: str) -> None:
    """Make the properties of every village in ``lang`` (in batches) and store them."""
    n = len(view.villages)
    for a in range(0, n, 5000):
        _properties(view, np.arange(a, min(n, a + 5000)), lang)
    made = view.extra["village_props"][lang]
    if isinstance(made, BandTexts):
        return
    texts = [t.encode("utf-8") for t in made]
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    stored = BandTexts(b"".join(texts), np.concatenate(([0], np.cumsum(lengths))))
    try:
        path = props_cache_path(view, lang)
        _save_band(path, stored, f"villageprops-*-{lang}.bin")
    except OSError:
        return  # no cache directory or a full disk: they stay in memory


def _properties(view: ProjectView, idx: np.ndarray, lang: str) -> list[str]:
    """``"id":..,"properties":{..}`` texts of villages ``idx``, made once per view.

    Large projects keep them in the project cache too (per view files and
    language, written once every village has them).
    """
    made = view.extra.setdefault("village_props", {})
    if lang not in made:
        stored = None
        if len(view.villages) > SYNC_BAND_VILLAGES:
            try:
                path = props_cache_path(view, lang)
                stored = _load_band(path, len(view.villages)) if path.exists() else None
            except OSError:
                stored = None
        made[lang] = stored if stored is not None else np.full(len(view.villages), None,
                                                               dtype=object)
    props = made[lang]
    if isinstance(props, BandTexts):
        return [props[i] for i in idx]
    missing = idx[np.equal(props[idx], None)]
    if len(missing):
        frame = _with_results(view, view.villages.iloc[missing])
        inside = shapely.point_on_surface(frame.geometry.values)
        records = frame.drop(columns="geometry").to_dict("records")
        for i, r, pt in zip(missing, records, inside, strict=True):
            p = village_properties(r, lang)
            p["rp"] = [round(pt.x, 5), round(pt.y, 5)]  # a point inside, for labels and tests
            props[i] = (f'"id":{json.dumps(r["kode"])},"properties":'
                        + json.dumps(p, ensure_ascii=False, separators=(",", ":")))
    return list(props[idx])


def bbox_villages(view: ProjectView, bbox: tuple[float, float, float, float], zoom: float,
                  lang: str, region: str | None = None) -> str:
    """Villages intersecting a view, simplified for its zoom band (for large projects).

    Geometry comes pre-simplified per zoom band (:func:`band_texts`), properties
    made once per view and language, so a request selects and joins texts.
    While a large project's band is being built, the request simplifies its own
    villages (kept per view, zoom band and language).
    """
    idx = villages_in_bbox(view, bbox)
    if len(idx) > MAX_BBOX_FEATURES:
        return json.dumps({"type": "FeatureCollection", "features": [],
                           "too_many": int(len(idx))})
    idx = np.sort(idx)
    if region:
        idx = idx[in_region(view.villages["kode"].iloc[idx], region).to_numpy()]
    return village_features(view, idx, zoom, lang)


def village_features(view: ProjectView, idx: np.ndarray, zoom: float, lang: str) -> str:
    """Villages ``idx`` (sorted positions) as a FeatureCollection text, simplified for
    ``zoom`` as :func:`bbox_villages` serves them."""
    band = zoom_band(zoom)
    texts = band_texts(view, band, start=False)
    if texts is not None:
        geoms = [texts[i] for i in idx]
    else:
        geoms = _interim_geometries(view, idx, band)
    parts = [f'{{"type":"Feature",{p},"geometry":{g}}}'
             for p, g in zip(_properties(view, idx, lang), geoms, strict=True)]
    if texts is None:  # build the band once this request is served
        band_texts(view, band)
    elif len(view.villages) > SYNC_BAND_VILLAGES and \
            not isinstance(view.extra["village_props"][lang], BandTexts):
        _in_background((id(view), "properties", lang), lambda: _warm_properties(view, lang))
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


FEATURE_CACHE_CHARS = 128 * 1024 * 1024  # interim geometry texts kept per view (all bands)


def _interim_geometries(view: ProjectView, idx: np.ndarray, band: int) -> list[str]:
    """Geometry texts of villages ``idx`` while their band is being built (kept per view)."""
    cache = view.extra.setdefault("village_interim", {})
    keys = [(int(i), band) for i in idx]
    missing = [k for k in keys if k not in cache]
    if missing:
        made = _geojson_strings(view.villages.geometry.values[[k[0] for k in missing]],
                                band_tolerance(band))
        size = view.extra.get("village_interim_chars", 0) + sum(map(len, made))
        if size > FEATURE_CACHE_CHARS:  # bounded: start again rather than grow
            cache.clear()
            size = sum(map(len, made))
        view.extra["village_interim_chars"] = size
        cache.update(zip(missing, made, strict=True))
    return [cache[k] for k in keys]


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
