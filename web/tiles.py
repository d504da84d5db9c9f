"""Coverage overlay tiles rendered by the app from the project's rasters (XYZ, 256 px).

Reads the Cloud-Optimized GeoTIFF through a Web-Mercator WarpedVRT (overviews
make far zooms cheap), colours the signal classes and encodes a PNG. Rendered
tiles are kept in a small in-memory LRU cache keyed by file and modification time.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from PIL import Image
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from geo_p2dd.grid import xy_to_colrow
from geo_p2dd.signal import rsrp_class

TILE = 256
HALF = 20037508.342789244
# signal class code -> RGBA (no colour for unknown and for no signal)
PALETTE = np.zeros((256, 4), dtype=np.uint8)
PALETTE[2] = (254, 224, 139, 170)   # marginal
PALETTE[3] = (217, 239, 139, 170)   # poor
PALETTE[4] = (145, 207, 96, 170)    # fair
PALETTE[5] = (26, 152, 80, 170)     # good
SIGNAL_LEGEND = [("good", "#1a9850"), ("fair", "#91cf60"), ("poor", "#d9ef8b"),
                 ("marginal", "#fee08b")]

_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
CACHE_BYTES = 64 * 1024 * 1024  # rendered PNGs kept (most coverage tiles are a few kB)
_cache_size = 0
_EMPTY: bytes | None = None


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web-Mercator bounds of an XYZ tile."""
    size = 2 * HALF / (2 ** z)
    west = -HALF + x * size
    north = HALF - y * size
    return west, north - size, west + size, north


def empty_tile() -> bytes:
    global _EMPTY
    if _EMPTY is None:
        buf = io.BytesIO()
        Image.new("RGBA", (TILE, TILE), (0, 0, 0, 0)).save(buf, format="PNG", optimize=True)
        _EMPTY = buf.getvalue()
    return _EMPTY


def render_tile(path: Path, z: int, x: int, y: int, *, values: str = "classes",
                thresholds: dict | None = None) -> bytes:
    """PNG bytes of one coverage tile (transparent outside the raster)."""
    if z < 0 or z > 22 or not (0 <= x < 2 ** z) or not (0 <= y < 2 ** z):
        raise ValueError("tile out of range")
    key = (str(path), path.stat().st_mtime_ns, z, x, y)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    png = _render(path, z, x, y, values, thresholds)
    global _cache_size
    with _cache_lock:
        if key not in _cache:
            _cache[key] = png
            _cache_size += len(png)
        while _cache_size > CACHE_BYTES:
            _, old = _cache.popitem(last=False)
            _cache_size -= len(old)
    return png


def _render(path: Path, z: int, x: int, y: int, values: str, thresholds) -> bytes:
    bounds = tile_bounds(z, x, y)
    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds("EPSG:3857", src.crs, *bounds)
        sb = src.bounds
        if west >= sb.right or east <= sb.left or south >= sb.top or north <= sb.bottom:
            return empty_tile()
        window = from_bounds(west, south, east, north, transform=src.transform)
        # clip to the raster (no boundless read: that goes through a warped VRT)
        window = window.intersection(Window(0, 0, src.width, src.height))
        # a decimated read lets GDAL use the COG overviews at far zooms
        out_h = int(max(1, min(TILE * 2, math.ceil(window.height))))
        out_w = int(max(1, min(TILE * 2, math.ceil(window.width))))
        nodata = src.nodata
        fill = nodata if nodata is not None else 0
        block = src.read(1, window=window, out_shape=(out_h, out_w),
                         resampling=Resampling.nearest)
        block_transform = src.window_transform(window) @ Affine.scale(
            window.width / out_w, window.height / out_h)
        crs = src.crs.to_string()
    data = _resample_nearest(block, block_transform, crs, bounds, fill)
    if values == "dbm":
        f = data.astype(np.float32)
        if nodata is not None:
            f[data == nodata] = np.nan
        classes = rsrp_class(f, thresholds)
    else:
        classes = np.clip(data, 0, 255).astype(np.uint8)
        if nodata is not None:
            classes[data == nodata] = 0
    if not classes.any():
        return empty_tile()
    rgba = PALETTE[classes]
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


_local = threading.local()


def _transformer(crs: str) -> Transformer:
    """A Web-Mercator -> ``crs`` transformer per thread (pyproj's are not thread-safe)."""
    cache = getattr(_local, "transformers", None)
    if cache is None:
        cache = _local.transformers = {}
    if crs not in cache:
        cache[crs] = Transformer.from_crs("EPSG:3857", crs, always_xy=True)
    return cache[crs]


GRID_STEP = 16  # tile pixels between exactly projected points (bilinear in between)
APPROX_MIN_ZOOM = 6  # wider tiles (zoom < 6) are projected pixel by pixel


def source_coords(bounds, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``crs`` of every tile pixel centre, each ``(TILE, TILE)``.

    Projecting all 65,536 centres costs ~25 ms; the map from Web Mercator to a UTM or
    geographic raster is smooth at tile scale, so (like GDAL's approximate warp
    transformer) only a 17 x 17 lattice is projected exactly and the rest
    interpolated bilinearly: under 1 % of a tile pixel from zoom 6 on (9 cm at zoom 8
    for UTM 50N; ``tests/test_tiles.py``). Wider tiles are projected exactly.
    """
    res = (bounds[2] - bounds[0]) / TILE
    if bounds[2] - bounds[0] > 2 * HALF / 2 ** APPROX_MIN_ZOOM * 1.001:
        centres = np.arange(TILE) + 0.5
        mx, my = np.meshgrid(bounds[0] + res * centres, bounds[3] - res * centres)
        sx, sy = _transformer(crs).transform(mx, my)
        return np.asarray(sx), np.asarray(sy)
    nodes = np.arange(0, TILE + 1, GRID_STEP, dtype=np.float64)
    nx, ny = np.meshgrid(bounds[0] + res * nodes, bounds[3] - res * nodes)
    gx, gy = _transformer(crs).transform(nx, ny)
    centres = np.arange(TILE) + 0.5
    k = np.minimum((centres // GRID_STEP).astype(np.int64), len(nodes) - 2)
    t = (centres - nodes[k]) / GRID_STEP

    def interpolate(grid: np.ndarray) -> np.ndarray:
        rows = grid[:, k] * (1 - t) + grid[:, k + 1] * t  # along x: (nodes, TILE)
        return rows[k] * (1 - t)[:, None] + rows[k + 1] * t[:, None]

    return interpolate(np.asarray(gx)), interpolate(np.asarray(gy))


def _resample_nearest(block: np.ndarray, block_transform: Affine, crs: str, bounds,
                      fill) -> np.ndarray:
    """Nearest-neighbour lookup of every tile pixel centre in ``block`` (no GDAL warp)."""
    sx, sy = source_coords(bounds, crs)
    col, row = xy_to_colrow(block_transform, sx, sy)
    col = np.floor(col).astype(np.int64)
    row = np.floor(row).astype(np.int64)
    h, w = block.shape
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    out = np.full((TILE, TILE), fill, dtype=block.dtype)
    out[inside] = block[row[inside], col[inside]]
    return out


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    lat_r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return x, y
