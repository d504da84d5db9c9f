"""Tests for geo_p2dd.io.raster: checks, COG copies, rasterising and sampling."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from conftest import write_tif

from geo_p2dd.errors import InputError
from geo_p2dd.grid import Grid
from geo_p2dd.io.raster import (
    DEFAULT_MAX_RASTER_CELLS,
    RasterLimits,
    check_raster,
    checked_values,
    raster_limits,
    rasterise_polygons,
    read_on_grid,
    sample_points,
    value_range,
    write_array_cog,
    write_cog,
)
from geo_p2dd.io.vector import RepairWarning


@pytest.fixture
def tif(tmp_path):
    """10 x 10 float32 raster, value = 10 * row + col, 0.01 degree cells from (114.0, 0.1);
    the top-left cell is nodata (-1)."""
    array = np.arange(100, dtype=np.float32).reshape(10, 10)
    array[0, 0] = -1
    return write_tif(tmp_path / "a.tif", array, nodata=-1.0)


def test_check_raster(tif):
    profile = check_raster(tif)
    assert profile["crs"] == "EPSG:4326"
    assert profile["width"] == 10 and profile["height"] == 10
    assert profile["bounds"] == pytest.approx((114.0, 0.0, 114.1, 0.1))
    assert profile["nodata"] == -1.0


def test_check_raster_refuses_no_crs(tmp_path):
    path = write_tif(tmp_path / "nocrs.tif", np.zeros((10, 10), np.uint8), crs=None)
    with pytest.raises(InputError) as info:
        check_raster(path)
    assert str(path) in str(info.value) and "no CRS" in str(info.value)


@pytest.mark.parametrize(("content", "message"), [(b"", "empty"),
                                                  (b"II*\x00garbage" * 50, "cannot open")])
def test_check_raster_refuses_bad_files(content, message, tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        check_raster(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_write_cog_copies_values_and_is_cog(tif, tmp_path):
    dst = tmp_path / "c.tif"
    write_cog(tif, dst, categorical=False)
    with rasterio.open(tif) as src, rasterio.open(dst) as out:
        assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert out.crs == src.crs and out.transform == src.transform
        assert out.nodata == src.nodata
        np.testing.assert_array_equal(out.read(1), src.read(1))


@pytest.mark.parametrize(("categorical", "expect_mixed"), [(True, False), (False, True)])
def test_cog_overviews_keep_classes_for_categorical(categorical, expect_mixed, tmp_path):
    """Class rasters get nearest-neighbour overviews (only existing classes);
    continuous ones are averaged (a checkerboard of 1 and 5 averages to 3)."""
    checker = np.where((np.indices((1024, 1024)).sum(axis=0) % 2) == 0, 1, 5).astype(np.uint8)
    src = write_tif(tmp_path / "classes.tif", checker,
                    transform=Affine(0.001, 0, 114.0, 0, -0.001, 1.0))
    dst = tmp_path / "classes_cog.tif"
    write_cog(src, dst, categorical=categorical)
    with rasterio.open(dst) as out:
        assert out.overviews(1), "a 1024 x 1024 COG has overviews"
        overview = out.read(1, out_shape=(512, 512))
    values = set(np.unique(overview).tolist())
    assert (values - {1, 5} != set()) is expect_mixed
    if expect_mixed:
        assert values == {3}


def test_write_cog_refuses_unreadable(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"nonsense")
    with pytest.raises(InputError, match="Cloud-Optimized GeoTIFF"):
        write_cog(bad, tmp_path / "out.tif", categorical=True)


@pytest.fixture
def grid():
    """10 x 10 cells of 100 m in UTM 50N."""
    return Grid("EPSG:32650", Affine(100.0, 0, 500000.0, 0, -100.0, 11000.0), 10, 10)


def test_write_array_cog_round_trip(grid, tmp_path):
    array = np.arange(100, dtype=np.uint8).reshape(10, 10)
    dst = tmp_path / "w.tif"
    write_array_cog(array, grid, dst, nodata=0)
    with rasterio.open(dst) as out:
        assert out.crs.to_epsg() == 32650
        assert out.transform == grid.transform
        assert out.nodata == 0
        np.testing.assert_array_equal(out.read(1), array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.tif"]  # no temporary left


def test_rasterise_highest_value_wins(grid):
    x0, y1 = grid.transform.c, grid.transform.f
    # left half: class 5 (good); right 7 columns: class 2 (marginal); overlap in cols 3-4
    polys = gpd.GeoDataFrame(
        geometry=[shapely.box(x0, y1 - 1000, x0 + 500, y1),
                  shapely.box(x0 + 300, y1 - 1000, x0 + 1000, y1)], crs=grid.crs)
    out = rasterise_polygons(polys, np.array([5, 2]), grid, fill=1)
    assert out.dtype == np.uint8
    assert (out[:, :5] == 5).all()
    assert (out[:, 5:] == 2).all()
    # the same when the polygons come in the other order
    out2 = rasterise_polygons(polys.iloc[::-1], np.array([2, 5]), grid, fill=1)
    np.testing.assert_array_equal(out, out2)


def test_rasterise_fill_and_reprojection(grid):
    # one lon/lat polygon covering the top-left cell's centre only
    cell = shapely.box(500000, 10900, 500100, 11000)
    poly = gpd.GeoSeries([cell.buffer(-20)], crs=grid.crs).to_crs("EPSG:4326")
    out = rasterise_polygons(gpd.GeoDataFrame(geometry=poly), np.array([4]), grid, fill=1)
    assert out[0, 0] == 4
    assert (out != 4).sum() == 99 and set(np.unique(out[out != 4])) == {1}


def test_read_on_grid_same_grid_and_nodata(grid, tmp_path):
    array = np.arange(100, dtype=np.float32).reshape(10, 10)
    array[4, 6] = -9999
    path = write_tif(tmp_path / "g.tif", array, transform=grid.transform, crs=grid.crs,
                     nodata=-9999.0)
    out = read_on_grid(path, grid)
    assert np.isnan(out[4, 6])
    mask = ~np.isnan(out)
    np.testing.assert_array_equal(out[mask], array[mask])


def test_read_on_grid_coarser_grid(grid, tmp_path):
    path = write_tif(tmp_path / "g.tif", np.full((10, 10), 7.0, np.float32),
                     transform=grid.transform, crs=grid.crs)
    coarse = Grid(grid.crs, Affine(200.0, 0, 500000.0, 0, -200.0, 11000.0), 5, 5)
    np.testing.assert_array_equal(read_on_grid(path, coarse), np.full((5, 5), 7.0))


def test_sample_points(tif):
    points = gpd.GeoSeries([
        shapely.Point(114.095, 0.005),   # bottom-right cell: row 9, col 9 -> 99
        shapely.Point(114.025, 0.085),   # row 1, col 2 -> 12
        shapely.Point(114.005, 0.095),   # top-left cell: nodata -> NaN
        shapely.Point(115.0, 0.05),      # outside -> NaN
        shapely.Point(),                 # empty point -> NaN
    ], crs="EPSG:4326")
    values = sample_points(tif, points)
    np.testing.assert_array_equal(values, [99.0, 12.0, np.nan, np.nan, np.nan])


def test_sample_points_in_another_crs(tif):
    lonlat = gpd.GeoSeries([shapely.Point(114.035, 0.045)], crs="EPSG:4326")  # row 5, col 3
    assert sample_points(tif, lonlat.to_crs("EPSG:32650")).tolist() == [53.0]


def test_sample_no_points(tif):
    assert sample_points(tif, gpd.GeoSeries([], crs="EPSG:4326")).shape == (0,)


# --- size and value limits (issue #12 item 3) ----------------------------------------------

def _sparse_tif(path, width, height, dtype="float32"):
    """A tiled GeoTIFF declaring width x height cells with no pixel written (a few KB)."""
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1,
               "dtype": dtype, "crs": "EPSG:4326", "tiled": True, "blockxsize": 512,
               "blockysize": 512, "compress": "DEFLATE", "SPARSE_OK": "TRUE",
               "BIGTIFF": "YES", "transform": Affine(1e-5, 0, 114.0, 0, -1e-5, 0.1)}
    with rasterio.open(path, "w", **profile):
        pass
    return path


def test_check_raster_refuses_too_many_cells_from_the_header(tmp_path):
    path = _sparse_tif(tmp_path / "huge.tif", 100_000, 100_000)
    assert path.stat().st_size < 2_000_000  # sparse: the pixels were never written
    with pytest.raises(InputError) as info:
        check_raster(path, max_cells=DEFAULT_MAX_RASTER_CELLS)
    text = str(info.value)
    assert str(path) in text and "10,000,000,000 cells" in text
    assert "400,000,000" in text and "max_raster_cells" in text
    assert check_raster(path)["width"] == 100_000  # no limit given: the header is fine


def test_raster_limits_from_config():
    assert raster_limits({}) == RasterLimits(400_000_000, (-150.0, -30.0))
    limits = raster_limits({"limits": {"max_raster_cells": 50, "dbm_range": [-140, -40]}})
    assert limits == RasterLimits(50, (-140.0, -40.0))


@pytest.mark.parametrize(("kind", "values", "bad"), [
    ("dbm", [-90.0, np.inf, -np.inf, 12.0, -200.0], 4),
    ("population", [3.0, np.inf, -5.0, 0.0, 1e6], 2),
    ("dem", [20.0, 1e5, -np.inf, 250.0, 4884.0], 2),
])
def test_implausible_values_become_nodata_with_a_warning(kind, values, bad, tmp_path):
    array = np.full((4, 5), values[0], dtype=np.float32)
    array[0, :] = values
    src = write_tif(tmp_path / "in.tif", array)
    work = tmp_path / "work.tif"
    with pytest.warns(RepairWarning) as caught:
        out = checked_values(src, work, kind, RasterLimits())
    message = str(caught[0].message)
    assert out == work and str(src) in message and f"{bad:,} cell(s)" in message
    low, high, unit = value_range(kind, RasterLimits())
    assert f"{low:g}" in message and unit in message
    with rasterio.open(out) as ds:
        data = ds.read(1, masked=True)
    row = np.asarray(values, dtype=np.float32)
    plausible = np.isfinite(row) & (row >= low) & (row <= high)
    np.testing.assert_array_equal(data.mask[0], ~plausible)
    np.testing.assert_array_equal(data[0][plausible], row[plausible])
    assert not data.mask[1:].any()


def test_class_codes_outside_the_vocabulary_become_nodata(tmp_path):
    array = np.full((3, 3), 4, dtype=np.uint8)
    array[0, 0], array[1, 1] = 9, 200
    src = write_tif(tmp_path / "cls.tif", array)
    with pytest.warns(RepairWarning, match=r"2 cell\(s\) outside the plausible range 0\.\.5"):
        out = checked_values(src, tmp_path / "w.tif", "classes", RasterLimits())
    with rasterio.open(out) as ds:
        assert ds.nodata not in range(6)
        data = ds.read(1, masked=True)
    assert data.mask.sum() == 2 and (data.compressed() == 4).all()


def test_plausible_values_and_nodata_are_left_alone(tmp_path):
    array = np.full((3, 3), -80.0, dtype=np.float32)
    array[0, 0] = -9999.0  # the raster's nodata: absent, not implausible
    array[1, 1] = np.nan
    src = write_tif(tmp_path / "ok.tif", array, nodata=-9999.0)
    assert checked_values(src, tmp_path / "w.tif", "dbm", RasterLimits()) == src
    assert not (tmp_path / "w.tif").exists()


def test_no_plausible_value_is_refused(tmp_path):
    src = write_tif(tmp_path / "watts.tif", np.full((3, 3), 20.0, dtype=np.float32))
    with pytest.raises(InputError, match=r"no cell holds a plausible value \(9 cell"):
        checked_values(src, tmp_path / "w.tif", "dbm", RasterLimits())
