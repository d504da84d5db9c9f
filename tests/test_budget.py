"""Budgets of the register: categories, totals per OPD, amounts, the workbook and the summary."""

from __future__ import annotations

import shutil

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely

from geo_p2dd.budget import (
    budget_table,
    budget_totals,
    category,
    format_idr,
    parse_idr,
)
from geo_p2dd.project import Project
from geo_p2dd.registry import db


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


SITES = pd.DataFrame.from_records([
    # agency, status, year, budget_year, budget, realised
    ("Diskominfo", "installed", 2023, 2023, 100_000_000, 95_000_000),
    ("Diskominfo", "damaged", 2022, None, 50_000_000, 50_000_000),
    ("Diskominfo", "in_progress", 2025, 2025, 200_000_000, 20_000_000),
    ("Diskominfo", "planned", 2023, 2023, 70_000_000, None),      # belum: earlier year
    ("Diskominfo", "planned", 2026, 2025, 30_000_000, None),      # akan: budget year 2025
    ("Dinas Pendidikan", "proposed", 2024, None, 10_000_000, None),  # proposed stays akan
    ("Dinas Pendidikan", "planned", None, None, 5_000_000, None),  # no year: akan
    ("", "installed", 2024, 2024, None, None),
], columns=["agency", "status", "year", "budget_year", "budget_idr", "realised_idr"])


def test_categories():
    assert category("installed", 2020, 2025) == "sudah"
    assert category("inactive", None, 2025) == "sudah"
    assert category("in_progress", 2020, 2025) == "sedang"
    assert category("planned", 2024, 2025) == "belum"
    assert category("planned", 2025, 2025) == "akan"
    assert category("proposed", 2020, 2025) == "akan"
    assert category("planned", None, 2025) == "akan"


def test_totals_per_agency_category_and_year_hand_computed():
    totals = budget_totals(SITES, current_year=2025)
    got = {(r.agency, r.category, None if pd.isna(r.year) else int(r.year)):
           (r.sites, r.budget_idr, r.realised_idr) for r in totals.itertuples()}
    assert got == {
        ("Diskominfo", "sudah", 2023): (1, 100_000_000, 95_000_000),
        ("Diskominfo", "sudah", 2022): (1, 50_000_000, 50_000_000),
        ("Diskominfo", "sedang", 2025): (1, 200_000_000, 20_000_000),
        ("Diskominfo", "belum", 2023): (1, 70_000_000, 0),
        ("Diskominfo", "akan", 2025): (1, 30_000_000, 0),
        ("Dinas Pendidikan", "akan", 2024): (1, 10_000_000, 0),
        ("Dinas Pendidikan", "akan", None): (1, 5_000_000, 0),
        ("", "sudah", 2024): (1, 0, 0),
    }
    # ordered by agency, then sudah, sedang, akan, belum
    diskominfo = totals[totals["agency"] == "Diskominfo"]["category"].tolist()
    assert diskominfo == ["sudah", "sudah", "sedang", "akan", "belum"]


def test_printed_table_formats_rupiah_the_indonesian_way():
    table = budget_table(budget_totals(SITES, current_year=2025), "id")
    assert table["headers"][:2] == ["OPD", "Sudah (terpasang)"]
    row = {r["agency"]: r for r in table["rows"]}["Diskominfo"]
    assert row["cells"][0] == "Rp 150.000.000 (Rp 145.000.000) · 2"
    assert row["cells"][3] == "Rp 70.000.000 · 1"
    assert row["total"] == "Rp 450.000.000 (Rp 165.000.000) · 5"
    assert "(tanpa OPD)" in {r["agency"] for r in table["rows"]}
    assert table["total"]["total"] == "Rp 465.000.000 (Rp 165.000.000) · 8"
    english = budget_table(budget_totals(SITES, current_year=2025), "en")
    assert english["total"]["total"] == "Rp 465,000,000 (Rp 165,000,000) · 8"
    assert budget_table(budget_totals(SITES.assign(budget_idr=None, realised_idr=None)),
                        "id")["rows"] == []


@pytest.mark.parametrize(("text", "value"), [
    ("150000000", 150_000_000), ("Rp 150.000.000", 150_000_000),
    ("Rp150.000.000,-", 150_000_000), ("1.500.000,00", 1_500_000), ("IDR 2,500,000", 2_500_000),
    ("1.234.567,5", 1_234_568), (75_000_000, 75_000_000), (75_000_000.0, 75_000_000),
    ("", None), (None, None),
])
def test_parse_idr(text, value):
    assert parse_idr(text) == value


@pytest.mark.parametrize("text", ["banyak", "-5", "1.50.000", "Rp", True])
def test_parse_idr_refuses(text):
    with pytest.raises(ValueError):
        parse_idr(text)


def test_format_idr():
    assert format_idr(1_500_000) == "Rp 1.500.000"
    assert format_idr(1_500_000, "en") == "Rp 1,500,000"
    assert format_idr(None) == "–"


@pytest.fixture
def budget_project(sample_project, tmp_path):
    """The sample with budgets on some of its sites (through the register)."""
    dst = tmp_path / "p"
    shutil.copytree(sample_project.path, dst, symlinks=True)
    project = Project(dst)
    with project.transaction("budgets") as tx:
        sites = project.read_layer("sites")
        installed = sites.index[sites["status"] == "installed"][:2]
        sites.loc[installed, "budget_idr"] = [120_000_000, 80_000_000]
        sites.loc[installed, "realised_idr"] = [110_000_000, 80_000_000]
        sites.loc[installed, "sipd_code"] = "2.16.02.2.02.0001"
        tx.write_layer("sites", sites)
    return Project(dst), sites.loc[installed]


def test_register_workbook_has_a_budget_sheet(budget_project, tmp_path):
    from geo_p2dd.register import write_register

    project, budgeted = budget_project
    out = tmp_path / "register.xlsx"
    write_register(project, out)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[1] == "Anggaran"
    rows = list(wb["Anggaran"].iter_rows(values_only=True))
    assert rows[0] == ("OPD", "Kategori", "Tahun", "Titik layanan", "Pagu", "Realisasi")
    total_done = [r for r in rows if r[0] == "Jumlah" and r[1] == "Sudah (terpasang)"]
    assert total_done[0][4:] == (200_000_000, 190_000_000)
    # the status sheets carry the budget columns, under headers the importer reads back
    terpasang = list(wb["Terpasang"].iter_rows(values_only=True))
    header = terpasang[0]
    assert {"Pagu", "Realisasi", "Tahun anggaran", "Kode sub kegiatan"} <= set(header)
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in terpasang[1:]}
    first = by_id[budgeted["site_id"].iloc[0]]
    assert (first["Pagu"], first["Kode sub kegiatan"]) == (120_000_000, "2.16.02.2.02.0001")


def test_printed_summary_has_the_budget_table(budget_project):
    from geo_p2dd.report import render_html

    project, _ = budget_project
    html = render_html(project, project.region_code, map_src="data:,")
    assert 'id="budget"' in html and "Anggaran per OPD" in html
    assert "Rp 200.000.000 (Rp 190.000.000)" in html


def test_budget_columns_survive_a_geometry_only_frame():
    frame = gpd.GeoDataFrame({"status": ["installed"]}, geometry=[shapely.Point(0, 0)])
    assert budget_totals(frame, 2025)["budget_idr"].tolist() == [0]
