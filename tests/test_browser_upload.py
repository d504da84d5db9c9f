"""Uploading an agency's sheet in a real headless Chromium: sign in, upload a CSV with one
bad row, see it in the preview, confirm, and find the new site in the register (issue 10)."""

from __future__ import annotations

import pytest

from geo_p2dd.registry import accounts, db

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"


@pytest.fixture
def upload_server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    engine.dispose()
    return live_server_factory(sample_copy.path)


def test_sign_in_upload_preview_confirm(sample_copy, upload_server, page, tmp_path):
    server = upload_server
    villages = sample_copy.read_layer("villages")
    good = villages.iloc[2]
    point = good.geometry.representative_point()
    sheet = tmp_path / "opd.csv"
    sheet.write_text(
        "nama lokasi,jenis,status,kode_desa,OPD,sumber dana,tahun,bujur,lintang\n"
        f"Starlink Unggahan,Starlink,terpasang,{good['kode']},Diskominfo,APBD,2024,"
        f"{point.x:.5f},{point.y:.5f}\n"
        f"Wifi Rusak,wifi kampung,hilang,{good['kode']},Diskominfo,APBD,2024,"
        f"{point.x:.5f},{point.y:.5f}\n", encoding="utf-8")

    page.goto(server.url + "/register/upload")
    assert "/auth/login" in page.url
    page.fill('input[name="name"]', "ana")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/register/upload**")
    assert "Unggah lembar perangkat daerah" in page.inner_text("h1")

    page.set_input_files("#upload-file", str(sheet))
    page.click("#upload-submit")
    page.wait_for_selector("#preview-summary")
    assert page.inner_text("#n-added") == "1"
    assert page.inner_text("#n-rejected") == "1"
    rejected = page.inner_text("#rejected-table tbody")
    assert "3" in rejected and "status" in rejected and "hilang" in rejected
    assert page.locator("#rejected-download").count() == 1

    page.click("#commit-submit")
    page.wait_for_selector("#register-table")
    assert "Diimpor: 1 ditambahkan" in page.inner_text("main")
    assert "Starlink Unggahan" in page.inner_text("#register-table")
    assert "Wifi Rusak" not in page.inner_text("#register-table")
