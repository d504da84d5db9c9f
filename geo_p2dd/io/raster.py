"""Rasters: store any raster rasterio opens as a Cloud-Optimized GeoTIFF,
rasterise coverage polygons, and sample rasters at points."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import rasterize

from geo_p2dd.errors import InputError
from geo_p2dd.grid import Grid

COG_OPTIONS = {"driver": "COG", "compress": "DEFLATE", "blocksize": 512, "BIGTIFF": "IF_SAFER"}


def check_raster(path: str | Path) -> dict:
    """Open a raster and return its profile, refusing what cannot be used."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if path.stat().st_size == 0:
        raise InputError("file is empty", file=str(path))
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
    return profile


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
