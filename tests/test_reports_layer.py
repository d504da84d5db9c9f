"""The reports layer: Diskominfo sheets, OpenCelliD measurements, point tables."""

from __future__ import annotations

import warnings

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from geo_p2dd.errors import InputError
from geo_p2dd.imports import import_layer
from geo_p2dd.io.table import read_table
from geo_p2dd.reports_layer import parse_seen, parse_times, report_classes, reports_from_input
from geo_p2dd.schema import SIGNAL_CODES
from tests.conftest import write_text

DISKOMINFO = (
    "No,Kampung,Lintang,Bujur,Operator,Jaringan,Tanggal,Pelapor,Keterangan\n"
    "1,Satu,0.05,114.05,Telkomsel,Tidak ada sinyal,05/03/2026,Pak Lung,depan sekolah\n"
    "2,Satu,0.05,114.05,Telkomsel,4G lemah,2026-03-06,Bu Ding,\n"
    "3,Dua,,,Indosat,3G,07/03/2026,Pak Ajang,tanpa koordinat\n"
    "4,Tiga,0.05,114.25,XL,5 bar,08/03/2026,Pak Hang,\n"       # unknown network
    "5,Tiga,0.05,114.25,XL,4G,31/02/2026,Pak Hang,\n"          # no such date
    "6,Nowhere,,,XL,4G,08/03/2026,Pak Hang,\n"                 # unknown kampung, no point
    "7,Empat,0.05,114.35,XL,,08/03/2026,Pak Hang,\n"           # nothing seen
)


def _villages(project):
    return project.read_layer("villages")


def test_parse_seen_hand_cases():
    assert parse_seen("Tidak ada sinyal") == ("none", None)
    assert parse_seen("4G lemah") == ("4G", "poor")
    assert parse_seen("4G sangat lemah") == ("4G", "marginal")
    assert parse_seen("LTE") == ("4G", None)
    assert parse_seen("H+") == ("3G", None)
    assert parse_seen("5 bar") == (None, None)
    assert parse_seen(None) == (None, None)


def test_report_classes_hand_cases():
    none, marginal, poor, fair, good = (SIGNAL_CODES[c] for c in
                                        ("none", "marginal", "poor", "fair", "good"))
    assert report_classes("none", None, np.nan) == (none, none)
    assert report_classes("4G", None, np.nan) == (fair, 0)
    assert report_classes("4G", "poor", np.nan) == (poor, 0)
    assert report_classes("4G", None, -80.0) == (good, 0)      # >= -85 good
    assert report_classes("4G", None, -110.0) == (marginal, 0)  # -115 <= x < -105
    assert report_classes("2G", None, np.nan) == (none, fair)   # fell back: no 4G
    assert report_classes(None, None, -100.0) == (poor, 0)      # RSRP alone is LTE
    assert report_classes(None, None, np.nan) == (0, 0)


def test_classes_of_many_reports_match_the_rule_one_by_one():
    from geo_p2dd.reports_layer import classes_of

    cases = [(t, st, d) for t in ("none", "2G", "3G", "4G", "5G", None)
             for st in (None, "poor", "good") for d in (np.nan, -80.0, -110.0, -130.0)]
    tech, strength, dbm = (np.array(c, dtype=object) for c in zip(*cases, strict=True))
    c4, co = classes_of(tech, strength, dbm.astype(float))
    assert list(zip(c4.tolist(), co.tolist(), strict=True)) == [
        report_classes(t, st, d) for t, st, d in cases]


def test_parse_times_formats():
    times, bad = parse_times(pd.Series(["05/03/2026", "2026-03-06 14:20", "1772700000",
                                        "1772700000000", "", "31/02/2026", "kemarin"]))
    assert times[:5] == ["2026-03-05T00:00:00", "2026-03-06T14:20:00", "2026-03-05T08:40:00",
                         "2026-03-05T08:40:00", None]
    assert bad.tolist() == [False, False, False, False, False, True, True]


def test_diskominfo_sheet_rows_one_by_one(project, tmp_path):
    path = write_text(tmp_path / "laporan.csv", DISKOMINFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = reports_from_input(read_table(path), file=str(path),
                                    villages=_villages(project))
    layer = result.layer
    assert len(layer) == 3
    assert {(r.row, r.column) for r in result.rejected} == {
        (5, "Jaringan"), (6, "Tanggal"), (7, "Kampung"), (8, "Jaringan")}
    reasons = {r.row: r.reason for r in result.rejected}
    assert "unknown network '5 bar'" in reasons[5]
    assert "31/02/2026" in reasons[6]
    assert "unknown kampung 'Nowhere'" in reasons[7]
    assert "no observation" in reasons[8]
    first = layer.iloc[0]
    assert (first["village_kode"], first["technology"], first["class_4g"],
            first["reported_at"], first["source"]) == (
        "99.01.01.2001", "none", SIGNAL_CODES["none"], "2026-03-05T00:00:00", "reported")
    assert layer.iloc[1]["strength"] == "poor"
    placed = layer[layer["village_kode"] == "99.01.01.2002"].iloc[0]
    assert bool(placed["placed"]) and result.placed == 1
    # placed inside its kampung (no settlements: the kampung's representative point)
    assert shapely.box(114.1, 0.0, 114.2, 0.1).covers(placed.geometry)
    assert any("placed at their kampung" in str(w.message) for w in caught)


def test_opencellid_measurements(project, tmp_path):
    path = write_text(tmp_path / "measurements.csv",
                      "mcc,mnc,lac,cellid,lon,lat,signal,measured_at,rating,speed,direction,"
                      "act\n"
                      "510,10,1,11,114.05,0.05,-82,1772700000000,5,0,0,LTE\n"
                      "510,10,1,11,114.05,0.05,-121,2026-03-07T10:00:00Z,5,0,0,LTE\n"
                      "510,1,1,12,114.15,0.05,-75,1772700000,5,0,0,GSM\n"
                      "510,1,1,12,114.15,0.05,+20,1772700000,5,0,0,GSM\n")
    result = reports_from_input(read_table(path), file=str(path), villages=_villages(project))
    layer = result.layer
    assert layer["source"].tolist() == ["measured"] * 3
    assert layer["technology"].tolist() == ["4G", "4G", "2G"]
    assert layer["class_4g"].tolist() == [SIGNAL_CODES["good"], SIGNAL_CODES["none"],
                                          SIGNAL_CODES["none"]]
    assert layer["operator"].tolist() == ["Telkomsel", "Telkomsel", "Indosat"]
    assert layer["reported_at"].iloc[1] == "2026-03-07T10:00:00"
    [bad] = result.rejected
    assert (bad.row, bad.column) == (5, "signal") and "'+20'" in bad.reason


def test_point_table_with_rsrp_only(project, tmp_path):
    path = write_text(tmp_path / "drive.csv", "x,y,rsrp,waktu\n114.05,0.05,-90,2026-03-05\n")
    layer = reports_from_input(read_table(path), file=str(path),
                               villages=_villages(project)).layer
    assert (layer["class_4g"].iloc[0], layer["source"].iloc[0]) == (SIGNAL_CODES["fair"],
                                                                     "measured")


def test_file_without_observation_column_is_refused(project, tmp_path):
    path = write_text(tmp_path / "x.csv", "kampung,lintang,bujur\nSatu,0.05,114.05\n")
    with pytest.raises(InputError, match="what was seen"):
        reports_from_input(read_table(path), file=str(path), villages=_villages(project))


def test_import_xlsx_merges_and_records_provenance(project, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Kampung", "Lintang", "Bujur", "Sinyal", "Tanggal", "Keterangan"])
    ws.append(["Satu", 0.05, 114.05, "Tidak ada sinyal", "05/03/2026", "=1+1"])
    ws["F2"].value = "'=HYPERLINK(\"x\")"  # text that looks like a formula stays text
    ws.append(["Dua", 0.05, 114.15, "4G", "06/03/2026", ""])
    path = tmp_path / "laporan.xlsx"
    wb.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = import_layer(project, "reports", path, licence="Diskominfo, internal")
        again = import_layer(project, "reports", path)
    assert (report.added, again.added, again.unchanged) == (2, 0, 2)
    layer = project.read_layer("reports")
    assert len(layer) == 2
    source = project.config["sources"]["reports:laporan.xlsx"]
    assert source["file"] == "laporan.xlsx" and source["rows"] == 2


def test_command_line_import_of_reports(project, tmp_path):
    from click.testing import CliRunner

    from geo_p2dd.cli import main

    path = write_text(tmp_path / "laporan.csv", DISKOMINFO)
    result = CliRunner().invoke(main, ["import", "--project", str(project.path), "reports",
                                       str(path)])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output and "4 rejected" in result.output
    assert "row 6 column 'Tanggal'" in result.output
    from geo_p2dd.project import Project

    assert len(Project(project.path).read_layer("reports")) == 3


def test_opencellid_measurements_are_credited(project, tmp_path):
    from geo_p2dd.project import Project

    path = write_text(tmp_path / "opencellid_measurements_510.csv",
                      "mcc,mnc,lac,cellid,lon,lat,signal,measured_at,rating,speed,direction,"
                      "act\n510,10,1,11,114.05,0.05,-82,1772700000000,5,0,0,LTE\n")
    import_layer(project, "reports", path)
    source = Project(project.path).config["sources"]["reports:opencellid_measurements_510.csv"]
    assert source["licence"] == "CC BY-SA 4.0 (OpenCelliD)"
