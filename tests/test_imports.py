"""Tests for geo_p2dd.imports: init, imports of every kind, merging, provenance, atomicity."""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from conftest import (
    KABUPATEN_NAME,
    KECAMATAN_NAMES,
    REGION_BOUNDS,
    SITES_HEADER,
    SITES_ROWS,
    area_frames,
    snapshot,
    write_text,
    write_tif,
)
from pyproj import Transformer

import geo_p2dd.imports as imports
from geo_p2dd.errors import InputError, NotFoundError, ProjectError
from geo_p2dd.imports import import_layer, init_project
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.layers import stable_id
from geo_p2dd.project import Project, Transaction

# ids the README promises: kind (not repeated by the name), slug of the name, agency,
# village code
SITE_IDS = {
    "Starlink Satu": "starlink-satu--diskominfo-99.01.01.2001",
    "Starlink Dua": "starlink-dua--diskominfo-99.01.01.2002",
    "BTS Tiga": "bts-tiga--bakti-99.01.02.2001",
    "Wifi Empat": "wifi-empat--dinas-pendidikan-99.01.02.2002",
}
# README: terpasang, proses, rencana, usulan -> installed, in_progress, planned, proposed
SITE_STATUS = {"Starlink Satu": "installed", "Starlink Dua": "in_progress",
               "BTS Tiga": "planned", "Wifi Empat": "proposed"}


def _assert_unchanged(directory, before):
    assert snapshot(directory) == before
    assert not list(directory.glob(".staging-*"))


# --------------------------------------------------------------------------- #
# init
# --------------------------------------------------------------------------- #


def test_init_from_multilayer_geopackage(tmp_path, boundaries_gpkg):
    project, reports = init_project(tmp_path / "p", villages=boundaries_gpkg)
    assert [r.kind for r in reports] == ["kecamatan", "kabupaten", "villages"]
    assert [r.rows for r in reports] == [2, 1, 4]
    villages = project.read_layer("villages")
    assert villages["kode"].tolist() == ["99.01.01.2001", "99.01.01.2002", "99.01.02.2001",
                                         "99.01.02.2002"]
    assert villages["kecamatan"].tolist() == [KECAMATAN_NAMES[k]
                                              for k in villages["kecamatan_kode"]]
    assert set(villages["kabupaten"]) == {KABUPATEN_NAME}
    assert project.region_code == "99.01"
    assert project.config["project"]["region_name"] == KABUPATEN_NAME
    assert project.name == KABUPATEN_NAME  # already starts with "Kabupaten"
    assert project.grid.crs == "EPSG:32650"
    assert sorted(p.name for p in project.path.iterdir()
                  if not p.name.startswith(".")) == ["layers.gpkg", "project.toml"]


def test_init_grid_covers_the_villages(project):
    grid = project.grid
    villages = project.read_layer("villages").to_crs(grid.crs)
    west, south, east, north = villages.total_bounds
    gw, gs, ge, gn = grid.bounds
    assert gw < west and gs < south and ge > east and gn > north
    assert grid.resolution == 100.0
    # 0.4 x 0.1 degree at the equator is about 44.5 x 11.1 km, plus 2 km margins
    assert 485 <= grid.width <= 490 and 150 <= grid.height <= 155


def test_init_with_region_written_without_dots(tmp_path, villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[3, "kode"] = "99.02.01.2001"
    path = tmp_path / "v.gpkg"
    pyogrio.write_dataframe(gdf, path)
    project, _ = init_project(tmp_path / "p", villages=path, region="9901")
    assert project.region_code == "99.01"
    assert len(project.read_layer("villages")) == 3


def test_init_refuses_an_existing_project(project, boundaries_gpkg):
    before = snapshot(project.path)
    with pytest.raises(ProjectError, match="already holds a project"):
        init_project(project.path, villages=boundaries_gpkg)
    _assert_unchanged(project.path, before)


def test_init_failure_removes_the_directories_it_created(tmp_path, boundaries_gpkg):
    bad_sites = write_text(tmp_path / "bad.csv", SITES_HEADER +
                           "Rusak,Starlink,hilang,99.01.01.2001,,,,114.05,0.05\n")
    target = tmp_path / "new" / "nested" / "proj"
    with pytest.raises(InputError, match="no usable row"):
        init_project(target, villages=boundaries_gpkg, sites=bad_sites)
    assert not (tmp_path / "new").exists()


def test_init_failure_in_an_existing_directory_keeps_other_files(tmp_path, boundaries_gpkg):
    target = tmp_path / "proj"
    target.mkdir()
    (target / "catatan.txt").write_text("milik pengguna", encoding="utf-8")
    before = snapshot(target)
    garbage = tmp_path / "dem.tif"
    garbage.write_bytes(b"not a raster")
    with pytest.raises(InputError, match="cannot open as a raster"):
        init_project(target, villages=boundaries_gpkg, dem=garbage)
    assert snapshot(target) == before


def test_init_failure_after_files_were_staged(tmp_path, boundaries_gpkg, dem_tif, monkeypatch):
    """write_cog writes the staged raster, then fails: nothing may be left behind."""
    real_write_cog = imports.write_cog
    staged = []

    def write_then_fail(src, dst, **kw):
        real_write_cog(src, dst, **kw)
        staged.append(dst)
        assert dst.exists()
        raise InputError("simulated failure after writing", file=str(src))

    monkeypatch.setattr(imports, "write_cog", write_then_fail)
    with pytest.raises(InputError, match="simulated failure"):
        init_project(tmp_path / "proj", villages=boundaries_gpkg, dem=dem_tif)
    assert staged and not staged[0].exists()
    assert not (tmp_path / "proj").exists()


# --------------------------------------------------------------------------- #
# sites and locations
# --------------------------------------------------------------------------- #


def test_sites_import(project, sites_csv):
    report = import_layer(project, "sites", sites_csv)
    assert (report.rows, report.added, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.rejected == []
    sites = project.read_layer("sites").set_index("name")
    assert sites["status"].to_dict() == SITE_STATUS
    assert sites["site_id"].to_dict() == SITE_IDS
    assert sites.loc["BTS Tiga", "funding"] == "apbn"
    assert sites.loc["Wifi Empat", "agency"] == "Dinas Pendidikan"
    assert sites.loc["Starlink Dua", "village_kode"] == "99.01.01.2002"
    assert (sites.loc["BTS Tiga", "geometry"].x, sites.loc["BTS Tiga", "geometry"].y) == \
        (114.25, 0.05)
    assert sites.crs.to_epsg() == 4326


def test_bad_rows_are_rejected_and_the_rest_imported(project, tmp_path):
    rows = SITES_ROWS + [
        "Koordinat rusak,Starlink,terpasang,99.01.01.2001,Diskominfo,APBD,2024,114.0x5,0.05\n",
        "Jauh sekali,Starlink,terpasang,99.01.01.2001,Diskominfo,APBD,2024,120.5,0.05\n",
        "Kode salah,Starlink,terpasang,99.01.09.2099,Diskominfo,APBD,2024,114.05,0.06\n",
        "Status aneh,Starlink,hilang total,99.01.01.2001,Diskominfo,APBD,2024,114.05,0.07\n",
    ]
    path = write_text(tmp_path / "sites.csv", SITES_HEADER + "".join(rows))
    report = import_layer(project, "sites", path)
    assert report.added == 4
    assert sorted(project.read_layer("sites")["name"]) == sorted(SITE_STATUS)
    rejected = {r.row: r for r in report.rejected}
    assert sorted(rejected) == [6, 7, 8, 9]  # header is row 1, the good rows are 2..5
    assert rejected[6].column == "bujur" and "'114.0x5'" in rejected[6].reason
    assert "outside the region" in rejected[7].reason and "120.5" in rejected[7].reason
    assert rejected[8].column == "kode_desa" and "99.01.09.2099" in rejected[8].reason
    assert rejected[9].column == "status" and "'hilang total'" in rejected[9].reason
    lines = report.lines()
    assert "4 added" in lines[0] and "4 rejected" in lines[0]
    assert any(line.startswith("  rejected row 8 column 'kode_desa'") for line in lines)
    as_dict = report.to_dict()
    assert [r["row"] for r in as_dict["rejected"]] == [6, 7, 8, 9]


def test_point_outside_within_tolerance_is_kept(project, tmp_path):
    # 0.05 degrees east of the region: within the 0.1 degree tolerance, nearest village
    path = write_text(tmp_path / "s.csv", SITES_HEADER +
                      "Tepi,Starlink,terpasang,,Diskominfo,APBD,2024,114.45,0.05\n")
    report = import_layer(project, "sites", path)
    assert report.added == 1
    assert project.read_layer("sites")["village_kode"].tolist() == ["99.01.02.2002"]


def test_file_without_usable_rows_changes_nothing(project, tmp_path):
    path = write_text(tmp_path / "s.csv", SITES_HEADER +
                      "A,Starlink,hilang,99.01.01.2001,,,,114.05,0.05\n"
                      "B,Starlink,terpasang,99.01.01.2001,,,,abc,0.05\n")
    before = snapshot(project.path)
    with pytest.raises(InputError) as info:
        import_layer(project, "sites", path)
    text = str(info.value)
    assert str(path) in text and "no usable row (2 rejected" in text
    assert "row 2" in text and "row 3" in text
    _assert_unchanged(project.path, before)


def test_reimport_is_idempotent_and_updates_by_stable_id(project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    first = project.read_layer("sites").set_index("site_id")
    again = import_layer(project, "sites", sites_csv)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert len(project.read_layer("sites")) == 4
    # the agency updates one row's status (rencana -> proses) in a reordered sheet
    changed = [SITES_ROWS[3], SITES_ROWS[2].replace(",rencana,", ",proses,"), SITES_ROWS[1],
               SITES_ROWS[0]]
    path = write_text(tmp_path / "sites_v2.csv", SITES_HEADER + "".join(changed))
    report = import_layer(project, "sites", path)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 3)
    sites = project.read_layer("sites").set_index("site_id")
    assert sorted(sites.index) == sorted(first.index)  # same ids, no duplicates
    assert sites.loc[SITE_IDS["BTS Tiga"], "status"] == "in_progress"
    assert sites.loc[SITE_IDS["Starlink Satu"], "status"] == "installed"


def _with_old_style_ids(project):
    """Rewrite the project's sites with the ids an older version derived (kind-name-village)."""
    with project.transaction("old ids") as tx:
        sites = project.read_layer("sites")
        sites["site_id"] = [stable_id(k, n, v) for k, n, v in
                            zip(sites["kind"], sites["name"], sites["village_kode"], strict=True)]
        tx.write_layer("sites", sites)
    return sorted(project.read_layer("sites")["site_id"])


def test_reimport_over_old_style_ids_updates_and_moves_them(project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    old = _with_old_style_ids(project)
    assert "starlink-starlink-satu-99.01.01.2001" in old
    changed = [SITES_ROWS[0], SITES_ROWS[1], SITES_ROWS[2].replace(",rencana,", ",proses,"),
               SITES_ROWS[3]]
    report = import_layer(project, "sites", write_text(tmp_path / "v2.csv",
                                                       SITES_HEADER + "".join(changed)))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 3)
    sites = project.read_layer("sites").set_index("site_id")
    assert sorted(sites.index) == sorted(SITE_IDS.values())  # moved to the current scheme
    assert sites.loc[SITE_IDS["BTS Tiga"], "status"] == "in_progress"


def test_reimport_without_agency_column_matches_the_recorded_site(project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    path = write_text(tmp_path / "no_opd.csv", "nama lokasi,jenis,status,kode_desa,bujur,lintang\n"
                      "Starlink Satu,Starlink,rusak,99.01.01.2001,114.05,0.05\n")
    report = import_layer(project, "sites", path)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    sites = project.read_layer("sites").set_index("site_id")
    assert len(sites) == 4
    assert sites.loc[SITE_IDS["Starlink Satu"], "status"] == "damaged"
    assert sites.loc[SITE_IDS["Starlink Satu"], "agency"] == "Diskominfo"  # kept


def test_two_agencies_starlinks_in_one_kampung_are_two_sites(project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    _with_old_style_ids(project)
    path = write_text(tmp_path / "dua.csv", SITES_HEADER + SITES_ROWS[0] +
                      SITES_ROWS[0].replace("Diskominfo", "Dinas Pendidikan"))
    report = import_layer(project, "sites", path)
    assert (report.added, report.updated, report.unchanged, report.rejected) == (1, 0, 1, [])
    satu = project.read_layer("sites").query("name == 'Starlink Satu'")
    assert sorted(satu["agency"]) == ["Dinas Pendidikan", "Diskominfo"]
    assert len(project.read_layer("sites")) == 5


def test_ids_given_in_the_file_are_kept(project, tmp_path):
    path = write_text(tmp_path / "s.csv", "id," + SITES_HEADER +
                      "ST-001," + SITES_ROWS[0] + "ST-002," + SITES_ROWS[1])
    import_layer(project, "sites", path)
    assert sorted(project.read_layer("sites")["site_id"]) == ["ST-001", "ST-002"]


def test_xlsx_sites_with_named_coordinate_columns(project, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Nama Lokasi", "Jenis", "Status", "Kampung", "Timur", "Utara"])
    ws.append(["Starlink Satu", "Starlink", "Terpasang", "Satu", 114.05, 0.05])
    ws.append(["Starlink Tiga", "Starlink", "Usulan", "Tiga", "114,25", "0,05"])
    path = tmp_path / "register.xlsx"
    wb.save(path)
    with pytest.warns(RepairWarning, match="decimal comma"):
        report = import_layer(project, "sites", path, lon="Timur", lat="Utara")
    assert report.added == 2
    sites = project.read_layer("sites").set_index("name")
    assert sites.loc["Starlink Tiga", "village_kode"] == "99.01.02.2001"
    assert sites.loc["Starlink Tiga", "status"] == "proposed"
    assert sites.loc["Starlink Tiga", "geometry"].equals(shapely.Point(114.25, 0.05))
    with pytest.warns(RepairWarning, match="decimal comma"):
        again = import_layer(project, "sites", path, lon="Timur", lat="Utara")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)


def test_swapped_coordinates_in_an_import(project, tmp_path):
    path = write_text(tmp_path / "s.csv", SITES_HEADER +
                      "Starlink Satu,Starlink,terpasang,,,,,0.05,114.05\n")
    with pytest.warns(RepairWarning, match="swapped"):
        import_layer(project, "sites", path)
    site = project.read_layer("sites").iloc[0]
    assert (site.geometry.x, site.geometry.y) == (114.05, 0.05)
    assert site["village_kode"] == "99.01.01.2001"


def test_sites_without_coordinates_are_placed_in_their_village(project, tmp_path):
    locations = write_text(tmp_path / "lokasi.csv",
                           "jenis,nama,kode_desa,bujur,lintang,penduduk\n"
                           "dusun,Dusun Hulu,99.01.02.2001,114.21,0.02,120\n"
                           "dusun,Dusun Hilir,99.01.02.2001,114.27,0.08,450\n"
                           "sekolah,SD 1,99.01.02.2001,114.26,0.07,\n")
    report = import_layer(project, "locations", locations)
    assert report.added == 3
    loc = project.read_layer("locations").set_index("name")
    assert loc.loc["SD 1", "kind"] == "school"
    assert loc.loc["Dusun Hilir", "people"] == 450
    assert loc.loc["Dusun Hulu", "location_id"] == stable_id("settlement", "Dusun Hulu",
                                                               "99.01.02.2001")
    again = import_layer(project, "locations", locations)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    sites = write_text(tmp_path / "s.csv", "nama,jenis,status,kampung,OPD,bujur,lintang\n"
                       "Starlink Tiga,Starlink,usulan,Tiga,Diskominfo,,\n"
                       "Starlink Satu,Starlink,usulan,Satu,Diskominfo,,\n")
    with pytest.warns(RepairWarning, match=r"2 row\(s\) without coordinates were placed"):
        report = import_layer(project, "sites", sites)
    assert report.added == 2
    placed = project.read_layer("sites").set_index("name")
    # the main (most populous) settlement of Tiga
    assert placed.loc["Starlink Tiga", "geometry"].equals(shapely.Point(114.27, 0.08))
    assert placed.loc["Starlink Tiga", "village_kode"] == "99.01.02.2001"
    # Satu has no settlement: a point inside the village
    satu = project.read_layer("villages").set_index("kode").geometry["99.01.01.2001"]
    assert satu.contains(placed.loc["Starlink Satu", "geometry"])
    with pytest.warns(RepairWarning, match="without coordinates"):
        again = import_layer(project, "sites", sites)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)  # placed the same way


def test_opencellid_file_imported_as_sites_becomes_towers(project, tmp_path):
    path = write_text(tmp_path / "cells.csv",
                      "radio,mcc,net,area,cell,unit,lon,lat,range,samples\n"
                      "LTE,510,10,1,100,0,114.15,0.05,5000,3\n"
                      "GSM,510,10,1,101,0,130.0,-2.0,1000,3\n")
    report = import_layer(project, "sites", path)
    assert (report.added, report.skipped) == (1, 1)
    tower = project.read_layer("sites").iloc[0]
    assert tower["kind"] == "bts" and tower["technology"] == "4G"
    assert tower["village_kode"] == "99.01.01.2002"
    source = project.source("sites")[0]
    assert source["licence"] == "CC BY-SA 4.0 (OpenCelliD)"


def test_towers_kind_needs_an_opencellid_export(project, sites_csv):
    with pytest.raises(InputError) as info:
        import_layer(project, "towers", sites_csv)
    text = str(info.value)
    assert "not an OpenCelliD export" in text and "radio, mcc" in text
    assert "_row" not in text


# --------------------------------------------------------------------------- #
# provenance
# --------------------------------------------------------------------------- #


def test_provenance_of_every_layer(project, boundaries_gpkg, sites_csv):
    import_layer(project, "sites", sites_csv, licence="CC BY 4.0 (Diskominfo)")
    sources = project.config["sources"]
    stored = Project(project.path).config["sources"]  # as written in project.toml
    assert stored == sources
    for key, rows in (("villages", 4), ("kecamatan", 2), ("kabupaten", 1)):
        entry = sources[key]
        assert entry["file"] == boundaries_gpkg.name
        assert entry["licence"] == "unknown"
        assert entry["rows"] == rows
        assert entry["sha256"] == hashlib.sha256(boundaries_gpkg.read_bytes()).hexdigest()
        dt.datetime.fromisoformat(entry["imported"])
    entry = sources["sites:sites.csv"]
    assert entry["file"] == sites_csv.name
    assert entry["licence"] == "CC BY 4.0 (Diskominfo)"
    assert entry["rows"] == 4
    imported = dt.datetime.fromisoformat(entry["imported"])
    assert abs((dt.datetime.now(dt.UTC) - imported).total_seconds()) < 120


def test_init_records_licences_and_credits_well_known_sources(tmp_path, boundaries_gpkg):
    pop = write_text(tmp_path / "sensus_bps_2020.csv", "kode_desa,penduduk\n99.01.01.2001,10\n")
    grid = write_tif(tmp_path / "GHS_POP_E2020_1km.tif", np.ones((10, 10), np.float32),
                     nodata=-1.0)
    project, _ = init_project(tmp_path / "p", villages=boundaries_gpkg, population=pop,
                              population_raster=grid,
                              licences={"villages": "MIT (wilayah_boundaries)",
                                        "kabupaten": "Kepmendagri 2025"})
    sources = project.config["sources"]
    assert sources["villages"]["licence"] == "MIT (wilayah_boundaries)"
    assert sources["kecamatan"]["licence"] == "MIT (wilayah_boundaries)"  # same file
    assert sources["kabupaten"]["licence"] == "Kepmendagri 2025"
    assert sources["population_table"]["licence"].startswith("BPS")
    assert sources["population"]["licence"] == "CC BY 4.0 (GHS-POP, European Commission JRC)"
    # file names only: no absolute server path in project.toml
    assert {e["file"] for e in sources.values()} == {"batas.gpkg", "sensus_bps_2020.csv",
                                                     "GHS_POP_E2020_1km.tif"}
    assert str(tmp_path) not in (project.path / "project.toml").read_text()


def test_a_given_licence_wins_over_a_recognised_one(project, tmp_path):
    grid = write_tif(tmp_path / "ghs_pop.tif", np.ones((10, 10), np.float32), nodata=-1.0)
    import_layer(project, "population-raster", grid, licence="CC BY 4.0 (own copy)")
    assert project.config["sources"]["population"]["licence"] == "CC BY 4.0 (own copy)"
    assert imports.known_licence("population-raster", "data/worldpop_2020.tif").startswith(
        "CC BY 4.0 (WorldPop")
    assert imports.known_licence("dem", "ghs_pop.tif") is None  # not of that kind
    assert imports.known_licence("population", "populasi_kampung.csv") is None


def test_init_licence_needs_a_known_input(tmp_path, boundaries_gpkg):
    with pytest.raises(InputError, match="KIND=LICENCE"):
        imports.parse_licences(["CC BY 4.0"])
    assert imports.parse_licences(["population_raster=CC BY 4.0"]) == {
        "population-raster": "CC BY 4.0"}
    with pytest.raises(InputError, match="no input 'rivers'"):
        init_project(tmp_path / "p", villages=boundaries_gpkg, licences={"rivers": "LGPL"})
    assert not (tmp_path / "p").exists()


def test_licence_for_boundaries_and_rasters(project, boundaries_gpkg, dem_tif):
    import_layer(project, "kecamatan", boundaries_gpkg, layer="kecamatan", licence="MIT")
    import_layer(project, "dem", dem_tif, licence="public domain")
    assert project.config["sources"]["kecamatan"]["licence"] == "MIT"
    assert project.config["sources"]["dem"]["licence"] == "public domain"
    assert project.info()["rasters"]["dem"]["source"]["licence"] == "public domain"


def test_population_table_and_raster_keep_separate_provenance(project, tmp_path):
    table = write_text(tmp_path / "penduduk.csv",
                       "kode_desa,jumlah_penduduk\n99.01.01.2001,1.250\n99.01.01.2002,300\n"
                       "99.01.02.2001,75\n99.99.99.9999,10\n")
    report = import_layer(project, "population", table, licence="BPS")
    notes = "\n".join(report.notes)
    assert "population joined for 3 of 4 villages (total 1,625)" in notes
    assert "no population for 1 village(s): 99.01.02.2002 Empat" in notes
    assert "99.99.99.9999" in notes
    villages = project.read_layer("villages").set_index("kode")
    assert villages["population"].to_dict() == pytest.approx(
        {"99.01.01.2001": 1250.0, "99.01.01.2002": 300.0, "99.01.02.2001": 75.0,
         "99.01.02.2002": np.nan}, nan_ok=True)
    grid = write_tif(tmp_path / "pop.tif", np.ones((10, 10), np.float32), nodata=-1.0)
    import_layer(project, "population-raster", grid, licence="CC BY 4.0")
    sources = project.config["sources"]
    table_sources = [v for v in sources.values() if v["file"] == table.name]
    raster_sources = [v for v in sources.values() if v["file"] == grid.name]
    assert len(table_sources) == 1 and len(raster_sources) == 1
    assert table_sources[0]["licence"] == "BPS" and table_sources[0]["rows"] == 4
    assert project.info()["rasters"]["population"]["source"]["file"] == grid.name


def test_reimporting_villages_keeps_population(project, boundaries_gpkg, tmp_path):
    table = write_text(tmp_path / "p.csv", "kode,penduduk\n99.01.01.2001,10\n")
    import_layer(project, "population", table)
    import_layer(project, "villages", boundaries_gpkg, layer="desa")
    villages = project.read_layer("villages").set_index("kode")
    assert villages.loc["99.01.01.2001", "population"] == 10


# --------------------------------------------------------------------------- #
# rasters and coverage
# --------------------------------------------------------------------------- #


def test_dem_and_population_rasters_are_stored_as_cogs(project, dem_tif):
    report = import_layer(project, "dem", dem_tif)
    assert report.rows == 100
    path = project.raster_path("dem")
    assert path.resolve() == (project.path / "rasters" / "dem.tif").resolve()
    with rasterio.open(path) as out, rasterio.open(dem_tif) as src:
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        np.testing.assert_array_equal(out.read(1), src.read(1))
    assert project.config["rasters"]["dem"] == {"file": "rasters/dem.tif", "crs": "EPSG:4326"}


@pytest.mark.parametrize(("dtype", "values"), [("uint8", "classes"), ("float32", "dbm")])
def test_coverage_raster(project, tmp_path, dtype, values):
    array = np.full((10, 10), 4 if dtype == "uint8" else -90.0, dtype=dtype)
    path = write_tif(tmp_path / "cov.tif", array)
    import_layer(project, "coverage", path, operator="Telkomsel", technology="4G")
    entries = project.coverage_entries()
    assert entries == [{"name": "coverage_telkomsel_4g",
                        "file": "rasters/coverage_telkomsel_4g.tif",
                        "operator": "Telkomsel", "technology": "4G", "values": values}]
    assert (project.path / entries[0]["file"]).exists()
    # importing it again replaces the entry, never duplicates it
    import_layer(project, "coverage", path, operator="Telkomsel", technology="4G")
    assert len(project.coverage_entries()) == 1


def test_coverage_polygons_are_rasterised_on_the_grid(project, tmp_path):
    polys = gpd.GeoDataFrame({"kelas": ["baik"]}, geometry=[shapely.box(114.0, 0.0, 114.1, 0.1)],
                             crs="EPSG:4326")
    path = tmp_path / "cov.geojson"
    pyogrio.write_dataframe(polys, path)
    report = import_layer(project, "coverage", path, operator="XL")
    assert report.rows == 1
    entry = project.coverage_entries()[0]
    assert entry["values"] == "classes"
    grid = project.grid
    with rasterio.open(project.path / entry["file"]) as src:
        assert src.transform == grid.transform and src.shape == grid.shape
        array = src.read(1)
    t = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    inside_x, inside_y = t.transform(114.05, 0.05)
    outside_x, outside_y = t.transform(114.3, 0.05)
    r, c = grid.rowcol(np.array([inside_x, outside_x]), np.array([inside_y, outside_y]))
    assert array[r[0], c[0]] == 5  # good
    assert array[r[1], c[1]] == 1  # outside the polygons: no signal
    assert "rasterised" in project.config["sources"][entry["name"]]["note"]


def test_coverage_polygons_with_unknown_class(project, tmp_path):
    polys = gpd.GeoDataFrame({"kelas": ["baik", "luar biasa"]},
                             geometry=[shapely.box(114.0, 0.0, 114.1, 0.1),
                                       shapely.box(114.1, 0.0, 114.2, 0.1)], crs="EPSG:4326")
    path = tmp_path / "cov.geojson"
    pyogrio.write_dataframe(polys, path)
    before = snapshot(project.path)
    with pytest.raises(InputError) as info:
        import_layer(project, "coverage", path)
    assert (info.value.row, info.value.column) == (2, "kelas")
    assert "luar biasa" in str(info.value)
    _assert_unchanged(project.path, before)


# --------------------------------------------------------------------------- #
# atomicity
# --------------------------------------------------------------------------- #


def test_failure_after_the_raster_was_staged(project, dem_tif, monkeypatch):
    import_layer(project, "dem", dem_tif)
    before = snapshot(project.path)
    real_write_cog = imports.write_cog
    staged = []

    def write_then_fail(src, dst, **kw):
        real_write_cog(src, dst, **kw)
        staged.append(dst)
        assert dst.exists() and ".staging-" in str(dst)
        raise InputError("simulated failure after writing", file=str(src))

    monkeypatch.setattr(imports, "write_cog", write_then_fail)
    other = write_tif(dem_tif.parent / "dem2.tif", np.zeros((10, 10), np.float32))
    with pytest.raises(InputError, match="simulated failure"):
        import_layer(project, "dem", other)
    assert staged
    _assert_unchanged(project.path, before)


def test_failure_after_the_layers_copy_was_written(project, sites_csv, monkeypatch):
    """record_source runs after the merged sites were staged for the register."""
    before = snapshot(project.path)
    real_record = Transaction.record_source
    seen = {}

    def record_then_fail(self, layer, file, **kw):
        if layer.startswith("sites:"):
            seen["sites"] = self.sites is not None
            raise RuntimeError("simulated crash")
        return real_record(self, layer, file, **kw)

    monkeypatch.setattr(Transaction, "record_source", record_then_fail)
    with pytest.raises(RuntimeError, match="simulated crash"):
        import_layer(project, "sites", sites_csv)
    assert seen["sites"]  # the merged sites had been staged
    _assert_unchanged(project.path, before)
    assert project.read_layer("sites", required=False) is None


def test_failure_in_a_later_step_of_a_multi_step_import(project, boundaries_gpkg, monkeypatch):
    """kecamatan re-import writes the kecamatan and villages layers, then fails."""
    before = snapshot(project.path)

    def fail(tx):
        assert tx.staging.joinpath("layers.gpkg").exists()
        raise InputError("simulated failure at the end")

    monkeypatch.setattr(imports, "_invalidate_analysis", fail)
    with pytest.raises(InputError, match="simulated failure"):
        import_layer(project, "kecamatan", boundaries_gpkg, layer="kecamatan")
    _assert_unchanged(project.path, before)


# --------------------------------------------------------------------------- #
# other kinds and refusals
# --------------------------------------------------------------------------- #


def test_kecamatan_reimport_refreshes_village_names(project, tmp_path, villages_gdf):
    kec = gpd.GeoDataFrame({"kode_kec": ["99.01.01", "99.01.02"], "nama_kec": ["Baru", "Lama"]},
                           geometry=[shapely.box(114.0, 0.0, 114.2, 0.1),
                                     shapely.box(114.2, 0.0, 114.4, 0.1)], crs="EPSG:4326")
    path = tmp_path / "kec.geojson"
    pyogrio.write_dataframe(kec, path)
    import_layer(project, "kecamatan", path)
    villages = project.read_layer("villages")
    assert villages["kecamatan"].tolist() == ["Baru", "Baru", "Lama", "Lama"]


def test_import_clears_previous_analysis(project, sites_csv):
    with project.transaction() as tx:
        tx.config["analysis"] = {"ran": "yesterday"}
    assert project.info()["analysis"] == {"ran": "yesterday"}
    import_layer(project, "sites", sites_csv)
    assert project.info()["analysis"] is None


def test_points_need_villages_first(tmp_path, sites_csv):
    project = Project.create(tmp_path / "p")
    with pytest.raises(NotFoundError, match="import villages first"):
        import_layer(project, "sites", sites_csv)
    assert not list(project.path.glob(".staging-*"))


def test_unknown_kind(project, sites_csv):
    with pytest.raises(InputError, match="unknown layer kind 'antenna'"):
        import_layer(project, "antenna", sites_csv)


def test_villages_from_a_table_is_an_input_error(project, sites_csv):
    before = snapshot(project.path)
    with pytest.raises(InputError, match="no geometries"):
        import_layer(project, "villages", sites_csv)
    _assert_unchanged(project.path, before)


def test_region_bounds_used_for_points_are_the_villages(project, tmp_path):
    """A point 0.15 degrees north of the villages is outside (tolerance 0.1)."""
    north = REGION_BOUNDS[3] + 0.15
    path = write_text(tmp_path / "s.csv", SITES_HEADER + SITES_ROWS[0] +
                      f"Utara,Starlink,terpasang,,,,,114.05,{north}\n")
    report = import_layer(project, "sites", path)
    assert report.added == 1 and [r.row for r in report.rejected] == [3]


def test_report_to_dict(project, sites_csv):
    report = import_layer(project, "sites", sites_csv)
    d = report.to_dict()
    assert d == {"kind": "sites", "file": str(sites_csv), "rows": 4, "unit": "row", "added": 4,
                 "updated": 0,
                 "unchanged": 0, "skipped": 0, "rejected": [], "notes": []}


def test_reimport_of_a_partial_sheet_loses_nothing(tmp_path, project):
    """An agency re-sends only name, kind, status and village: year, agency and the
    recorded coordinates of rows it gives without coordinates stay as they were."""
    from geo_p2dd.imports import import_layer

    villages = project.read_layer("villages")
    kode = villages["kode"].iloc[0]
    pt = villages.geometry.iloc[0].representative_point()
    full = tmp_path / "full.csv"
    full.write_text(
        "jenis,nama,status,kode_desa,OPD,tahun,bujur,lintang\n"
        f"Starlink,Starlink Satu,terpasang,{kode},Diskominfo,2024,{pt.x:.5f},{pt.y:.5f}\n",
        encoding="utf-8")
    import_layer(project, "sites", full)
    before = project.read_layer("sites").iloc[0]
    partial = tmp_path / "partial.csv"
    partial.write_text("jenis,nama,status,kode_desa,bujur,lintang\n"
                       f"Starlink,Starlink Satu,proses,{kode},,\n", encoding="utf-8")
    with pytest.warns(RepairWarning, match="without coordinates"):
        report = import_layer(project, "sites", partial)
    assert (report.added, report.updated) == (0, 1)
    after = project.read_layer("sites").iloc[0]
    assert after["status"] == "in_progress"
    assert after["agency"] == before["agency"] == "Diskominfo"
    assert after["year"] == before["year"] == 2024
    assert after.geometry.equals_exact(before.geometry, 1e-9)


# --------------------------------------------------------------------------- #
# raster limits (issue #12 item 3)
# --------------------------------------------------------------------------- #


def _set_limits(project, **limits):
    with project.transaction() as tx:
        tx.config["limits"] = limits


def test_raster_over_the_cell_limit_is_refused_before_reading(project, tmp_path):
    _set_limits(project, max_raster_cells=99)
    path = write_tif(tmp_path / "cov.tif", np.full((10, 10), -90.0, np.float32))
    before = snapshot(project.path)
    with pytest.raises(InputError, match=r"too large: 10 x 10 = 100 cells") as info:
        import_layer(project, "coverage", path)
    assert info.value.expected == "at most 99 cells"
    _assert_unchanged(project.path, before)
    _set_limits(project, max_raster_cells=100)
    assert import_layer(project, "coverage", path).rows == 100


def test_infinite_dbm_is_not_good_signal(project, tmp_path):
    from geo_p2dd.coverage import load_source

    array = np.full((10, 10), -120.0, np.float32)  # no signal ...
    array[:, :5] = np.inf                            # ... and an export error
    path = write_tif(tmp_path / "cov.tif", array)
    with pytest.warns(RepairWarning, match=r"50 cell\(s\) outside the plausible range "
                                           r"-150\.\.-30 dBm"):
        report = import_layer(project, "coverage", path, operator="X")
    assert report.lines()[0].endswith("100 cell(s)")
    entry = project.coverage_entries()[0]
    source = load_source(entry, project.file(entry["file"]),
                         project.settings.thresholds.rsrp_dbm)
    assert (source.classes[:, :5] == 0).all()  # unknown, not good (5)
    assert (source.classes[:, 5:] == 1).all()


def test_analysis_classifies_an_imported_dbm_raster_once_per_thresholds(project, tmp_path):
    from geo_p2dd.analysis import analyze_project

    array = np.full((10, 40), -90.0, np.float32)  # fair with the default thresholds
    import_layer(project, "coverage", write_tif(tmp_path / "cov.tif", array), operator="X")
    project = Project(project.path)
    first = analyze_project(project).villages
    cached = sorted(project.cache_dir().glob("classes-*.npy"))
    assert len(cached) == 1
    np.testing.assert_array_equal(np.load(cached[0]), np.full((10, 40), 4, np.uint8))
    inode = cached[0].stat().st_ino  # an atomic rewrite would give a new inode
    # another analysis reuses the file (no new key, no rewrite) and gives the same results
    again = analyze_project(Project(project.path)).villages
    assert sorted(project.cache_dir().glob("classes-*.npy")) == cached
    pd.testing.assert_frame_equal(first, again)
    assert cached[0].stat().st_ino == inode
    # -90 dBm becomes "poor" once fair starts at -88 dBm: new classes under a new key
    with project.transaction("thresholds") as tx:
        tx.config.setdefault("thresholds", {})["rsrp_dbm"] = {"fair": -88.0}
    stricter = analyze_project(Project(project.path)).villages
    now = sorted(project.cache_dir().glob("classes-*.npy"))
    assert len(now) == 2
    (new,) = set(now) - set(cached)
    np.testing.assert_array_equal(np.load(new), np.full((10, 40), 3, np.uint8))
    assert (stricter["area_poor"] > 0).any() and (first["area_poor"].fillna(0) == 0).all()


def test_dbm_range_from_the_project_config(project, tmp_path):
    _set_limits(project, dbm_range=[-130.0, -30.0])  # still holds every class threshold
    path = write_tif(tmp_path / "cov.tif", np.full((10, 10), -140.0, np.float32))
    with pytest.raises(InputError, match=r"outside -130\.\.-30 dBm"):
        import_layer(project, "coverage", path)


def test_infinite_population_cell_does_not_break_analysis(project, tmp_path):
    from geo_p2dd.analysis import analyze_project

    array = np.ones((10, 40), np.float32)
    array[2, 3] = np.inf
    array[5, 5] = -3.0
    path = write_tif(tmp_path / "pop.tif", array, nodata=-1.0)
    with pytest.warns(RepairWarning, match=r"2 cell\(s\) outside the plausible range >= 0"):
        import_layer(project, "population-raster", path)
    with rasterio.open(project.raster_path("population")) as src:
        data = src.read(1, masked=True)
    assert data.mask.sum() == 2 and np.isfinite(data.compressed()).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RepairWarning)
        analyze_project(Project(project.path))


# --------------------------------------------------------------------------- #
# boundary validation (issue #12 item 7)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("kind", ["kecamatan", "villages", "kabupaten"])
def test_crs_less_utm_geojson_boundaries_are_refused(kind, project, villages_gdf, tmp_path):
    kec, kab = area_frames(villages_gdf)
    frame = {"kecamatan": kec, "villages": villages_gdf, "kabupaten": kab}[kind]
    path = tmp_path / "utm.geojson"
    path.write_text(frame.to_crs("EPSG:32750").set_crs(None, allow_override=True).to_json())
    before = snapshot(project.path)
    with pytest.raises(InputError, match=r"look projected \(metres\)"):
        import_layer(project, kind, path)
    _assert_unchanged(project.path, before)


def test_village_file_imported_as_kecamatan_is_refused(project, villages_gdf, tmp_path):
    path = tmp_path / "desa.gpkg"
    pyogrio.write_dataframe(villages_gdf, path)
    before = snapshot(project.path)
    with pytest.raises(InputError, match="are not kecamatan codes.*import it as villages"):
        import_layer(project, "kecamatan", path)
    _assert_unchanged(project.path, before)


# --------------------------------------------------------------------------- #
# the import's output (issue #12 item 9)
# --------------------------------------------------------------------------- #


def _many_rejections(tmp_path):
    """4 good sites, 25 rows with unknown village codes and 5 with a year that is text."""
    bad = [f"Site {i},BTS,rencana,99.01.09.{2000 + i},Dinas,APBD,2026,114.05,0.05\n"
           for i in range(25)]
    bad += [f"Tahun {i},BTS,rencana,99.01.01.2001,Dinas,APBD,dua ribu,114.05,0.05\n"
            for i in range(5)]
    return write_text(tmp_path / "inputs" / "many.csv",
                      SITES_HEADER + "".join(SITES_ROWS) + "".join(bad))


def test_report_lists_twenty_rejections_then_counts_per_reason(project, tmp_path):
    report = import_layer(project, "sites", _many_rejections(tmp_path))
    assert len(report.rejected) == 30
    lines = report.lines()
    listed = [line for line in lines if line.startswith("  rejected row")]
    assert len(listed) == 20
    assert "  ... and 10 more; rejected rows by reason:" in lines
    assert "    25 x column 'kode_desa': unknown village code '…'" in lines
    assert "    5 x column 'tahun': year '…' is not a number between 1990 and 2100" in lines
    assert len(report.lines(max_rejected=None)) == 1 + 30


def test_cli_import_summarises_and_writes_every_rejection(project, tmp_path):
    import csv

    from click.testing import CliRunner

    from geo_p2dd.cli import main

    out = tmp_path / "ditolak.csv"
    result = CliRunner().invoke(main, ["import", "--project", str(project.path), "sites",
                                       str(_many_rejections(tmp_path)), "--rejected-out",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("  rejected row ") == 20
    assert f"all 30 rejected rows: written to {out}" in result.stdout
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 and rows[0].keys() == {"row", "column", "reason"}
    assert {r["row"] for r in rows} == {str(r) for r in range(6, 36)}


def test_raster_report_counts_cells_not_rows(project, dem_tif):
    line = import_layer(project, "dem", dem_tif).lines()[0]
    assert line.endswith(": 100 cell(s)") and "row" not in line


@pytest.mark.parametrize("dbm", ["inf", "-1e9", "kuat"])
def test_coverage_polygons_with_implausible_dbm_are_refused(dbm, project, tmp_path):
    polys = gpd.GeoDataFrame({"dbm": ["-90", dbm]},
                             geometry=[shapely.box(114.0, 0.0, 114.1, 0.1),
                                       shapely.box(114.1, 0.0, 114.2, 0.1)], crs="EPSG:4326")
    path = tmp_path / "cov.geojson"
    pyogrio.write_dataframe(polys, path)
    before = snapshot(project.path)
    with pytest.raises(InputError, match="not a plausible dBm value") as info:
        import_layer(project, "coverage", path)
    assert (info.value.row, info.value.column) == (2, "dbm")
    assert info.value.expected == "-150..-30 dBm"
    _assert_unchanged(project.path, before)


@pytest.mark.parametrize("geometry", [None, shapely.LineString([(114.1, 0.0), (114.2, 0.1)])])
def test_coverage_polygons_without_a_polygon_are_refused(geometry, project, tmp_path):
    """Found by tests/test_properties.py: a feature without geometry burnt nothing, silently."""
    polys = gpd.GeoDataFrame({"kelas": ["baik", "lemah"]},
                             geometry=[shapely.box(114.0, 0.0, 114.1, 0.1), geometry],
                             crs="EPSG:4326")
    path = tmp_path / "cov.geojson"
    pyogrio.write_dataframe(polys, path)
    before = snapshot(project.path)
    with pytest.raises(InputError, match="no geometry|not a polygon") as info:
        import_layer(project, "coverage", path)
    assert info.value.row == 2
    _assert_unchanged(project.path, before)
