"""The planning map in a real headless Chromium (Playwright + Debian's chromium)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _open(page, server, path="/", basemap="none"):
    page.context.add_cookies([{"name": "basemap", "value": basemap, "url": server.url}])
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
    page.goto(server.url + path, wait_until="networkidle")
    page.wait_for_function("() => window.geoP2DD !== undefined")
    return outside


def _click_village(page, kode):
    """Click the map at a point inside the village polygon (location markers hidden)."""
    point = page.evaluate(
        """(kode) => {
            const refs = window.geoP2DDRefs;
            if (refs.locations) window.geoP2DD.map.removeLayer(refs.locations);
            const l = window.geoP2DD.villages[kode];
            const rp = l.feature.properties.rp;
            const p = window.geoP2DD.map.latLngToContainerPoint([rp[1], rp[0]]);
            const box = window.geoP2DD.map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""", kode)
    page.mouse.click(*point)


def test_map_renders_every_village_offline(sample_project, sample_server, page):
    results = sample_project.read_table("village_results")
    outside = _open(page, sample_server)
    assert page.evaluate("Object.keys(window.geoP2DD.villages).length") == len(results)
    # each village is an SVG path in the overlay pane, plus location markers
    paths = page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()
    assert paths >= len(results)
    assert outside == [], f"requests left 127.0.0.1 with basemap 'none': {outside[:3]}"
    assert page.console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map_sample.png"))


def test_click_village_opens_its_popup(sample_project, sample_server, page):
    results = sample_project.read_table("village_results")
    target = results.sort_values("rank").iloc[4]
    _open(page, sample_server)
    _click_village(page, target["kode"])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert target["nama"] in popup.inner_text()
    assert target["kode"] in popup.inner_text()
    link = popup.locator("a").get_attribute("href")
    assert link.endswith(f"/village/{target['kode']}")


def test_table_row_zooms_and_opens_popup(sample_project, sample_server, page):
    results = sample_project.read_table("village_results")
    target = results.sort_values("rank").iloc[10]
    _open(page, sample_server)
    zoom_before = page.evaluate("window.geoP2DD.map.getZoom()")
    page.locator(f'#gap-table tr[data-kode="{target["kode"]}"]').click()
    page.locator(".leaflet-popup-content").wait_for()
    assert target["nama"] in page.locator(".leaflet-popup-content").inner_text()
    page.wait_for_timeout(400)
    assert page.evaluate("window.geoP2DD.map.getZoom()") > zoom_before


def test_toggling_a_layer_hides_it(sample_server, page):
    _open(page, sample_server)
    villages_label = page.locator(".leaflet-control-layers-overlays label",
                                  has_text="Kampung/desa")
    before = page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()
    villages_label.locator("input").uncheck()
    after = page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()
    n = page.evaluate("Object.keys(window.geoP2DD.villages).length")
    assert before - after == n
    assert not page.evaluate("window.geoP2DD.map.hasLayer(window.geoP2DDRefs.villages)")


def test_filters_and_score_mode(sample_project, sample_server, page):
    results = sample_project.read_table("village_results")
    _open(page, sample_server)
    page.select_option("#filter-cls", "blank_spot")
    visible = page.locator("#gap-table tbody tr:visible").count()
    assert visible == int((results["gap_class"] == "blank_spot").sum())
    kode = results.sort_values("rank").iloc[0]["kode"]
    colour = f"window.geoP2DD.villages['{kode}'].options.fillColor"
    class_colour = page.evaluate(colour)
    page.check('input[name="mode"][value="score"]')
    assert page.evaluate(colour) != class_colour
    assert page.locator(".legend-score").is_visible()


def test_language_switch(sample_server, page):
    _open(page, sample_server)
    assert "Cari kampung" in page.locator(".sidebar").inner_text()
    page.locator(".langs a.lang-en").click()
    page.wait_for_load_state("networkidle")
    assert "Find a kampung" in page.locator(".sidebar").inner_text()
    assert "Blank spot" in page.locator("#legend").inner_text()
    # the choice sticks
    page.goto(sample_server.url + "/")
    assert "Find a kampung" in page.locator(".sidebar").inner_text()


def test_search_box_zooms_to_kampung(sample_project, sample_server, page):
    results = sample_project.read_table("village_results")
    target = results.iloc[7]
    _open(page, sample_server)
    page.fill("#village-search", target["nama"])
    page.press("#village-search", "Enter")
    page.locator(".leaflet-popup-content").wait_for()
    assert target["nama"] in page.locator(".leaflet-popup-content").inner_text()


def test_village_page(sample_project, sample_server, page):
    results = sample_project.read_table("village_results")
    target = results.sort_values("rank").iloc[0]
    outside = _open(page, sample_server, f"/village/{target['kode']}")
    assert outside == []
    text = page.inner_text("main")
    assert target["nama"] in text
    assert page.locator(".bar-row").count() >= 5
    assert page.console_errors == []
    page.screenshot(path=str(ARTIFACTS / "village_sample.png"), full_page=True)


def test_hostile_names_render_as_text(tmp_path, live_server_factory, page):
    """A village named <script>alert(1)</script> is shown as text, never run."""
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    evil = "<script>alert(1)</script>"
    squares = [shapely.box(114 + 0.1 * i, 0, 114.1 + 0.1 * i, 0.1) for i in range(3)]
    gdf = gpd.GeoDataFrame({"kode": ["99.01.01.2001", "99.01.01.2002", "99.01.01.2003"],
                            "nama": [evil, "Dua <b>tebal</b>", "Tiga & Co"]},
                           geometry=squares, crs="EPSG:4326")
    src = tmp_path / "v.geojson"
    gdf.to_file(src, driver="GeoJSON")
    project, _ = init_project(tmp_path / "p", villages=src)
    analyze_project(project)
    server = live_server_factory(project.path)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _open(page, server)
    assert page.locator("#gap-table tbody tr td:nth-child(2)", has_text=evil).count() == 1
    _click_village(page, "99.01.01.2001")
    page.locator(".leaflet-popup-content").wait_for()
    assert evil in page.locator(".leaflet-popup-content h3").inner_text()
    _open(page, server, "/village/99.01.01.2001")
    assert evil in page.locator("h1").inner_text()
    assert dialogs == []
    assert page.console_errors == []


def test_leaving_offline_basemap_reloads_under_a_policy_allowing_tiles(sample_server, page):
    """Offline pages forbid outside images (CSP); choosing a basemap reloads the page."""
    import base64

    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYA"
                           "AjCB0C8AAAAASUVORK5CYII=")
    page.route("https://tile.openstreetmap.org/**",
               lambda route: route.fulfill(status=200, body=png, content_type="image/png"))
    _open(page, sample_server, basemap="none")
    policy = page.evaluate("fetch('/').then(r => r.headers.get('content-security-policy'))")
    assert "tile.openstreetmap.org" not in policy
    page.evaluate("window.beforeSwitch = true")
    with page.expect_navigation():
        page.locator(".leaflet-control-layers-base label", has_text="OpenStreetMap") \
            .locator("input").check()
    page.wait_for_function("() => window.geoP2DD !== undefined")
    assert page.evaluate("window.beforeSwitch === undefined"), "the page was not reloaded"
    page.wait_for_load_state("networkidle")
    assert page.console_errors == [], page.console_errors
