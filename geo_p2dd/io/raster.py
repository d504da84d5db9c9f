"""Rasters: store any raster rasterio opens as a Cloud-Optimized GeoTIFF,
rasterise coverage polygons, and sample rasters at points.

Imported rasters are checked before they are stored: the number of cells is
compared with ``limits.max_raster_cells`` from the header alone, before any
pixel is read (a 311 KB sparse GeoTIFF can declare 10^10 cells, and analysis
reads a coverage raster whole), and values are checked against a plausible
range per kind (dBm, signal class codes, people, metres). Implausible cells
(``inf`` dBm would count as good signal; an infinite population breaks every
sum) become nodata with a :class:`~geo_p2dd.io.vector.RepairWarning`; a raster
with no plausible cell at all is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import rasterize

from geo_p2dd.config import Limits
from geo_p2dd.errors import InputError
from geo_p2dd.grid import Grid
from geo_p2dd.io import input_file
from geo_p2dd.io.vector import repair

COG_OPTIONS = {"driver": "COG", "compress": "DEFLATE", "blocksize": 512, "BIGTIFF": "IF_SAFER"}
# the defaults of project.toml's [limits], defined once in geo_p2dd.config
DEFAULT_MAX_RASTER_CELLS = Limits().max_raster_cells
DEFAULT_DBM_RANGE = Limits().dbm_range
DEM_RANGE_M = (-500.0, 9000.0)  # below the Dead Sea shore .. above Everest
CLASS_CODE_RANGE = (0.0, 5.0)  # schema.SIGNAL_CODES: 0 unknown .. 5 good
_BAND_CELLS = 1 << 22  # cells read at once when scanning values (16 MB of float32)


@dataclass(frozen=True)
class RasterLimits:
    """Limits applied to imported rasters.

    Attributes
    ----------
    max_cells : int
        Most cells (width x height) a raster may declare.
    dbm_range : (float, float)
        Plausible received signal strength, in dBm, of a coverage raster.
    """

    max_cells: int = DEFAULT_MAX_RASTER_CELLS
    dbm_range: tuple[float, float] = DEFAULT_DBM_RANGE


def raster_limits(config: Mapping) -> RasterLimits:
    """The raster limits of a project configuration (``[limits]`` in project.toml).

    Parameters
    ----------
    config : mapping
        The project configuration; ``limits.max_raster_cells`` and
        ``limits.dbm_range`` are optional.
    """
    limits = config.get("limits", {}) or {}
    low, high = limits.get("dbm_range", DEFAULT_DBM_RANGE)
    return RasterLimits(int(limits.get("max_raster_cells", DEFAULT_MAX_RASTER_CELLS)),
                        (float(low), float(high)))


def value_range(kind: str, limits: RasterLimits) -> tuple[float, float, str]:
    """Plausible values of a raster kind: (low, high, unit) with both ends included.

    Parameters
    ----------
    kind : {"dbm", "classes", "population", "dem"}
        What the raster holds.
    limits : RasterLimits
        Supplies the dBm range.
    """
    ranges = {"dbm": (*limits.dbm_range, "dBm"), "classes": (*CLASS_CODE_RANGE, "class code"),
              "population": (0.0, math.inf, "people"), "dem": (*DEM_RANGE_M, "m")}
    if kind not in ranges:
        raise InputError(f"unknown raster value type {kind!r}", expected=", ".join(ranges),
                         found=kind)
    return ranges[kind]


def check_raster(path: str | Path, *, max_cells: int | None = None) -> dict:
    """Open a raster and return its profile, refusing what cannot be used.

    Only the header is read: the size is checked before any pixel.

    Parameters
    ----------
    path : str or Path
        Any raster GDAL opens.
    max_cells : int, optional
        Refuse a raster declaring more cells than this.

    Raises
    ------
    InputError
        Missing, empty or unreadable file, no CRS, too many cells.
    """
    path = input_file(path)
    try:
        with rasterio.open(path) as src:
            profile = dict(src.profile)
            if src.crs is None:
                raise InputError("the raster has no CRS", file=str(path),
                                 hint="assign one (e.g. gdal_edit.py -a_srs EPSG:4326) and retry")
            profile["bounds"] = tuple(src.bounds)
            profile["crs"] = src.crs.to_string()
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open as a raster ({exc})", file=str(path)) from exc
    cells = int(profile["width"]) * int(profile["height"])
    if max_cells is not None and cells > max_cells:
        raise InputError(
            f"the raster is too large: {profile['width']:,} x {profile['height']:,} = "
            f"{cells:,} cells", file=str(path), expected=f"at most {max_cells:,} cells",
            found=f"{cells:,}",
            hint="clip it to the region or coarsen it (gdalwarp -te ... -tr ...), or raise "
                 "limits.max_raster_cells in project.toml")
    return profile


def _nodata_for(dtype: np.dtype, low: float, high: float, given: float | None) -> float:
    """The nodata value implausible cells become: the raster's own, else one out of range."""
    if given is not None:
        return given
    if dtype.kind == "f":
        return float("nan")
    info = np.iinfo(dtype)
    return float(info.min) if info.min < low else float(info.max)


def _bands(src):
    rows = max(1, _BAND_CELLS // max(src.width, 1))
    for r0 in range(0, src.height, rows):
        yield rasterio.windows.Window(0, r0, src.width, min(rows, src.height - r0))


def _implausible(data: np.ndarray, nodata: float | None, low: float, high: float,
                 integers: bool) -> tuple[np.ndarray, np.ndarray]:
    """(implausible, present) masks of one block; NaN and nodata are absent, not implausible."""
    absent = np.zeros(data.shape, dtype=bool)
    if nodata is not None:
        absent |= (data == nodata) if not math.isnan(nodata) else np.isnan(data)
    if data.dtype.kind == "f":
        absent |= np.isnan(data)
    with np.errstate(invalid="ignore"):
        ok = (data >= low) & (data <= high)
        if integers and data.dtype.kind == "f":
            ok &= data == np.round(data)
    ok &= np.isfinite(data) if data.dtype.kind == "f" else True
    return ~absent & ~ok, ~absent


def checked_values(path: str | Path, work_path: str | Path, kind: str,
                   limits: RasterLimits) -> Path:
    """Check a raster's values against the plausible range of ``kind``.

    Cells outside the range (or infinite) are written as nodata to a copy at
    ``work_path`` with a RepairWarning naming the file, the count and the
    range; the raster is read in row bands, never whole.

    Returns
    -------
    Path
        ``path`` itself when every value is plausible, else ``work_path``.

    Raises
    ------
    InputError
        When no cell holds a plausible value (wrong units or wrong kind).
    """
    path, work_path = Path(path), Path(work_path)
    low, high, unit = value_range(kind, limits)
    integers = kind == "classes"
    shown = f"{low:g}..{high:g} {unit}" if math.isfinite(high) else f">= {low:g} {unit}"
    bad = present = 0
    with rasterio.open(path) as src:
        dtype = np.dtype(src.dtypes[0])
        for window in _bands(src):
            b, p = _implausible(src.read(1, window=window), src.nodata, low, high, integers)
            bad += int(b.sum())
            present += int(p.sum())
        if bad == 0:
            return path
        if bad == present:
            raise InputError(
                f"no cell holds a plausible value ({bad:,} cell(s) outside {shown})",
                file=str(path), expected=f"{kind} values in {shown}",
                hint="check the units and the value type (--values dbm or classes)")
        nodata = _nodata_for(dtype, low, high, src.nodata)
        profile = {**src.profile, "driver": "GTiff", "count": 1, "nodata": nodata, "tiled": True,
                   "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE",
                   "BIGTIFF": "IF_SAFER"}
        with rasterio.open(work_path, "w", **profile) as dst:
            for window in _bands(src):
                data = src.read(1, window=window)
                b, _ = _implausible(data, src.nodata, low, high, integers)
                data[b] = nodata
                dst.write(data, 1, window=window)
    repair(f"{path}: {bad:,} cell(s) outside the plausible range {shown} were set to nodata "
           f"({nodata:g})")
    return work_path


def write_cog(src_path: str | Path, dst_path: str | Path, *, categorical: bool) -> None:
    """Copy a raster as a COG with overviews (nearest for classes, average otherwise)."""
    from rasterio.shutil import copy as rio_copy

    resampling = "NEAREST" if categorical else "AVERAGE"
    try:
        rio_copy(str(src_path), str(dst_path), OVERVIEW_RESAMPLING=resampling, **COG_OPTIONS)
    except Exception as exc:
        raise InputError(f"cannot convert to a Cloud-Optimized GeoTIFF ({exc})",
                         file=str(src_path)) from exc


def write_array_cog(array: np.ndarray, grid: Grid, dst_path: str | Path, *, nodata=None,
                    categorical: bool = True) -> None:
    """Write a 2-D array on ``grid`` as a COG."""
    dst_path = Path(dst_path)
    mem = dst_path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": 1,
               "dtype": array.dtype.name, "crs": grid.crs, "transform": grid.transform,
               "nodata": nodata, "tiled": True, "blockxsize": 512, "blockysize": 512,
               "compress": "DEFLATE"}
    with rasterio.open(mem, "w", **profile) as dst:
        dst.write(array, 1)
    try:
        write_cog(mem, dst_path, categorical=categorical)
    finally:
        mem.unlink(missing_ok=True)


def rasterise_polygons(polygons: gpd.GeoDataFrame, values: np.ndarray, grid: Grid,
                       fill: int = 0) -> np.ndarray:
    """Burn polygon values onto ``grid`` (uint8); the highest value wins where they overlap."""
    shapes = polygons.to_crs(grid.crs).geometry.values
    order = np.argsort(values, kind="stable")  # burn low first so the best class wins
    return rasterize(
        ((shapes[i], int(values[i])) for i in order), out_shape=grid.shape,
        transform=grid.transform, fill=fill, dtype="uint8")


def read_on_grid(path: str | Path, grid: Grid, *, resampling: Resampling = Resampling.nearest,
                 dtype: str = "float32") -> np.ndarray:
    """Read a raster reprojected onto ``grid``; nodata becomes NaN (floats)."""
    from rasterio.warp import reproject

    out = np.full(grid.shape, np.nan, dtype=dtype)
    with rasterio.open(path) as src:
        reproject(rasterio.band(src, 1), out, dst_transform=grid.transform, dst_crs=grid.crs,
                  resampling=resampling, dst_nodata=np.nan, src_nodata=src.nodata)
    return out


def sample_points(path: str | Path, points: gpd.GeoSeries) -> np.ndarray:
    """Raster values at points (float; NaN for nodata or outside)."""
    with rasterio.open(path) as src:
        pts = points.to_crs(src.crs)
        x = pts.x.to_numpy()
        y = pts.y.to_numpy()
        out = np.full(len(x), np.nan)
        if len(x) == 0:
            return out
        # rowcol with op=np.floor returns floats: indices must be integers, and
        # empty points (NaN coordinates) cannot be cast, so they stay outside (-1)
        finite = np.isfinite(x) & np.isfinite(y)
        rows = np.full(len(x), -1, dtype=np.int64)
        cols = np.full(len(x), -1, dtype=np.int64)
        if finite.any():
            r, c = rasterio.transform.rowcol(src.transform, x[finite], y[finite], op=np.floor)
            rows[finite] = np.asarray(r, dtype=np.int64)
            cols[finite] = np.asarray(c, dtype=np.int64)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        if inside.any():
            r0, r1 = rows[inside].min(), rows[inside].max() + 1
            c0, c1 = cols[inside].min(), cols[inside].max() + 1
            if (r1 - r0) * (c1 - c0) <= 64_000_000:
                window = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
                block = src.read(1, window=window)
                vals = block[rows[inside] - r0, cols[inside] - c0].astype(float)
            else:
                vals = np.array([v[0] for v in src.sample(zip(x[inside], y[inside],
                                                              strict=True))], dtype=float)
            if src.nodata is not None:
                vals[vals == src.nodata] = np.nan
            out[inside] = vals
    return out
