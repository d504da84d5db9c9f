"""Coverage tile rendering (web/tiles.py): geometry of the lookup, classes, cache."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from web import tiles


@pytest.mark.parametrize("crs", ["EPSG:32650", "EPSG:4326", "EPSG:23845"])
@pytest.mark.parametrize("z", [4, 6, 8, 10, 12, 16])
def test_interpolated_pixel_centres_match_exact_projection(crs, z):
    """The 17 x 17 lattice + bilinear lookup stays within 1 % of a tile pixel."""
    x, y = tiles.lonlat_to_tile(115.238, 0.529, z)  # Mahakam Ulu's densest cell
    bounds = tiles.tile_bounds(z, x, y)
    sx, sy = tiles.source_coords(bounds, crs)
    res = (bounds[2] - bounds[0]) / tiles.TILE
    centres = np.arange(tiles.TILE) + 0.5
    mx, my = np.meshgrid(bounds[0] + res * centres, bounds[3] - res * centres)
    ex, ey = Transformer.from_crs("EPSG:3857", crs, always_xy=True).transform(mx, my)
    # the tile pixel size in the target CRS, from the exact centres
    pixel = np.hypot(ex[0, 1] - ex[0, 0], ey[0, 1] - ey[0, 0])
    assert np.abs(sx - ex).max() < 0.01 * pixel
    assert np.abs(sy - ey).max() < 0.01 * pixel
