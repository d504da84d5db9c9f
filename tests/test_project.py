"""Tests for geo_p2dd.project: the project directory, config, layers, transactions."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tomllib

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import REGION_BOUNDS, snapshot
from pyproj import Transformer

from geo_p2dd.errors import NotFoundError, ProjectError
from geo_p2dd.project import (
    CONFIG_NAME,
    DEFAULT_CONFIG,
    Project,
    file_sha256,
    now_iso,
    region_grid,
)


def test_create_empty_project(tmp_path):
    project = Project.create(tmp_path / "p", name="Uji", region_code="99.01")
    assert (tmp_path / "p" / CONFIG_NAME).is_file()
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [CONFIG_NAME]
    stored = tomllib.loads((tmp_path / "p" / CONFIG_NAME).read_text(encoding="utf-8"))
    assert stored["project"]["name"] == "Uji"
    assert stored["project"]["region_code"] == "99.01"
    assert stored["project"]["sample"] is False
    assert stored["thresholds"] == DEFAULT_CONFIG["thresholds"]
    assert project.name == "Uji" and project.region_code == "99.01"
    assert not project.is_sample
    assert project.layer_names() == []
    assert project.grid is None


def test_name_defaults_to_directory(tmp_path):
    assert Project.create(tmp_path / "kab-uji").name == "kab-uji"


def test_create_refuses_an_existing_project(tmp_path):
    Project.create(tmp_path / "p", name="first")
    before = snapshot(tmp_path / "p")
    with pytest.raises(ProjectError, match="already holds a project"):
        Project.create(tmp_path / "p", name="second")
    assert snapshot(tmp_path / "p") == before


def test_open_refuses_a_directory_without_project(tmp_path):
    with pytest.raises(ProjectError, match="not a geo_p2dd project"):
        Project(tmp_path)


def test_open_refuses_broken_toml(tmp_path):
    (tmp_path / CONFIG_NAME).write_text("[project\nname = ", encoding="utf-8")
    with pytest.raises(ProjectError, match="not valid TOML"):
        Project(tmp_path)


def test_stored_values_override_defaults(tmp_path):
    (tmp_path / CONFIG_NAME).write_text(
        '[project]\nname = "X"\n[thresholds.rsrp_dbm]\ngood = -80.0\n', encoding="utf-8")
    project = Project(tmp_path)
    assert project.config["thresholds"]["rsrp_dbm"]["good"] == -80.0
    # the other thresholds come from the defaults
    assert project.config["thresholds"]["rsrp_dbm"]["fair"] == \
        DEFAULT_CONFIG["thresholds"]["rsrp_dbm"]["fair"]
    assert project.config["weights"] == DEFAULT_CONFIG["weights"]
    # and the defaults themselves were not changed
    assert DEFAULT_CONFIG["thresholds"]["rsrp_dbm"]["good"] == -85.0


def test_read_layer_missing(project):
    with pytest.raises(NotFoundError, match="no sites layer"):
        project.read_layer("sites")
    with pytest.raises(LookupError):  # NotFoundError is a LookupError
        project.read_layer("locations")
    assert project.read_layer("sites", required=False) is None
    with pytest.raises(NotFoundError, match="no results table"):
        project.read_table("results")
    assert project.read_table("results", required=False) is None


def test_read_layer(project, villages_gdf):
    villages = project.read_layer("villages")
    assert villages["kode"].tolist() == villages_gdf["kode"].tolist()
    assert villages.crs.to_epsg() == 4326
    some = project.read_layer("villages", columns=["kode"], bbox=(114.21, 0.01, 114.29, 0.09))
    assert some["kode"].tolist() == ["99.01.02.2001"]


def test_info(project, boundaries_gpkg):
    info = project.info()
    assert info["path"] == str(project.path)
    assert info["region_code"] == "99.01"
    assert info["region_name"] == "Kabupaten Uji"
    assert info["name"] == "Kabupaten Uji"
    assert info["sample"] is False
    assert info["metric_crs"] == "EPSG:32650"  # centre 114.2 E, north: UTM zone 50N
    assert set(info["layers"]) == {"villages", "kecamatan", "kabupaten"}
    villages = info["layers"]["villages"]
    assert villages["rows"] == 4
    assert villages["geometry"] == "MultiPolygon"
    assert villages["crs"] == "EPSG:4326"
    assert villages["extent"] == pytest.approx(list(REGION_BOUNDS))
    assert villages["source"]["file"] == str(boundaries_gpkg.resolve())
    assert villages["source"]["rows"] == 4
    assert info["layers"]["kecamatan"]["rows"] == 2
    assert info["layers"]["kabupaten"]["rows"] == 1
    assert info["rasters"] == {}
    assert info["analysis"] is None


def test_transaction_commits_all(project):
    points = gpd.GeoDataFrame({"site_id": ["a"], "name": ["A"]},
                              geometry=[shapely.Point(114.05, 0.05)], crs="EPSG:4326")
    with project.transaction() as tx:
        tx.write_layer("sites", points)
        tx.write_layer("results", pd.DataFrame({"kode": ["99.01.01.2001"], "score": [0.5]}))
        tx.config["project"]["name"] = "Baru"
        staged = tx.stage_file("rasters/x.tif")
        staged.write_bytes(b"raster")
        # nothing is visible before the commit
        assert not project.has_layer("sites")
        assert not (project.path / "rasters" / "x.tif").exists()
    assert project.has_layer("sites")
    assert project.read_table("results")["score"].tolist() == [0.5]
    assert project.name == "Baru"
    assert Project(project.path).name == "Baru"
    assert (project.path / "rasters" / "x.tif").read_bytes() == b"raster"
    assert not list(project.path.glob(".staging-*"))


def test_transaction_failure_changes_nothing(project):
    before = snapshot(project.path)
    points = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[shapely.Point(114.05, 0.05)],
                              crs="EPSG:4326")
    with pytest.raises(RuntimeError, match="boom"), project.transaction() as tx:
        tx.write_layer("sites", points)
        tx.stage_file("rasters/x.tif").write_bytes(b"raster")
        tx.config["project"]["name"] = "Baru"
        raise RuntimeError("boom")
    assert snapshot(project.path) == before
    assert project.name == "Kabupaten Uji"


def test_commit_failure_midway_restores_the_project(project, monkeypatch):
    """A failure while files are moved into place puts back what was already moved."""
    with project.transaction() as tx:
        tx.stage_file("rasters/dem.tif").write_bytes(b"old raster")
    before = snapshot(project.path)
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append((str(src), str(dst)))
        if str(dst).endswith(CONFIG_NAME) and ".staging-" in str(src):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    points = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[shapely.Point(114.05, 0.05)],
                              crs="EPSG:4326")
    with pytest.raises(OSError, match="disk full"), project.transaction() as tx:
        tx.write_layer("sites", points)
        tx.stage_file("rasters/dem.tif").write_bytes(b"new raster")
        tx.stage_file("rasters/population.tif").write_bytes(b"new population")
        tx.config["project"]["name"] = "Baru"
    # the raster and the layers were moved before project.toml failed
    moved = [dst for _, dst in calls]
    assert str(project.path / "rasters" / "dem.tif") in moved
    assert str(project.layers_path) in moved
    monkeypatch.undo()
    assert snapshot(project.path) == before
    assert Project(project.path).layer_names() == ["kecamatan", "kabupaten", "villages"]


def test_delete_layer_and_remove_file(project):
    with project.transaction() as tx:
        tx.stage_file("rasters/old.tif").write_bytes(b"x")
    with project.transaction() as tx:
        tx.delete_layer("kecamatan")
        tx.delete_layer("not-there")
        tx.remove_file("rasters/old.tif")
    assert project.layer_names() == ["kabupaten", "villages"]
    assert not (project.path / "rasters" / "old.tif").exists()
    assert project.read_layer("kabupaten")["kode"].tolist() == ["99.01"]


def test_record_source(project, tmp_path):
    outside = tmp_path / "elsewhere" / "sites.csv"
    outside.parent.mkdir()
    outside.write_bytes(b"nama,lon,lat\n")
    inside = project.path / "sources" / "s.csv"
    inside.parent.mkdir()
    inside.write_bytes(b"abc")
    with project.transaction() as tx:
        tx.record_source("sites:sites.csv", outside, rows=3)
        tx.record_source("kecamatan", inside, licence="CC BY 4.0", note="dari BPS")
    sources = project.config["sources"]
    entry = sources["sites:sites.csv"]
    assert entry["file"] == str(outside.resolve())
    assert entry["licence"] == "unknown"
    assert entry["rows"] == 3
    assert entry["sha256"] == hashlib.sha256(b"nama,lon,lat\n").hexdigest()
    imported = dt.datetime.fromisoformat(entry["imported"])
    assert abs((dt.datetime.now(dt.UTC) - imported).total_seconds()) < 120
    entry = sources["kecamatan"]
    assert entry["file"] == "sources/s.csv"  # relative inside the project
    assert entry["licence"] == "CC BY 4.0" and entry["note"] == "dari BPS"
    # merged point sources are listed with their key
    assert project.source("sites") == [dict(sources["sites:sites.csv"], key="sites:sites.csv")]
    assert project.source("nothing") is None


def test_now_iso_honours_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764288000")
    assert now_iso() == "2025-11-28T00:00:00+00:00"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert dt.datetime.fromisoformat(now_iso()).year >= 2025


def test_file_sha256_of_file_and_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"one")
    (tmp_path / "d" / "b").write_bytes(b"two")
    assert file_sha256(tmp_path / "d" / "a") == hashlib.sha256(b"one").hexdigest()
    assert file_sha256(tmp_path / "d") == hashlib.sha256(b"onetwo").hexdigest()


def test_raster_path(project):
    assert project.raster_path("dem") is None
    with project.transaction() as tx:
        tx.config["rasters"] = {"dem": {"file": "rasters/dem.tif"},
                                "population": {"file": "rasters/population.tif"}}
        tx.stage_file("rasters/dem.tif").write_bytes(b"x")
    assert project.raster_path("dem") == project.path / "rasters" / "dem.tif"
    assert project.raster_path("population") is None  # registered but missing


def test_region_grid_covers_region_plus_margin():
    bounds = (113.9, -0.3, 115.8, 1.5)
    grid = region_grid(bounds, 100.0)
    assert grid.crs == "EPSG:32650"
    t = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    west, south, east, north = t.transform_bounds(*bounds)
    gw, gs, ge, gn = grid.bounds
    assert gw <= west - 2000 and gs <= south - 2000
    assert ge >= east + 2000 and gn >= north + 2000
    # snapped, so at most one cell more than the margin
    assert gw > west - 2100 and gn < north + 2100
    assert grid.resolution == 100.0
    assert gw % 100 == 0 and gn % 100 == 0
