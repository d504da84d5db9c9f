"""Tests for geo_p2dd.check and `geo-p2dd check`: one hand-made fixture per rule, the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import snapshot, write_text, write_tif

from geo_p2dd.check import Finding, bad_population_cells, check_project
from geo_p2dd.cli import main
from geo_p2dd.imports import import_layer
from geo_p2dd.project import Project

# the four test villages are 0.1 degree squares from 114.0 E (Satu, Dua, Tiga, Empat)
SATU, DUA, TIGA, EMPAT = "99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01.02.2002"
SETTLEMENTS = ("jenis,nama,kode_desa,bujur,lintang,penduduk\n"
               f"dusun,Dusun Satu,{SATU},114.05,0.05,100\n"
               f"dusun,Dusun Dua,{DUA},114.15,0.05,100\n"
               f"dusun,Dusun Tiga,{TIGA},114.25,0.05,100\n"
               f"dusun,Dusun Empat,{EMPAT},114.35,0.05,100\n")
HEADER = "nama lokasi,jenis,status,kode_desa,OPD,tahun,bujur,lintang\n"


def _with(project, tmp_path, sites: str, settlements: str = SETTLEMENTS) -> Project:
    import_layer(project, "locations", write_text(tmp_path / "lokasi.csv", settlements))
    if sites:
        import_layer(project, "sites", write_text(tmp_path / "sites.csv", HEADER + sites))
    return Project(project.path)


def _kinds(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.kind, f.id) for f in findings]


def test_a_clean_project_has_no_findings(project, tmp_path):
    p = _with(project, tmp_path, f"Starlink Satu,Starlink,terpasang,{SATU},Diskominfo,2024,"
                                 "114.0505,0.05\n")
    before = snapshot(p.path)
    assert check_project(p) == []
    assert snapshot(p.path) == before  # reads only


def test_site_outside_the_kampung_it_names(project, tmp_path):
    # named Satu (114.0-114.1 E), standing in Dua at 114.15 E: 0.05 degree = 5.6 km outside
    p = _with(project, tmp_path, f"Starlink X,Starlink,terpasang,{SATU},Diskominfo,2024,"
                                 "114.15,0.05\n")
    (f,) = [f for f in check_project(p) if f.kind == "outside_village"]
    assert (f.severity, f.layer, f.id, f.row) == ("warning", "sites",
                                                  "starlink-x--diskominfo-99.01.01.2001", 1)
    assert f.message("en") == "Starlink X lies 5.6 km outside the kampung it names (99.01.01.2001)"
    assert f.message("id") == ("Starlink X berada 5,6 km di luar kampung yang disebutkan "
                               "(99.01.01.2001)")


def test_a_site_just_across_the_boundary_is_information_only(project, tmp_path):
    # 0.0003 degree (33 m) east of Satu's eastern edge, named Satu: boundaries are not that exact
    p = _with(project, tmp_path, f"Starlink Tepi,Starlink,terpasang,{SATU},Diskominfo,2024,"
                                 "114.1003,0.05\n")
    (f,) = [f for f in check_project(p) if f.kind == "outside_village"]
    assert f.severity == "info"
    assert f.message("id") == ("Starlink Tepi berada 30 m di luar kampung yang disebutkan "
                               "(99.01.01.2001)")


def test_site_far_from_every_settlement_and_snap_km(project, tmp_path):
    # 0.03 degree east of Dusun Satu: 3.3 km; a tower there is not checked
    p = _with(project, tmp_path,
              f"Starlink Jauh,Starlink,terpasang,{SATU},Diskominfo,2024,114.08,0.05\n"
              f"BTS Bukit,BTS,terpasang,{SATU},BAKTI,2024,114.08,0.06\n")
    far = [f for f in check_project(p) if f.kind == "far_from_settlement"]
    assert _kinds(far) == [("far_from_settlement", "starlink-jauh--diskominfo-99.01.01.2001")]
    assert far[0].message("en") == ("Starlink Jauh is 3.3 km from the nearest settlement "
                                    "(more than 2 km)")
    with p.transaction("snap") as tx:
        tx.config["locations"] = {"snap_km": 5.0}
    assert not [f for f in check_project(Project(p.path)) if f.kind == "far_from_settlement"]


def test_kampung_with_only_estimated_settlements(project, tmp_path):
    only_satu = "".join(SETTLEMENTS.splitlines(keepends=True)[:2])
    p = _with(project, tmp_path, "", settlements=only_satu)
    found = [f for f in check_project(p) if f.kind == "estimated_settlements"]
    assert [(f.id, f.severity, f.row) for f in found] == [(DUA, "info", 2), (TIGA, "info", 3),
                                                         (EMPAT, "info", 4)]
    assert "Dua (99.01.01.2002)" in found[0].message("en")


def test_several_sites_at_one_position(project, tmp_path):
    p = _with(project, tmp_path,
              f"Starlink Balai,Starlink,terpasang,{SATU},Diskominfo,2024,114.05,0.05\n"
              f"Wifi Balai,wifi,terpasang,{SATU},Diskominfo,2024,114.050001,0.05\n"
              f"Starlink Lain,Starlink,terpasang,{SATU},Diskominfo,2024,114.06,0.05\n")
    same = [f for f in check_project(p) if f.kind == "same_position"]
    assert sorted(f.id for f in same) == ["starlink-balai--diskominfo-99.01.01.2001",
                                          "wifi-balai--diskominfo-99.01.01.2001"]
    assert same[0].message("en") == ("2 sites at one position: Starlink Balai (starlink), "
                                     "Wifi Balai (wifi)")


def test_register_rows_without_agency_or_year(project, tmp_path):
    p = _with(project, tmp_path,
              f"Starlink A,Starlink,terpasang,{SATU},,2024,114.05,0.05\n"
              f"Starlink B,Starlink,rusak,{DUA},Diskominfo,,114.15,0.05\n")
    found = [(f.kind, f.id) for f in check_project(p) if f.kind in ("no_agency", "no_year")]
    assert sorted(found) == [("no_agency", "starlink-a-99.01.01.2001"),
                             ("no_year", "starlink-b--diskominfo-99.01.01.2002")]


def test_coverage_values_outside_the_plausible_range(project, tmp_path):
    dbm = np.full((10, 40), -90.0, dtype=np.float32)
    dbm[0, :3] = -140.0  # plausible at import (-150..-30), not once the range is narrowed
    import_layer(project, "coverage", write_tif(tmp_path / "cov.tif", dbm), operator="Tsel",
                 values="dbm")
    p = _with(project, tmp_path, "")
    assert not [f for f in check_project(p) if f.kind == "implausible_coverage"]
    with p.transaction("range") as tx:
        tx.config["limits"] = {"dbm_range": [-120.0, -30.0]}
    (f,) = [f for f in check_project(Project(p.path)) if f.kind == "implausible_coverage"]
    assert (f.layer, f.id, f.row) == ("coverage", "coverage_tsel_4g", None)
    assert f.message("en") == ("coverage coverage_tsel_4g: 3 cell(s) outside -120..-30 dBm or "
                               "infinite (e.g. -140.0)")


def test_population_negative_nan_or_infinite(project, tmp_path):
    p = _with(project, tmp_path, "")
    with p.transaction("population") as tx:
        villages = p.read_layer("villages")
        villages["population"] = [120.0, -5.0, np.inf, np.nan]
        tx.write_layer("villages", villages)
    found = {(f.kind, f.id): f for f in check_project(Project(p.path))
             if f.kind in ("bad_population", "no_population")}
    assert sorted(found) == [("bad_population", DUA), ("bad_population", TIGA),
                             ("no_population", EMPAT)]
    assert found[("bad_population", DUA)].message("en") == (
        "Dua (99.01.01.2002): population -5.0 is negative, NaN or infinite")
    assert found[("no_population", EMPAT)].severity == "info"


def test_population_grid_cells(tmp_path):
    grid = np.ones((5, 5), dtype=np.float32)
    grid[0, 0], grid[1, 1], grid[2, 2], grid[3, 3] = -1.0, np.nan, np.inf, -3.0  # -1 is nodata
    (f,) = bad_population_cells(write_tif(tmp_path / "pop.tif", grid, nodata=-1.0))
    assert (f.kind, f.layer, f.params["n"]) == ("bad_population_cells", "population", 3)
    assert bad_population_cells(write_tif(tmp_path / "ok.tif", np.ones((5, 5), np.float32),
                                          nodata=-1.0)) == []


def test_cli_check_json_table_and_exit_code(project, tmp_path):
    p = _with(project, tmp_path, f"Starlink A,Starlink,terpasang,{SATU},,2024,114.05,0.05\n")
    runner = CliRunner()
    result = runner.invoke(main, ["check", "--project", str(p.path), "--json"])
    assert result.exit_code == 0  # findings are not errors
    data = json.loads(result.stdout)
    assert data["findings"] == [{"kind": "no_agency", "severity": "warning", "layer": "sites",
                                 "id": "starlink-a-99.01.01.2001", "row": 1,
                                 "message": "Starlink A belum mencantumkan OPD di register"}]
    table = runner.invoke(main, ["check", "--project", str(p.path)])
    assert table.exit_code == 0
    assert "peringatan" in table.stdout and "1 temuan: 1 peringatan, 0 info" in table.stdout
    english = runner.invoke(main, ["check", "--project", str(p.path), "--lang", "en"])
    assert "Starlink A has no agency (OPD) in the register" in english.stdout
    assert "1 finding(s): 1 warning, 0 info" in english.stdout


def test_cli_init_records_licences(tmp_path, boundaries_gpkg):
    result = CliRunner().invoke(main, ["init", str(tmp_path / "p"), "--villages",
                                       str(boundaries_gpkg), "--licence",
                                       "villages=MIT (wilayah_boundaries)"])
    assert result.exit_code == 0, result.output
    assert Project(tmp_path / "p").config["sources"]["villages"]["licence"] == \
        "MIT (wilayah_boundaries)"
    bad = CliRunner().invoke(main, ["init", str(tmp_path / "q"), "--villages",
                                    str(boundaries_gpkg), "--licence", "MIT"])
    assert bad.exit_code == 1 and "KIND=LICENCE" in bad.output


@pytest.mark.shared_data
def test_real_mahakam_ulu(mahakam_ulu_project):
    """What `check` finds on the real data: no settlement points were imported, so every one
    of the 50 kampung relies on estimated settlements; Long Hubung Ulu (formed after the 2010
    census) has no population figure; nothing else."""
    findings = check_project(mahakam_ulu_project)
    assert [f for f in findings if f.severity == "warning"] == []
    kinds = [f.kind for f in findings]
    assert kinds.count("estimated_settlements") == 50
    assert [f.id for f in findings if f.kind == "no_population"] == ["64.11.02.2011"]
    assert len(findings) == 51
