"""Reviewing agency imports and dated status changes in a real headless Chromium: an editor
uploads and confirms a sheet, a reviewer verifies it on /register/imports and the register's
"menunggu verifikasi" badge goes; a status change with its date and note shows in the
site's history (issue 10)."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS

from geo_p2dd.registry import accounts, db

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"


@pytest.fixture
def review_server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    accounts.add_user(engine, "rudi", "reviewer", password=PASSWORD)
    engine.dispose()
    return live_server_factory(sample_copy.path)


def _sign_in(page, url: str, name: str) -> None:
    page.goto(url)
    assert "/auth/login" in page.url
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url(url.split("/register")[0] + "/register/**")


def test_editor_uploads_reviewer_verifies_and_the_badge_goes(sample_copy, review_server, page,
                                                             browser, tmp_path):
    server = review_server
    good = sample_copy.read_layer("villages").iloc[2]
    point = good.geometry.representative_point()
    sheet = tmp_path / "opd.csv"
    sheet.write_text(
        "nama lokasi,jenis,status,kode_desa,OPD,sumber dana,tahun,bujur,lintang\n"
        f"Starlink Periksa,Starlink,terpasang,{good['kode']},Diskominfo,APBD,2024,"
        f"{point.x:.5f},{point.y:.5f}\n", encoding="utf-8")

    _sign_in(page, server.url + "/register/upload", "ana")
    page.set_input_files("#upload-file", str(sheet))
    page.click("#upload-submit")
    page.wait_for_selector("#preview-summary")
    page.click("#commit-submit")
    page.wait_for_selector("#register-table")
    row = page.locator("#register-table tr", has_text="Starlink Periksa")
    assert row.locator(".unverified").inner_text() == "menunggu verifikasi"

    reviewer = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    try:
        _sign_in(reviewer, server.url + "/register/imports", "rudi")
        imported = reviewer.locator("#imports-table tr", has_text="opd.csv")
        assert "menunggu verifikasi" in imported.inner_text()
        assert "Diskominfo" in imported.inner_text() and "ana" in imported.inner_text()
        imported.locator('input[name="note"]').fill("sesuai BAST")
        imported.locator("button.verify").click()
        reviewer.wait_for_selector("#imports-table .badge-verified")
        assert "sesuai BAST" in reviewer.inner_text("#imports-table")
        ARTIFACTS.mkdir(exist_ok=True)
        reviewer.screenshot(path=str(ARTIFACTS / "register_imports.png"), full_page=True)
    finally:
        reviewer.context.close()

    page.goto(server.url + "/register/")
    row = page.locator("#register-table tr", has_text="Starlink Periksa")
    assert row.count() == 1 and row.locator(".unverified").count() == 0
    assert page.console_errors == []


def test_a_status_change_with_its_date_and_note_shows_in_the_history(sample_copy,
                                                                     review_server, page):
    server = review_server
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    _sign_in(page, server.url + "/register/", "ana")
    first = page.locator("#register-table tr", has_text="Diskominfo").first
    name = first.locator("td").first.locator("a").first.inner_text()
    first.locator("a.edit").click()
    page.wait_for_selector("#status-form")
    current = page.input_value("#s-status")
    new = "damaged" if current != "damaged" else "installed"
    page.select_option("#s-status", new)
    page.fill("#s-date", "2025-03-14")
    page.fill("#s-note", "tersambar petir")
    page.click("#status-submit")
    page.wait_for_selector("#history")
    assert "Status diubah" in page.inner_text("main") and name in page.inner_text("h1")
    newest = page.locator("#history tr.change", has_text="status").first
    assert newest.locator(".status-date").inner_text() == "berlaku 2025-03-14"
    assert newest.locator(".status-note").inner_text() == "tersambar petir"
    assert newest.locator("td.old").inner_text() == current
    assert page.console_errors == []
