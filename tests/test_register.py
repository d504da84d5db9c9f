"""Tests for the infrastructure register: XLSX export (geo_p2dd.register) and the
round trip of agency spreadsheets with Indonesian headers through ``import sites``."""

from __future__ import annotations

import warnings

import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from geo_p2dd.cli import main
from geo_p2dd.errors import InputError
from geo_p2dd.imports import import_layer
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.register import COLUMNS, register_table, write_register

SHEETS = ["Ringkasan", "Anggaran", "Terpasang", "Proses", "Rencana", "Usulan", "Rusak",
          "Tidak aktif"]
# the Indonesian headers agencies use (and the importer recognises), in the sheets' order
HEADERS_ID = [
    "ID", "Jenis", "Nama lokasi", "Kode kampung", "Kampung", "Kecamatan", "Status", "OPD",
    "Sumber dana", "Tahun", "Kapasitas Mbps", "Lintang", "Bujur", "Keterangan", "Operator",
    "Teknologi", "Radius m", "Tinggi m", "Frekuensi MHz", "Daya dBm", "Pagu", "Realisasi",
    "Tahun anggaran", "Kode sub kegiatan"
]
STATUS_SHEET = {"installed": "Terpasang", "in_progress": "Proses", "planned": "Rencana",
                "proposed": "Usulan", "damaged": "Rusak", "inactive": "Tidak aktif"}


def _sites(project):
    return project.read_layer("sites")


def _rows(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


@pytest.fixture(scope="module")
def workbook(sample_project, tmp_path_factory):
    path = tmp_path_factory.mktemp("register") / "register.xlsx"
    counts = write_register(sample_project, path)
    return path, counts


def test_workbook_has_a_summary_and_one_sheet_per_status(workbook, sample_project):
    path, counts = workbook
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == SHEETS
    sites = _sites(sample_project)
    header = HEADERS_ID
    assert len(header) == len(COLUMNS)
    for status, sheet in STATUS_SHEET.items():
        rows = _rows(wb[sheet])
        assert list(rows[0]) == header
        expected = sites[sites["status"] == status]
        assert len(rows) - 1 == len(expected) == counts[status]
        assert sorted(r[0] for r in rows[1:]) == sorted(expected["site_id"])
        assert {r[header.index("Status")] for r in rows[1:]} <= {sheet}
    assert sum(counts.values()) == len(sites)


def test_summary_totals_match_the_sites_layer(workbook, sample_project):
    path, _ = workbook
    sites = _sites(sample_project)
    rows = _rows(openpyxl.load_workbook(path)["Ringkasan"])
    assert "SAMPEL" in rows[2][0]  # the sample is labelled in the workbook too
    head = next(i for i, r in enumerate(rows) if r[0] == "OPD")
    assert rows[head][1] == "Tahun"
    assert rows[head][2].startswith("Sudah dilaksanakan") and rows[head][3].startswith("Sedang")
    assert rows[head][4].startswith("Akan dilaksanakan") and rows[head][5] == "Usulan"
    assert rows[head][6:8] == ("Rusak", "Tidak aktif")  # counted in the register
    body = [r for r in rows[head + 1:] if r[0] is not None]
    total = next(r for r in body if r[0] == "Jumlah")
    detail = body[:body.index(total)]
    statuses = ["installed", "in_progress", "planned", "proposed", "damaged", "inactive"]
    for j, status in enumerate(statuses, start=2):
        n = int((sites["status"] == status).sum())
        assert total[j] == n
        assert sum(r[j] for r in detail) == n
    assert total[8] == len(sites)
    # one row per agency and year
    by_key = sites.assign(y=sites["year"].astype(int)).groupby(["agency", "y"]).size()
    assert {(r[0], r[1]): r[8] for r in detail} == by_key.to_dict()


def test_english_headers_and_region_filter(sample_project, tmp_path):
    path = tmp_path / "register_en.xlsx"
    counts = write_register(sample_project, path, lang="en", region="99.01.02")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Budget", "Installed", "In progress", "Planned", "Proposed",
                             "Damaged", "Inactive"]
    assert _rows(wb["Installed"])[0][:3] == ("ID", "Kind", "Name")
    sites = _sites(sample_project)
    mine = sites[sites["village_kode"].str.startswith("99.01.02.")]
    assert sum(counts.values()) == len(mine) > 0
    assert all(r[3].startswith("99.01.02.") for r in _rows(wb["Installed"])[1:])


def test_register_table_joins_names_and_coordinates(sample_project):
    table = register_table(sample_project)
    sites = _sites(sample_project).set_index("site_id")
    villages = pyogrio.read_dataframe(sample_project.layers_path, layer="villages",
                                      read_geometry=False).set_index("kode")
    row = table.iloc[0]
    assert row["village"] == villages.loc[row["village_kode"], "nama"]
    assert row["kecamatan"] == villages.loc[row["village_kode"], "kecamatan"]
    geom = sites.loc[row["site_id"], "geometry"]
    assert (row["lon"], row["lat"]) == (geom.x, geom.y)  # full precision, for the round trip
    assert list(table["status"]) == sorted(table["status"], key=["installed", "in_progress",
                                                                  "planned", "proposed",
                                                                  "damaged",
                                                                  "inactive"].index)


def test_exported_sheets_import_back_unchanged(sample_copy, tmp_path):
    path = tmp_path / "register.xlsx"
    write_register(sample_copy, path)
    before = _sites(sample_copy)
    for sheet in STATUS_SHEET.values():
        report = import_layer(sample_copy, "sites", path, layer=sheet)
        assert (report.added, report.updated, report.rejected) == (0, 0, []), report.lines()
        assert report.unchanged == report.rows > 0
    assert len(_sites(sample_copy)) == len(before)
    # without --layer the summary sheet is read; the error names the status sheets
    with pytest.raises(InputError, match="'Terpasang', 'Proses', 'Rencana', 'Usulan'"):
        import_layer(sample_copy, "sites", path)


# -- an agency's own spreadsheet -------------------------------------------------------------

AGENCY_HEADER = ["No", "Nama Lokasi", "Jenis", "Kampung", "Status", "OPD", "Sumber Dana",
                 "Tahun", "Lintang", "Bujur", "Kapasitas (Mbps)", "Keterangan"]


def _agency_sheet(path, villages, settlements, *, status_of_second="Proses"):
    """A Diskominfo-style sheet: village names (no codes), some rows without coordinates."""
    names = list(villages["nama"])
    first = settlements[settlements["village_kode"] == villages["kode"].iloc[0]].iloc[0]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data 2026"
    ws.append(AGENCY_HEADER)
    ws.append([1, f"Starlink Balai {names[0]}", "Starlink", names[0], "Sudah Terpasang",
               "Diskominfo", "APBD Kab.", 2025, round(first.geometry.y, 5),
               round(first.geometry.x, 5), 100, "balai kampung"])
    ws.append([2, f"Starlink SD {names[1]}", "Starlink", names[1], status_of_second,
               "Dinas Pendidikan", "APBD", "2026", None, None, "100", None])
    ws.append([3, f"Wifi Kampung {names[2]}", "wifi desa", names[2], "akan dilaksanakan",
               "Pemerintah Kampung", "Dana Desa", 2027, None, None, None, None])
    ws.append([4, "BTS Kampung Hilang", "BTS", "Kampung Yang Tidak Ada", "usulan", "BAKTI",
               "APBN", 2027, None, None, None, None])
    wb.save(path)
    return path


def test_agency_spreadsheet_round_trip(sample_copy, tmp_path):
    villages = pyogrio.read_dataframe(sample_copy.layers_path, layer="villages")
    locations = pyogrio.read_dataframe(sample_copy.layers_path, layer="locations")
    settlements = locations[locations["kind"] == "settlement"]
    path = _agency_sheet(tmp_path / "diskominfo.xlsx", villages, settlements)
    n_before = len(_sites(sample_copy))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = import_layer(sample_copy, "sites", path)
    assert (first.rows, first.added, first.updated, first.unchanged) == (4, 3, 0, 0)
    assert [(r.row, r.column) for r in first.rejected] == [(5, "Kampung")]
    assert "Kampung Yang Tidak Ada" in first.rejected[0].reason
    placed = [str(w.message) for w in caught if issubclass(w.category, RepairWarning)]
    assert any("2 row(s) without coordinates" in m and "rows 3, 4" in m for m in placed), placed

    sites = _sites(sample_copy)
    assert len(sites) == n_before + 3
    new = sites[sites["name"].str.contains("Balai|SD |Wifi Kampung", regex=True)]
    new = new.set_index("name")
    code1 = villages["kode"].iloc[1]
    sd = new.loc[f"Starlink SD {villages['nama'].iloc[1]}"]
    assert sd["village_kode"] == code1 and sd["status"] == "in_progress"
    assert sd["capacity_mbps"] == 100 and sd["year"] == 2026 and sd["funding"] == "apbd"
    assert sd["agency"] == "Dinas Pendidikan"
    # placed at the village's main (most populous) settlement
    main_settlement = settlements[settlements["village_kode"] == code1].sort_values(
        "people", ascending=False).iloc[0]
    assert shapely.equals_exact(sd.geometry, main_settlement.geometry, tolerance=1e-9)
    wifi = new.loc[f"Wifi Kampung {villages['nama'].iloc[2]}"]
    assert (wifi["kind"], wifi["status"], wifi["funding"]) == ("wifi", "planned", "dana_desa")
    balai = new.loc[f"Starlink Balai {villages['nama'].iloc[0]}"]
    assert balai["status"] == "installed" and balai["notes"] == "balai kampung"

    with pytest.warns(RepairWarning, match="placed at their village's main settlement"):
        again = import_layer(sample_copy, "sites", path)
    assert (again.added, again.updated, again.unchanged, len(again.rejected)) == (0, 0, 3, 1)
    assert len(_sites(sample_copy)) == n_before + 3

    edited = _agency_sheet(tmp_path / "diskominfo_v2.xlsx", villages, settlements,
                           status_of_second="Terpasang")
    with pytest.warns(RepairWarning, match="without coordinates"):
        third = import_layer(sample_copy, "sites", edited)
    assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
    sites = _sites(sample_copy)
    assert len(sites) == n_before + 3  # updated in place, never duplicated
    sd = sites[sites["name"] == f"Starlink SD {villages['nama'].iloc[1]}"]
    assert list(sd["status"]) == ["installed"]


def test_agency_csv_with_indonesian_headers(sample_copy, tmp_path):
    villages = pyogrio.read_dataframe(sample_copy.layers_path, layer="villages",
                                      read_geometry=False)
    name = villages["nama"].iloc[5]
    path = tmp_path / "register_opd.csv"
    path.write_text("nama lokasi;jenis;kampung;status;OPD;sumber dana;tahun;lintang;bujur\n"
                    f"Starlink Posyandu {name};Starlink;{name};rencana;Dinas Kesehatan;"
                    "APBD;2027;;\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RepairWarning)  # the placement note is expected
        first = import_layer(sample_copy, "sites", path)
        again = import_layer(sample_copy, "sites", path)
    assert (first.added, again.unchanged, again.added) == (1, 1, 0)


def test_register_command(sample_project, tmp_path):
    out = tmp_path / "register.xlsx"
    result = CliRunner().invoke(main, ["register", "--project", str(sample_project.path),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    sites = _sites(sample_project)
    assert f"wrote {len(sites)} site(s)" in result.output
    wb = openpyxl.load_workbook(out)
    assert sum(wb[s].max_row - 1 for s in SHEETS[2:]) == len(sites)
    bad = CliRunner().invoke(main, ["register", "--project", str(sample_project.path),
                                    "--out", str(tmp_path / "x.xlsx"), "--region", "12.34"])
    assert bad.exit_code == 1 and "no village of the project lies in '12.34'" in bad.output
    assert not (tmp_path / "x.xlsx").exists()


def test_empty_register(project, tmp_path):
    counts = write_register(project, tmp_path / "empty.xlsx")
    assert counts == {"installed": 0, "in_progress": 0, "planned": 0, "proposed": 0,
                      "damaged": 0, "inactive": 0}
    wb = openpyxl.load_workbook(tmp_path / "empty.xlsx")
    assert wb.sheetnames == SHEETS
    assert np.all([wb[s].max_row == 1 for s in SHEETS[1:]])


@pytest.mark.parametrize("lang", ["id", "en"])
def test_text_that_looks_like_a_formula_stays_text(sample_project, tmp_path, lang):
    """A site named =HYPERLINK(...) must not become a live formula in the workbook."""
    sites = _sites(sample_project)
    evil = {"name": '=HYPERLINK("http://example.com/x","klik")', "agency": "+cmd|' /C calc'!A0",
            "notes": "@SUM(1+1)", "operator": "-2+3", "funding": None}
    first = sites.index[0]
    for column, value in evil.items():
        sites[column] = sites[column].astype(object)
        sites.loc[first, column] = value
    sites.loc[sites.index[1], "name"] = "\tTAB"
    sites.loc[sites.index[2], "name"] = "\r=1+1"
    path = tmp_path / "register.xlsx"
    write_register(sample_project, path, lang=lang, sites=sites)
    wb = openpyxl.load_workbook(path)
    # a carriage return may come back as a line feed (XML without &#13;); else literal
    texts = {v for v in evil.values() if v} | {"\tTAB", "\r=1+1"}
    seen = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                value = cell.value.replace("\n", "\r") if isinstance(cell.value, str) \
                    else cell.value
                if value in texts:
                    seen[value] = cell.data_type
    assert set(seen) == texts  # every one written as its literal text
    assert set(seen.values()) == {"s"}


def test_a_large_register_is_written_in_bounded_memory(sample_project, tmp_path):
    """3,000 sites: memory follows the table, not the cells (740,000 sites took 6 GB).

    (3,000 rather than 10,000: tracemalloc makes each allocation slow; the cells of 3,000
    sites held at once would still be ~16 MB, the row-by-row writer peaks near 1 MB.)"""
    import tracemalloc

    import geopandas as gpd
    import numpy as np
    import openpyxl
    import shapely

    villages = sample_project.read_layer("villages", columns=["kode", "nama", "kecamatan"])
    n = 3_000
    rng = np.random.default_rng(1)
    statuses = rng.choice(["installed", "in_progress", "planned", "proposed"], n)
    sites = gpd.GeoDataFrame(
        {"site_id": [f"s{i}" for i in range(n)], "kind": "starlink",
         "name": [f"Starlink {i}" for i in range(n)], "status": statuses,
         "village_kode": villages["kode"].to_numpy()[rng.integers(0, len(villages), n)],
         "agency": "Diskominfo", "funding": "apbd", "year": 2024},
        geometry=shapely.points(rng.uniform(114, 115, n), rng.uniform(0, 1, n)),
        crs="EPSG:4326")
    path = tmp_path / "besar.xlsx"
    tracemalloc.start()
    try:
        counts = write_register(sample_project, path, sites=sites, villages=villages)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"{peak / 1e6:.1f} MB"  # ~1 MB written row by row, ~16 MB in cells
    assert sum(counts.values()) == n
    wb = openpyxl.load_workbook(path, read_only=True)
    assert sum(sum(1 for _ in wb[name].iter_rows(min_row=2))
               for name in wb.sheetnames[2:]) == n
    wb.close()
