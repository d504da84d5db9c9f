"""Ookla open data tiles as coverage evidence (issue 15): reader, import, analysis, licence."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from pyproj import Transformer

from geo_p2dd.analysis import analyze_project
from geo_p2dd.cli import main
from geo_p2dd.errors import InputError
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.files import export_layer
from geo_p2dd.exports.metadata import read_metadata
from geo_p2dd.imports import import_layer
from geo_p2dd.io.ookla import (
    lonlat_to_tile,
    quadkey_to_tile,
    read_ookla,
    tile_bounds,
    tile_to_quadkey,
)
from geo_p2dd.project import Project
from tests.conftest import write_text

# the `project` fixture's villages: 114.0..114.4 E, 0.0..0.1 N
SETTLEMENTS = {"s1": ("99.01.01.2001", 114.05, 0.05), "s2": ("99.01.01.2002", 114.15, 0.05),
               "s3": ("99.01.02.2001", 114.25, 0.05), "s4": ("99.01.02.2002", 114.35, 0.05)}
# the download speed (kbps) of the tile holding each settlement: good, poor, none, no tile
SPEEDS = {"s1": 42_000, "s2": 6_500, "s3": 400}


def test_quadkeys_follow_the_bing_tile_system():
    # the worked example of Microsoft's "Bing Maps Tile System" page: tile (3, 5) at level 3
    assert quadkey_to_tile("213") == (3, 5, 3)
    assert tile_to_quadkey(3, 5, 3) == "213"
    # a zoom-16 tile's corners are those of its Web Mercator square (pyproj as the oracle)
    x, y = lonlat_to_tile(np.array([114.05]), np.array([0.05]), 16)
    west, south, east, north = tile_bounds(int(x[0]), int(y[0]), 16)
    half, size = 20037508.342789244, 2 * 20037508.342789244 / 2 ** 16
    to_deg = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    lon0, lat1 = to_deg.transform(-half + x[0] * size, half - y[0] * size)
    lon1, lat0 = to_deg.transform(-half + (x[0] + 1) * size, half - (y[0] + 1) * size)
    assert (west, south, east, north) == pytest.approx((lon0, lat0, lon1, lat1), abs=1e-9)
    assert west <= 114.05 < east and south <= 0.05 < north
    assert east - west == pytest.approx(360 / 2 ** 16)  # ~611 m at the equator


def ookla_tiles() -> gpd.GeoDataFrame:
    """Tiles as Ookla publishes them: the three settlements' tiles, a neighbour and two
    tiles far outside the project (Jakarta), with Ookla's columns and WKT tile column."""
    rows = []
    for name, kbps in SPEEDS.items():
        _, lon, lat = SETTLEMENTS[name]
        x, y = lonlat_to_tile(np.array([lon]), np.array([lat]), 16)
        rows.append((tile_to_quadkey(int(x[0]), int(y[0]), 16), kbps))
    x, y = lonlat_to_tile(np.array([114.05]), np.array([0.05]), 16)
    rows.append((tile_to_quadkey(int(x[0]) + 1, int(y[0]), 16), 9_000))
    for lon in (106.82, 106.83):
        x, y = lonlat_to_tile(np.array([lon]), np.array([-6.2]), 16)
        rows.append((tile_to_quadkey(int(x[0]), int(y[0]), 16), 55_000))
    qk = [q for q, _ in rows]
    boxes = [shapely.box(*tile_bounds(*quadkey_to_tile(q))) for q in qk]
    return gpd.GeoDataFrame({
        "quadkey": qk, "tile": [b.wkt for b in boxes],
        "avg_d_kbps": [k for _, k in rows], "avg_u_kbps": [k // 4 for _, k in rows],
        "avg_lat_ms": [35, 48, 120, 40, 20, 21], "tests": [12, 5, 2, 7, 300, 250],
        "devices": [4, 3, 1, 2, 90, 80]}, geometry=boxes, crs="EPSG:4326")


@pytest.fixture
def ookla_parquet(tmp_path):
    """A GeoParquet file (geopandas + pyarrow) named as Ookla names its mobile tiles."""
    path = tmp_path / "in" / "2024-10-01_performance_mobile_tiles.parquet"
    path.parent.mkdir(parents=True)
    ookla_tiles().to_parquet(path)
    return path


def test_reader_takes_geoparquet_or_a_bare_table(ookla_parquet, tmp_path):
    tiles = read_ookla(ookla_parquet)
    assert list(tiles.columns) == ["quadkey", "dl_mbps", "ul_mbps", "lat_ms", "tests",
                                   "devices", "type", "geometry"]
    assert tiles["type"].unique().tolist() == ["mobile"]
    assert tiles["dl_mbps"].iloc[0] == pytest.approx(42.0)
    src = ookla_tiles()
    assert shapely.equals_exact(tiles.geometry.values, src.geometry.values, 1e-9).all()
    # no geometry at all (a CSV extract): the squares come from the quadkeys
    bare = tmp_path / "in" / "fixed_tiles.csv"
    pd.DataFrame(src.drop(columns=["geometry", "tile"])).to_csv(bare, index=False)
    again = read_ookla(bare)
    assert again["type"].iloc[0] == "fixed"
    assert shapely.equals_exact(again.geometry.values, src.geometry.values, 1e-9).all()


def test_reader_names_the_bad_row_and_column(tmp_path):
    frame = pd.DataFrame(ookla_tiles().drop(columns="geometry"))
    frame.loc[2, "quadkey"] = "31245"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(InputError) as err:
        read_ookla(bad)
    assert (err.value.row, err.value.column) == (3, "quadkey")
    frame = pd.DataFrame(ookla_tiles().drop(columns="geometry"))
    frame.loc[1, "avg_d_kbps"] = -5
    frame.to_csv(bad, index=False)
    with pytest.raises(InputError) as err:
        read_ookla(bad)
    assert (err.value.row, err.value.column) == (2, "avg_d_kbps")
    with pytest.raises(InputError, match="columns missing"):
        read_ookla(write_text(tmp_path / "x.csv", "quadkey,speed\n123,4\n"))


@pytest.fixture
def ookla_project(project, tmp_path, ookla_parquet):
    csv = "location_id,kind,name,kode_desa,people,lon,lat\n" + "".join(
        f"{i},settlement,{i.upper()},{v},100,{x!r},{y!r}\n"
        for i, (v, x, y) in SETTLEMENTS.items())
    import_layer(project, "locations", write_text(tmp_path / "in" / "loc.csv", csv))
    result = CliRunner().invoke(main, ["import", "--project", str(project.path), "ookla",
                                       str(ookla_parquet)])
    assert result.exit_code == 0, result.output
    assert "4 mobile tiles inside the project's villages, 2 outside them left out" in \
        result.output
    return Project(project.path)


def test_import_clips_records_the_licence_and_locations_take_their_tile(ookla_project):
    tiles = ookla_project.read_layer("ookla")
    assert len(tiles) == 4 and set(tiles["type"]) == {"mobile"}
    source = ookla_project.config["sources"]["ookla_mobile"]
    assert source["licence"].startswith("CC BY-NC-SA 4.0 (Speedtest® by Ookla®")
    result = analyze_project(ookla_project)
    loc = result.locations.set_index("location_id")
    assert list(loc.loc[["s1", "s2", "s3"], "dl_okm"]) == [42.0, 6.5, 0.4]
    assert list(loc.loc[["s1", "s2", "s3"], "ul_okm"]) == [10.5, 1.6, 0.1]
    assert list(loc.loc[["s1", "s2", "s3"], "ms_okm"]) == [35, 48, 120]
    assert list(loc.loc[["s1", "s2", "s3"], "tests_okm"]) == [12, 5, 2]
    assert np.isnan(loc.loc["s4", "dl_okm"])
    # speed classes by [thresholds.ookla_mbps] (20/10/5/1 Mbps); no tile is unknown, not none
    assert list(loc["cls_okm"]) == ["good", "poor", "none", "unknown"]
    assert set(loc["ev_okm"]) == {"measured"}
    # measured mobile speed is 4G evidence: s1 and s2 usable, s3 and s4 not
    assert list(loc["status"]) == ["served", "served", "unserved", "unknown"]
    assert list(loc["best_source"][:2]) == ["ookla_mobile", "ookla_mobile"]
    v = result.villages.set_index("kode")
    assert v.loc["99.01.01.2001", "dl_okm"] == 42.0
    assert v["ops_4g"].isna().all()  # Ookla names no operator


def test_downloads_state_the_non_commercial_terms(ookla_project, tmp_path):
    analyze_project(ookla_project)
    data = ExportData(ookla_project)
    assert "dl_okm" in data.layer("locations").columns
    for fmt in ("gpkg", "csv"):
        out = export_layer(ookla_project, "locations", tmp_path / f"loc.{fmt}", fmt)
        meta = read_metadata(out.path)
        assert "Non-commercial use only" in meta["attribution"]
        assert "Speedtest® by Ookla®" in meta["attribution"]
        assert any("BY-NC-SA" in lic for lic in meta["licences"])
    lone = pd.read_csv(tmp_path / "loc.csv")
    assert lone["attribution"].str.contains("Non-commercial, share alike").all()
