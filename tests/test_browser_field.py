"""The field report form in a real headless Chromium: offline, a report waits on the phone;
online again, it is sent, and stored once even when sent twice (issue 10)."""

from __future__ import annotations

import pytest

from geo_p2dd.registry import accounts, db
from geo_p2dd.registry.field_reports import list_reports

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"
RESEND_S = 600


@pytest.fixture
def field_server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    engine.dispose()
    # the phone's fallback resend every 10 minutes, not 10 s: what the tests see sent was sent
    # by the events (the network back, the page shown again, a retry after a lost answer)
    return live_server_factory(sample_copy.path, FIELD_RESEND_SECONDS=RESEND_S)


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
    assert page.get_attribute("#field-app", "data-resend-ms") == str(RESEND_S * 1000)
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

        # a busy server (503) keeps the next one on the phone; shown again, the page sends it
        page.context.route("**/api/reports", lambda route: route.fulfill(status=503)
                           if route.request.method == "POST" else route.continue_())
        page.fill("#r-note", "sinyal hilang lagi")
        with page.expect_response(lambda r: r.url.endswith("/api/reports")
                                  and r.status == 503):
            page.click("#r-send")
        page.context.unroute("**/api/reports")
        assert page.inner_text("#field-queued") == "1"
        assert len(list_reports(engine)) == 1
        page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
        page.wait_for_function("() => document.getElementById('field-queued').textContent "
                               "=== '0'", timeout=20000)
        assert {r["note"] for r in list_reports(engine)} == {
            "tidak ada sinyal di balai kampung", "sinyal hilang lagi"}
    finally:
        engine.dispose()


def _sign_in(page, server) -> None:
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    page.goto(server.url + "/lapor")
    page.fill('input[name="name"]', "ana")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/lapor**")


def _fill(page, village, note: str) -> None:
    point = village.geometry.representative_point()
    page.select_option("#r-village", village["kode"])
    page.evaluate("([lat, lon]) => window.geoP2DDField.setPoint(lat, lon)", [point.y, point.x])
    page.select_option("#r-technology", "none")
    page.fill("#r-note", note)
    page.click("#r-send")


def test_the_form_opens_offline_from_the_phones_cache_and_sends_its_queue_once(
        sample_copy, field_server, page):
    server = field_server
    _sign_in(page, server)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20000)
    # the worker keeps the form, its assets and the outlines: no API answer, no other page
    kept = page.evaluate("""() => caches.keys().then(ks => Promise.all(ks.map(k =>
        caches.open(k).then(c => c.keys()).then(rs => rs.map(r => new URL(r.url).pathname)))))
        .then(a => a.flat())""")
    assert "/lapor" in kept and "/lapor/villages.geojson" in kept and "/static/field.js" in kept
    assert not [k for k in kept if k.startswith(("/api/", "/auth/", "/register"))]

    page.context.set_offline(True)
    with pytest.raises(Exception, match="ERR_INTERNET_DISCONNECTED"):  # really offline
        page.context.new_page().goto(server.url + "/register")
    page.reload()
    assert "Laporan lapangan" in page.inner_text("main")
    page.wait_for_function("() => Number(document.getElementById('field-app')"
                           ".dataset.villagesShown) > 0")
    villages = sample_copy.read_layer("villages")
    assert page.locator("#field-map path.leaflet-interactive").count() == len(villages)
    _fill(page, villages.iloc[1], "blank spot 1")
    _fill(page, villages.iloc[4], "blank spot 2")
    page.wait_for_function("() => document.getElementById('field-queued').textContent === '2'")
    assert "2 menunggu" in page.inner_text("#field-waiting")
    queued = page.evaluate("() => window.geoP2DDField.queue()")

    # the first answer is lost on the way back: the report is stored, the phone retries
    lost = []

    def lose_first_answer(route):
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch().status)
            route.abort()
        else:
            route.continue_()

    page.context.route("**/api/reports", lose_first_answer)
    page.context.set_offline(False)
    page.wait_for_function("() => document.getElementById('field-queued').textContent === '0'",
                           timeout=30000)
    assert lost == [201]
    engine = db.open_database(sample_copy.path)
    try:
        stored = list_reports(engine)
        assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in queued)
        assert {r["note"] for r in stored} == {"blank spot 1", "blank spot 2"}
    finally:
        engine.dispose()
    page.context.unroute("**/api/reports")

    # signing out leaves nothing of ana on the phone: no cached page, queue or worker
    page.click("form.signout button[type=submit]")
    page.wait_for_url(server.url + "/")
    assert page.evaluate("() => caches.keys()") == []
    assert page.evaluate("() => navigator.serviceWorker.getRegistrations()"
                         ".then(rs => rs.length)") == 0
    page.context.set_offline(True)
    with pytest.raises(Exception, match="ERR_INTERNET_DISCONNECTED"):
        page.goto(server.url + "/lapor")


def test_a_queued_report_is_sent_only_by_the_user_who_wrote_it(sample_copy, field_server, page):
    """A report left on the phone by another user (their session ended without signing
    out) waits; it is not sent in the name of whoever signs in next."""
    _sign_in(page, field_server)
    village = sample_copy.read_layer("villages").iloc[0]
    point = village.geometry.representative_point()
    theirs = {"id": "0b8e7d2c-4a55-4f0e-9a43-3f7c5a1d2e10", "by": "budi",
              "village_kode": village["kode"], "lon": point.x, "lat": point.y,
              "operator": None, "technology": "none", "observed_at": "2026-03-05",
              "note": None}
    page.evaluate("(r) => localStorage.setItem('geo_p2dd.field.queue', JSON.stringify([r]))",
                  theirs)
    _fill(page, village, "mine")
    page.wait_for_function("() => window.geoP2DDField.queue().length === 1", timeout=20000)
    assert page.evaluate("() => window.geoP2DDField.queue()[0].by") == "budi"
    engine = db.open_database(sample_copy.path)
    try:
        stored = list_reports(engine)
        assert [(r["note"], r["reporter"]) for r in stored] == [("mine", "ana")]
    finally:
        engine.dispose()


def test_the_chosen_kabupaten_is_remembered_and_its_outlines_work_offline(
        sample_copy, live_server_factory, monkeypatch, page):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    villages = sample_copy.read_layer("villages")  # two kabupaten: 99.01 and 99.02
    moved = villages.index[len(villages) // 2:]
    villages.loc[moved, "kode"] = "99.02" + villages.loc[moved, "kode"].str.slice(5)
    with sample_copy.transaction("two kabupaten") as tx:
        tx.write_layer("villages", villages)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    engine.dispose()
    server = live_server_factory(sample_copy.path, FIELD_RESEND_SECONDS=RESEND_S)
    _sign_in(page, server)
    assert page.locator("#r-village option").count() == 1  # the kampung come with a kabupaten
    assert page.get_attribute("#field-app", "data-villages-shown") == "0"
    page.select_option("#r-region", "99.02")
    page.wait_for_function("() => document.getElementById('field-app').dataset.villagesRegion"
                           " === '99.02'")
    assert page.locator("#field-map path.leaflet-interactive").count() == len(moved)
    assert page.locator("#r-village option").count() == len(moved) + 1
    page.wait_for_function("() => navigator.serviceWorker.controller !== null && "
                           "document.getElementById('field-app').dataset.swRegion === '99.02'",
                           timeout=20000)
    page.wait_for_function("""() => caches.keys().then(ks => Promise.all(ks.map(k =>
        caches.open(k).then(c => c.keys())))).then(a => a.flat().some(r =>
        r.url.endsWith('/lapor/villages.geojson?region=99.02')))""", timeout=20000)
    assert page.evaluate("() => localStorage.getItem('geo_p2dd.field.region')") == "99.02"

    page.context.set_offline(True)
    page.reload()
    page.wait_for_function("() => Number(document.getElementById('field-app')"
                           ".dataset.villagesShown) > 0")
    assert page.input_value("#r-region") == "99.02"  # remembered on the phone
    assert page.locator("#field-map path.leaflet-interactive").count() == len(moved)
    _fill(page, villages.loc[moved[0]], "di kabupaten kedua")
    page.wait_for_function("() => document.getElementById('field-queued').textContent === '1'")
    assert page.evaluate("() => window.geoP2DDField.queue()[0].village_kode") == \
        villages.loc[moved[0], "kode"]
    page.context.set_offline(False)
    page.wait_for_function("() => document.getElementById('field-queued').textContent === '0'",
                           timeout=30000)
    assert not [e for e in page.console_errors if "ERR_INTERNET_DISCONNECTED" not in e]
