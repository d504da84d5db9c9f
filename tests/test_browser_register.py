"""The register pages in a real headless Chromium: sign in, add a site by clicking the map,
edit it, and see the change in its history (issue 10)."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS

from geo_p2dd.registry import accounts, db

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"


@pytest.fixture
def register_server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    engine.dispose()
    return live_server_factory(sample_copy.path)


def _click_at(page, lon: float, lat: float) -> None:
    x, y = page.evaluate(
        """([lon, lat]) => {
            const map = window.geoP2DDRegister.map;
            map.setView([lat, lon], 14, {animate: false});
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""", [lon, lat])
    page.mouse.click(x, y)


def test_sign_in_add_by_map_click_edit_and_history(sample_copy, register_server, page):
    server = register_server
    villages = sample_copy.read_layer("villages")
    target = villages.iloc[3]
    point = target.geometry.representative_point()
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, "data:")) else None)

    # sign in (the page is Indonesian)
    page.goto(server.url + "/register/")
    assert "/auth/login" in page.url
    page.fill('input[name="name"]', "ana")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/register/**")
    assert "Masuk sebagai ana" in page.inner_text("main")

    # add a site: the point comes from a click on the map, the kampung from the point
    page.click("#add-site")
    page.wait_for_function("() => window.geoP2DDRegister !== undefined")
    page.wait_for_selector(".leaflet-overlay-pane path")  # the kampung outlines
    page.select_option("#f-kind", "starlink")
    page.fill("#f-name", "Starlink Balai Kampung")
    page.select_option("#f-status", "planned")
    page.fill("#f-year", "2025")
    _click_at(page, point.x, point.y)
    lon = float(page.input_value("#f-lon"))
    lat = float(page.input_value("#f-lat"))
    assert abs(lon - point.x) < 0.001 and abs(lat - point.y) < 0.001
    page.click("#save")
    page.wait_for_selector("#history")
    text = page.inner_text("main")
    assert "Starlink Balai Kampung" in text and target["nama"] in text
    assert "Diskominfo" in text  # an editor's site is their agency's

    # edit it; the history shows who changed what, old → new
    page.click("#edit-site")
    page.wait_for_function("() => window.geoP2DDRegister !== undefined")
    page.select_option("#f-status", "installed")
    page.fill("#f-name", "Starlink Balai Adat")
    page.click("#save")
    page.wait_for_selector("#history")
    assert "Perubahan disimpan" in page.inner_text("main")
    rows = page.locator("#history tr.change")
    changes: dict[str, tuple[str, str]] = {}  # newest first: the edit, then the creation
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        changes.setdefault(cells.nth(-3).inner_text(), (
            rows.nth(i).locator("td.old").inner_text(), rows.nth(i).locator("td.new").inner_text()))
    assert changes["name"] == ("Starlink Balai Kampung", "Starlink Balai Adat")
    assert changes["status"] == ("planned", "installed")
    history = page.inner_text("#history")
    assert "ana" in history and "web" in history
    assert outside == [], f"requests left the server with basemap 'none': {outside[:3]}"
    assert page.console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "register_site.png"), full_page=True)
