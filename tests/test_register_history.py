"""A site's status changed with its own date and note on the register's edit form, and the
admins' audit log of every change (sites, imports, reviews), with its filters and pages."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from conftest import SITES_HEADER
from pg import pg_cluster  # noqa: F401 - the PostgreSQL fixtures
from sqlalchemy import text

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.registry import accounts, db, store
from geo_p2dd.registry.audit import AuditFilter, audit_log
from geo_p2dd.registry.repository import create_site, get_site, history, patch_site
from web import create_app

PASSWORD = "kata-sandi-panjang-1"
ROW = "Starlink Satu,Starlink,terpasang,99.01.01.2001,Diskominfo,APBD,2024,112.9577,0.9924\n"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


@pytest.fixture
def web(sample_copy):
    engine = db.open_database(sample_copy.path)
    store.project_register(sample_copy)
    for name, role, agency in (("admin", "admin", None), ("ana", "editor", "Diskominfo"),
                               ("rudi", "reviewer", None)):
        accounts.add_user(engine, name, role, agency=agency, password=PASSWORD)
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    app.engine = engine
    yield app
    for opened in (app.extensions.get("geo_p2dd.register"), engine):
        if opened is not None:
            opened.dispose()
    store.dispose_engines()


def _sign_in(client, name: str) -> str:
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/auth/login", data={"name": name, "password": PASSWORD,
                                            "csrf_token": token}).status_code == 302
    page = client.get("/register/").get_data(as_text=True)  # the signed-in session's token
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def _site(engine, name="SD Long Apari", status="planned", user="ana"):
    return create_site(engine, {"kind": "starlink", "name": name, "status": status,
                                "agency": "Diskominfo", "village_kode": "99.01.01.2001",
                                "lon": 112.9577, "lat": 0.9924}, user=user, source="web")


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_ubah_status_with_a_past_date_and_a_note_shows_in_the_history(web):
    site, tag = _site(web.engine)
    client = web.test_client()
    _sign_in(client, "ana")
    form = client.get(f"/register/{site['id']}/edit").get_data(as_text=True)
    assert 'id="status-form"' in form and "Ubah status" in form
    today = dt.date.today().isoformat()
    assert f'name="status_date" id="s-date" max="{today}" value="{today}"' in form
    action = re.search(r'action="([^"]+/status)"', form).group(1)
    token = _form_token(form)
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    refused = client.post(action, data={"csrf_token": token, "etag": tag,
                                        "status": "installed", "status_date": future})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "<strong>status_date</strong>" in html
    assert get_site(web.engine, site["id"])[1] == tag  # nothing changed
    done = client.post(action, data={"csrf_token": token, "etag": tag, "status": "installed",
                                     "status_date": "2025-08-17",
                                     "status_note": "BAST ditandatangani"})
    assert done.status_code == 302
    last = history(web.engine, site["id"])[-1]
    assert (last["changes"], last["status_date"], last["status_note"], last["source"]) == (
        {"status": ["planned", "installed"]}, "2025-08-17", "BAST ditandatangani", "web")
    page = client.get(f"/register/{site['id']}").get_data(as_text=True)
    assert "berlaku 2025-08-17" in page and "BAST ditandatangani" in page


def test_ubah_status_defaults_to_today(web):
    site, tag = _site(web.engine)
    client = web.test_client()
    token = _sign_in(client, "ana")
    done = client.post(f"/register/{site['id']}/status", data={
        "csrf_token": token, "etag": tag, "status": "in_progress"})
    assert done.status_code == 302, done.get_data(as_text=True)[-3000:]
    # "today" in Indonesia (the server's clock may be on UTC: at 07:00 WITA it is
    # still yesterday there); the form offers the same day as its default and limit
    from geo_p2dd.registry.validate import indonesia_today

    today = indonesia_today().isoformat()
    assert history(web.engine, site["id"])[-1]["status_date"] == today
    form = client.get(f"/register/{site['id']}/edit").get_data(as_text=True)
    assert f'max="{today}"' in form and f'value="{today}"' in form


# --- migration 0005 on a register that has data ------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return db.database_url(tmp_path)
    cluster = request.getfixturevalue("pg_cluster")
    name = f"mig_{tmp_path.name[-20:].replace('-', '_').lower()}"
    cluster.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    cluster.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


def test_migration_0005_keeps_the_history_and_allows_plan_as_a_source(empty_url):
    from alembic import command

    engine = db.make_engine(empty_url)
    config = db.alembic_config()
    with db.write_transaction(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    with db.write_transaction(engine) as conn:
        conn.execute(text(
            "INSERT INTO sites (id, kind, name, status, lon, lat, created_at, updated_at, "
            "version) VALUES ('a', 'bts', 'A', 'planned', 114, 0.1, :t, :t, 1)"),
            {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
        conn.execute(text("INSERT INTO history (site_id, at, \"user\", source, changes) "
                          "VALUES ('a', :t, 'u', 'web', '{}')"),
                     {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
    db.upgrade(engine)
    assert db.current_revision(engine) == "0005" == db.head_revision()
    assert [h["user"] for h in history(engine, "a")] == ["u"]
    site, tag = get_site(engine, "a")
    patch_site(engine, "a", {"status": "installed"}, tag, user="p", source="plan")
    assert history(engine, "a")[-1]["source"] == "plan"
    with pytest.raises(Exception, match="source_known"), db.write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO history (site_id, at, source, changes) "
                          "VALUES ('a', :t, 'bogus', '{}')"), {"t": dt.datetime.now(dt.UTC)})
    engine.dispose()


# --- the audit log ----------------------------------------------------------------------------

def test_the_audit_log_is_for_admins_only(web):
    client = web.test_client()
    assert client.get("/register/audit").status_code in (302, 401)  # sign in first
    for name in ("ana", "rudi"):
        _sign_in(client, name)
        assert client.get("/register/audit").status_code == 403
        assert 'id="audit-link"' not in client.get("/register/").get_data(as_text=True)
    _sign_in(client, "admin")
    assert client.get("/register/audit").status_code == 200
    assert 'id="audit-link"' in client.get("/register/").get_data(as_text=True)


def test_the_audit_log_holds_sites_imports_and_reviews_newest_first(web):
    site, tag = _site(web.engine, name="Wifi Taman", user="ana")
    patch_site(web.engine, site["id"], {"status": "installed"}, tag, user="ana", source="api",
               status_date="2025-01-02", status_note="selesai")
    client = web.test_client()
    token = _sign_in(client, "admin")
    made = client.post("/api/imports", headers={"X-CSRFToken": token},
                       data={"file": (io.BytesIO((SITES_HEADER + ROW).encode()), "opd.csv"),
                             "kind": "sites"}, content_type="multipart/form-data").get_json()
    assert client.post(f"/api/imports/{made['id']}/commit",
                       headers={"X-CSRFToken": token}).status_code == 200
    assert client.post(f"/api/imports/{made['id']}/verify", headers={"X-CSRFToken": token},
                       json={"decision": "rejected", "note": "tahun salah"}).status_code == 200

    entries, total = audit_log(web.engine)
    actions = [(e.kind, e.action) for e in entries]
    assert actions[:3] == [("import", "rejected"), ("import", "committed"),
                           ("site", "created")]  # the review, the commit, its site
    dated = actions.index(("site", "status"))  # the status change, before its site's creation
    assert entries[dated].details["status_date"] == "2025-01-02"
    assert actions.index(("site", "created"), 3) == dated + 1
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    page = client.get("/register/audit").get_data(as_text=True)
    assert page.index("tahun salah") < page.index("Wifi Taman")  # newest first
    assert "berlaku 2025-01-02" in page and "selesai" in page
    today = dt.date.today().isoformat()
    link = re.search(r'id="changes-link"', page) and re.search(
        r'href="(/register/changes\.xlsx\?since=[^"]+)" id="changes-link"', page).group(1)
    assert client.get(link).status_code == 200

    only = client.get("/register/audit?kind=import").get_data(as_text=True)
    assert "tahun salah" in only and "Wifi Taman" not in only
    by_ana = client.get("/register/audit?user=ana").get_data(as_text=True)
    assert "Wifi Taman" in by_ana and "tahun salah" not in by_ana
    api = client.get("/register/audit?source=api").get_data(as_text=True)
    assert "selesai" in api and "berlaku" in api and "opd.csv" not in api
    imported = audit_log(web.engine, AuditFilter(source="import"), limit=1000)[0]
    assert {e.source for e in imported} == {"import"}
    assert "Starlink Satu" in {e.name for e in imported} and "Wifi Taman" in {
        e.name for e in imported}  # the site the import moved to its current id
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert audit_log(web.engine, AuditFilter(start=dt.date.fromisoformat(tomorrow)))[1] == 0
    ranged = client.get(f"/register/audit?from={today}&to={today}").get_data(as_text=True)
    assert f"{total} entri" in ranged
    bad = client.get("/register/audit?from=kemarin")
    assert bad.status_code == 400 and "from" in bad.get_data(as_text=True)


def test_the_audit_log_pages_by_fifty(web):
    site, tag = _site(web.engine, name="Banyak")
    for i in range(60):
        _site_now, tag = patch_site(web.engine, site["id"], {"notes": f"catatan {i}"}, tag,
                                    user="ana", source="api")
    client = web.test_client()
    _sign_in(client, "admin")
    total = audit_log(web.engine)[1]
    assert total >= 61
    first = client.get("/register/audit").get_data(as_text=True)
    assert first.count('<tr class="entry') == 50 and "catatan 59" in first
    assert 'rel="next"' in first and "catatan 9<" not in first
    second = client.get("/register/audit?page=2").get_data(as_text=True)
    assert second.count('<tr class="entry') == min(50, total - 50)
    assert "catatan 9 " in second or "catatan 9<" in second or "catatan 9\n" in second


# --- user accounts in the audit log ------------------------------------------------------------

def test_account_changes_from_the_command_line_are_in_the_audit_log(web, sample_copy):
    import getpass

    from click.testing import CliRunner

    from geo_p2dd.cli import main

    runner = CliRunner()
    project = ["--project", str(sample_copy.path)]
    secret = "kata-sandi-dewi-rahasia"
    added = runner.invoke(main, ["user", "add", *project, "dewi", "--role", "editor",
                                 "--agency", "Bappeda", "--password-stdin", "--user", "budi"],
                          input=secret + "\n")
    assert added.exit_code == 0, added.output
    made = runner.invoke(main, ["user", "token", *project, "dewi"])  # the OS user did it
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    changed = runner.invoke(main, ["user", "set", *project, "dewi", "--agency", "DKP",
                                   "--user", "budi"])
    assert changed.exit_code == 0 and "DKP" in changed.output
    assert runner.invoke(main, ["user", "disable", *project, "dewi", "--user",
                                "budi"]).exit_code == 0

    entries, total = audit_log(web.engine, AuditFilter(kind="user"))
    assert [(e.action, e.user, e.source, e.object_id) for e in entries] == [
        ("disabled", "budi", "cli", "dewi"), ("agency", "budi", "cli", "dewi"),
        ("token", getpass.getuser(), "cli", "dewi"), ("added", "budi", "cli", "dewi"),
        ("added", None, "cli", "rudi"), ("added", None, "cli", "ana"),
        ("added", None, "cli", "admin")]  # the fixture's users, added without an actor
    assert entries[1].details == {"changes": {"agency": ["Bappeda", "DKP"]}}
    assert entries[3].details == {"role": "editor", "agency": "Bappeda", "password": True}
    with web.engine.connect() as conn:  # never the password, the token or their hashes
        stored = " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_events")))
    assert secret not in stored and token not in stored
    assert accounts.token_digest(token) not in stored and "argon2" not in stored

    client = web.test_client()
    _sign_in(client, "admin")
    page = client.get("/register/audit?kind=user").get_data(as_text=True)
    assert "Akun pengguna" in page and "akun ditambahkan" in page
    assert "token API diterbitkan" in page and "akun dinonaktifkan" in page
    assert "agency: Bappeda → DKP" in page and "Starlink" not in page
    assert '<option value="budi"' in page  # who did it, in the filter
    by_budi = client.get("/register/audit?user=budi&source=cli").get_data(as_text=True)
    assert by_budi.count('<tr class="entry') == 3


def test_a_role_change_made_on_the_web_names_its_admin(web):
    changed = accounts.change_user(web.engine, "rudi", role="viewer", actor="admin",
                                   source="web")
    assert changed["role"] == "viewer"
    assert accounts.change_user(web.engine, "rudi", role="viewer", actor="admin",
                                source="web") == changed  # no change, no entry
    entries = audit_log(web.engine, AuditFilter(kind="user", source="web"))[0]
    assert [(e.action, e.user, e.details) for e in entries] == [
        ("role", "admin", {"changes": {"role": ["reviewer", "viewer"]}})]
    with pytest.raises(InputError, match="agency"):
        accounts.change_user(web.engine, "rudi", role="editor")
    with pytest.raises(NotFoundError):
        accounts.disable_user(web.engine, "nobody")
    assert audit_log(web.engine, AuditFilter(kind="user", source="web"))[1] == 1
