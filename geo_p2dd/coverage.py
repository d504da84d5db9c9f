"""Coverage at locations and per village.

Location beats area: a kampung is served when its settlements and public
facilities are. Each location gets its best signal class per technology from
every coverage source (imported rasters and towers modelled on the project
grid), whether an installed site's service radius reaches it, and a status
(served, weak, unserved, unknown) with a reason. Per village, area shares per
signal class come from the fast zonal counts in :mod:`geo_p2dd.zonal`.

A dBm raster is classified once, not on every analysis: its class codes (uint8,
a quarter of the float32 values) are kept in the project's cache as
``classes-<key>.npy``, the key made of the stored raster's file identity and
the dBm thresholds (:func:`class_cache_key`), so changing a threshold or
re-importing the raster derives them again. The stored dBm raster stays the
source of truth; an unreadable cache file is classified again and replaced.
The dBm values at the analysis' locations are kept the same way
(``dbmat-<key>.npy``, keyed by the raster's identity and the cells sampled):
reading them back costs nothing, reading the compressed blocks that hold 83,246
national locations costs a second of a core on every analysis.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

from geo_p2dd.config import RADIUS_KINDS, RsrpThresholds, Settings, rsrp_thresholds
from geo_p2dd.grid import Grid, xy_to_colrow
from geo_p2dd.i18n import format_number, gettext
from geo_p2dd.io.atomic import atomic_path
from geo_p2dd.propagation import received_power_grid
from geo_p2dd.schema import (
    CODE_TO_SIGNAL,
    SIGNAL_CLASSES,
    SIGNAL_CODES,
    SITE_KINDS,
    operator_code,
)
from geo_p2dd.signal import rsrp_class

TOWER_KINDS = ("bts",)
PIPELINE = ("in_progress", "planned")
FOUR_G = ("4G", "5G")
#: bump when the cached class format or the classification rule changes
CLASS_CACHE_VERSION = 1
#: classified dBm rasters kept in a project's cache (most recently used first)
CLASS_CACHE_KEEP = 3
#: dBm values sampled at a set of cells kept in a project's cache (most recently used first)
SAMPLE_CACHE_KEEP = 8
#: rows of a dBm raster read and classified at once (a multiple of the COG's 512-pixel blocks)
CLASSIFY_ROWS = 512
#: GDAL block cache (MB) while classifying: a band's blocks are decoded once
CLASSIFY_GDAL_CACHE_MB = 64


@dataclass
class Source:
    """One source of signal: a class-code array on a grid (0 unknown .. 5 good)."""

    name: str
    operator: str
    technology: str
    classes: np.ndarray
    transform: Affine
    crs: str
    modelled: bool = False
    #: how the source knows: modelled, measured or reported (see :data:`EVIDENCE`);
    #: empty: "modelled" for a model, else "reported"
    evidence: str = ""
    #: the values in dBm on the same grid as ``classes`` (a tower model), if kept
    dbm: np.ndarray | None = None
    #: the stored dBm raster (an imported ``values = "dbm"`` coverage), sampled at points
    dbm_path: str | None = None
    #: the project's cache directory, where values sampled from ``dbm_path`` are kept
    cache_dir: str | None = None
    #: other measured values on the same grid (``dl``, ``ul``, ``ms``, ``tests`` of Ookla tiles)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    #: class codes and dBm already sampled at the locations of one analysis (in their order),
    #: for sources not kept as a grid (:func:`model_operators`)
    at_points: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def is_4g(self) -> bool:
        return self.technology in FOUR_G

    @property
    def kind(self) -> str:
        """modelled, measured or reported."""
        return self.evidence or ("modelled" if self.modelled else "reported")


def load_source(entry: dict, path, thresholds: RsrpThresholds,
                cache_dir: str | Path | None = None) -> Source:
    """Read an imported coverage raster as class codes (dBm classified with ``thresholds``).

    Parameters
    ----------
    entry : dict
        The coverage entry of ``project.toml`` (name, operator, technology, values).
    path : path-like
        The stored raster.
    thresholds : RsrpThresholds
        dBm lower bounds of the classes (for ``values = "dbm"``).
    cache_dir : path-like, optional
        The project's cache directory: a dBm raster's classes are read from it
        when there and stored in it otherwise (see :func:`dbm_classes`). Without
        it the raster is classified on every call.

    Returns
    -------
    Source
        Class codes (uint8, read-only when they come from the cache).
    """
    evidence = entry.get("evidence") or "reported"
    if entry.get("values") == "dbm":
        classes, transform, crs = dbm_classes(path, thresholds, cache_dir)
        return Source(entry["name"], entry.get("operator", ""), entry.get("technology", "4G"),
                      classes, transform, crs, evidence=evidence, dbm_path=str(path),
                      cache_dir=None if cache_dir is None else str(cache_dir))
    # GDAL decodes the compressed tiles on every core (same pixels)
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(path) as src:
        data = src.read(1)
        nodata = src.nodata
        transform, crs = src.transform, src.crs.to_string()
    if data.dtype == np.uint8:
        # what the branch below computes, in place and in row bands (no 197 MB temporaries
        # for a national raster): values above 5, then nodata, become 0 (unknown)
        classes = data
        rows = max(1, (1 << 22) // max(data.shape[1], 1))
        for a in range(0, data.shape[0], rows):
            band = classes[a:a + rows]
            np.putmask(band, band > 5, 0)
            if nodata is not None:
                np.putmask(band, band == nodata, 0)
    else:
        classes = np.where((data >= 0) & (data <= 5), data, 0).astype(np.uint8)
        if nodata is not None:
            classes[data == nodata] = 0
    return Source(entry["name"], entry.get("operator", ""), entry.get("technology", "4G"),
                  classes, transform, crs, evidence=evidence)


def _file_identity(path: str | Path) -> tuple:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def class_cache_key(path: str | Path, thresholds: RsrpThresholds) -> str:
    """Key of a dBm raster's classes: the file's identity and the thresholds.

    The identity is the file's device, inode, size and modification time: a
    project's generations hard-link an unchanged raster (same identity), and a
    re-import writes a new file (a new identity). Any threshold change gives
    another key.
    """
    st = os.stat(path)
    limits = sorted(rsrp_thresholds(thresholds).as_dict().items())
    ident = (CLASS_CACHE_VERSION, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
             [(k, float(v)) for k, v in limits])
    return hashlib.sha1(repr(ident).encode()).hexdigest()[:20]


def classify_dbm(path: str | Path, thresholds: RsrpThresholds) -> np.ndarray:
    """Class codes of a dBm raster, read and classified in row bands on both cores.

    Equal to :func:`~geo_p2dd.signal.rsrp_class` of the whole raster with its
    nodata as NaN, without holding the float values of more than a few bands.
    """
    with rasterio.open(path) as src:
        height, width = src.height, src.width
    out = np.empty((height, width), dtype=np.uint8)
    starts = list(range(0, height, CLASSIFY_ROWS))
    workers = max(1, min(2, os.cpu_count() or 1))

    def work(share: list[int]) -> None:
        # one dataset per thread (GDAL handles are not shared); every block is read once, so
        # GDAL's block cache (5% of the RAM by default) would only hold memory
        with rasterio.Env(GDAL_CACHEMAX=CLASSIFY_GDAL_CACHE_MB), rasterio.open(path) as src:
            nodata = src.nodata
            for a in share:
                rows = min(CLASSIFY_ROWS, height - a)
                data = src.read(1, window=Window(0, a, width, rows))
                values = data.astype(np.float32, copy=False)
                if nodata is not None:
                    values = np.where(data == nodata, np.float32(np.nan), values)
                out[a:a + rows] = rsrp_class(values, thresholds)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, [starts[i::workers] for i in range(workers)]))
    return out


def dbm_classes(path: str | Path, thresholds: RsrpThresholds,
                cache_dir: str | Path | None = None) -> tuple[np.ndarray, Affine, str]:
    """A dBm raster's class codes, its transform and CRS; classified once per thresholds.

    With ``cache_dir`` the codes are kept as ``classes-<key>.npy`` (key:
    :func:`class_cache_key`), written atomically, memory-mapped read-only when
    read back; a file that cannot be read or does not match the raster's shape is
    classified again and replaced; the :data:`CLASS_CACHE_KEEP` most recently
    used files are kept.
    """
    with rasterio.open(path) as src:
        shape, transform, crs = (src.height, src.width), src.transform, src.crs.to_string()
    if cache_dir is None:
        return classify_dbm(path, thresholds), transform, crs
    cache_dir = Path(cache_dir)
    cached = cache_dir / f"classes-{class_cache_key(path, thresholds)}.npy"
    if cached.exists():
        try:
            classes = np.load(cached, mmap_mode="r", allow_pickle=False)
            if classes.shape == shape and classes.dtype == np.uint8:
                os.utime(cached)
                return classes, transform, crs
        except (OSError, ValueError, EOFError):
            pass  # unreadable: classify again and replace it
    classes = classify_dbm(path, thresholds)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached, fsync=False) as tmp, open(tmp, "wb") as fh:
        np.save(fh, classes, allow_pickle=False)
    _prune_classes(cache_dir)
    return classes, transform, crs


def _prune_classes(cache_dir: Path) -> None:
    files = sorted(cache_dir.glob("classes-*.npy"), key=lambda p: p.stat().st_mtime,
                   reverse=True)
    for p in files[CLASS_CACHE_KEEP:]:
        p.unlink(missing_ok=True)


def model_towers(sites: gpd.GeoDataFrame, grid: Grid, settings: Settings,
                 dem: np.ndarray | None, statuses: tuple[str, ...],
                 compute=None) -> list[Source]:
    """Model the towers with the given statuses: one source per technology group.

    ``settings.propagation`` sets the model, ``settings.thresholds.rsrp_dbm``
    the classes. Cells out of reach of every tower are "none" (class 1), not
    unknown: the model says there is no signal there. With ``compute`` (a
    :class:`geo_p2dd.distributed.Compute`) the grid is modelled tile by tile as
    Dask tasks, with identical results.
    """
    prop = settings.propagation
    thresholds = settings.thresholds.rsrp_dbm
    towers = sites[(sites["kind"] == "bts") & sites["status"].isin(statuses)]
    out = []
    for group, techs in (("4G", FOUR_G), ("2G/3G", ("2G", "3G"))):
        sel = towers[towers["technology"].fillna("4G").isin(techs)]
        if len(sel) == 0:
            continue
        options = dict(
            environment=prop.environment,
            mobile_height_m=prop.mobile_height_m, max_distance_m=prop.max_distance_m,
            no_los_extra_loss_db=prop.no_los_extra_loss_db,
            default_power_dbm=prop.default_power_dbm,
            default_height_m=prop.default_height_m,
            default_frequency_mhz=1800.0 if group == "4G" else 900.0)
        if compute is None:
            rx, _ = received_power_grid(sel.to_crs(grid.crs), grid, dem=dem, **options)
        else:
            rx = compute.received_power(sel.to_crs(grid.crs), grid, dem, **options)
        rsrp = rx + np.float32(prop.rsrp_offset_db)
        classes = rsrp_class(rsrp, thresholds)
        classes[classes == SIGNAL_CODES["unknown"]] = SIGNAL_CODES["none"]
        label = "installed" if statuses == ("installed",) else "with pipeline"
        out.append(Source(f"modelled {group} ({label})", "", "4G" if group == "4G" else "3G",
                          classes, grid.transform, grid.crs, modelled=True,
                          # the dBm of today's towers is reported at locations; the pipeline's
                          # is not (4 bytes a cell less to hold)
                          dbm=rsrp if statuses == ("installed",) else None))
    return out


def model_operators(sites: gpd.GeoDataFrame, grid: Grid, settings: Settings,
                    dem: np.ndarray | None, locations: gpd.GeoDataFrame,
                    all_towers: Source | None = None, compute=None) -> list[Source]:
    """Each operator's installed 4G towers modelled on their own, sampled at ``locations``.

    The best server of all towers (:func:`model_towers`) says whether a location
    has 4G; this says from which operators, so that a kampung reached by
    Telkomsel only is told from one reached by two operators (``ops_4g``). Each
    operator's model is :func:`model_towers` on its towers alone (the same
    formula and settings), sampled at the locations and then dropped: one
    grid at a time in memory. Only operators named in the sites' ``operator``
    (codes of :data:`~geo_p2dd.schema.OPERATORS`) with at least one installed 4G
    tower are modelled. When one operator owns every installed 4G tower,
    ``all_towers`` (:func:`model_towers`' installed 4G source, if given) is its
    model already and is sampled instead of modelling again.

    Returns
    -------
    list of Source
        Named ``modelled 4G <code>``, ``operator`` the operator's name; their
        values are those at ``locations`` (:attr:`Source.at_points`), in its order.
    """
    if sites is None or not len(sites) or "operator" not in sites:
        return []
    towers = sites[(sites["kind"] == "bts").to_numpy(bool)
                   & (sites["status"] == "installed").to_numpy(bool)
                   & sites["technology"].fillna("4G").isin(FOUR_G).to_numpy(bool)]
    codes = np.array([operator_code(o) if isinstance(o, str) and o.strip() else ""
                      for o in towers["operator"]], dtype=object)
    out = []
    for code in sorted(set(codes) - {"", "any"}):
        sel = towers[codes == code]
        if len(sel) == len(towers) and all_towers is not None:
            grid_src = all_towers
        else:
            (grid_src,) = model_towers(sel, grid, settings, dem, ("installed",), compute)
        at = (sample_source(grid_src, locations.geometry),
              sample_dbm(grid_src, locations.geometry))
        out.append(Source(f"modelled 4G {code}", str(sel["operator"].iloc[0]), "4G",
                          np.zeros((0, 0), np.uint8), grid.transform, grid.crs,
                          modelled=True, at_points=at))
    return out


def _cells(source: Source, points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and inside-the-grid flag of each point on ``source``'s grid."""
    pts = points.to_crs(source.crs)
    col, row = xy_to_colrow(source.transform, pts.x.to_numpy(), pts.y.to_numpy())
    row = np.floor(row).astype(np.int64)
    col = np.floor(col).astype(np.int64)
    h, w = source.classes.shape
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    return row, col, inside


def sample_source(source: Source, points: gpd.GeoSeries) -> np.ndarray:
    """Class code of ``source`` at each point (0 where outside or unknown)."""
    if source.at_points is not None:
        return _given(source, points)[0]
    row, col, inside = _cells(source, points)
    out = np.zeros(len(points), dtype=np.uint8)
    out[inside] = source.classes[row[inside], col[inside]]
    return out


def _given(source: Source, points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """The values a source was sampled with in advance (for these very points)."""
    codes, dbm = source.at_points
    if len(codes) != len(points):
        raise ValueError(f"{source.name} was sampled at {len(codes)} points, not {len(points)}")
    return codes, dbm


def sample_grid(source: Source, values: np.ndarray, points: gpd.GeoSeries) -> np.ndarray:
    """A float grid aligned with ``source.classes`` at each point (NaN outside)."""
    row, col, inside = _cells(source, points)
    out = np.full(len(points), np.nan)
    out[inside] = values[row[inside], col[inside]]
    return out


def sample_dbm(source: Source, points: gpd.GeoSeries) -> np.ndarray | None:
    """The signal in dBm of ``source`` at each point (NaN outside or nodata).

    None when the source holds classes only. A modelled source is read from its
    kept grid; an imported dBm raster is read only in the blocks that hold a
    point (each block once, one at a time: the memory of a block, not of the
    raster), not classified again. Settlements lie along rivers and roads, so
    a regency's points touch few blocks; measured in ``bench/operator_signal.py``.
    With the source's ``cache_dir`` the values read are kept there, keyed by the
    raster's file identity and the cells (``dbmat-<key>.npy``), and read back
    by the next analysis of the same locations.
    """
    if source.at_points is not None:
        return _given(source, points)[1]
    if source.dbm is not None:
        return sample_grid(source, source.dbm, points)
    if source.dbm_path is None:
        return None
    out = np.full(len(points), np.nan)
    if not len(points):
        return out
    with rasterio.open(source.dbm_path) as src:
        pts = points.to_crs(src.crs)
        col, row = xy_to_colrow(src.transform, pts.x.to_numpy(), pts.y.to_numpy())
        row = np.floor(row).astype(np.int64)
        col = np.floor(col).astype(np.int64)
        inside = np.flatnonzero((row >= 0) & (row < src.height) & (col >= 0) &
                                (col < src.width))
        if not len(inside):
            return out
        r, c = row[inside], col[inside]
        cached = _sample_cache(source, r, c)
        if cached is not None and cached.exists():
            try:
                vals = np.load(cached, allow_pickle=False)
                if vals.shape == (len(inside),) and vals.dtype == np.float64:
                    os.utime(cached)
                    out[inside] = vals
                    return out
            except (OSError, ValueError, EOFError):
                pass  # unreadable: read the raster again and replace it
        bh, bw = src.block_shapes[0]
        th = bh * -(-SAMPLE_BLOCK // bh)  # whole blocks, at least SAMPLE_BLOCK cells a side
        tw = min(src.width, bw * -(-SAMPLE_BLOCK // bw))
        tiles, which = np.unique(np.column_stack([r // th, c // tw]), axis=0,
                                 return_inverse=True)
        which = which.ravel()
        vals = np.empty(len(inside))
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(tiles) + 1))
        for t, (tr, tc) in enumerate(tiles):
            sel = order[bounds[t]:bounds[t + 1]]
            r0, c0 = int(tr) * th, int(tc) * tw
            window = Window(c0, r0, min(tw, src.width - c0), min(th, src.height - r0))
            block = src.read(1, window=window)
            vals[sel] = block[r[sel] - r0, c[sel] - c0]
        if src.nodata is not None:
            vals[vals == src.nodata] = np.nan
    out[inside] = vals
    if cached is not None:
        with atomic_path(cached, fsync=False) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vals, allow_pickle=False)
        files = sorted(cached.parent.glob("dbmat-*.npy"), key=lambda p: p.stat().st_mtime,
                       reverse=True)
        for p in files[SAMPLE_CACHE_KEEP:]:
            p.unlink(missing_ok=True)
    return out


def _sample_cache(source: Source, row: np.ndarray, col: np.ndarray) -> Path | None:
    """Where the dBm values of ``source`` at these cells are kept (None: no cache)."""
    if source.cache_dir is None:
        return None
    h = hashlib.sha1(repr((CLASS_CACHE_VERSION, _file_identity(source.dbm_path),
                           len(row))).encode())
    h.update(np.ascontiguousarray(row, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(col, dtype=np.int64).tobytes())
    return Path(source.cache_dir) / f"dbmat-{h.hexdigest()[:20]}.npy"


#: side (cells) of the windows :func:`sample_dbm` reads, rounded up to whole blocks
SAMPLE_BLOCK = 512


def source_keys(sources: list[Source]) -> dict[str, str]:
    """Source name -> the short key of its columns (``dbm_<key>``, ``cls_<key>``...).

    The key is the operator code and technology (``tsel4g``), ``mod4g``/``mod3g``
    for the tower model, ``m<code>4`` for one operator's modelled towers
    (``mtsel4``) and ``okm``/``okf`` for Ookla mobile/fixed tiles; at most
    6 characters, so ``dbm_<key>`` fits a Shapefile field. Two sources that
    would share a key get ``2``, ``3``... in place of the last character.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for src in sources:
        if src.name in out:
            continue
        if src.name.startswith("ookla"):
            key = "okf" if "fixed" in src.name else "okm"
        elif src.modelled and src.operator:  # one operator's towers: m + code + 4
            key = "m" + operator_code(src.operator)[:4] + str(src.technology or "4")[0]
        elif src.modelled:
            key = "mod4g" if src.is_4g else "mod3g"
        else:
            tech = str(src.technology or "").lower()
            key = operator_code(src.operator)[:6 - len(tech)] + tech
        n = 1
        base = key
        while key in used:
            n += 1
            key = f"{base[:5]}{n}"
        used.add(key)
        out[src.name] = key
    return out


def site_radius(sites: gpd.GeoDataFrame, defaults: Mapping[str, float]) -> np.ndarray:
    """Service radius (m) of each site: its own ``service_radius_m``, else its kind's default."""
    radius = pd.to_numeric(sites.get("service_radius_m"), errors="coerce").to_numpy(float)
    default = sites["kind"].map(lambda k: float(defaults.get(k, 0.0))).to_numpy(float)
    return np.where(np.isnan(radius) | (radius <= 0), default, radius)


def locations_coverage(
    locations: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    sources: list[Source],
    metric_crs: str,
    settings: Settings,
    statuses: tuple[str, ...] = ("installed",),
) -> pd.DataFrame:
    """Signal and service at every location for the sites with ``statuses``.

    Returns a frame aligned with ``locations``: ``best_4g``/``best_other``
    (class codes), ``best_source`` (the 4G source giving ``best_4g``), one
    ``signal:<source name>`` column of class codes per source (operators and
    technologies reported separately), ``dbm:<source name>`` (the signal in dBm,
    NaN where unknown) for the sources that hold dBm (a tower model, a dBm raster),
    ``value:<measure>:<source name>`` for other measured values (Ookla tiles'
    ``dl``/``ul`` Mbps, ``ms`` latency, ``tests``), ``by_site`` (site id serving it or ""),
    ``site_m`` (distance to the nearest site with those statuses, any kind),
    ``tower_m`` (to the nearest such tower), ``status``, ``reason_en`` and
    ``reason_id`` (the same reason in Bahasa Indonesia). The usable class and
    the default service radii come from ``settings``.
    """
    usable = settings.thresholds.usable_code
    n = len(locations)
    best_4g = np.zeros(n, dtype=np.uint8)
    best_other = np.zeros(n, dtype=np.uint8)
    best_src = np.full(n, "", dtype=object)
    per_source: dict[str, np.ndarray] = {}
    for src in sources:
        vals = sample_source(src, locations.geometry)
        per_source[f"signal:{src.name}"] = vals
        dbm = sample_dbm(src, locations.geometry)
        if dbm is not None:
            per_source[f"dbm:{src.name}"] = dbm
        for measure, grid in src.values.items():
            per_source[f"value:{measure}:{src.name}"] = sample_grid(src, grid, locations.geometry)
        if src.is_4g:
            better = vals > best_4g
            best_src[better] = src.name
            best_4g = np.maximum(best_4g, vals)
        elif src.technology != "fixed":  # fixed broadband tiles are no mobile signal
            best_other = np.maximum(best_other, vals)
    active = sites[sites["status"].isin(statuses)]
    active_m = active.geometry.to_crs(metric_crs)
    # the locations in metres only when a site can be near them (83,246 points nationally)
    pts = locations.geometry.to_crs(metric_crs) if len(active) else None
    by_site = np.full(n, "", dtype=object)
    site_m = np.full(n, np.nan)
    near_name = np.full(n, "", dtype=object)
    near_kind = np.full(n, "", dtype=object)
    tower_m = np.full(n, np.nan)
    towers = active["kind"].isin(TOWER_KINDS).to_numpy()
    if towers.any():
        t_tree = shapely.STRtree(active_m.values[towers])
        t_pt, t_site = t_tree.query_nearest(pts.values, all_matches=False)
        tower_m[t_pt] = shapely.distance(pts.values[t_pt], active_m.values[towers][t_site])
    if len(active):
        tree = shapely.STRtree(active_m.values)
        i_pt, i_site = tree.query_nearest(pts.values, return_distance=False, all_matches=False)
        d = shapely.distance(pts.values[i_pt], active_m.values[i_site])
        site_m[i_pt] = d
        near_name[i_pt] = active["name"].to_numpy()[i_site]
        near_kind[i_pt] = active["kind"].to_numpy()[i_site]
        radial = active["kind"].isin(RADIUS_KINDS).to_numpy()
        if radial.any():
            rad_sites = active[radial]
            radius = site_radius(rad_sites, settings.service_radius_m)
            rad_geoms = active_m.values[radial]
            tree_r = shapely.STRtree(rad_geoms)
            q_pt, q_site = tree_r.query(pts.values, predicate="dwithin",
                                        distance=float(radius.max()))
            dist = shapely.distance(pts.values[q_pt], rad_geoms[q_site])
            ok = dist <= radius[q_site]
            order = np.lexsort((dist[ok], q_pt[ok]))
            q_pt, q_site = q_pt[ok][order], q_site[ok][order]
            first = np.unique(q_pt, return_index=True)[1]
            by_site[q_pt[first]] = rad_sites["site_id"].to_numpy()[q_site[first]]
    served = (best_4g >= usable) | (by_site != "")
    known = (best_4g > 0) | (best_other > 0)
    # weak: some 4G below the usable class (not just "marginal": usable_class is
    # configurable), or a usable 2G/3G signal
    weak = ~served & ((best_4g >= SIGNAL_CODES["marginal"]) | (best_other >= usable))
    status = np.where(served, "served", np.where(weak, "weak",
                                                 np.where(known, "unserved", "unknown")))
    # _reason is pure: locations with the same facts share one text, made once per group
    # (grouped in one pass; NaN distances form one group, as they give one text)
    facts = (status, best_4g, best_other, best_src, by_site, site_m, near_name, near_kind)
    group = pd.DataFrame(dict(enumerate(facts))).groupby(
        list(range(len(facts))), sort=False, dropna=False).ngroup().to_numpy()
    first = np.unique(group, return_index=True)[1]  # a location of each group, by group
    texts = [(_reason(*a, usable=usable), _reason(*a, usable=usable, lang="id"))
             for a in zip(*(np.asarray(f)[first] for f in facts), strict=True)]
    reasons = np.array([t[0] for t in texts], dtype=object)[group].tolist() if n else []
    reasons_id = np.array([t[1] for t in texts], dtype=object)[group].tolist() if n else []
    return pd.DataFrame({"best_4g": best_4g, "best_other": best_other,
                         "best_source": best_src, **per_source, "by_site": by_site,
                         "site_m": site_m, "tower_m": tower_m, "status": status,
                         "reason_en": reasons, "reason_id": reasons_id},
                        index=locations.index)


def _reason(status, b4, bo, src, by_site, site_m, near_name, near_kind, *, usable,
            lang: str = "en") -> str:
    """Why a location has its status, in English or Bahasa Indonesia (the library catalogue)."""

    def signal(code) -> str:
        name = CODE_TO_SIGNAL[int(code)]
        return SIGNAL_CLASSES.label(name, "id").lower() if lang == "id" else name

    parts = []
    if by_site:
        parts.append(gettext("within the service radius of site %(site)s", lang, site=by_site))
    if b4 >= usable:
        parts.append(f"4G {signal(b4)} ({src})")
    elif b4 > 0:
        best = gettext(" (best %(signal)s)", lang, signal=signal(b4)) if b4 > 1 else ""
        parts.append(gettext("no usable 4G", lang) + best)
    else:
        parts.append(gettext("4G signal unknown", lang))
    if bo >= usable and b4 < usable:
        parts.append(f"2G/3G {signal(bo)}")
    if status != "served" and np.isfinite(site_m):
        parts.append(gettext("nearest installed site %(kind)s %(name)s %(km)s km", lang,
                             kind=SITE_KINDS.label(near_kind, lang), name=near_name,
                             km=format_number(site_m / 1000, lang, 1)))
    elif status != "served":
        parts.append(gettext("no installed site", lang))
    return "; ".join(parts)


def best_of_classes(sources: list[Source], transform: Affine, crs: str,
                    shape: tuple[int, int]) -> np.ndarray:
    """Best class across sources on one grid (reprojecting those on other grids).

    With a single source already on the grid, that source's own (uint8) array is
    returned, not a copy: treat the result as read-only.
    """
    best, own = None, False  # the maximum with zeros is the first source itself
    for src in sources:
        same = (src.classes.shape == shape and src.crs == crs and
                np.allclose(tuple(src.transform)[:6], tuple(transform)[:6]))
        if same:
            if best is None:
                best = np.asarray(src.classes, dtype=np.uint8)
            elif own:
                np.maximum(best, src.classes, out=best)
            else:
                best, own = np.maximum(best, src.classes, dtype=np.uint8), True
            continue
        dst = np.zeros(shape, dtype=np.uint8)
        reproject(src.classes, dst, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=transform, dst_crs=crs, resampling=Resampling.nearest,
                  src_nodata=0, dst_nodata=0)
        if best is None:
            best, own = dst, True
        elif own:
            np.maximum(best, dst, out=best)
        else:
            best, own = np.maximum(best, dst), True
    return np.zeros(shape, dtype=np.uint8) if best is None else best


def population_on(path, transform: Affine, crs: str, shape: tuple[int, int]) -> np.ndarray:
    """Population raster summed onto a grid (people per target cell)."""
    # NaN, not 0, as the destination nodata: with dst_nodata=0 GDAL leaves cells whose
    # sources are all nodata at the *source* nodata value (-1 people for GHS-POP)
    out = np.full(shape, np.nan, dtype=np.float32)
    with rasterio.open(path) as src:
        reproject(rasterio.band(src, 1), out, dst_transform=transform, dst_crs=crs,
                  resampling=Resampling.sum, src_nodata=src.nodata, dst_nodata=np.nan,
                  num_threads=2)  # GDAL warps chunks on both cores: same cells, faster
    return np.nan_to_num(out, nan=0.0)



#: the measured values of Ookla tiles kept per location: measure -> (column prefix, decimals)
VALUE_COLUMNS = {"dl": ("dl", 1), "ul": ("ul", 1), "ms": ("ms", 0), "tests": ("tests", 0)}


def signal_columns(table: pd.DataFrame, sources: list[Source]) -> pd.DataFrame:
    """The per-source columns of the locations output, aligned with ``table``.

    ``table`` is :func:`locations_coverage`'s frame. Per source (key from
    :func:`source_keys`): ``cls_<key>`` the signal class, ``dbm_<key>`` the
    signal in dBm rounded to 0.1 (sources holding dBm only), ``ev_<key>`` how the
    source knows (modelled, measured, reported) and, for Ookla tiles,
    ``dl_<key>``/``ul_<key>`` (Mbps), ``ms_<key>`` (latency) and ``tests_<key>``.
    """
    keys = source_keys(sources)
    out: dict[str, object] = {}
    for src in sources:
        key = keys[src.name]
        codes = table[f"signal:{src.name}"].to_numpy()
        out[f"cls_{key}"] = [CODE_TO_SIGNAL[int(c)] for c in codes]
        if f"dbm:{src.name}" in table:
            out[f"dbm_{key}"] = np.round(table[f"dbm:{src.name}"].to_numpy(float), 1)
        out[f"ev_{key}"] = src.kind
        for measure, (prefix, decimals) in VALUE_COLUMNS.items():
            column = f"value:{measure}:{src.name}"
            if column in table:
                out[f"{prefix}_{key}"] = np.round(table[column].to_numpy(float), decimals)
    return pd.DataFrame(out, index=table.index)


def village_signal_summary(table: pd.DataFrame, sources: list[Source],
                           village_kode: pd.Series, is_settlement: pd.Series,
                           usable: int) -> pd.DataFrame:
    """Per village and coverage source: the best signal at its settlements, and ``ops_4g``.

    Parameters
    ----------
    table : DataFrame
        :func:`locations_coverage`'s frame.
    sources : list of Source
        The sources behind ``table``.
    village_kode, is_settlement : Series
        Each location's village and whether it is a settlement (aligned with ``table``).
    usable : int
        The lowest usable class code.

    Returns
    -------
    DataFrame
        Indexed by village code: ``cls_<key>`` the best class and ``dbm_<key>`` the
        best dBm of each source at the village's settlements (at any of its
        locations when it has none), ``dl_<key>`` the best Ookla download speed, and
        ``ops_4g``: how many operators have usable 4G at a settlement, by their own
        coverage maps or their own modelled towers (:func:`model_operators`; Ookla
        tiles name no operator), null when no source names an operator's 4G.
    """
    keys = source_keys(sources)
    vk = village_kode.to_numpy(dtype=object)
    settle = is_settlement.to_numpy(bool)
    has_settle = pd.Series(settle).groupby(vk).transform("any").to_numpy(bool)
    counted = settle | ~has_settle  # settlements, else every location of the village
    vk_c = vk[counted]
    out = pd.DataFrame(index=pd.Index(pd.unique(vk), name="village_kode"))
    operators: dict[str, np.ndarray] = {}
    for src in sources:
        key = keys[src.name]
        codes = table[f"signal:{src.name}"].to_numpy()[counted]
        best = pd.Series(codes).groupby(vk_c).max()
        out[f"cls_{key}"] = best.reindex(out.index).fillna(0).astype(int).map(CODE_TO_SIGNAL)
        if f"dbm:{src.name}" in table:
            dbm = pd.Series(table[f"dbm:{src.name}"].to_numpy(float)[counted])
            out[f"dbm_{key}"] = dbm.groupby(vk_c).max().reindex(out.index).round(1)
        if f"value:dl:{src.name}" in table:
            dl = pd.Series(table[f"value:dl:{src.name}"].to_numpy(float)[counted])
            out[f"dl_{key}"] = dl.groupby(vk_c).max().reindex(out.index).round(1)
        if src.is_4g and src.operator:
            ok = pd.Series(codes >= usable).groupby(vk_c).any().reindex(out.index)
            code = operator_code(src.operator)
            operators[code] = operators.get(code, np.zeros(len(out), bool)) | \
                ok.fillna(False).to_numpy(bool)
    if operators:
        out["ops_4g"] = pd.array(np.sum(list(operators.values()), axis=0), dtype="Int64")
    else:
        out["ops_4g"] = pd.array([pd.NA] * len(out), dtype="Int64")
    return out


def speed_class(dl_mbps: np.ndarray, thresholds) -> np.ndarray:
    """Class codes of download speeds (Mbps) by ``[thresholds.ookla_mbps]``; NaN -> 0."""
    dl = np.asarray(dl_mbps, dtype=float)
    limits = thresholds.as_dict()
    out = np.where(np.isnan(dl), SIGNAL_CODES["unknown"], SIGNAL_CODES["none"]).astype(np.uint8)
    for name in ("marginal", "poor", "fair", "good"):  # weakest first: the best bound wins
        out[np.nan_to_num(dl, nan=-1.0) >= limits[name]] = SIGNAL_CODES[name]
    return out


def ookla_sources(tiles: gpd.GeoDataFrame | None, settings: Settings) -> list[Source]:
    """Ookla open data tiles as measured sources, one per tile type (mobile, fixed).

    The tiles are a regular Web Mercator grid, so each type becomes a small
    class grid in EPSG:3857 (one cell per tile, e.g. 330 x 330 cells of 611 m for
    a regency) and a location takes its tile's values by the grid lookup of
    :func:`sample_source`: the tile's speed class (:func:`speed_class`), ``dl``
    and ``ul`` (Mbps), ``ms`` (latency) and ``tests``. Cells without a tile are
    unknown (no tests is not no signal). Mobile tiles count as 4G evidence
    (best 4G class); fixed tiles are reported beside it only (technology
    ``fixed`` counts neither as 4G nor as 2G/3G).
    """
    from geo_p2dd.io.ookla import quadkey_to_tile

    if tiles is None or not len(tiles):
        return []
    out = []
    for kind in ("mobile", "fixed"):
        sel = tiles[tiles["type"] == kind]
        if not len(sel):
            continue
        xyz = np.array([quadkey_to_tile(q) for q in sel["quadkey"]], dtype=np.int64)
        x, y, z = xyz[:, 0], xyz[:, 1], int(xyz[0, 2])
        x0, y0 = int(x.min()), int(y.min())
        shape = (int(y.max()) - y0 + 1, int(x.max()) - x0 + 1)
        size = 2 * WEB_MERCATOR_HALF / 2 ** z
        transform = Affine(size, 0.0, -WEB_MERCATOR_HALF + x0 * size,
                           0.0, -size, WEB_MERCATOR_HALF - y0 * size)
        r, c = y - y0, x - x0
        values = {}
        for measure, column in (("dl", "dl_mbps"), ("ul", "ul_mbps"), ("ms", "lat_ms"),
                                ("tests", "tests")):
            grid = np.full(shape, np.nan, dtype=np.float32)
            grid[r, c] = sel[column].to_numpy(float)
            values[measure] = grid
        classes = speed_class(values["dl"], settings.thresholds.ookla_mbps)
        out.append(Source(f"ookla_{kind}", "", "4G" if kind == "mobile" else "fixed", classes,
                          transform, "EPSG:3857", evidence="measured", values=values))
    return out


#: half the side of the Web Mercator square (m)
WEB_MERCATOR_HALF = 20037508.342789244
