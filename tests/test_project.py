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
    RESULTS_NAME,
    Project,
    file_sha256,
    now_iso,
    region_grid,
)


def test_create_empty_project(tmp_path):
    project = Project.create(tmp_path / "p", name="Uji", region_code="99.01")
    assert (tmp_path / "p" / CONFIG_NAME).is_file()
    # the visible layout is the project file; its generations and lock are hidden
    assert sorted(p.name for p in (tmp_path / "p").iterdir()
                  if not p.name.startswith(".")) == [CONFIG_NAME]
    assert (tmp_path / "p" / CONFIG_NAME).is_symlink()
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
    assert villages["source"]["file"] == boundaries_gpkg.name
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


def _count_replaces(project) -> int:
    calls = []
    real_replace = os.replace

    def counting(src, dst):
        calls.append(dst)
        return real_replace(src, dst)

    os.replace = counting
    try:
        _change_everything(project)
    finally:
        os.replace = real_replace
    return len(calls)


def _change_everything(project) -> None:
    points = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[shapely.Point(114.05, 0.05)],
                              crs="EPSG:4326")
    with project.transaction() as tx:
        tx.write_layer("locations", points)  # sites go to the register: test_register_service
        tx.stage_file("rasters/dem.tif").write_bytes(b"new raster")
        tx.stage_file("rasters/population.tif").write_bytes(b"new population")
        tx.config["project"]["name"] = "Baru"


@pytest.mark.parametrize("failing_call", range(5))
def test_commit_failure_at_any_step_changes_nothing(project, tmp_path, monkeypatch,
                                                    failing_call):
    """A failure at any rename of a commit, up to and including the switch, changes nothing."""
    import shutil

    with project.transaction() as tx:
        tx.stage_file("rasters/dem.tif").write_bytes(b"old raster")
    # a commit renames: layers, dem, population, the generation, then .current (the switch)
    probe = Project(shutil.copytree(project.path, tmp_path / "probe", symlinks=True))
    assert _count_replaces(probe) == 5
    assert Project(probe.path).name == "Baru"
    before = snapshot(project.path)
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(str(dst))
        if len(calls) - 1 == failing_call:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        _change_everything(project)
    monkeypatch.undo()
    assert snapshot(project.path) == before
    reopened = Project(project.path)
    assert reopened.name == "Kabupaten Uji"
    assert reopened.layer_names() == ["kecamatan", "kabupaten", "villages"]
    assert reopened.file("rasters/dem.tif").read_bytes() == b"old raster"


def test_generations_are_switched_atomically_and_pruned(project):
    first = project.generation
    for i in range(5):
        with project.transaction() as tx:
            tx.stage_file(f"rasters/r{i}.tif").write_bytes(str(i).encode())
    gens = sorted((project.path / ".generations").iterdir())
    assert len(gens) == 3  # the newest three are kept for readers still on an older one
    assert project.generation == gens[-1]
    assert first not in gens
    # unchanged files are shared between generations, not copied
    assert os.stat(gens[-1] / "rasters" / "r0.tif").st_ino == \
        os.stat(gens[-2] / "rasters" / "r0.tif").st_ino
    # a reader keeps the generation it opened, whatever is committed meanwhile
    reader = Project(project.path)
    with project.transaction() as tx:
        tx.config["project"]["name"] = "Lain"
    assert reader.name == "Kabupaten Uji" and reader.generation != project.generation
    assert reader.layers_path.exists()


def test_data_version_counts_input_changes_only(project):
    version = project.data_version
    with project.transaction() as tx:
        tx.config["project"]["name"] = "Baru"
    assert project.data_version == version + 1
    with project.transaction(inputs=False) as tx:
        tx.write_layer("village_results", pd.DataFrame({"kode": ["99.01.01.2001"]}))
    assert project.data_version == version + 1


def test_stale_results_are_flagged(project):
    with project.transaction(inputs=False) as tx:
        tx.config["analysis"] = {"data_version": project.data_version,
                                 "thresholds": project.config["thresholds"],
                                 "weights": project.config["weights"]}
    assert not project.analysis_stale
    assert project.info()["analysis_stale"] is False
    # an input change after the analysis
    with project.transaction() as tx:
        tx.config["sources"]["x"] = {"file": "x.csv"}
    assert project.analysis_stale
    # a hand edit of the thresholds
    with project.transaction(inputs=False) as tx:
        tx.config["analysis"]["data_version"] = project.data_version
    assert not project.analysis_stale
    text = (project.path / CONFIG_NAME).read_text(encoding="utf-8")
    (project.path / CONFIG_NAME).unlink()  # an editor that saves by replacing the file
    (project.path / CONFIG_NAME).write_text(text.replace("good = -85.0", "good = -80.0", 1),
                                            encoding="utf-8")
    edited = Project(project.path)
    assert edited.config["thresholds"]["rsrp_dbm"]["good"] == -80.0
    assert edited.analysis_stale
    # the next change commits the hand edit into a generation
    with edited.transaction():
        pass
    assert (project.path / CONFIG_NAME).is_symlink()
    assert Project(project.path).config["thresholds"]["rsrp_dbm"]["good"] == -80.0


def test_old_flat_layout_is_read_then_moved_into_a_generation(project, tmp_path):
    import shutil

    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(project.layers_path, flat / "layers.gpkg")
    (flat / "rasters").mkdir()
    (flat / "rasters" / "dem.tif").write_bytes(b"dem")
    shutil.copyfile(project.file(CONFIG_NAME), flat / CONFIG_NAME)
    before = snapshot(flat)
    old = Project(flat)
    assert old.generation is None and old.layer_names() == project.layer_names()
    assert snapshot(flat) == before  # opening never writes
    with old.transaction() as tx:
        tx.config["project"]["name"] = "Pindah"
    assert old.generation is not None
    for name in (CONFIG_NAME, "layers.gpkg", "rasters"):
        assert (flat / name).is_symlink()
    assert (flat / "rasters" / "dem.tif").read_bytes() == b"dem"
    assert Project(flat).name == "Pindah"
    assert Project(flat).layer_names() == project.layer_names()


def test_recover_removes_what_a_killed_writer_left(project):
    from geo_p2dd.project import recover

    (project.path / ".staging-deadbeef").mkdir()
    (project.path / ".staging-deadbeef" / "big").write_bytes(b"x" * 1000)
    orphan = project.path / ".generations" / "g999999-abcdef"
    orphan.mkdir()
    (project.path / "layers.gpkg").unlink()  # a top-level link lost mid-tidy
    with project.locked():
        recover(project.path)
    assert not (project.path / ".staging-deadbeef").exists()
    assert not orphan.exists()
    assert (project.path / "layers.gpkg").is_symlink()
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


def test_result_tables_have_their_own_file(project):
    layers = project.layers_path.stat().st_ino
    with project.transaction(inputs=False) as tx:
        tx.write_layer("village_results", pd.DataFrame({"kode": ["99.01.01.2001"]}))
        tx.write_layer("area_results", pd.DataFrame({"kode": ["99.01"]}))
    assert project.layers_path.stat().st_ino == layers  # linked, not copied
    assert (project.path / RESULTS_NAME).is_symlink()
    assert project.layer_names() == ["kecamatan", "kabupaten", "villages", "village_results",
                                     "area_results"]
    assert project.info()["layers"]["area_results"]["rows"] == 1
    results = project.results_path.stat().st_ino
    # a change of other files shares the results file too
    with project.transaction() as tx:
        tx.config["project"]["name"] = "Lain"
    assert project.results_path.stat().st_ino == results
    # writing one result table keeps the others
    with project.transaction(inputs=False) as tx:
        tx.write_layer("village_results", pd.DataFrame({"kode": ["99.01.01.2002"]}))
    assert project.read_table("village_results")["kode"].tolist() == ["99.01.01.2002"]
    assert project.read_table("area_results")["kode"].tolist() == ["99.01"]
    # deleting one keeps the rest; deleting all removes the file and its top-level link
    with project.transaction() as tx:
        tx.delete_layer("area_results")
    assert project.read_table("area_results", required=False) is None
    assert project.read_table("village_results")["kode"].tolist() == ["99.01.01.2002"]
    with project.transaction() as tx:
        tx.delete_layer("village_results")
    assert not project.results_path.exists()
    assert not (project.path / RESULTS_NAME).is_symlink()
    assert project.layer_names() == ["kecamatan", "kabupaten", "villages"]
    assert project.layers_path.stat().st_ino == layers


def test_deleting_an_absent_layer_copies_nothing(project):
    layers = project.layers_path.stat().st_ino
    with project.transaction() as tx:
        tx.delete_layer("not-there")
    assert project.layers_path.stat().st_ino == layers


def test_results_survive_a_copy_that_followed_the_links(project, tmp_path):
    import shutil

    with project.transaction(inputs=False) as tx:
        tx.write_layer("village_results", pd.DataFrame({"kode": ["99.01.01.2001"]}))
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in (CONFIG_NAME, "layers.gpkg", RESULTS_NAME):  # cp -L of the top level
        shutil.copyfile(project.path / name, flat / name)
    old = Project(flat)
    assert old.generation is None
    assert old.read_table("village_results")["kode"].tolist() == ["99.01.01.2001"]
    with old.transaction() as tx:
        tx.config["project"]["name"] = "Pindah"
    assert Project(flat).read_table("village_results")["kode"].tolist() == ["99.01.01.2001"]
    assert (flat / RESULTS_NAME).is_symlink()


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
    assert entry["file"] == "sites.csv"  # outside the project: the file name only
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
    # the file of the generation this object reads (the top-level link leads to the same)
    assert project.raster_path("dem") == project.generation / "rasters" / "dem.tif"
    assert project.raster_path("dem").resolve() == \
        (project.path / "rasters" / "dem.tif").resolve()
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


def test_a_copy_that_followed_the_links_still_works(project, tmp_path):
    """``cp -rL`` or ``shutil.copytree`` without symlinks: plain files, stale generations."""
    import shutil

    with project.transaction() as tx:
        tx.stage_file("rasters/dem.tif").write_bytes(b"dem")
    copy = Project(shutil.copytree(project.path, tmp_path / "copy"))
    assert copy.generation is None  # read as the flat layout it now is
    assert copy.layer_names() == project.layer_names()
    with copy.transaction() as tx:
        tx.config["project"]["name"] = "Salinan"
    again = Project(copy.path)
    assert again.name == "Salinan" and again.generation is not None
    assert again.file("rasters/dem.tif").read_bytes() == b"dem"
    assert sorted(g.name for g in (copy.path / ".generations").iterdir()) == ["g000001"]
    assert Project(project.path).name == "Kabupaten Uji"  # the original is untouched


def test_a_change_that_breaks_the_configuration_is_never_committed(project):
    from geo_p2dd.errors import ConfigError

    before = snapshot(project.path)
    with pytest.raises(ConfigError, match="thresholds.usable_class"):
        with project.transaction() as tx:
            tx.config["thresholds"]["usable_class"] = "excellent"
    assert snapshot(project.path) == before


def test_a_second_transaction_inside_one_is_refused_not_lost(project):
    """Its commit would be overwritten by the outer one's: refused, the outer one goes on."""
    with project.transaction() as outer:
        outer.stage_file("rasters/outer.tif").write_bytes(b"outer")
        with pytest.raises(ProjectError, match="already open in this thread"):
            with Project(project.path).transaction():
                pass
        assert outer.staging.exists()
    assert (project.path / "rasters" / "outer.tif").read_bytes() == b"outer"
    with project.transaction():  # and the next one goes through
        pass
