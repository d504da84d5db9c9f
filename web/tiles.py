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
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import from_bounds

from geo_p2dd.propagation import rsrp_class

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
CACHE_TILES = 2048
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
    with _cache_lock:
        _cache[key] = png
        while len(_cache) > CACHE_TILES:
            _cache.popitem(last=False)
    return png


def _render(path: Path, z: int, x: int, y: int, values: str, thresholds) -> bytes:
    bounds = tile_bounds(z, x, y)
    res = (bounds[2] - bounds[0]) / TILE
    dst_transform = Affine(res, 0.0, bounds[0], 0.0, -res, bounds[3])
    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds("EPSG:3857", src.crs, *bounds)
        sb = src.bounds
        if west >= sb.right or east <= sb.left or south >= sb.top or north <= sb.bottom:
            return empty_tile()
        window = from_bounds(west, south, east, north, transform=src.transform)
        # a decimated read lets GDAL use the COG overviews at far zooms
        out_h = int(max(1, min(TILE * 2, math.ceil(window.height))))
        out_w = int(max(1, min(TILE * 2, math.ceil(window.width))))
        nodata = src.nodata
        fill = nodata if nodata is not None else 0
        block = src.read(1, window=window, out_shape=(out_h, out_w), boundless=True,
                         fill_value=fill, resampling=Resampling.nearest)
        block_transform = src.window_transform(window) @ Affine.scale(
            window.width / out_w, window.height / out_h)
        data = np.full((TILE, TILE), fill, dtype=block.dtype)
        reproject(block, data, src_transform=block_transform, src_crs=src.crs,
                  dst_transform=dst_transform, dst_crs="EPSG:3857",
                  resampling=Resampling.nearest, src_nodata=nodata, dst_nodata=nodata)
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


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    lat_r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return x, y
