"""The analysis re-run in the background after register changes, /api/analysis and the
status line of pages (issue 10, "After a commit, the analysis re-runs in the background")."""

from __future__ import annotations

import os
import time

import pytest
from conftest import SITES_HEADER
from pg import pg_cluster, pg_url  # noqa: F401 - the PostgreSQL fixtures

from geo_p2dd.project import Project
from geo_p2dd.registry import accounts, db, store
from geo_p2dd.registry.repository import version
from web import create_app, reanalysis

WAIT_S = 300  # an analysis of the sample takes seconds; a loaded CI machine may be slow


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


class Site:
    """The app with re-analysis on, the sample's register, tokens of an admin and an editor."""

    def __init__(self, project, **config):
        self.project = project
        self.path = project.path
        self.app = create_app({"PROJECT": str(project.path), "TESTING": True,
                               "REANALYSE": True, **config})
        self.engine = store.engine_for(project.path)
        accounts.add_user(self.engine, "admin", "admin")
        accounts.add_user(self.engine, "ana", "editor", agency="Diskominfo")
        self.admin = {"Authorization": f"Bearer {accounts.new_token(self.engine, 'admin')}"}
        self.ana = {"Authorization": f"Bearer {accounts.new_token(self.engine, 'ana')}"}
        self.client = self.app.test_client()
        self.runner = reanalysis.runner_for(project.path)

    def rename(self, site_id: str, name: str) -> None:
        """Edit one site through the API (an admin may edit every agency's)."""
        got = self.client.get(f"/api/sites/{site_id}", headers=self.admin)
        resp = self.client.patch(f"/api/sites/{site_id}", json={"name": name},
                                 headers={**self.admin, "If-Match": got.headers["ETag"]})
        assert resp.status_code == 200, resp.get_json()

    def status(self, headers=None) -> dict:
        resp = self.client.get("/api/analysis", headers=headers or {})
        assert resp.status_code == 200
        return resp.get_json()

    def wait_for(self, predicate, timeout: float = WAIT_S) -> None:
        end = time.monotonic() + timeout
        while not predicate(self.runner.snapshot()):
            assert time.monotonic() < end, f"still {self.runner.snapshot()}"
            time.sleep(0.02)


@pytest.fixture
def site(sample_copy):
    made = Site(sample_copy)
    yield made
    # no analysis outlives the test (its project is a temporary directory)
    assert reanalysis.stop_runner(sample_copy.path)
    store.dispose_engines()


def _first_site(site: Site) -> str:
    return site.client.get("/api/sites", headers=site.admin).get_json()["features"][0]["id"]


def _note(html: str) -> str:
    """The status line's note (what the page says beside the results' time and version)."""
    return html.split('<span class="analysis-note">', 1)[1].split("</span>", 1)[0]


def _analysed(path) -> dict:
    return Project(path).config["analysis"]


def test_the_web_and_the_library_share_one_register_engine(site):
    from web.auth import register_engine

    with site.app.app_context():
        assert register_engine() is store.engine_for(site.path)


def test_an_api_edit_is_analysed_once_in_the_background(site):
    before = _analysed(site.path)
    assert site.status()["status"] == "idle"
    site.rename(_first_site(site), "Menara Baru")
    assert site.runner.wait(WAIT_S)
    state = site.runner.snapshot()
    assert (state.runs, state.skipped, state.status, state.error) == (1, 0, "idle", None)
    after = _analysed(site.path)
    assert after["date"] >= before["date"]
    assert after["register_version"] == version(site.engine) == before["register_version"] + 1
    body = site.status()
    assert body["status"] == "idle"
    assert body["analysed_register_version"] == body["register_version"] == \
        after["register_version"]
    assert body["analysed_at"] == after["date"]
    assert "error" not in body and body["may_start"] is False  # anonymous
    # a page view now finds the results current: nothing more is asked for
    assert site.client.get("/").status_code == 200
    assert site.runner.wait(5) and site.runner.snapshot().runs == 1


def test_edits_while_an_analysis_runs_make_exactly_one_more_run(site):
    site_id = _first_site(site)
    site.rename(site_id, "Edit 0")
    first = version(site.engine)
    # the first run has read the register (its sites) and is computing
    site.wait_for(lambda s: s.status == "running" and s.stage not in (None, "load"))
    for i in range(1, 6):
        site.rename(site_id, f"Edit {i}")
    before = _analysed(site.path)["register_version"]
    page = site.client.get("/?lang=id")  # served now, from the previous results
    during = site.runner.snapshot()
    assert during.runs == 0 and during.pending, "the first run ended before the edits"
    assert during.running_register_version == first
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f"register versi {before}</span>" in html
    assert f'data-register="{first + 5}"' in html
    assert _note(html) == "Data register berubah sejak analisis ini; analisis ulang menunggu"
    assert site.runner.wait(WAIT_S)
    state = site.runner.snapshot()
    assert (state.runs, state.skipped, state.status) == (2, 0, "idle")
    assert _analysed(site.path)["register_version"] == version(site.engine) == first + 5


def test_pages_say_which_data_they_show(sample_copy):
    """With re-analysis off: the line says the results' time and register version, and
    that the register changed since; in English on request."""
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    assert reanalysis.enabled(app) is False  # the test suite's GEO_P2DD_REANALYSE=false
    engine = store.engine_for(sample_copy.path)
    accounts.add_user(engine, "admin", "admin")
    token = {"Authorization": f"Bearer {accounts.new_token(engine, 'admin')}"}
    client = app.test_client()
    analysed = _analysed(sample_copy.path)
    number = analysed["register_version"]
    kode = sample_copy.read_table("village_results")["kode"].iloc[0]
    pages = ("/", f"/village/{kode}", "/report/", "/register/")
    for url in pages:
        html = client.get(url + "?lang=id", headers=token).get_data(as_text=True)
        assert f"register versi {number}</span>" in html, url
        assert "Analisis: " in html and 'window.fetch' in html, url
        assert _note(html) == "", url
    assert "analysis-status" not in client.get("/downloads/?lang=id").get_data(as_text=True)

    site_id = client.get("/api/sites", headers=token).get_json()["features"][0]["id"]
    got = client.get(f"/api/sites/{site_id}", headers=token)
    assert client.patch(f"/api/sites/{site_id}", json={"name": "Baru"},
                        headers={**token, "If-Match": got.headers["ETag"]}).status_code == 200
    for url in pages:  # the previous results, said to be older than the register
        html = client.get(url + "?lang=id", headers=token).get_data(as_text=True)
        assert f"register versi {number}</span>" in html, url
        assert f'data-register="{number + 1}"' in html, url
        assert _note(html) == "Data register berubah sejak analisis ini.", url
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Analysis: " in english and f"register version {number}</span>" in english
    assert _note(english) == "The register changed since this analysis."
    assert reanalysis.runner_for(sample_copy.path).snapshot().runs == 0  # it is off
    body = client.get("/api/analysis").get_json()
    assert (body["register_version"], body["analysed_register_version"]) == (number + 1, number)
    store.dispose_engines()


def test_a_failing_analysis_is_reported_and_pages_keep_the_previous_results(site, caplog):
    # the elevation model becomes unreadable: the next analysis fails when it models towers
    dem = site.project.raster_path("dem")
    dem.unlink()  # (a hard link shared with older generations: replaced, not overwritten)
    dem.write_bytes(b"not a GeoTIFF")
    before = _analysed(site.path)
    site.rename(_first_site(site), "Menara Rusak")
    assert site.runner.wait(WAIT_S)
    state = site.runner.snapshot()
    assert (state.status, state.runs) == ("failed", 1)
    assert state.error and str(site.path) not in state.error and "/" not in state.error
    assert "background analysis" in caplog.text  # logged with its traceback
    assert _analysed(site.path) == before  # nothing half-written
    public = site.status()
    assert public["status"] == "failed" and "error" not in public
    admin = site.status(site.admin)
    assert admin["error"] == state.error and admin["may_start"] is True
    assert "Traceback" not in admin["error"]
    page = site.client.get("/?lang=id")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"register versi {before['register_version']}</span>" in html
    # the same version is not asked for again on every page view
    site.client.get("/")
    assert site.runner.wait(5) and site.runner.snapshot().runs == 1


def test_admins_start_an_analysis_others_may_not(site):
    assert site.client.post("/api/analysis").status_code == 401
    assert site.client.post("/api/analysis", headers=site.ana).status_code == 403
    resp = site.client.post("/api/analysis", headers=site.admin)
    assert resp.status_code == 202
    assert resp.get_json()["status"] in ("queued", "running", "idle")
    assert site.runner.wait(WAIT_S)
    state = site.runner.snapshot()
    assert (state.runs, state.skipped, state.status) == (1, 0, "idle")  # forced: it ran


def test_a_session_needs_the_csrf_token_to_start_one(site):
    with site.app.test_client() as client:
        with client.session_transaction() as session:
            session["_user_id"] = "admin"
            session["_fresh"] = True
        assert client.get("/api/analysis").get_json()["may_start"] is True
        assert client.post("/api/analysis").status_code == 400  # no CSRF token
    assert site.runner.snapshot().runs == 0


def test_the_setting_turns_it_off(sample_copy, monkeypatch):
    monkeypatch.delenv("GEO_P2DD_REANALYSE", raising=False)
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    assert reanalysis.enabled(app) is True  # the default ([web] reanalyse = true)
    with sample_copy.transaction("settings", inputs=False) as tx:
        tx.config.setdefault("web", {})["reanalyse"] = False
    assert reanalysis.enabled(app) is False
    assert os.environ.get("GEO_P2DD_REANALYSE") is None


def test_a_change_made_elsewhere_is_analysed_when_a_page_finds_it(site):
    """The CLI or another server process changed the register: the next page view asks."""
    from geo_p2dd.registry.repository import get_site, patch_site

    site_id = _first_site(site)
    _, tag = get_site(site.engine, site_id)
    patch_site(site.engine, site_id, {"name": "Dari CLI"}, tag, user="cli", source="cli")
    assert site.runner.snapshot().status == "idle"  # nothing in this process saw it yet
    assert site.client.get("/").status_code == 200
    assert site.runner.wait(WAIT_S)
    assert site.runner.snapshot().runs == 1
    assert _analysed(site.path)["register_version"] == version(site.engine)


def test_analysis_progress_names_each_stage_in_order(sample_copy):
    from geo_p2dd.analysis import STAGES, analyze_project

    calls: list[tuple[str, float]] = []
    analyze_project(sample_copy, write=False, progress=lambda s, f: calls.append((s, f)))
    stages = [s for s, _ in calls]
    assert stages == [*STAGES[:-1], "done"]  # without writing: no "write" stage
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_an_agency_sheet_committed_is_analysed(site):
    rows = ("Starlink Satu,Starlink,terpasang,99.01.01.2001,Diskominfo,APBD,2024,"
            "112.9577,0.9924\n")
    data = {"file": (__import__("io").BytesIO((SITES_HEADER + rows).encode()), "opd.csv")}
    preview = site.client.post("/api/imports", data=data, headers=site.ana,
                               content_type="multipart/form-data")
    assert preview.status_code == 201, preview.get_json()
    assert site.runner.snapshot().status == "idle"  # a preview changes nothing
    done = site.client.post(f"/api/imports/{preview.get_json()['id']}/commit",
                            headers=site.ana)
    assert done.status_code == 200, done.get_json()
    assert site.runner.wait(WAIT_S)
    assert site.runner.snapshot().runs == 1
    assert _analysed(site.path)["register_version"] == version(site.engine)


def test_on_postgresql_the_register_version_is_the_servers(sample_copy, pg_url,  # noqa: F811
                                                            monkeypatch):
    """A project whose register is on PostgreSQL: analysed against it, re-analysed after an
    API create, the versions compared are the server's."""
    monkeypatch.setenv(db.URL_VARIABLE, pg_url)
    site = Site(sample_copy)
    try:
        started = site.client.post("/api/analysis", headers=site.admin)  # against the server
        assert started.status_code == 202
        assert site.runner.wait(WAIT_S) and site.runner.snapshot().runs == 1
        assert _analysed(site.path)["register_version"] == version(site.engine)
        made = site.client.post("/api/sites", headers=site.ana, json={
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [112.9577, 0.9924]},
            "properties": {"kind": "starlink", "name": "Starlink Balai", "status": "installed",
                           "agency": "Diskominfo", "village_kode": "99.01.01.2001"}})
        assert made.status_code == 201, made.get_json()
        assert site.runner.wait(WAIT_S)
        state = site.runner.snapshot()
        assert (state.runs, state.status, state.error) == (2, "idle", None)
        assert site.engine.dialect.name == "postgresql"
        assert _analysed(site.path)["register_version"] == version(site.engine)
        assert site.status()["analysed_register_version"] == version(site.engine)
    finally:
        assert reanalysis.stop_runner(sample_copy.path)
        store.dispose_engines()


def test_verifying_a_field_report_raises_the_version_and_is_analysed(site):
    """Verified reports are evidence the analysis weighs (a pending or rejected one is not):
    verifying one is a change of the register; rejecting a pending one is not."""
    import uuid

    def report() -> dict:
        return {"id": str(uuid.uuid4()), "village_kode": "99.01.01.2001", "lon": 112.9577,
                "lat": 0.9924, "operator": "Telkomsel", "technology": "lte",
                "observed_at": "2026-11-20T08:30:00+08:00", "note": "sinyal di balai"}

    start = version(site.engine)
    ids = []
    for _ in range(2):
        sent = site.client.post("/api/reports", json=report(), headers=site.ana)
        assert sent.status_code == 201, sent.get_json()
        ids.append(sent.get_json()["id"])
    rejected = site.client.post(f"/api/reports/{ids[1]}/reject", headers=site.admin)
    assert rejected.status_code == 200
    assert version(site.engine) == start  # nothing the analysis reads changed
    assert site.runner.snapshot().status == "idle"
    verified = site.client.post(f"/api/reports/{ids[0]}/verify", headers=site.admin)
    assert verified.status_code == 200
    assert version(site.engine) == start + 1
    assert site.client.post(f"/api/reports/{ids[0]}/verify",
                            headers=site.admin).status_code == 200
    assert version(site.engine) == start + 1  # verified again: no change
    assert site.runner.wait(WAIT_S)
    assert site.runner.snapshot().runs == 1
    assert _analysed(site.path)["register_version"] == start + 1
