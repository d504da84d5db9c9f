"""The register as the project's source of sites: reads, staleness, imports, preview/commit."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import openpyxl
import pandas as pd
import pytest
from conftest import SITES_HEADER, SITES_ROWS, snapshot, write_text
from pg import pg_cluster  # noqa: F401 - the PostgreSQL fixtures
from sqlalchemy import select, text

from geo_p2dd.imports import import_layer
from geo_p2dd.project import Project
from geo_p2dd.registry import db
from geo_p2dd.registry.importing import commit_import, preview_import, rejected_rows_xlsx
from geo_p2dd.registry.models import Site
from geo_p2dd.registry.repository import (
    count_sites,
    create_site,
    get_site,
    history,
    list_sites,
    patch_site,
)
from geo_p2dd.registry.store import engine_for, project_register
from geo_p2dd.registry.sync import RegisterChangedError


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


def _ids(project) -> dict[str, str]:
    sites = project.read_layer("sites")
    return dict(zip(sites["name"], sites["site_id"], strict=True))


# --- reading: an old project moves in; the analysis sees register edits ----------------------

def test_an_old_project_moves_in_on_first_read_nothing_lost(sample_project, tmp_path):
    from test_registry import old_style_project

    project = old_style_project(sample_project, tmp_path / "old")
    assert not (project.path / "register.sqlite").exists()
    layer = project.read_layer_file("sites")
    version = project.data_version
    moved = Project(project.path).read_layer("sites")
    assert (project.path / "register.sqlite").is_file()
    a = layer.set_index("site_id").sort_index()
    b = moved.set_index("site_id").sort_index()
    own = [c for c in a.columns if c != "geometry"]
    assert list(b.columns[:len(own)]) == own  # the layer's columns first, in its order
    pd.testing.assert_frame_equal(a.drop(columns="geometry"),
                                  b[a.columns].drop(columns="geometry"), check_dtype=False)
    assert a.geometry.geom_equals_exact(b.geometry, 1e-12).all()
    # the move itself is not a change of the data: results computed before stay current
    assert Project(project.path).data_version == version


def test_an_api_edit_marks_the_analysis_stale(sample_project, tmp_path):
    dst = tmp_path / "p"
    shutil.copytree(sample_project.path, dst, symlinks=True)
    project = Project(dst)
    assert not project.analysis_stale
    version = project.data_version
    from geo_p2dd.report.cache import data_version as cache_key

    key = cache_key(project)
    engine = project_register(project)
    site = list_sites(engine)[0]
    _, tag = get_site(engine, site["id"])
    patch_site(engine, site["id"], {"status": "damaged"}, tag, user="api-user", source="api")
    again = Project(dst)
    assert again.data_version == version + 1
    assert again.analysis_stale
    assert again.read_layer("sites").set_index("site_id").loc[site["id"], "status"] == "damaged"
    assert cache_key(again) != key  # the printed summary's cache key moves too


def test_reading_sites_of_a_project_without_any_makes_no_database(project):
    assert project.read_layer("sites", required=False) is None
    assert project.data_version == Project(project.path).file_data_version
    assert not (project.path / "register.sqlite").exists()


# --- import through the repository -----------------------------------------------------------

def test_import_writes_the_register_with_history_and_is_idempotent(project, sites_csv):
    report = import_layer(project, "sites", sites_csv, user="dinas-kominfo")
    assert (report.added, report.updated, report.unchanged) == (4, 0, 0)
    engine = engine_for(project.path)
    assert count_sites(engine) == 4
    ids = _ids(project)
    first = history(engine, ids["Starlink Satu"])
    assert [(h["user"], h["source"]) for h in first] == [("dinas-kominfo", "import")]
    version = Project(project.path).register_version
    again = import_layer(project, "sites", sites_csv, user="dinas-kominfo")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert count_sites(engine) == 4
    assert len(history(engine, ids["Starlink Satu"])) == 1  # nothing rewritten
    assert Project(project.path).register_version == version  # the register did not change


def test_import_without_user_records_the_os_user(project, sites_csv):
    import getpass

    import_layer(project, "sites", sites_csv)
    engine = engine_for(project.path)
    site = list_sites(engine)[0]
    assert history(engine, site["id"])[0]["user"] == getpass.getuser()


def test_a_reimport_keeps_an_edit_made_meanwhile(project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    engine = engine_for(project.path)
    ids = _ids(project)
    _, tag = get_site(engine, ids["BTS Tiga"])
    patch_site(engine, ids["BTS Tiga"], {"notes": "dicek di lapangan"}, tag, user="web",
               source="web")
    changed = SITES_ROWS[2].replace(",rencana,", ",proses,")
    path = write_text(tmp_path / "v2.csv", SITES_HEADER + SITES_ROWS[0] + changed)
    report = import_layer(project, "sites", path)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    site, _ = get_site(engine, ids["BTS Tiga"])
    assert (site["status"], site["notes"]) == ("in_progress", "dicek di lapangan")
    assert count_sites(engine) == 4  # the sheet's absent rows are not deleted
    sources = [h["source"] for h in history(engine, ids["BTS Tiga"])]
    assert sources == ["import", "web", "import"]


def test_budget_columns_of_an_agency_sheet(project, tmp_path):
    path = write_text(tmp_path / "opd.csv",
                      "nama lokasi,jenis,status,kode_desa,OPD,Pagu,Realisasi,Tahun Anggaran,"
                      "Kode Sub Kegiatan,bujur,lintang\n"
                      "Starlink Satu,Starlink,terpasang,99.01.01.2001,Diskominfo,"
                      "\"Rp 150.000.000\",\"145.500.000,00\",2024,2.16.02.2.02.0001,114.05,0.05\n"
                      "Starlink Dua,Starlink,rencana,99.01.01.2002,Diskominfo,"
                      "banyak,,2024,2.16.02.2.02.0001,114.15,0.05\n"
                      "BTS Tiga,BTS,rencana,99.01.02.2001,BAKTI,1000000,,2025,2.16.2.2,"
                      "114.25,0.05\n")
    report = import_layer(project, "sites", path)
    assert report.added == 1
    rejected = {r.row: r for r in report.rejected}
    assert sorted(rejected) == [3, 4]
    assert rejected[3].column == "Pagu" and "'banyak'" in rejected[3].reason
    assert rejected[4].column == "Kode Sub Kegiatan" and "2.16.02.2.02.0001" in \
        rejected[4].reason
    site = list_sites(engine_for(project.path))[0]
    assert (site["budget_idr"], site["realised_idr"], site["budget_year"], site["sipd_code"]) \
        == (150_000_000, 145_500_000, 2024, "2.16.02.2.02.0001")
    assert site["year"] is None  # "tahun anggaran" is the budget year, not the install year


# --- preview and commit (the web's upload) -----------------------------------------------------

def _bad_sheet(tmp_path):
    return write_text(tmp_path / "opd.csv", SITES_HEADER + "".join(SITES_ROWS) +
                      "=HYPERLINK(\"http://x\"),Starlink,hilang,99.01.01.2001,X,APBD,2024,"
                      "114.05,0.06\n")


def test_preview_says_what_would_change_and_stores_nothing(project, sites_csv, tmp_path):
    import_layer(project, "sites", write_text(tmp_path / "dua.csv",
                                              SITES_HEADER + SITES_ROWS[0] + SITES_ROWS[1]))
    engine = engine_for(project.path)
    before = [(s["id"], s["version"]) for s in list_sites(engine)]
    sheet = write_text(tmp_path / "opd.csv", SITES_HEADER + SITES_ROWS[0] +
                       SITES_ROWS[1].replace(",proses,", ",terpasang,") + SITES_ROWS[2] +
                       "Rusak,Starlink,hilang,99.01.01.2001,X,APBD,2024,114.05,0.06\n")
    preview = preview_import(project, sheet)
    assert preview.rows == 4
    assert [len(preview.added), len(preview.updated), len(preview.unchanged)] == [1, 1, 1]
    assert [(r.row, r.column) for r in preview.rejected] == [(5, "status")]
    assert preview.to_dict()["rejected"][0]["row"] == 5
    assert [(s["id"], s["version"]) for s in list_sites(engine)] == before
    commit_import(project, preview, "reviewer")
    assert count_sites(engine) == 3
    site, _ = get_site(engine, preview.updated[0])
    assert site["status"] == "installed"
    assert history(engine, preview.added[0])[0] == {
        **history(engine, preview.added[0])[0], "user": "reviewer", "source": "import"}


def test_a_commit_failing_mid_way_applies_nothing(project, sites_csv, tmp_path):
    preview = preview_import(project, sites_csv)
    assert len(preview.plan.creates) == 4
    preview.plan.creates[2]["lat"] = 95.0  # the database refuses the third row
    engine = engine_for(project.path)
    version = Project(project.path).register_version
    with pytest.raises(Exception, match="lonlat_range|CHECK constraint"):
        commit_import(project, preview, "u")
    assert count_sites(engine) == 0
    assert Project(project.path).register_version == version


def test_a_commit_after_the_register_changed_is_refused(project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    engine = engine_for(project.path)
    ids = _ids(project)
    sheet = write_text(tmp_path / "v2.csv", SITES_HEADER +
                       SITES_ROWS[2].replace(",rencana,", ",proses,"))
    preview = preview_import(project, sheet)
    assert preview.updated == [ids["BTS Tiga"]]
    _, tag = get_site(engine, ids["BTS Tiga"])
    patch_site(engine, ids["BTS Tiga"], {"notes": "x"}, tag)
    with pytest.raises(RegisterChangedError):
        commit_import(project, preview, "u")
    assert get_site(engine, ids["BTS Tiga"])[0]["status"] == "planned"


def test_rejected_rows_download_with_a_reason_column(project, tmp_path):
    preview = preview_import(project, _bad_sheet(tmp_path))
    out = rejected_rows_xlsx(preview, tmp_path / "ditolak.xlsx")
    ws = openpyxl.load_workbook(out).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Berkas", "Baris", "Kolom", "Alasan")
    assert rows[1][:3] == ("opd.csv", 6, "status")
    assert "hilang" in rows[1][3]
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)


# --- concurrency: an import and API edits at once, on SQLite and PostgreSQL -------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, monkeypatch, tmp_path):
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        name = f"svc_{tmp_path.name[-20:].replace('-', '_').lower()}"
        cluster.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cluster.execute(f"CREATE DATABASE {name}")
        monkeypatch.setenv(db.URL_VARIABLE, cluster.url(name))
    return request.param


def test_an_import_and_api_edits_at_once_lose_nothing(database, project, sites_csv, tmp_path):
    import_layer(project, "sites", sites_csv)
    engine = engine_for(project.path)
    ids = _ids(project)
    rows = [f"Wifi {i},wifi kampung,usulan,99.01.01.2001,Dinas {i},APBD,2026,114.05,0.0{i}\n"
            for i in range(1, 9)]
    sheet = write_text(tmp_path / "many.csv", SITES_HEADER + "".join(rows) +
                       SITES_ROWS[2].replace(",rencana,", ",proses,"))
    start = threading.Barrier(2)
    edits = []

    def api_edits():
        start.wait()
        for i in range(10):
            while True:
                _, tag = get_site(engine, ids["Starlink Satu"])
                try:
                    patch_site(engine, ids["Starlink Satu"], {"notes": f"edit {i}"}, tag,
                               user="api", source="api")
                    break
                except Exception as exc:  # a stale ETag: read again
                    assert "changed since" in str(exc)
            create_site(engine, {"kind": "wifi", "name": f"API {i}", "status": "planned",
                                 "lon": 114.1, "lat": 0.01 * (i + 1)}, source="api")
            edits.append(i)

    def cli_import():
        start.wait()
        return import_layer(Project(project.path), "sites", sheet, user="cli")

    with ThreadPoolExecutor(2) as pool:
        edit = pool.submit(api_edits)
        report = pool.submit(cli_import).result()
        edit.result()
    assert (report.added, report.updated) == (8, 1)
    assert count_sites(engine) == 4 + 8 + 10
    assert get_site(engine, ids["Starlink Satu"])[0]["notes"] == "edit 9"
    assert get_site(engine, ids["BTS Tiga"])[0]["status"] == "in_progress"
    assert len(history(engine, ids["Starlink Satu"])) == 11
    with engine.connect() as conn:
        assert conn.execute(select(Site.id).where(Site.deleted_at.is_not(None))).all() == []
        # one raise per transaction: the two imports and the twenty API writes
        assert conn.execute(text("SELECT n FROM register_version")).scalar() == 1 + 20 + 1


def test_a_failed_generation_commit_rolls_the_register_back(project, sites_csv, monkeypatch):
    import os

    import_layer(project, "sites", sites_csv)
    engine = engine_for(project.path)
    before_sites = [(s["id"], s["version"]) for s in list_sites(engine)]
    before = snapshot(project.path / ".generations")
    real = os.replace

    def fail_switch(src, dst):
        if str(dst).endswith(".current"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", fail_switch)
    path = write_text(project.path.parent / "v2.csv", SITES_HEADER +
                      SITES_ROWS[0].replace(",terpasang,", ",rusak,"))
    with pytest.raises(OSError, match="disk full"):
        import_layer(project, "sites", path)
    monkeypatch.undo()
    assert [(s["id"], s["version"]) for s in list_sites(engine)] == before_sites
    assert snapshot(project.path / ".generations") == before


# --- geo-p2dd import and geo-p2dd changes ---------------------------------------------------

def test_cli_import_and_changes_since_a_date(project, sites_csv, tmp_path):
    import datetime as dt

    from click.testing import CliRunner

    from geo_p2dd.cli import main

    runner = CliRunner()
    done = runner.invoke(main, ["import", "--project", str(project.path), "sites",
                                str(sites_csv), "--user", "opd-kominfo"])
    assert done.exit_code == 0, done.output
    assert "register: 4 site(s); changes recorded as opd-kominfo" in done.output
    engine = engine_for(project.path)
    ids = _ids(Project(project.path))
    _, tag = get_site(engine, ids["BTS Tiga"])
    patch_site(engine, ids["BTS Tiga"], {"status": "in_progress",
                                         "notes": "=HYPERLINK(\"http://x\")"}, tag,
               user="budi", source="web")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    printed = runner.invoke(main, ["changes", "--project", str(project.path), "--since", today])
    assert printed.exit_code == 0, printed.output
    assert f"{ids['BTS Tiga']}  status: planned -> in_progress  (budi, web)" in printed.output
    assert "change(s) since" in printed.output
    out = tmp_path / "perubahan.xlsx"
    written = runner.invoke(main, ["changes", "--project", str(project.path), "--since", today,
                                   "--out", str(out)])
    assert written.exit_code == 0, written.output
    ws = openpyxl.load_workbook(out).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Waktu (UTC)", "ID site", "Nama site", "Kolom data", "Nilai lama",
                       "Nilai baru", "Oleh", "Sumber", "Tanggal status", "Catatan status")
    web = [r for r in rows[1:] if r[6] == "budi"]
    assert sorted((r[3], r[4], r[5]) for r in web) == [
        ("notes", None, "=HYPERLINK(\"http://x\")"), ("status", "planned", "in_progress")]
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)
    imported = [r for r in rows[1:] if r[6] == "opd-kominfo"]
    assert {r[7] for r in imported} == {"import"} and len({r[1] for r in imported}) == 4
    # nothing since tomorrow; a bad date is named
    tomorrow = (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat()
    later = runner.invoke(main, ["changes", "--project", str(project.path), "--since",
                                 tomorrow])
    assert later.output.strip() == f"0 change(s) since {tomorrow}"
    bad = runner.invoke(main, ["changes", "--project", str(project.path), "--since", "kemarin"])
    assert bad.exit_code == 1 and "--since" in bad.output and "YYYY-MM-DD" in bad.output


def test_info_counts_the_register_s_live_sites(project, sites_csv):
    from geo_p2dd.registry.repository import delete_site

    import_layer(project, "sites", sites_csv)
    assert Project(project.path).info()["layers"]["sites"]["rows"] == 4
    delete_site(engine_for(project.path), _ids(project)["Wifi Empat"])
    info = Project(project.path).info()
    assert info["layers"]["sites"]["rows"] == 3 and info["layers"]["sites"]["register"]
    assert "sites" not in Project(project.path).layer_names()  # not in layers.gpkg
