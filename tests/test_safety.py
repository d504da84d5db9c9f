"""Nothing is lost and nothing crashes: failures that must leave user data alone and
inputs that must give a readable error (found by review of the whole product)."""

from __future__ import annotations

import openpyxl
import pytest
from click.testing import CliRunner

from geo_p2dd.cli import main
from geo_p2dd.errors import InputError
from geo_p2dd.imports import import_layer, init_project
from geo_p2dd.io.vector import RepairWarning


def test_failed_init_keeps_the_users_own_folders(tmp_path, boundaries_gpkg, dem_tif):
    home = tmp_path / "office"
    (home / "rasters").mkdir(parents=True)
    mine = home / "rasters" / "my_dem.tif"
    mine.write_bytes(dem_tif.read_bytes())
    (home / "cache").mkdir()
    bad = tmp_path / "bad.csv"
    bad.write_text("jenis,nama,status,bujur,lintang\nStarlink,X,terpasang,1,1\n",
                   encoding="utf-8")
    with pytest.raises(InputError):
        init_project(home, villages=boundaries_gpkg, dem=mine, sites=bad)
    assert mine.exists() and (home / "cache").is_dir()
    assert not (home / "project.toml").exists() and not (home / "layers.gpkg").exists()


def test_sample_force_never_replaces_a_real_project(project):
    result = CliRunner().invoke(main, ["sample", str(project.path), "--force"])
    assert result.exit_code == 1
    assert "real project" in result.output
    assert (project.path / "layers.gpkg").exists()


def test_every_row_outside_the_region_is_a_clear_error(tmp_path, project):
    sheet = tmp_path / "far.csv"
    sheet.write_text("jenis,nama,status,bujur,lintang\nStarlink,Jauh,terpasang,140.0,-8.0\n",
                     encoding="utf-8")
    with pytest.raises(InputError, match="no usable row") as err:
        import_layer(project, "sites", sheet)
    assert "outside the region" in str(err.value)


def test_repeated_xlsx_headers_are_kept_apart(tmp_path, project):
    villages = project.read_layer("villages")
    kode = villages["kode"].iloc[0]
    pt = villages.geometry.iloc[0].representative_point()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["jenis", "nama lokasi", "status", "kode_desa", "keterangan", "keterangan",
               "bujur", "lintang"])
    ws.append(["Starlink", "Starlink Dua", "terpasang", kode, "catatan 1", "catatan 2",
               pt.x, pt.y])
    path = tmp_path / "register.xlsx"
    wb.save(path)
    report = import_layer(project, "sites", path)
    assert report.added == 1
    assert project.read_layer("sites")["notes"].iloc[0] == "catatan 1"


def test_import_after_analysis_removes_stale_results(tmp_path, sample_copy):
    project = sample_copy
    assert project.has_layer("village_results")
    sites = project.path / "sources" / "register_infrastruktur_sampel.csv"
    with pytest.warns(RepairWarning):
        import_layer(project, "sites", sites)
    for table in ("village_results", "location_results", "area_results"):
        assert not project.has_layer(table)
    assert "analysis" not in project.config


def test_web_after_results_were_removed(tmp_path, sample_copy):
    from web import create_app

    project = sample_copy
    with pytest.warns(RepairWarning):
        import_layer(project, "sites",
                     project.path / "sources" / "register_infrastruktur_sampel.csv")
    client = create_app({"PROJECT": str(project.path), "TESTING": True}).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert "geo-p2dd analyze" in page.get_data(as_text=True)
    kode = project.read_layer("villages")["kode"].iloc[0]
    assert client.get(f"/village/{kode}").status_code == 200
    west, south, east, north = project.read_layer("villages").total_bounds
    bbox = client.get(f"/api/villages.geojson?bbox={west},{south},{east},{north}&zoom=10")
    assert bbox.status_code == 200 and len(bbox.get_json()["features"]) > 0
    for zoom in ("nan", "1e308", "-3"):
        bad = client.get(f"/api/villages.geojson?bbox={west},{south},{east},{north}"
                         f"&zoom={zoom}")
        assert bad.status_code == 400, zoom
