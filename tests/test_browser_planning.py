"""The Planning page in a real headless Chromium (issue 11): sign in, open /rencana, create a
scenario, add a Starlink site by clicking in a blank-spot kampung, see the kampung change
class and the people newly served, drag the site, delete one, compare two scenarios, run a
plan with its progress bar, save it as a scenario and propose it to the register; and the
what-if latency in the browser (click -> summary shown), median of 10, printed."""

from __future__ import annotations

import statistics

import pytest
from conftest import ARTIFACTS

from geo_p2dd.planning.demand import load_baseline
from geo_p2dd.planning.whatif import WhatIf
from geo_p2dd.registry import accounts, db
from geo_p2dd.registry import repository as repo
from geo_p2dd.schema import GAP_CLASSES

pytestmark = pytest.mark.browser
PASSWORD = "rahasia-123"


@pytest.fixture
def planning_server(sample_copy, live_server_factory, monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "rina", "editor", agency="Bappeda", password=PASSWORD)
    engine.dispose()
    return live_server_factory(sample_copy.path)


def _blank_spot_target(project):
    """A blank-spot kampung, a settlement in it, and what a Starlink there changes."""
    whatif = WhatIf(load_baseline(project))
    b = whatif.baseline
    loc = b.locations
    for kode in b.villages.index[b.villages["gap_class_planned"] == "blank_spot"]:
        here = loc[(loc["village_kode"] == kode) & loc["demand"] & (loc["kind"] == "settlement")
                   & (loc["people"] > 0)].sort_values("people", ascending=False)
        for _, r in here.head(3).iterrows():
            site = {"kind": "starlink", "lon": float(r["lon"]), "lat": float(r["lat"])}
            got = whatif.summary([site])
            change = next((c for c in got["changes"] if c["kode"] == kode), None)
            if change is not None and got["people_newly_served"] > 0:
                return site, change, got
    pytest.fail("the sample has no blank-spot kampung that one Starlink changes")


def _screen_xy(page, lon: float, lat: float, zoom: int = 15) -> tuple[float, float]:
    return page.evaluate(
        """([lon, lat, zoom]) => {
            const map = window.geoP2DDPlanning.map;
            if (zoom) { map.setView([lat, lon], zoom, {animate: false}); }
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""", [lon, lat, zoom])


def _updates(page) -> int:
    return page.evaluate("() => window.geoP2DDPlanning.updates")


def _wait_update(page, before: int) -> None:
    page.wait_for_function("(n) => window.geoP2DDPlanning.updates > n", arg=before)


def test_scenario_on_the_map_drag_compare_and_latency(sample_copy, planning_server, page):
    server = planning_server
    site, change, expected = _blank_spot_target(sample_copy)
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, "data:")) else None)

    page.goto(server.url + "/rencana")
    assert "/auth/login" in page.url
    page.fill('input[name="name"]', "rina")
    page.fill('input[name="password"]', PASSWORD)
    page.click('#login-form button[type="submit"]')
    page.wait_for_url("**/rencana**")
    page.wait_for_function("() => window.geoP2DDPlanning && window.geoP2DDPlanning.ready")
    page.wait_for_selector(".leaflet-overlay-pane path")  # the kampung outlines
    assert "Sekarang → skenario" in page.inner_text("main")

    # create a scenario; it becomes the current one
    page.fill("#scenario-name", "Starlink balai")
    before = _updates(page)
    page.click("#new-scenario")
    _wait_update(page, before)
    first = page.input_value("#scenario-select")
    assert first

    # a Starlink where people are unserved: the kampung changes class
    page.select_option("#site-kind", "starlink")
    assert page.locator("#bts-fields").is_hidden()
    x, y = _screen_xy(page, site["lon"], site["lat"])
    before = _updates(page)
    page.mouse.click(x, y)
    _wait_update(page, before)
    assert "dalam skenario" in page.inner_text("#map-colours")  # outlines: scenario classes
    changes = page.inner_text("#changes")
    lang_from = GAP_CLASSES.label(change["from"], "id")
    lang_to = GAP_CLASSES.label(change["to"], "id")
    assert f"{change['nama']}: {lang_from} → {lang_to}" in changes
    people = page.evaluate("() => window.geoP2DDPlanning.summary.people_newly_served")
    assert people == pytest.approx(expected["people_newly_served"], abs=0.05) and people > 0
    assert page.inner_text("#sum-people") != "–"
    assert page.locator("#sites tbody tr").count() == 1

    # drag it ~300 m away: the server answers with the moved site's summary
    marker = page.locator(".scenario-site-icon").first
    box = marker.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = _updates(page)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 30, cy + 30, steps=8)
    page.mouse.up()
    _wait_update(page, before)
    moved = page.evaluate("() => window.geoP2DDPlanning.state.sites[0]")
    assert abs(moved["lon"] - site["lon"]) > 1e-4 and abs(moved["lat"] - site["lat"]) > 1e-4

    # what-if latency in the browser: click -> summary shown, ten new sites
    latencies = []
    for i in range(10):
        x, y = _screen_xy(page, site["lon"], site["lat"], zoom=0)
        before = _updates(page)
        page.mouse.click(x - 60 + 12 * i, y + 40)
        _wait_update(page, before)
        latencies.append(page.evaluate(
            "() => window.geoP2DDPlanning.renderedAt - window.geoP2DDPlanning.clickedAt"))
    print(f"\nwhat-if latency in Chromium (sample project, click -> summary shown): median "
          f"{statistics.median(latencies):.0f} ms over 10 clicks "
          f"(min {min(latencies):.0f}, max {max(latencies):.0f})")
    assert page.locator("#sites tbody tr").count() == 11

    # delete one from the table
    before = _updates(page)
    page.locator("#sites tbody tr").last.locator("button.delete-site").click()
    _wait_update(page, before)
    assert page.locator("#sites tbody tr").count() == 10

    # a second scenario, then the two side by side
    page.fill("#scenario-name", "Kosong")
    before = _updates(page)
    page.click("#new-scenario")
    _wait_update(page, before)
    assert page.input_value("#scenario-select") != first
    page.select_option("#compare-with", first)
    page.click("#compare")
    page.wait_for_selector("#compare-table:not([hidden])")
    head = page.inner_text("#compare-table thead")
    assert "Kosong" in head and "Starlink balai" in head
    row = page.locator('#compare-table tr[data-key="people_newly_served"] td')
    assert row.nth(0).inner_text() == "0" and row.nth(1).inner_text() not in ("0", "–")

    # a plan in the background: ranked sites, totals, saved as a scenario, proposed
    page.fill("#plan-max", "2")
    for kind in ("vsat", "bts"):
        page.uncheck(f'.plan-tech[value="{kind}"]')
    page.click("#run-plan")
    page.wait_for_selector("#plan-result:not([hidden])", timeout=120_000)
    assert page.locator("#plan-table tbody tr").count() == 2
    assert page.locator(".plan-site-icon").count() == 2
    assert page.inner_text("#plan-people") not in ("", "0")
    page.locator("#plan-table tbody tr").nth(1).locator(".plan-pick").uncheck()
    before = _updates(page)
    page.click("#plan-save")
    _wait_update(page, before)
    assert page.locator("#sites tbody tr").count() == 1  # the chosen site only
    page.click("#plan-propose")
    page.wait_for_function(
        "() => document.getElementById('plan-msg').textContent.includes('usulan')")
    engine = db.open_database(sample_copy.path)
    try:
        proposed = repo.list_sites(engine, repo.SiteFilter(status="proposed", agency="Bappeda"))
    finally:
        engine.dispose()
    assert len(proposed) == 1 and proposed[0]["agency"] == "Bappeda"

    assert outside == [], f"requests left the server with basemap 'none': {outside[:3]}"
    assert page.console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "planning.png"), full_page=True)
    # a phone: the panel goes under the map, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    map_box = page.locator("#planning-map").bounding_box()
    panel = page.locator(".planning-panel").bounding_box()
    assert panel["y"] >= map_box["y"] + map_box["height"] - 1
    assert map_box["width"] <= 390 and panel["width"] <= 390
    page.screenshot(path=str(ARTIFACTS / "planning_phone.png"))
