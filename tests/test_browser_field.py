"""The field report form in a real headless Chromium: offline, a report waits on the phone;
online again, it is sent, and stored once even when sent twice (issue 10)."""

from __future__ import annotations

import pytest

from geo_p2dd.registry import accounts, db
from geo_p2dd.registry.field_reports import list_reports

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"


@pytest.fixture
def field_server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    engine.dispose()
    return live_server_factory(sample_copy.path)


def test_offline_report_waits_then_is_sent_once(sample_copy, field_server, page):
    server = field_server
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    page.goto(server.url + "/lapor")
    assert "/auth/login" in page.url
    page.fill('input[name="name"]', "ana")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/lapor**")
    assert "Laporan lapangan" in page.inner_text("main")
    page.context.set_offline(True)

    village = sample_copy.read_layer("villages").iloc[2]
    point = village.geometry.representative_point()
    page.select_option("#r-village", village["kode"])
    page.evaluate("([lat, lon]) => window.geoP2DDField.setPoint(lat, lon)", [point.y, point.x])
    page.fill("#r-operator", "Telkomsel")
    page.select_option("#r-technology", "none")
    page.fill("#r-note", "tidak ada sinyal di balai kampung")
    page.click("#r-send")
    page.wait_for_function("() => document.getElementById('field-queued').textContent === '1'")
    assert "jaringan kembali" in page.inner_text("#field-status")
    engine = db.open_database(sample_copy.path)
    try:
        assert list_reports(engine) == []
        queued = page.evaluate("() => window.geoP2DDField.queue()")
        page.context.set_offline(False)
        page.wait_for_function("() => document.getElementById('field-queued').textContent === '0'",
                               timeout=20000)
        stored = list_reports(engine)
        assert len(stored) == 1
        assert stored[0]["id"] == queued[0]["id"]
        assert stored[0]["village_kode"] == village["kode"]
        assert stored[0]["technology"] == "none" and stored[0]["reporter"] == "ana"
        # the phone sends it again (the answer was lost): 200, still one report
        status = page.evaluate("""(report) => fetch('/api/reports', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken':
                      document.querySelector('meta[name="csrf-token"]').content},
            body: JSON.stringify(report)}).then(r => r.status)""", queued[0])
        assert status == 200
        assert len(list_reports(engine)) == 1
    finally:
        engine.dispose()
