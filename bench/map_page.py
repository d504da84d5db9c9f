"""Weight and speed of the map page in headless Chromium, and coverage tile latency.

Usage: .venv/bin/python bench/map_page.py PROJECT_DIR [PATH ...]

For each page: bytes transferred over all requests (gzip on, as Chromium asks
for it), requests made, time until the map script is interactive, and the
largest response. Then the median latency of coverage tiles rendered cold
(first request of a tile) and warm (the same tile again), over the tiles a
first view of the project needs. Basemap "none", so only the app is measured.
"""

from __future__ import annotations

import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import CHROMIUM_ARGS, LiveServer  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from web import create_app  # noqa: E402


def measure_page(browser, url: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_cookies([{"name": "basemap", "value": "none", "url": url}])
    page = ctx.new_page()
    responses = []
    page.on("requestfinished", lambda r: responses.append(r))
    t0 = time.perf_counter()
    page.goto(url, wait_until="load")
    page.wait_for_function("window.geoP2DD !== undefined", timeout=60000)
    interactive = page.evaluate("window.geoP2DD.ready") / 1000.0
    wall = time.perf_counter() - t0
    page.wait_for_timeout(1500)  # let tiles and late requests finish
    sizes = []
    for r in responses:
        s = r.sizes()
        sizes.append((s["responseBodySize"] + s["responseHeadersSize"], r.url))
    ctx.close()
    total = sum(s for s, _ in sizes)
    biggest = max(sizes) if sizes else (0, "")
    return {"bytes": total, "requests": len(sizes), "interactive_s": interactive,
            "wall_s": wall, "biggest": biggest}


def tile_latency(base: str, tiles: list[str]) -> tuple[float, float]:
    cold, warm = [], []
    for t in tiles:
        for bucket in (cold, warm):
            s = time.perf_counter()
            with urllib.request.urlopen(base + t) as resp:
                resp.read()
            bucket.append(time.perf_counter() - s)
    return statistics.median(cold) * 1000, statistics.median(warm) * 1000


def main() -> None:
    project = Path(sys.argv[1])
    paths = sys.argv[2:] or ["/"]
    server = LiveServer(create_app({"PROJECT": str(project)}))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        measure_page(browser, server.url + paths[0])  # warm the server's project cache
        print(f"project {project}")
        for path in paths:
            m = measure_page(browser, server.url + path)
            print(f"page {path}: {m['bytes'] / 1e6:.3f} MB transferred in {m['requests']} "
                  f"requests; interactive after {m['interactive_s']:.2f} s "
                  f"(load + script {m['wall_s']:.2f} s); largest {m['biggest'][0] / 1e3:.0f} kB "
                  f"{m['biggest'][1].replace(server.url, '')}")
        browser.close()
    from web.context import load_view
    from web.maps import _coverage_layer
    from web.tiles import _cache, lonlat_to_tile

    view = load_view(project)
    cov = _coverage_layer(view)
    if cov is not None:
        west, south, east, north = view.villages.total_bounds
        tiles = []
        for z in (8, 10, 12):
            x0, y0 = lonlat_to_tile(west, north, z)
            x1, y1 = lonlat_to_tile(east, south, z)
            for x in range(x0, min(x1, x0 + 6) + 1):
                for y in range(y0, min(y1, y0 + 6) + 1):
                    tiles.append(f"/tiles/{cov['name']}/{z}/{x}/{y}.png")
        _cache.clear()
        cold, warm = tile_latency(server.url, tiles)
        print(f"coverage tiles ({cov['name']}, {len(tiles)} tiles z8/z10/z12): median "
              f"{cold:.1f} ms rendered, {warm:.1f} ms warm (cached)")
    server.stop()


if __name__ == "__main__":
    main()
