"""The project grid: a regular raster grid in a metric CRS.

Modelled coverage and rasterised operator polygons live on this grid. Its CRS
is chosen from the region: the UTM zone of the region's centre (UTM 50N for
Mahakam Ulu), or Web Mercator for regions wider than two UTM zones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS


def xy_to_colrow(transform: Affine, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (col, row) of map coordinates on a north-up grid (arrays welcome)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return (x - transform.c) / transform.a, (y - transform.f) / transform.e


def colrow_to_xy(transform: Affine, col, row) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates of fractional (col, row) positions on a north-up grid."""
    col = np.asarray(col, dtype=float)
    row = np.asarray(row, dtype=float)
    return transform.c + transform.a * col, transform.f + transform.e * row


def metric_crs_for(bounds_lonlat: tuple[float, float, float, float]) -> str:
    """Pick a metric CRS for a region given its lon/lat bounds.

    Parameters
    ----------
    bounds_lonlat : tuple
        (west, south, east, north) in degrees.

    Returns
    -------
    str
        "EPSG:326zz"/"EPSG:327zz" for the UTM zone of the centre, or "EPSG:3857"
        when the region spans more than 12 degrees of longitude.

    Examples
    --------
    >>> metric_crs_for((113.9, -0.1, 115.6, 1.6))  # Mahakam Ulu
    'EPSG:32650'
    """
    west, south, east, north = bounds_lonlat
    if east - west > 12:
        return "EPSG:3857"
    lon = (west + east) / 2
    lat = (south + north) / 2
    zone = int(math.floor((lon + 180) / 6)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Parameters
    ----------
    crs : str
        CRS of the grid (metric).
    transform : affine.Affine
        Pixel-to-CRS transform (north-up, no rotation).
    width, height : int
        Number of columns and rows.
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @classmethod
    def from_bounds(
        cls, bounds: tuple[float, float, float, float], resolution: float, crs: str
    ) -> Grid:
        """A grid covering ``bounds`` (in ``crs`` units) snapped to ``resolution``."""
        west, south, east, north = bounds
        west = math.floor(west / resolution) * resolution
        south = math.floor(south / resolution) * resolution
        east = math.ceil(east / resolution) * resolution
        north = math.ceil(north / resolution) * resolution
        width = max(1, int(round((east - west) / resolution)))
        height = max(1, int(round((north - south) / resolution)))
        return cls(crs, Affine(resolution, 0, west, 0, -resolution, north), width, height)

    @property
    def resolution(self) -> float:
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of column centres (width,) and y of row centres (height,)."""
        t = self.transform
        xs = t.c + t.a * (np.arange(self.width) + 0.5)
        ys = t.f + t.e * (np.arange(self.height) + 0.5)
        return xs, ys

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of points (may fall outside the grid)."""
        t = self.transform
        col = np.floor((np.asarray(x, dtype=float) - t.c) / t.a).astype(np.int64)
        row = np.floor((np.asarray(y, dtype=float) - t.f) / t.e).astype(np.int64)
        return row, col

    def to_dict(self) -> dict:
        t = self.transform
        return {"crs": self.crs, "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
                "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        return cls(d["crs"], Affine(*d["transform"]), int(d["width"]), int(d["height"]))

    def key(self) -> str:
        """A short stable string naming this grid (for caches)."""
        t = self.transform
        crs = CRS.from_user_input(self.crs).to_string()
        parts = [crs, *(f"{v:.9g}" for v in (t.a, t.c, t.e, t.f)), str(self.width),
                 str(self.height)]
        import hashlib

        return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]
