"""In a real headless Chromium: an edit on the register form re-runs the analysis in the
background; the kampung's page says so while it runs, then offers the new results, where
the kampung's class has changed (issue 10)."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, lock_held_elsewhere

from geo_p2dd.registry import accounts, db, store
from geo_p2dd.schema import GAP_CLASSES
from web import reanalysis

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"
#: a blank-spot kampung of the sample whose planned Starlink gives it public access
KAMPUNG = "99.01.04.2008"
STARLINK = "starlink-ujoh-lunuk--diskominfo-99.01.04.2008"


@pytest.fixture
def server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = store.engine_for(sample_copy.path)
    accounts.add_user(engine, "admin", "admin", password=PASSWORD)
    live = live_server_factory(sample_copy.path, REANALYSE=True)
    yield live
    assert reanalysis.stop_runner(sample_copy.path)  # before its temporary directory goes
    store.dispose_engines()


def _badge(page) -> str:
    return page.inner_text(".class-badge").strip()


def test_an_edit_is_reanalysed_and_the_page_offers_the_new_results(sample_copy, server, page):
    row = sample_copy.read_table("village_results").set_index("kode").loc[KAMPUNG]
    assert (row["gap_class"], row["gap_class_planned"]) == ("blank_spot", "public_access_only")
    before = sample_copy.config["analysis"]["register_version"]
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])

    page.goto(server.url + "/auth/login?lang=id")
    page.fill('input[name="name"]', "admin")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/register/**")
    blank = GAP_CLASSES.label("blank_spot", "id")
    public = GAP_CLASSES.label("public_access_only", "id")

    # another writer holds the project: the analysis the edit asks for has to wait
    with lock_held_elsewhere(sample_copy.path, "import sites"):
        page.goto(f"{server.url}/register/{STARLINK}/edit")
        page.select_option("#f-status", "installed")
        page.click("#save")
        page.wait_for_url(f"**/register/{STARLINK}")
        page.goto(f"{server.url}/village/{KAMPUNG}")
        assert _badge(page).startswith(blank)  # the previous results, served at once
        line = page.inner_text("#analysis-status")
        assert f"register versi {before}" in line
        page.wait_for_function("""() => document.querySelector('#analysis-status .analysis-note')
            .textContent.indexOf('analisis ulang menunggu') >= 0""", timeout=20_000)
    # the lock is free: it runs, with its progress, and then offers the new results
    page.wait_for_function("""() => document.querySelector('#analysis-status .analysis-note')
        .textContent.indexOf('analisis ulang sedang berjalan') >= 0""", timeout=60_000)
    assert "%" in page.inner_text("#analysis-status .analysis-note")
    page.wait_for_selector("#analysis-status a.analysis-reload", timeout=300_000)
    assert "Hasil analisis baru sudah tersedia" in page.inner_text("#analysis-status")
    page.click("#analysis-status a.analysis-reload")
    page.wait_for_load_state()
    assert _badge(page) == public  # installed now: public access, nothing more planned
    line = page.inner_text("#analysis-status")
    assert f"register versi {before + 1}" in line
    assert "Data register berubah" not in line
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reanalysis-village.png"))
    assert page.console_errors == []
