"""The map of the real Mahakam Ulu project (../shared/data) in headless Chromium."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS

pytestmark = pytest.mark.browser

MAX_PAGE_BYTES = 1_500_000  # issue 4: the real regency's map page, all requests, gzip on


def test_real_mahakam_ulu_map(mahakam_ulu_project, live_server_factory, page):
    server = live_server_factory(mahakam_ulu_project.path)
    page.context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    finished, outside = [], []
    page.on("requestfinished", lambda r: finished.append(r))
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
    page.goto(server.url + "/", wait_until="networkidle")
    page.wait_for_function("() => window.geoP2DD !== undefined")
    assert page.evaluate("Object.keys(window.geoP2DD.villages).length") == 50
    assert page.locator("#gap-table tbody tr").count() == 50
    text = page.inner_text(".sidebar")
    assert "Ujoh Bilang" in text and "Long Apari" in text
    assert page.console_errors == [] and outside == []
    transferred = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]
                      for r in finished)
    assert transferred <= MAX_PAGE_BYTES, f"{transferred} bytes"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map_mahakam_ulu.png"))
    page.goto(server.url + "/village/64.11.01.2006", wait_until="networkidle")
    assert "Ujoh Bilang" in page.inner_text("h1")
    assert page.console_errors == []
    page.screenshot(path=str(ARTIFACTS / "village_ujoh_bilang.png"), full_page=True)
