"""An office offline or on a failing link, and a phone: the map still says what it shows."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_failing_basemap_tiles_fall_back_to_no_basemap_and_say_so(sample_server, page):
    # the office is offline: every request that leaves this machine fails
    page.route("**/*", lambda route: route.abort()
               if not route.request.url.startswith(("http://127.0.0.1", "data:"))
               else route.continue_())
    page.context.add_cookies([{"name": "basemap", "value": "osm", "url": sample_server.url}])
    page.goto(sample_server.url + "/", wait_until="domcontentloaded")
    page.wait_for_function("() => window.geoP2DD !== undefined")
    note = page.locator("#basemap-note")
    note.wait_for(state="visible", timeout=15000)
    assert "Peta dasar tidak dapat dimuat" in note.inner_text()
    # no tile layer is left on the map, and the "no basemap" choice is the checked one
    assert page.evaluate("""() => {
        let tiles = 0;
        window.geoP2DD.map.eachLayer(l => { if (l instanceof L.TileLayer && l._url &&
                                               l._url.startsWith('https')) tiles += 1; });
        return tiles; }""") == 0
    checked = page.locator(".leaflet-control-layers-base input:checked").locator("xpath=..")
    assert "luring" in checked.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map_offline_fallback.png"))


def test_the_legend_folds_on_a_phone(sample_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        page.context.add_cookies([{"name": "basemap", "value": "none",
                                   "url": sample_server.url}])
        page.goto(sample_server.url + "/", wait_until="networkidle")
        page.wait_for_function("() => window.geoP2DD !== undefined")
        legend = page.locator("#legend")
        fold = page.locator("#legend-fold")
        assert "folded" in legend.get_attribute("class")
        assert not page.locator("#legend .legend-class").is_visible()
        fold.click()
        assert page.locator("#legend .legend-class").is_visible()
        assert fold.get_attribute("aria-expanded") == "true"
        page.screenshot(path=str(ARTIFACTS / "map_phone_legend.png"))
    finally:
        context.close()


def test_the_legend_is_open_on_a_wide_screen(sample_server, page):
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": sample_server.url}])
    page.goto(sample_server.url + "/", wait_until="networkidle")
    page.wait_for_function("() => window.geoP2DD !== undefined")
    assert page.locator("#legend .legend-class").is_visible()
    page.locator("#legend-fold").click()
    assert not page.locator("#legend .legend-class").is_visible()
