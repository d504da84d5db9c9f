"""Tests for geo_p2dd.grid: metric CRS choice and the project grid."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from geo_p2dd.grid import Grid, metric_crs_for


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        # Mahakam Ulu: centre 114.75 E, 0.65 N -> UTM zone 50 (114..120 E), north
        ((113.9, -0.1, 115.6, 1.4), "EPSG:32650"),
        # Jakarta: centre 106.8 E, 6.2 S -> zone 48 (102..108 E), south
        ((106.6, -6.4, 107.0, -6.0), "EPSG:32748"),
        # centre exactly on the 114 E zone boundary belongs to the eastern zone 50
        ((113.9, 0.1, 114.1, 0.3), "EPSG:32650"),
        # centre just west of it: zone 49
        ((113.8, 0.1, 114.1, 0.3), "EPSG:32649"),
        # all of Indonesia (95..141 E) is wider than two zones: Web Mercator
        ((95.0, -11.0, 141.0, 6.0), "EPSG:3857"),
    ],
)
def test_metric_crs_for(bounds, expected):
    assert metric_crs_for(bounds) == expected


def test_from_bounds_snaps_outwards_to_resolution():
    grid = Grid.from_bounds((150.0, 250.0, 1049.0, 951.0), 100.0, "EPSG:32650")
    # west 150 -> 100, south 250 -> 200, east 1049 -> 1100, north 951 -> 1000
    assert grid.bounds == (100.0, 200.0, 1100.0, 1000.0)
    assert (grid.width, grid.height) == (10, 8)
    assert grid.shape == (8, 10)
    assert grid.resolution == 100.0
    assert grid.transform == Affine(100.0, 0.0, 100.0, 0.0, -100.0, 1000.0)


def test_from_bounds_never_empty():
    grid = Grid.from_bounds((10.0, 10.0, 10.0, 10.0), 100.0, "EPSG:32650")
    assert grid.width >= 1 and grid.height >= 1


def test_centres_and_rowcol():
    grid = Grid.from_bounds((0.0, 0.0, 1000.0, 800.0), 100.0, "EPSG:32650")
    xs, ys = grid.centres()
    np.testing.assert_allclose(xs, 50.0 + 100.0 * np.arange(10))
    np.testing.assert_allclose(ys, 750.0 - 100.0 * np.arange(8))  # north-up: row 0 at top
    rows, cols = grid.rowcol(np.array([50.0, 999.0, -1.0, 50.0]),
                             np.array([750.0, 1.0, 750.0, 801.0]))
    assert rows.tolist() == [0, 7, 0, -1]
    assert cols.tolist() == [0, 9, -1, 0]
    # every centre maps back to its own cell
    xx, yy = np.meshgrid(xs, ys)
    r, c = grid.rowcol(xx.ravel(), yy.ravel())
    assert r.tolist() == np.repeat(np.arange(8), 10).tolist()
    assert c.tolist() == np.tile(np.arange(10), 8).tolist()


def test_dict_round_trip_and_key():
    grid = Grid.from_bounds((164000.0, -32000.0, 383600.0, 171100.0), 100.0, "EPSG:32650")
    again = Grid.from_dict(grid.to_dict())
    assert again == grid
    assert grid.key() == again.key()
    assert len(grid.key()) == 12
    other = Grid.from_bounds((164000.0, -32000.0, 383600.0, 171100.0), 200.0, "EPSG:32650")
    moved = Grid.from_bounds((164100.0, -32000.0, 383600.0, 171100.0), 100.0, "EPSG:32650")
    other_crs = Grid("EPSG:32649", grid.transform, grid.width, grid.height)
    assert len({grid.key(), other.key(), moved.key(), other_crs.key()}) == 4


def test_key_does_not_depend_on_crs_spelling():
    a = Grid("EPSG:32650", Affine(100, 0, 0, 0, -100, 1000), 10, 10)
    b = Grid("epsg:32650", Affine(100, 0, 0, 0, -100, 1000), 10, 10)
    assert a.key() == b.key()
