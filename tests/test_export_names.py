"""Names that say what they hold (issue 15): in every collection and every download format,
column names are unique, documented in the column dictionary, at most 10 characters in a
Shapefile, and no column repeats the layer's id."""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

from geo_p2dd.analysis import analyze_project
from geo_p2dd.columns import describe_column
from geo_p2dd.exports.catalogue import LAYERS
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.files import export_layer
from geo_p2dd.exports.formats import FORMATS, shapefile_names
from geo_p2dd.imports import import_layer
from geo_p2dd.io.ookla import lonlat_to_tile, quadkey_to_tile, tile_bounds, tile_to_quadkey
from geo_p2dd.project import Project
from tests.conftest import write_tif
from tests.test_export import read_back

#: columns a format adds by itself, not ours: KML placemark structure
KML_STRUCTURE = {"id", "Name", "description", "timestamp", "begin", "end", "altitudeMode",
                 "tessellate", "extrude", "visibility", "drawOrder", "icon"}


@pytest.fixture(scope="module")
def rich(sample_project, tmp_path_factory):
    """The sample with two operators' coverage (dBm and classes) and Ookla mobile tiles, so
    that every family of columns is in the layers."""
    root = tmp_path_factory.mktemp("rich")
    shutil.copytree(sample_project.path, root / "project", symlinks=True)
    project = Project(root / "project")
    locs = project.read_table("location_results")  # before an import invalidates them
    t = Affine(0.01, 0, 112.8, 0, -0.01, 1.25)
    rng = np.random.default_rng(15)
    dbm = rng.uniform(-125, -70, (100, 190)).astype(np.float32)
    import_layer(project, "coverage", write_tif(root / "tsel.tif", dbm, transform=t),
                 operator="Telkomsel")
    cls = rng.integers(1, 6, (100, 190)).astype(np.uint8)
    import_layer(project, "coverage", write_tif(root / "xl.tif", cls, transform=t),
                 operator="XL", values="classes")
    x, y = lonlat_to_tile(locs["lon"].to_numpy(), locs["lat"].to_numpy(), 16)
    qk = sorted({tile_to_quadkey(int(a), int(b), 16) for a, b in zip(x, y, strict=True)})[::2]
    tiles = gpd.GeoDataFrame(
        {"quadkey": qk, "avg_d_kbps": rng.integers(100, 50_000, len(qk)),
         "avg_u_kbps": rng.integers(50, 9_000, len(qk)),
         "avg_lat_ms": rng.integers(15, 200, len(qk)), "tests": rng.integers(1, 50, len(qk)),
         "devices": rng.integers(1, 20, len(qk))},
        geometry=[shapely.box(*tile_bounds(*quadkey_to_tile(q))) for q in qk], crs="EPSG:4326")
    path = root / "mobile_tiles.parquet"
    tiles.to_parquet(path)
    import_layer(project, "ookla", path)
    analyze_project(project)
    return ExportData(Project(project.path))


def check_names(columns: list[str], *, where: str) -> None:
    lowered = [c.lower() for c in columns]
    assert len(set(lowered)) == len(lowered), f"{where}: repeated names"
    for c in columns:
        en, id_ = describe_column(c)
        assert en and id_, f"{where}: {c} is not in the column dictionary"


def test_the_layers_hold_every_family_of_columns(rich):
    loc = rich.layer("locations").columns
    assert {"dbm_tsel4g", "cls_tsel4g", "ev_tsel4g", "cls_xl4g", "dbm_mod4g", "cls_okm",
            "dl_okm", "ul_okm", "ms_okm", "tests_okm"} <= set(loc)
    assert {"ops_4g", "dbm_tsel4g", "cls_xl4g", "dl_okm"} <= set(rich.layer("villages").columns)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_collection_columns_are_unique_documented_and_hold_one_id(rich, layer):
    frame = rich.layer(layer)
    cols = [c for c in frame.columns if c != frame.geometry.name]
    check_names(cols, where=layer)
    key = LAYERS[layer].id_column
    ids = frame[key].astype(str).to_numpy()
    assert len(set(ids)) == len(ids), f"{layer}: {key} is not unique"
    for c in cols:  # no second column repeats the id
        if c != key:
            assert not np.array_equal(frame[c].astype(str).to_numpy(), ids), (layer, c)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_download_keeps_the_names(rich, tmp_path, layer, fmt):
    frame = rich.layer(layer)
    cols = [c for c in frame.columns if c != frame.geometry.name]
    got = read_back(export_layer(rich, layer, tmp_path, fmt).path, fmt)
    read = [c for c in got.columns if c != got.geometry.name]
    if fmt == "shp":
        short = shapefile_names(cols)
        assert all(len(s) <= 10 for s in short.values())
        assert sorted(read) == sorted(short.values())
        back = {s: c for c, s in short.items()}
        read = [back[c] for c in read]
    if fmt in ("kml", "kmz"):  # the placemark's own members; its Name is our name
        read = [c for c in read if c not in KML_STRUCTURE]
        assert set(read) == set(cols) - {"name"}
    if fmt == "csv" and layer != "locations":
        assert set(read) - set(cols) <= {"lon", "lat", "licence", "attribution"}
    check_names(read, where=f"{layer}.{fmt}")
    assert set(cols) <= set(read) | ({"name"} if fmt in ("kml", "kmz") else set())
