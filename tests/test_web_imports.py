"""Uploading an agency's sheet through the web app (preview, commit, 409, agencies, pages);
the register page's budget totals and the ministry's "changes since a date" workbook."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import threading

import openpyxl
import pytest
from conftest import SITES_HEADER
from pg import pg_cluster  # noqa: F401 - the PostgreSQL fixtures
from sqlalchemy import select, update

from geo_p2dd.registry import accounts, db, store
from geo_p2dd.registry.audit import AuditFilter, audit_log
from geo_p2dd.registry.repository import (
    count_sites,
    create_site,
    get_site,
    list_sites,
    patch_site,
)
from geo_p2dd.registry.repository import version as register_version
from geo_p2dd.registry.uploads import IMPORTS, PREVIEW_TTL, get_upload, unverified_sites
from web import create_app

PASSWORD = "kata-sandi-panjang-1"
#: rows inside the sample regency's kampung (the first two Diskominfo's, the third BAKTI's)
SITES_ROWS = [
    "Starlink Satu,Starlink,terpasang,99.01.01.2001,Diskominfo,APBD,2024,112.9577,0.9924\n",
    "Starlink Dua,Starlink,proses,99.01.01.2002,Diskominfo,APBD,2025,113.1073,0.9376\n",
    "BTS Tiga,BTS,rencana,99.01.01.2003,BAKTI,APBN/BAKTI,2026,113.0935,1.1022\n",
]
BAD_ROW = ("=HYPERLINK(\"http://x\"),Starlink,hilang,99.01.01.2001,Diskominfo,APBD,2024,"
           "112.9577,0.9925\n")


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


class App:
    def __init__(self, app, engine):
        self.app = app
        self.engine = engine
        accounts.add_user(engine, "admin", "admin", password=PASSWORD)
        accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
        accounts.add_user(engine, "rudi", "reviewer", password=PASSWORD)
        self.admin = {"Authorization": f"Bearer {accounts.new_token(engine, 'admin')}"}
        self.ana = {"Authorization": f"Bearer {accounts.new_token(engine, 'ana')}"}
        self.rudi = {"Authorization": f"Bearer {accounts.new_token(engine, 'rudi')}"}
        accounts.add_user(engine, "vera", "viewer", password=PASSWORD)
        self.vera = {"Authorization": f"Bearer {accounts.new_token(engine, 'vera')}"}
        self.client = app.test_client()

    def upload(self, text: str, headers: dict, name: str = "opd.csv", **extra):
        data = {"file": (io.BytesIO(text.encode()), name), **extra}
        return self.client.post("/api/imports", data=data, headers=headers,
                                content_type="multipart/form-data")


@contextlib.contextmanager
def _web_app(project):
    engine = db.open_database(project.path)
    store.project_register(project)  # the project's sites moved in (a new server database)
    app = create_app({"PROJECT": str(project.path), "TESTING": True})
    yield App(app, engine)
    for opened in (app.extensions.get("geo_p2dd.register"), engine):
        if opened is not None:
            opened.dispose()
    store.dispose_engines()


@pytest.fixture
def web(sample_copy):
    """The sample project's app on its own SQLite register."""
    with _web_app(sample_copy) as made:
        yield made


@pytest.fixture(params=["sqlite", "postgresql"])
def webdb(request, sample_copy, monkeypatch, tmp_path):
    """The same on SQLite, and on a real PostgreSQL + PostGIS (a fresh database per test,
    named by ``GEO_P2DD_DATABASE_URL`` for the library and the app)."""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        name = f"imp_{tmp_path.name[-20:].replace('-', '_').lower()}"
        cluster.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cluster.execute(f"CREATE DATABASE {name}")
        monkeypatch.setenv(db.URL_VARIABLE, cluster.url(name))
    with _web_app(sample_copy) as made:
        made.database = request.param
        yield made


def _state(engine):
    return sorted((s["id"], s["version"]) for s in list_sites(engine))


def _diskominfo(rows=SITES_ROWS[:2]):
    return SITES_HEADER + "".join(rows)


def test_preview_changes_nothing_and_commit_applies_it(webdb):
    before = _state(webdb.engine)
    made = webdb.upload(_diskominfo() + BAD_ROW, webdb.ana)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["added"], body["updated"], body["unchanged"]) == (2, 0, 0)
    assert [(r["row"], r["column"]) for r in body["rejected"]] == [(4, "status")]
    assert "hilang" in body["rejected"][0]["reason"]
    assert set(body) >= {"id", "added", "updated", "unchanged", "rejected"}
    assert "/" not in body["file"] and "tmp" not in str(body)
    assert _state(webdb.engine) == before  # a preview stores nothing

    done = webdb.client.post(f"/api/imports/{body['id']}/commit", headers=webdb.ana)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["added"] == 2
    assert count_sites(webdb.engine) == len(before) + 2
    names = {s["name"]: s for s in list_sites(webdb.engine)}
    assert names["Starlink Dua"]["status"] == "in_progress"
    # committed once: the same preview again is a conflict
    assert webdb.client.post(f"/api/imports/{body['id']}/commit",
                           headers=webdb.ana).status_code == 409

    again = webdb.upload(_diskominfo(), webdb.ana).get_json()
    assert (again["added"], again["unchanged"]) == (0, 2)


def test_commit_after_the_register_changed_is_409_and_applies_nothing(webdb):
    webdb.client.post(f"/api/imports/{webdb.upload(_diskominfo(), webdb.admin).get_json()['id']}"
                    "/commit", headers=webdb.admin)
    sheet = _diskominfo([SITES_ROWS[0].replace(",terpasang,", ",rusak,"),
                         SITES_ROWS[1].replace(",proses,", ",terpasang,")])
    preview = webdb.upload(sheet, webdb.ana).get_json()
    assert preview["updated"] == 2
    site = next(s for s in list_sites(webdb.engine) if s["name"] == "Starlink Dua")
    _, tag = get_site(webdb.engine, site["id"])
    patch_site(webdb.engine, site["id"], {"notes": "diubah orang lain"}, tag)
    before = _state(webdb.engine)
    refused = webdb.client.post(f"/api/imports/{preview['id']}/commit", headers=webdb.ana)
    assert refused.status_code == 409
    assert refused.get_json()["error"]
    assert _state(webdb.engine) == before  # neither row applied, not even the unchanged one
    one = next(s for s in list_sites(webdb.engine) if s["name"] == "Starlink Satu")
    assert one["status"] == "installed"


def test_a_commit_failing_half_way_changes_nothing(webdb):
    before = _state(webdb.engine)
    preview = webdb.upload(_diskominfo(), webdb.admin).get_json()
    with db.write_transaction(webdb.engine) as conn:  # the database refuses the second row
        stored = conn.execute(select(IMPORTS.c.preview)
                              .where(IMPORTS.c.id == preview["id"])).scalar_one()
        stored["plan"]["creates"][1]["lat"] = 95.0
        conn.execute(update(IMPORTS).where(IMPORTS.c.id == preview["id"])
                     .values(preview=stored))
    failed = webdb.client.post(f"/api/imports/{preview['id']}/commit", headers=webdb.admin)
    assert failed.status_code == 500
    assert "INSERT" not in failed.get_data(as_text=True)  # no SQL or traceback shown
    assert _state(webdb.engine) == before  # the first row was rolled back with the second


def test_an_editor_may_only_import_their_own_agency(web):
    before = _state(web.engine)
    sheet = SITES_HEADER + SITES_ROWS[0] + SITES_ROWS[2]  # BTS Tiga is BAKTI's
    refused = web.upload(sheet, web.ana)
    assert refused.status_code == 403
    message = refused.get_json()["error"]
    assert "BTS Tiga" in message and "BAKTI" in message and "Starlink Satu" not in message
    assert _state(web.engine) == before
    assert web.upload(sheet, web.admin).status_code == 201  # an admin imports every agency


def test_readers_bad_files_and_other_users_previews(web):
    assert web.upload(_diskominfo(), web.rudi).status_code == 403
    assert web.client.post("/api/imports", data={}).status_code == 401
    none = web.client.post("/api/imports", data={}, headers=web.ana,
                           content_type="multipart/form-data")
    assert none.status_code == 400 and none.get_json()["field"] == "file"
    exe = web.upload("MZ", web.ana, name="virus.exe")
    assert exe.status_code == 400 and exe.get_json()["field"] == "file"
    web.app.config["IMPORT_MAX_BYTES"] = 100
    big = web.upload(_diskominfo() + "x" * 200, web.ana)
    assert big.status_code == 413 and "MB" in big.get_json()["error"]
    del web.app.config["IMPORT_MAX_BYTES"]
    kind = web.upload(_diskominfo(), web.ana, kind="villages")
    assert kind.status_code == 400 and kind.get_json()["field"] == "kind"
    preview = web.upload(_diskominfo(), web.ana).get_json()
    assert web.client.post(f"/api/imports/{preview['id']}/commit",
                           headers=web.admin).status_code == 404  # not admin's preview


def test_previews_expire(web):
    web.app.config["IMPORT_PREVIEW_TTL_S"] = 0
    preview = web.upload(_diskominfo(), web.ana).get_json()
    import time

    time.sleep(0.01)
    assert web.client.post(f"/api/imports/{preview['id']}/commit",
                           headers=web.ana).status_code == 404


def test_a_preview_made_by_one_app_is_committed_by_another(webdb, sample_copy):
    preview = webdb.upload(_diskominfo(), webdb.ana).get_json()
    other = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    try:  # another instance of the app on the same database: it knows the preview
        done = other.test_client().post(f"/api/imports/{preview['id']}/commit",
                                        headers=webdb.ana)
        assert done.status_code == 200, done.get_json()
        assert done.get_json()["added"] == 2
    finally:
        engine = other.extensions.get("geo_p2dd.register")
        if engine is not None:
            engine.dispose()
    names = {s["name"] for s in list_sites(webdb.engine)}
    assert {"Starlink Satu", "Starlink Dua"} <= names
    again = webdb.client.post(f"/api/imports/{preview['id']}/commit", headers=webdb.ana)
    assert again.status_code == 409  # the first instance sees it committed


def test_one_preview_committed_at_once_by_many_applies_once(webdb):
    from concurrent.futures import ThreadPoolExecutor

    from geo_p2dd.registry.sync import RegisterChangedError
    from geo_p2dd.registry.uploads import ImportStateError, commit_upload

    preview = webdb.upload(_diskominfo(), webdb.ana).get_json()
    before = count_sites(webdb.engine)
    start = threading.Barrier(6)

    def commit(_i):
        start.wait()
        try:
            commit_upload(webdb.engine, preview["id"], user="ana")
            return "applied"
        except (ImportStateError, RegisterChangedError):
            return "refused"

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(commit, range(6)))
    assert outcomes == ["applied"] + ["refused"] * 5
    assert count_sites(webdb.engine) == before + 2


def test_imports_are_listed_as_json(web):
    key = _committed(web)
    listed = web.client.get("/api/imports", headers=web.vera)
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["total"] == 1 and body["imports"][0]["id"] == key
    assert body["imports"][0]["status"] == "committed"
    assert web.client.get("/api/imports?status=verified", headers=web.vera).get_json()[
        "total"] == 0
    bad = web.client.get("/api/imports?status=lost", headers=web.vera)
    assert bad.status_code == 400 and bad.get_json()["field"] == "status"
    one = web.client.get(f"/api/imports/{key}", headers=web.vera)
    assert one.status_code == 200 and one.get_json()["file"] == "opd.csv"
    assert web.client.get("/api/imports").status_code == 401
    preview = web.upload(_diskominfo(), web.ana).get_json()  # a preview is its maker's only
    assert web.client.get(f"/api/imports/{preview['id']}", headers=web.vera).status_code == 404
    assert web.client.get(f"/api/imports/{preview['id']}", headers=web.ana).status_code == 200


def test_the_stored_preview_says_who_when_what_and_against_which_version(web):
    version = register_version(web.engine)
    made = web.upload(_diskominfo() + BAD_ROW, web.ana).get_json()
    record, preview = get_upload(web.engine, made["id"])
    assert (record.user, record.agency, record.file, record.kind, record.status) == (
        "ana", "Diskominfo", "opd.csv", "sites", "previewed")
    assert record.register_version == version
    assert (record.rows, record.added, record.rejected) == (3, 2, 1)
    created = dt.datetime.fromisoformat(record.created_at)
    assert dt.datetime.fromisoformat(record.expires_at) - created == dt.timedelta(days=7)
    assert sorted(preview.added) == sorted(c["id"] for c in preview.plan.creates)
    assert preview.rejected[0].column == "status"


def test_old_previews_expire_unapplied_and_are_removed(web):
    before = _state(web.engine)
    made = web.upload(_diskominfo(), web.ana).get_json()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    with db.write_transaction(web.engine) as conn:  # made eight days ago
        conn.execute(update(IMPORTS).where(IMPORTS.c.id == made["id"]).values(
            created_at=past, expires_at=past + PREVIEW_TTL))
    late = web.client.post(f"/api/imports/{made['id']}/commit", headers=web.ana)
    assert late.status_code == 404
    assert _state(web.engine) == before
    web.upload(_diskominfo(), web.ana)  # the next upload clears expired previews
    with db.read_transaction(web.engine) as conn:
        ids = set(conn.execute(select(IMPORTS.c.id)).scalars())
    assert made["id"] not in ids and len(ids) == 1


# --- the page ---------------------------------------------------------------------------------

def _sign_in(client, name: str) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/auth/login", data={"name": name, "password": PASSWORD,
                                            "csrf_token": token}).status_code == 302


def test_upload_page_preview_rejected_xlsx_and_commit(webdb):
    c = webdb.client
    _sign_in(c, "ana")
    page = c.get("/register/upload").get_data(as_text=True)
    assert "Unggah" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    sheet = {"file": (io.BytesIO((_diskominfo() + BAD_ROW).encode()), "opd.csv")}
    assert c.post("/register/upload", data=sheet,
                  content_type="multipart/form-data").status_code == 400  # no CSRF token
    sheet = {"file": (io.BytesIO((_diskominfo() + BAD_ROW).encode()), "opd.csv"),
             "csrf_token": token}
    shown = c.post("/register/upload", data=sheet, content_type="multipart/form-data")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and 'id="rejected-table"' in html
    assert "hilang" in html and "status" in html
    link = re.search(r'id="commit-form"', html) and re.search(
        r'href="(/register/upload/[^"]+/rejected\.xlsx)"', html).group(1)
    xlsx = c.get(link)
    assert xlsx.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Berkas", "Baris", "Kolom", "Alasan") and rows[1][1:3] == (4, "status")
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)
    action = re.search(r'action="(/register/upload/[^"]+/commit)"', html).group(1)
    before = count_sites(webdb.engine)
    done = c.post(action, data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/register/")
    assert count_sites(webdb.engine) == before + 2
    assert "Starlink Dua" in c.get("/register/").get_data(as_text=True)


# --- reviewers verify committed imports ---------------------------------------------------

def _committed(web, headers=None) -> str:
    made = web.upload(_diskominfo(), headers or web.ana).get_json()
    done = web.client.post(f"/api/imports/{made['id']}/commit", headers=headers or web.ana)
    assert done.status_code == 200, done.get_json()
    return made["id"]


def _row(html: str, key: str) -> str:
    start = html.index(f'data-id="{key}"')
    return html[start:html.index("</tr>", start)]


def test_a_committed_import_awaits_verification_and_a_reviewer_verifies_it(webdb):
    key = _committed(webdb)
    added = {s["id"] for s in list_sites(webdb.engine)
             if s["name"] in ("Starlink Satu", "Starlink Dua")}
    _sign_in(webdb.client, "ana")
    listed = webdb.client.get("/register/imports").get_data(as_text=True)
    row = _row(listed, key)
    assert "opd.csv" in row and "Diskominfo" in row and ">ana<" in row
    assert "menunggu verifikasi" in row and 'class="verify-form"' not in row  # not ana's to do
    register = webdb.client.get("/register/?agency=Diskominfo").get_data(as_text=True)
    for site_id in added:
        assert "menunggu verifikasi" in register[register.index(f'data-id="{site_id}"'):]
    assert register.count('class="badge badge-committed unverified"') >= len(added)
    one = webdb.client.get(f"/register/{sorted(added)[0]}").get_data(as_text=True)
    assert 'id="unverified-note"' in one and f"#import-{key}" in one  # history names it

    verdict = webdb.client.post(f"/api/imports/{key}/verify", headers=webdb.rudi,
                                json={"decision": "verified", "note": "cocok dengan BAST"})
    assert verdict.status_code == 200, verdict.get_json()
    body = verdict.get_json()
    assert (body["status"], body["reviewer"], body["review_note"]) == (
        "verified", "rudi", "cocok dengan BAST")
    assert unverified_sites(webdb.engine) == {}
    register = webdb.client.get("/register/?agency=Diskominfo").get_data(as_text=True)
    assert "badge-committed unverified" not in register
    assert "Terverifikasi" in _row(webdb.client.get("/register/imports").get_data(as_text=True),
                                   key)
    entries, _n = audit_log(webdb.engine, AuditFilter(kind="import"))
    assert [(e.action, e.user) for e in entries] == [("verified", "rudi"), ("committed", "ana")]
    assert entries[0].details["note"] == "cocok dengan BAST"


def test_only_reviewers_and_admins_decide(web):
    key = _committed(web)
    for who in (web.ana, web.vera):  # the editor who imported it, and a viewer
        refused = web.client.post(f"/api/imports/{key}/verify", headers=who,
                                  json={"decision": "verified"})
        assert refused.status_code == 403
    assert web.client.post(f"/api/imports/{key}/verify",
                           json={"decision": "verified"}).status_code == 401
    bad = web.client.post(f"/api/imports/{key}/verify", headers=web.admin,
                          json={"decision": "ok"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "decision"
    long = web.client.post(f"/api/imports/{key}/verify", headers=web.admin,
                           json={"decision": "verified", "note": "x" * 2001})
    assert long.status_code == 400 and long.get_json()["field"] == "note"
    assert web.client.post("/api/imports/nope/verify", headers=web.admin,
                           json={"decision": "verified"}).status_code == 404
    preview = web.upload(_diskominfo(), web.ana).get_json()  # previewed, not committed
    assert web.client.post(f"/api/imports/{preview['id']}/verify", headers=web.rudi,
                           json={"decision": "verified"}).status_code == 409
    assert get_upload(web.engine, key)[0].status == "committed"
    _sign_in(web.client, "ana")  # the form refuses an editor too
    page = web.client.get("/register/imports").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert web.client.post(f"/register/imports/{key}/verify", data={
        "csrf_token": token, "decision": "verified"}).status_code == 403


def test_a_reviewer_rejects_with_a_note_by_the_form_and_changes_stay(web):
    key = _committed(web)
    before = _state(web.engine)
    _sign_in(web.client, "rudi")
    page = web.client.get("/register/imports").get_data(as_text=True)
    assert 'class="verify-form"' in _row(page, key)
    assert "tidak membatalkan perubahannya" in page  # rejecting undoes nothing, says the page
    action = re.search(rf'action="(/register/imports/{key}/verify)"', page).group(1)
    assert web.client.post(action, data={"decision": "rejected"}).status_code == 400  # CSRF
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = web.client.post(action, data={"csrf_token": token, "decision": "rejected",
                                         "note": "koordinat tertukar"})
    assert done.status_code == 302
    record = get_upload(web.engine, key)[0]
    assert (record.status, record.reviewer, record.review_note) == (
        "rejected", "rudi", "koordinat tertukar")
    assert _state(web.engine) == before  # nothing undone: the agency corrects its sheet
    row = _row(web.client.get("/register/imports").get_data(as_text=True), key)
    assert "Ditolak" in row and "koordinat tertukar" in row
    flagged = unverified_sites(web.engine)  # its sites are flagged for the agency to correct
    assert {status for _key, status in flagged.values()} == {"rejected"}
    register = web.client.get("/register/?agency=Diskominfo").get_data(as_text=True)
    assert 'class="badge badge-rejected unverified"' in register
    assert "ditolak (untuk diperbaiki)" in register and "menunggu verifikasi" not in register


# --- budget totals and changes since a date ------------------------------------------------

def _site(engine, name, agency, status, year, budget, realised=None):
    return create_site(engine, {
        "kind": "starlink", "name": name, "status": status, "agency": agency, "year": year,
        "budget_idr": budget, "realised_idr": realised, "village_kode": "99.01.01.2001",
        "lon": 112.9577, "lat": 0.9924}, user="admin", source="api")[0]


def test_budget_totals_per_agency_category_and_year(web):
    for s in list_sites(web.engine):  # the sample's own sites carry no amounts
        assert not s.get("budget_idr")
    _site(web.engine, "A", "Diskominfo", "installed", 2023, 150_000_000, 140_000_000)
    _site(web.engine, "B", "Diskominfo", "in_progress", 2025, 50_000_000)
    _site(web.engine, "C", "Dinas Pendidikan", "planned", 2099, 7_000_000)
    _sign_in(web.client, "ana")
    html = web.client.get("/register/").get_data(as_text=True)
    assert 'id="budget-table"' in html
    table = html[html.index('id="budget-table"'):html.index('id="budget-years"')]
    assert "Rp 150.000.000 (Rp 140.000.000)" in table  # sudah, with realised
    assert "Rp 50.000.000" in table and "Rp 7.000.000" in table
    assert "Rp 207.000.000" in table  # all agencies together
    years = html[html.index('id="budget-years"'):]
    assert "2023" in years and "2099" in years
    # the page's filters apply to the totals too
    only = web.client.get("/register/?agency=Dinas+Pendidikan").get_data(as_text=True)
    only = only[only.index('id="budget-table"'):only.index('id="budget-years"')]
    assert "Rp 7.000.000" in only and "Rp 150.000.000" not in only


def test_changes_since_a_date_for_admins_and_reviewers(web):
    site = _site(web.engine, "=HYPERLINK(\"http://x\")", "Diskominfo", "planned", 2025, 0)
    _, tag = get_site(web.engine, site["id"])
    patch_site(web.engine, site["id"], {"status": "installed"}, tag, user="ana", source="web",
               status_date="2025-06-30", status_note="BAST 12/2025")
    today = dt.datetime.now(dt.UTC).date()
    got = web.client.get(f"/register/changes.xlsx?since={today}", headers=web.rudi)
    assert got.status_code == 200
    assert got.headers["Content-Disposition"].endswith(f"{today}.xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(got.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert ("status", "planned", "installed", "ana", "web", "2025-06-30", "BAST 12/2025") in {
        r[3:] for r in rows[1:]}  # a status change with the day it took effect
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)
    tomorrow = today + dt.timedelta(days=1)
    later = web.client.get(f"/register/changes.xlsx?since={tomorrow}", headers=web.admin)
    assert len(list(openpyxl.load_workbook(io.BytesIO(later.data)).active.iter_rows())) == 1
    assert web.client.get(f"/register/changes.xlsx?since={today}",
                          headers=web.ana).status_code == 403  # editors do not
    bad = web.client.get("/register/changes.xlsx?since=kemarin", headers=web.admin)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)


@pytest.mark.parametrize("name, shown", [("rudi", True), ("ana", False)])
def test_the_changes_form_shows_for_reviewers_only(web, name, shown):
    _sign_in(web.client, name)
    assert ('id="changes-form"' in web.client.get("/register/").get_data(as_text=True)) \
        is shown


def test_a_sheet_matched_to_a_recorded_site_by_name_counts_its_change(webdb):
    """A site recorded without agency that an agency sends again with its agency: the
    row matches the recorded site (by kind, name and kampung), so the preview counts it
    as updated (it said unchanged while the commit changed it) and the commit applies it."""
    create_site(webdb.engine, {
        "kind": "starlink", "name": "SD Uji Rename", "status": "installed",
        "lon": 114.0, "lat": 0.8, "village_kode": "99.01.04.2004"})
    sheet = ("kind,name,status,lon,lat,agency,village_kode\n"
             "starlink,SD Uji Rename,installed,114.0,0.8,Diskominfo,99.01.04.2004\n")
    made = webdb.upload(sheet, webdb.admin)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["added"], body["updated"], body["unchanged"]) == (0, 1, 0)
    done = webdb.client.post(f"/api/imports/{body['id']}/commit", headers=webdb.admin)
    assert done.status_code == 200, done.get_json()
    sites = [s for s in list_sites(webdb.engine) if s["name"] == "SD Uji Rename"]
    assert len(sites) == 1 and sites[0]["agency"] == "Diskominfo"


@pytest.mark.parametrize("name, data", [("x.xlsx", b"not a zip"), ("x.zip", b"PK\x03\x04junk"),
                                        ("x.gpkg", b"garbage")])
def test_a_bad_file_is_refused_without_server_paths(web, name, data):
    """Neither the JSON API nor the upload page names the server's temporary folder."""
    api = web.client.post("/api/imports", data={"file": (io.BytesIO(data), name)},
                          headers=web.admin, content_type="multipart/form-data")
    assert api.status_code == 400
    page_client = web.app.test_client()
    _sign_in(page_client, "admin")
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      page_client.get("/register/upload").get_data(as_text=True)).group(1)
    page = page_client.post("/register/upload", data={"file": (io.BytesIO(data), name),
                                                      "csrf_token": token},
                            content_type="multipart/form-data")
    assert page.status_code == 400
    for body in (api.get_data(as_text=True), page.get_data(as_text=True)):
        assert "/tmp" not in body and "geo_p2dd_upload" not in body, body[:500]


@pytest.mark.parametrize("path", ["/register/audit", "/register/imports", "/register/"])
def test_a_huge_page_number_is_the_last_page_not_a_server_error(web, path):
    client = web.app.test_client()
    _sign_in(client, "admin")
    assert client.get(f"{path}?page=99999999999999999999").status_code == 200
    assert client.get(f"{path}?page=abc").status_code == 200
