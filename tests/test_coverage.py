"""Tests for geo_p2dd.coverage: class rasters, sampling at locations, best-of, status.

All expected values are worked out by hand from the small arrays written here
(see the comments next to each fixture); none is obtained by running the code.

Rule for a location on a cell edge (documented here, tested below): the pixel
coordinate ``(x - x0) / cell`` (and likewise for rows, counted from the top) is
floored, so a point on the edge shared by two cells reads the cell to its
*east* (vertical edge) or to its *south* (horizontal edge), i.e. the cell whose
west/north edge it lies on. A point on the raster's own east or south border is
therefore outside the raster and reads 0 (unknown).
"""

from __future__ import annotations

import dataclasses
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from conftest import write_tif

from geo_p2dd import coverage as cov
from geo_p2dd.config import DEFAULTS, with_changes
from geo_p2dd.grid import Grid
from geo_p2dd.signal import rsrp_class

THRESHOLDS = DEFAULTS.thresholds.rsrp_dbm

# A 10 x 10 raster of 1/64 degree cells (exact binary fractions, so edge positions
# are exact in floating point) with its north-west corner at 114.0 E, 10/64 N.
CELL = 1 / 64
X0, Y0 = 114.0, 10 / 64
GEO = Affine(CELL, 0, X0, 0, -CELL, Y0)


def centre(row: float, col: float) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL, Y0 - (row + 0.5) * CELL


def points(xy, crs="EPSG:4326") -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.Point(x, y) for x, y in xy], crs=crs)


# --------------------------------------------------------------------------- #
# load_source
# --------------------------------------------------------------------------- #

def test_class_raster_nodata_and_invalid_codes_are_unknown(tmp_path):
    # values 0..5 are kept; the nodata value 255 and the invalid code 7 become 0
    # (unknown) -- never 1 (no signal).
    row = np.array([0, 1, 2, 3, 4, 5, 255, 7, 1, 5], dtype=np.uint8)
    path = write_tif(tmp_path / "c.tif", np.tile(row, (10, 1)), transform=GEO, nodata=255)
    src = cov.load_source({"name": "op", "operator": "Op", "technology": "4G"}, path, THRESHOLDS)
    assert src.classes.dtype == np.uint8
    assert src.classes[3].tolist() == [0, 1, 2, 3, 4, 5, 0, 0, 1, 5]
    assert src.is_4g and not src.modelled
    assert src.crs == "EPSG:4326" and src.transform == GEO


def test_class_raster_whose_nodata_is_a_class_code(tmp_path):
    # a producer that declares nodata=1: those cells are unknown, not "none"
    row = np.array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5], dtype=np.uint8)
    path = write_tif(tmp_path / "c.tif", np.tile(row, (10, 1)), transform=GEO, nodata=1)
    src = cov.load_source({"name": "op"}, path, THRESHOLDS)
    assert src.classes[0].tolist() == [0, 2, 3, 4, 5, 0, 2, 3, 4, 5]
    assert src.technology == "4G"  # default technology


def test_dbm_raster_classes_with_nodata(tmp_path):
    # Default thresholds: >= -85 good(5), >= -95 fair(4), >= -105 poor(3),
    # >= -115 marginal(2), below none(1); a value equal to a threshold takes the
    # better class. -9999 is the declared nodata and NaN is NaN: both unknown(0).
    row = np.array([-80, -85, -85.1, -95, -104.9, -105, -115, -115.01, -9999, np.nan],
                   dtype=np.float32)
    path = write_tif(tmp_path / "d.tif", np.tile(row, (10, 1)), transform=GEO, nodata=-9999.0)
    src = cov.load_source({"name": "d", "values": "dbm"}, path, THRESHOLDS)
    assert src.classes[0].tolist() == [5, 5, 4, 4, 3, 3, 2, 1, 0, 0]
    # thresholds come from the project: good from -80 dBm makes -85 "fair"
    stricter = dataclasses.replace(THRESHOLDS, good=-80.0)
    src = cov.load_source({"name": "d", "values": "dbm"}, path, stricter)
    assert src.classes[0].tolist()[:3] == [5, 4, 4]


# --------------------------------------------------------------------------- #
# classified dBm rasters in the project cache
# --------------------------------------------------------------------------- #

def _dbm_raster(tmp_path, rows: int = 2500, cols: int = 40):
    # more rows than cov.CLASSIFY_ROWS, so that the banded read meets a partial last band
    rng = np.random.default_rng(7)
    values = rng.uniform(-130, -70, size=(rows, cols)).astype(np.float32)
    values[::7, ::3] = -9999.0   # declared nodata
    values[1::11, 2::5] = np.nan
    values[3, :4] = [-85.0, -95.0, -105.0, -115.0]  # on the thresholds: the better class
    path = write_tif(tmp_path / "dbm.tif", values, transform=GEO, nodata=-9999.0)
    return path, values


def _direct(values: np.ndarray, thresholds) -> np.ndarray:
    return rsrp_class(np.where(values == -9999.0, np.nan, values), thresholds)


def test_dbm_classes_from_the_cache_equal_direct_classes(tmp_path):
    path, values = _dbm_raster(tmp_path)
    cache = tmp_path / "cache"
    entry = {"name": "d", "values": "dbm"}
    first = cov.load_source(entry, path, THRESHOLDS, cache)
    files = list(cache.glob("classes-*.npy"))
    assert len(files) == 1
    assert first.classes.dtype == np.uint8
    np.testing.assert_array_equal(first.classes, _direct(values, THRESHOLDS))
    assert first.classes[3, :4].tolist() == [5, 4, 3, 2]
    # the second read comes from the cache file (memory-mapped, read-only), same classes
    again = cov.load_source(entry, path, THRESHOLDS, cache)
    assert isinstance(again.classes, np.memmap) and not again.classes.flags.writeable
    np.testing.assert_array_equal(again.classes, first.classes)
    assert (again.transform, again.crs) == (first.transform, first.crs)
    # and without a cache directory the same classes are computed every time
    np.testing.assert_array_equal(cov.load_source(entry, path, THRESHOLDS).classes,
                                  first.classes)


def test_changing_thresholds_changes_the_cached_classes(tmp_path):
    path, values = _dbm_raster(tmp_path)
    cache = tmp_path / "cache"
    entry = {"name": "d", "values": "dbm"}
    stricter = dataclasses.replace(THRESHOLDS, good=-80.0, marginal=-120.0)
    assert cov.class_cache_key(path, stricter) != cov.class_cache_key(path, THRESHOLDS)
    default = cov.load_source(entry, path, THRESHOLDS, cache).classes
    strict = cov.load_source(entry, path, stricter, cache).classes
    assert len(list(cache.glob("classes-*.npy"))) == 2
    np.testing.assert_array_equal(strict, _direct(values, stricter))
    assert (np.asarray(strict) != np.asarray(default)).any()
    assert strict[3, :4].tolist() == [4, 4, 3, 2]  # -85 is no longer good


def test_a_replaced_raster_gets_new_classes(tmp_path):
    path, values = _dbm_raster(tmp_path)
    cache = tmp_path / "cache"
    entry = {"name": "d", "values": "dbm"}
    key = cov.class_cache_key(path, THRESHOLDS)
    cov.load_source(entry, path, THRESHOLDS, cache)
    stronger = values + np.float32(20.0)
    stronger[values == -9999.0] = -9999.0
    replacement = write_tif(tmp_path / "new.tif", stronger, transform=GEO, nodata=-9999.0)
    os.replace(replacement, path)  # what a re-import does: a new file under the same name
    assert cov.class_cache_key(path, THRESHOLDS) != key
    np.testing.assert_array_equal(cov.load_source(entry, path, THRESHOLDS, cache).classes,
                                  _direct(stronger, THRESHOLDS))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other shape"])
def test_a_corrupt_class_cache_file_is_rebuilt(tmp_path, damage):
    path, values = _dbm_raster(tmp_path)
    cache = tmp_path / "cache"
    entry = {"name": "d", "values": "dbm"}
    cov.load_source(entry, path, THRESHOLDS, cache)
    (cached,) = cache.glob("classes-*.npy")
    if damage == "garbage":
        cached.write_bytes(b"not a numpy file")
    elif damage == "truncated":
        cached.write_bytes(cached.read_bytes()[:5000])
    else:
        np.save(cached, np.zeros((3, 3), np.uint8))
    src = cov.load_source(entry, path, THRESHOLDS, cache)
    np.testing.assert_array_equal(src.classes, _direct(values, THRESHOLDS))
    restored = np.load(cached)  # replaced by a good file
    np.testing.assert_array_equal(restored, _direct(values, THRESHOLDS))


def test_class_cache_keeps_the_most_recent_files(tmp_path):
    path, _ = _dbm_raster(tmp_path, rows=20)
    cache = tmp_path / "cache"
    entry = {"name": "d", "values": "dbm"}
    for good in range(-85, -85 + 5 * (cov.CLASS_CACHE_KEEP + 1), 5):
        cov.load_source(entry, path, dataclasses.replace(THRESHOLDS, good=float(good)), cache)
    assert len(list(cache.glob("classes-*.npy"))) == cov.CLASS_CACHE_KEEP


def test_dbm_at_locations_is_kept_in_the_cache_and_read_back(tmp_path):
    path, values = _dbm_raster(tmp_path)
    cache = tmp_path / "cache"
    entry = {"name": "d", "values": "dbm"}
    cells = [(0, 0), (3, 1), (7, 0), (1, 2), (2000, 39), (2499, 5)]  # (7, 0) is nodata
    pts = points([centre(r, c) for r, c in cells] + [(0.0, 0.0)])  # the last one outside
    expected = [float(values[r, c]) for r, c in cells]
    expected = [np.nan if v == -9999.0 else v for v in expected] + [np.nan]
    src = cov.load_source(entry, path, THRESHOLDS, cache)
    first = cov.sample_dbm(src, pts)
    np.testing.assert_array_equal(first, expected)
    kept = list(cache.glob("dbmat-*.npy"))
    assert len(kept) == 1
    # the next analysis of the same locations reads the kept values, not the raster
    np.save(kept[0], np.load(kept[0]) + 1000.0)
    np.testing.assert_array_equal(cov.sample_dbm(src, pts)[:2], np.array(expected[:2]) + 1000)
    # other locations: other cells, another file; without a cache: the raster
    np.testing.assert_array_equal(cov.sample_dbm(src, pts[:3]), expected[:3])
    assert len(list(cache.glob("dbmat-*.npy"))) == 2
    np.testing.assert_array_equal(
        cov.sample_dbm(cov.load_source(entry, path, THRESHOLDS), pts), expected)
    # a re-imported raster (a new file) is read again; a damaged file is replaced
    values[0, 0] = -60.0
    os.replace(write_tif(tmp_path / "new.tif", values, transform=GEO, nodata=-9999.0), path)
    assert cov.sample_dbm(cov.load_source(entry, path, THRESHOLDS, cache), pts)[0] == -60.0
    for f in cache.glob("dbmat-*.npy"):
        f.write_bytes(b"not numpy")
    np.testing.assert_array_equal(cov.sample_dbm(src, pts)[1:], expected[1:])


# --------------------------------------------------------------------------- #
# sample_source: which cell a location reads
# --------------------------------------------------------------------------- #

@pytest.fixture
def numbered() -> cov.Source:
    # class code = column index mod 6 in the top half, 5 - (col mod 6) in the bottom
    # half, so both the column and the half read are visible in the value.
    top = np.tile(np.arange(10) % 6, (5, 1))
    bottom = 5 - top
    return cov.Source("n", "", "4G", np.vstack([top, bottom]).astype(np.uint8), GEO,
                      "EPSG:4326")


def test_location_on_a_cell_edge_reads_the_cell_east_or_south(numbered):
    pts = points([
        centre(2, 3),                      # inside cell (2, 3): top half, col 3 -> 3
        (X0 + 4 * CELL, centre(2, 3)[1]),  # on the edge between cols 3 and 4 -> col 4 -> 4
        (centre(2, 3)[0], Y0 - 5 * CELL),  # on the edge between rows 4 and 5 -> row 5
                                           #   (bottom half) col 3 -> 5 - 3 = 2
        (X0 + 4 * CELL, Y0 - 5 * CELL),    # on the corner of 4 cells -> (5, 4) -> 5 - 4 = 1
        (X0, Y0),                          # north-west corner of the raster -> (0, 0) -> 0
        (X0 + 9.999 * CELL, Y0 - 9.999 * CELL),  # just inside the south-east corner
                                                 #   -> (9, 9): 5 - (9 mod 6) = 2
    ])
    assert cov.sample_source(numbered, pts).tolist() == [3, 4, 2, 1, 0, 2]


def test_location_on_the_east_or_south_border_or_outside_is_unknown(numbered):
    pts = points([
        (X0 + 10 * CELL, centre(2, 3)[1]),  # east border: col 10 is outside
        (centre(2, 3)[0], Y0 - 10 * CELL),  # south border: row 10 is outside
        (X0 - 0.001, centre(2, 3)[1]),      # west of the raster
        (centre(2, 3)[0], Y0 + 0.001),      # north of the raster
    ])
    assert cov.sample_source(numbered, pts).tolist() == [0, 0, 0, 0]


def test_locations_in_another_crs_are_reprojected(numbered):
    # the centre of cell (7, 1) given in UTM 50N reads that cell: 5 - 1 = 4
    utm = points([centre(7, 1)]).to_crs("EPSG:32650")
    assert cov.sample_source(numbered, utm).tolist() == [4]


# --------------------------------------------------------------------------- #
# best_of_classes
# --------------------------------------------------------------------------- #

def test_best_of_classes_on_one_grid_and_reprojected():
    a = np.array([[5, 0], [1, 2]], dtype=np.uint8)
    b = np.array([[3, 0], [0, 4]], dtype=np.uint8)
    t = Affine(1000, 0, 500000, 0, -1000, 10000)
    srcs = [cov.Source("a", "", "4G", a, t, "EPSG:32650"),
            cov.Source("b", "", "4G", b, t, "EPSG:32650")]
    # cell by cell maximum; unknown (0) in one source never hides a known class
    assert cov.best_of_classes(srcs, t, "EPSG:32650", (2, 2)).tolist() == [[5, 0], [1, 4]]
    # a third source on a 2 km grid covering the same 2 x 2 km with class 3: every
    # target cell centre falls in that one coarse cell (nearest), so 0 and 1 become 3
    coarse = cov.Source("c", "", "4G", np.array([[3]], dtype=np.uint8),
                        Affine(2000, 0, 500000, 0, -2000, 10000), "EPSG:32650")
    best = cov.best_of_classes([*srcs, coarse], t, "EPSG:32650", (2, 2))
    assert best.tolist() == [[5, 3], [3, 4]]


# --------------------------------------------------------------------------- #
# locations_coverage: best-of per technology, service radius, status and reason
# --------------------------------------------------------------------------- #

# 3 x 3 cells of 1 km in UTM 50N; cell (r, c) has its centre at
# x = 500500 + 1000 c, y = 9500 - 1000 r.
UTM = Affine(1000, 0, 500000, 0, -1000, 10000)
OP1_4G = [[5, 3, 2],
          [1, 0, 1],
          [1, 1, 1]]
OP2_4G = [[0, 4, 0],
          [2, 0, 0],
          [0, 0, 0]]
OP1_2G = [[0, 0, 0],
          [4, 0, 2],
          [0, 0, 3]]


def utm_centre(r: int, c: int) -> tuple[float, float]:
    return 500500.0 + 1000 * c, 9500.0 - 1000 * r


@pytest.fixture
def sources() -> list[cov.Source]:
    return [cov.Source("op1 4G", "Op1", "4G", np.array(OP1_4G, np.uint8), UTM, "EPSG:32650"),
            cov.Source("op2 4G", "Op2", "4G", np.array(OP2_4G, np.uint8), UTM, "EPSG:32650"),
            cov.Source("op1 2G", "Op1", "2G", np.array(OP1_2G, np.uint8), UTM, "EPSG:32650")]


LOCATIONS = {
    # name: position
    "L0": utm_centre(0, 0),    # op1 good                       -> served, source op1
    "L1": utm_centre(0, 1),    # op1 poor, op2 fair -> fair     -> served, source op2
    "L2": utm_centre(0, 2),    # marginal 4G only               -> weak
    "L3": utm_centre(1, 0),    # op1 none, op2 marginal; 2G fair -> weak
    "L4": utm_centre(1, 1),    # nothing known                  -> unknown
    "L5": utm_centre(1, 2),    # 4G none, 2G marginal           -> unserved
    "L6": utm_centre(2, 2),    # 4G none, 2G poor (usable)      -> weak
    "L7": utm_centre(2, 0),    # 4G none but 250 m from Starlink S1 (default 300 m) -> served
    "L8": (504000.0, 7500.0),  # outside the rasters; 800 m from S2 (radius 1000 m) -> served
    "L9": (504000.0, 9500.0),  # outside; 400 m from S3 (default 300 m)  -> unknown
    "L10": utm_centre(2, 1),   # 4G none; 140 m from Wi-Fi W5 (radius 0 -> default 200 m)
}
SITES = [
    # site_id, kind, name, status, service_radius_m, x, y
    ("S1", "starlink", "Star 1", "installed", np.nan, 500750.0, 7500.0),
    ("S2", "starlink", "Star 2", "installed", 1000.0, 504000.0, 6700.0),
    ("S3", "starlink", "Star 3", "installed", np.nan, 504000.0, 9900.0),
    ("S4", "starlink", "Star 4", "planned", np.nan, 501500.0, 8550.0),   # 50 m from L4
    ("W5", "wifi", "Wifi 5", "installed", 0.0, 501500.0, 7640.0),
    ("S6", "starlink", "Star 6", "proposed", np.nan, 502500.0, 8450.0),  # 50 m from L5
]


@pytest.fixture
def locs() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": list(LOCATIONS)},
                            geometry=[shapely.Point(*p) for p in LOCATIONS.values()],
                            crs="EPSG:32650")


@pytest.fixture
def sites() -> gpd.GeoDataFrame:
    cols = ["site_id", "kind", "name", "status", "service_radius_m"]
    return gpd.GeoDataFrame([dict(zip(cols, s[:5], strict=True)) for s in SITES],
                            geometry=[shapely.Point(s[5], s[6]) for s in SITES],
                            crs="EPSG:32650")


def test_best_class_per_technology_and_status(locs, sites, sources):
    out = cov.locations_coverage(locs, sites, sources, "EPSG:32650", DEFAULTS)
    out.index = list(LOCATIONS)
    assert out["best_4g"].to_dict() == {"L0": 5, "L1": 4, "L2": 2, "L3": 2, "L4": 0, "L5": 1,
                                        "L6": 1, "L7": 1, "L8": 0, "L9": 0, "L10": 1}
    assert out["best_other"].to_dict() == {"L0": 0, "L1": 0, "L2": 0, "L3": 4, "L4": 0,
                                           "L5": 2, "L6": 3, "L7": 0, "L8": 0, "L9": 0,
                                           "L10": 0}
    assert out["status"].to_dict() == {
        "L0": "served", "L1": "served", "L2": "weak", "L3": "weak", "L4": "unknown",
        "L5": "unserved", "L6": "weak", "L7": "served", "L8": "served", "L9": "unknown",
        "L10": "served"}
    # the radius: S1 default 300 m reaches L7 at 250 m; S2's own 1000 m reaches L8
    # at 800 m; S3 default 300 m does not reach L9 at 400 m; W5's radius 0 means
    # "not given" -> default 200 m reaches L10 at 140 m; the proposed S6 and the
    # planned S4 serve nobody now.
    assert out["by_site"].to_dict() == {"L0": "", "L1": "", "L2": "", "L3": "", "L4": "",
                                        "L5": "", "L6": "", "L7": "S1", "L8": "S2", "L9": "",
                                        "L10": "W5"}


def test_reasons(locs, sites, sources):
    out = cov.locations_coverage(locs, sites, sources, "EPSG:32650", DEFAULTS)
    r = dict(zip(LOCATIONS, out["reason_en"], strict=True))
    assert r["L0"] == "4G good (op1 4G)"
    assert r["L1"] == "4G fair (op2 4G)"  # the better operator is named
    # L2 (502500, 9500): S3 (504000, 9900) at sqrt(1500^2 + 400^2) = 1552 m is the
    # nearest installed site (W5 at 2112 m, S1 at 2658 m)
    assert r["L2"] == "no usable 4G (best marginal); nearest installed site Starlink Star 3 1.6 km"
    assert r["L3"].startswith("no usable 4G (best marginal); 2G/3G fair; nearest installed site")
    # L4 (501500, 8500): W5 at 860 m; the planned S4 at 50 m does not count
    assert r["L4"] == "4G signal unknown; nearest installed site Public Wi-Fi Wifi 5 0.9 km"
    # L5 (502500, 8500): W5 at sqrt(1000^2 + 860^2) = 1319 m; the proposed S6 at 50 m
    # does not count; a marginal 2G signal is not mentioned (not usable)
    assert r["L5"] == "no usable 4G; nearest installed site Public Wi-Fi Wifi 5 1.3 km"
    assert r["L6"].startswith("no usable 4G; 2G/3G poor; nearest")
    assert r["L7"] == "within the service radius of site S1; no usable 4G"
    assert r["L8"] == "within the service radius of site S2; 4G signal unknown"


def test_reasons_shared_by_locations_with_the_same_facts(locs, sites, sources):
    # each location's texts made alone equal those of the same location among many copies
    # (the texts are made once per group of locations with the same facts)
    many = pd.concat([locs.iloc[::-1], locs, locs.iloc[::2]], ignore_index=True)
    for active in (sites, sites.iloc[:0]):  # nearest sites, and none at all (NaN)
        out = cov.locations_coverage(many, active, sources, "EPSG:32650", DEFAULTS)
        for i in range(len(many)):
            alone = cov.locations_coverage(many.iloc[[i]], active, sources, "EPSG:32650",
                                           DEFAULTS)
            assert out["reason_en"].iloc[i] == alone["reason_en"].iloc[0]
            assert out["reason_id"].iloc[i] == alone["reason_id"].iloc[0]
        assert set(out["reason_en"]) == set(cov.locations_coverage(
            locs, active, sources, "EPSG:32650", DEFAULTS)["reason_en"])
    assert cov.locations_coverage(many.iloc[:0], sites, sources, "EPSG:32650",
                                  DEFAULTS)["reason_en"].tolist() == []


def test_site_distance_is_to_the_nearest_site_of_those_statuses(locs, sites, sources):
    out = cov.locations_coverage(locs, sites, sources, "EPSG:32650", DEFAULTS)
    out.index = list(LOCATIONS)
    assert out.loc["L7", "site_m"] == pytest.approx(250.0)
    assert out.loc["L8", "site_m"] == pytest.approx(800.0)
    assert out.loc["L9", "site_m"] == pytest.approx(400.0)
    assert out.loc["L4", "site_m"] == pytest.approx(860.0)
    assert out.loc["L5", "site_m"] == pytest.approx(np.hypot(1000, 860))


def test_pipeline_sites_are_evaluated_separately(locs, sites, sources):
    pipeline = ("installed", "in_progress", "planned")
    later = cov.locations_coverage(locs, sites, sources, "EPSG:32650", DEFAULTS,
                                   statuses=pipeline)
    later.index = list(LOCATIONS)
    # the planned S4 (50 m from L4) now serves L4; the proposed S6 still serves nobody
    assert later.loc["L4", "status"] == "served" and later.loc["L4", "by_site"] == "S4"
    assert later.loc["L4", "site_m"] == pytest.approx(50.0)
    assert later.loc["L5", "status"] == "unserved" and later.loc["L5", "by_site"] == ""


def test_service_radius_defaults_come_from_the_config(locs, sites, sources):
    settings = with_changes(DEFAULTS, service_radius_m={
        "starlink": 450.0,  # now S3 reaches L9 at 400 m
        "wifi": 100.0})     # and W5 no longer reaches L10 at 140 m
    out = cov.locations_coverage(locs, sites, sources, "EPSG:32650", settings)
    out.index = list(LOCATIONS)
    assert out.loc["L9", "by_site"] == "S3"
    assert out.loc["L10", "by_site"] == "" and out.loc["L10", "status"] == "unserved"
    assert out.loc["L8", "by_site"] == "S2"  # its own radius is unaffected


def test_usable_class_from_the_config(locs, sites, sources):
    # with "fair" as the lowest usable class, poor 4G/2G is no longer usable: the
    # 2G-poor L6 is unserved, and a location with poor 4G only would be weak
    settings = with_changes(DEFAULTS, thresholds={"usable_class": "fair"})
    sources[1].classes[0, 1] = 0  # L1: op1 poor only
    out = cov.locations_coverage(locs, sites, sources, "EPSG:32650", settings)
    out.index = list(LOCATIONS)
    assert out.loc["L0", "status"] == "served"  # good
    assert out.loc["L1", "status"] == "weak"    # poor 4G: some signal, not usable
    assert out.loc["L3", "status"] == "weak"    # 2G fair is usable
    assert out.loc["L6", "status"] == "unserved"


def test_no_sites_and_no_sources(locs, sources):
    empty = gpd.GeoDataFrame({"site_id": [], "kind": [], "name": [], "status": [],
                              "service_radius_m": []}, geometry=[], crs="EPSG:32650")
    out = cov.locations_coverage(locs, empty, [], "EPSG:32650", DEFAULTS)
    assert (out["status"] == "unknown").all()  # no data is unknown, never unserved
    assert (out["reason_en"] == "4G signal unknown; no installed site").all()
    assert out["site_m"].isna().all()
    out = cov.locations_coverage(locs, empty, sources, "EPSG:32650", DEFAULTS)
    assert out["reason_en"].iloc[5] == "no usable 4G; no installed site"


# --------------------------------------------------------------------------- #
# model_towers
# --------------------------------------------------------------------------- #

def test_modelled_towers_give_none_not_unknown_out_of_reach():
    grid = Grid("EPSG:32650", Affine(1000, 0, 500000, 0, -1000, 30000), 30, 30)
    settings = with_changes(DEFAULTS, propagation={"max_distance_m": 5000.0})
    towers = gpd.GeoDataFrame(
        {"site_id": ["T1", "T2", "T3"], "kind": ["bts", "bts", "bts"],
         "status": ["installed", "installed", "planned"], "technology": ["4G", "2G", None]},
        geometry=[shapely.Point(505500, 24500), shapely.Point(524500, 5500),
                  shapely.Point(524500, 24500)], crs="EPSG:32650").to_crs("EPSG:4326")
    now = cov.model_towers(towers, grid, settings, None, ("installed",))
    assert [(s.name, s.technology, s.is_4g, s.modelled) for s in now] == [
        ("modelled 4G (installed)", "4G", True, True),
        ("modelled 2G/3G (installed)", "3G", False, True)]
    four_g = now[0].classes
    assert four_g.shape == (30, 30) and now[0].transform == grid.transform
    # every cell is known: out of reach is "none" (1), not unknown (0)
    assert four_g.min() == 1 and (four_g > 0).all()
    # T1 stands in cell (5, 5); the cell 7 km away, beyond max_distance, is none
    assert four_g[5, 5] >= 3 and four_g[5, 12] == 1
    # the planned T3 (technology not given: modelled as 4G) is not in "installed" ...
    assert four_g[5, 24] == 1
    later = cov.model_towers(towers, grid, settings, None, ("installed", "planned"))
    assert later[0].name == "modelled 4G (with pipeline)"
    # ... and is with the pipeline; nothing gets worse
    assert later[0].classes[5, 24] >= 3
    assert (later[0].classes >= four_g).all()
