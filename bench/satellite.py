"""The map page over an emulated satellite link (issue 13, "Pages over a satellite link").

Chromium (Playwright) with the DevTools network emulation of a VSAT/Starlink office
link: ``--latency`` ms added to every request's round trip (600), ``--down`` kbit/s
down (1000), ``--up`` kbit/s up (256). For each asset mode -- ``inline`` (today: a
visitor coming from outside gets the bundles inside the page, one round trip, and the
page fetches the versioned files in the background once loaded), ``bundled`` (one
versioned CSS and one versioned JS file, cached as immutable, referenced by the page:
``INLINE_ASSETS=False``) and ``unbundled`` (the separate vendor files as before,
``BUNDLE_ASSETS=False``), measured in the same run, each on its own server process of
the same code -- prints for a first visit (empty cache) and a repeat
visit (same browser profile, a new tab):

- time to interactive: from navigation start until the map is drawn and the villages
  layer is loaded (``window.geoP2DD.ready``, set by ``map.js`` once the villages are on
  the map; for a project with per-view loading, until the first village request ends);
- the page's requests, how many went over the network and how many came from the cache,
  and bytes transferred (and how many of them were asked for after the map was ready:
  coverage tiles, and the background work of a page that carried its bundles, which the
  visit waits for, as a visitor staying until the page has loaded);
- when the last byte the page needs (page, styles, scripts) was in: the link's share,
  apart from the browser's own work, which a busy machine slows (the load average is
  printed); files asked for after the map was ready (the background fetch of the
  versioned files an inline page makes) do not count.

``--waterfall`` also prints each request of the first run's visits: start, response
start and end (ms from navigation), bytes over the network and decoded.

The servers are warmed first as earlier visitors would have: each page asked for twice,
so it is rendered and its best compressed copy made (a server's very first visitor of a
page gets the quick copy: 97 kB instead of 81 kB for the Mahakam Ulu page from outside).

Basemap "none" (an offline office; tiles from outside are not the app's to speed up);
coverage tiles of the app are counted. Default project: real Mahakam Ulu built from
``../shared/data`` (``bench/projects.py``), else the sample.

Usage::

    .venv/bin/python bench/satellite.py [--project DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import projects  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402


def _emulate(context, page, latency_ms: float, down_kbps: float, up_kbps: float) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": latency_ms,
        "downloadThroughput": down_kbps * 1000 / 8, "uploadThroughput": up_kbps * 1000 / 8})


def visit(context, url: str, args) -> dict:
    """One visit of ``url`` in a new tab of ``context``; figures of that visit."""
    page = context.new_page()
    _emulate(context, page, args.latency, args.down, args.up)
    done = []
    page.on("requestfinished", lambda r: done.append(r))
    page.goto(url, wait_until="commit", timeout=120_000)
    page.wait_for_function("() => window.geoP2DD !== undefined && window.geoP2DD.villagesReady",
                           timeout=120_000)
    ready_ms = page.evaluate("() => window.geoP2DD.villagesReady")
    page.wait_for_timeout(int(args.latency * 2 + 500))  # late requests (coverage tiles)
    # the visitor stays until the page has loaded, and what a page that carried its
    # bundles then does in the background (fetch the files, replace its kept copy) is done
    page.wait_for_function("() => !window.geoP2DDAssets || window.geoP2DDAssets.kept",
                           timeout=120_000)
    timing = page.evaluate("""() => performance.getEntriesByType('resource').concat(
        performance.getEntriesByType('navigation')).map(e => ({url: e.name,
        bytes: e.transferSize, cached: e.transferSize === 0 && e.decodedBodySize > 0,
        decoded: e.decodedBodySize, start: e.startTime, resp: e.responseStart,
        end: e.responseEnd, kind: e.initiatorType}))""")
    page.close()
    net = [t for t in timing if not t["cached"]]
    # when the last byte the page needs (the page, its styles and scripts) was in: the
    # link's share of the time, apart from the browser's work (CPU-bound on a busy machine)
    # (not the map page's background check of a kept page: see web/maps.py _revalidated)
    needed = max(t["end"] for t in timing
                 if "/tiles/" not in t["url"] and t["kind"] != "fetch"
                 and t["start"] <= ready_ms) / 1000
    if args.waterfall and not args.printed.get(url):
        print(f"    {'request':52} {'kind':10} {'start':>6} {'resp':>6} {'end':>6} "
              f"{'bytes':>7} {'decoded':>8}  (ready at {ready_ms:.0f} ms)")
        for t in sorted(timing, key=lambda t: t["start"]):
            if "/tiles/" not in t["url"]:
                print(f"    {t['url'].split('//', 1)[-1].split('/', 1)[-1][:51]:52} "
                      f"{t['kind']:10} {t['start']:6.0f} {t['resp']:6.0f} {t['end']:6.0f} "
                      f"{t['bytes']:7} {t['decoded']:8}")
        tiles = [t for t in timing if "/tiles/" in t["url"]]
        if tiles:
            print(f"    {len(tiles)} coverage tiles from {min(t['start'] for t in tiles):.0f} "
                  f"to {max(t['end'] for t in tiles):.0f} ms")
    return {"tti_s": ready_ms / 1000, "bytes_in_s": needed, "requests": len(timing),
            "network": len(net),
            "cached": len(timing) - len(net), "bytes": sum(t["bytes"] for t in timing),
            "finished": len(done),
            "bytes_after": sum(t["bytes"] for t in timing if t["start"] > ready_ms)}


def measure(browser, url: str, args) -> tuple[list[dict], list[dict]]:
    first, repeat = [], []
    for _ in range(args.runs):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_cookies([{"name": "basemap", "value": "none", "url": url}])
        for name, runs in (("first", first), ("repeat", repeat)):
            if args.waterfall and not args.printed.get(url):
                print(f"  {url}: {name} visit")
            runs.append(visit(context, url, args))
        args.printed[url] = True
        context.close()
    return first, repeat


def _line(name: str, runs: list[dict]) -> str:
    tti = statistics.median(r["tti_s"] for r in runs)
    r0 = runs[0]
    each = ", ".join(f"{r['tti_s']:.2f}" for r in runs)
    needed = statistics.median(r["bytes_in_s"] for r in runs)
    return (f"  {name:<7} interactive after {tti:5.2f} s (median of {len(runs)}; runs "
            f"{each}); {r0['requests']} requests, "
            f"{r0['network']} over the network, {r0['cached']} from the cache; "
            f"{r0['bytes'] / 1e3:.0f} kB transferred ({r0['bytes_after'] / 1e3:.0f} kB of "
            f"them asked for after the map was ready); all it needs in after {needed:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="project directory (default: Mahakam Ulu)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=600.0, help="round trip, ms")
    parser.add_argument("--down", type=float, default=1000.0, help="kbit/s")
    parser.add_argument("--up", type=float, default=256.0, help="kbit/s")
    parser.add_argument("--path", default="/")
    parser.add_argument("--modes", type=lambda v: v.split(","),
                        default=["unbundled", "bundled", "inline"],
                        help="asset modes to measure, comma-separated")
    parser.add_argument("--waterfall", action="store_true",
                        help="print the requests of the first run's visits")
    args = parser.parse_args()
    args.printed = {}
    project = args.project or projects.default_project()

    from playwright.sync_api import sync_playwright

    from web import compression, create_app

    servers = {mode: LiveServer(create_app({"PROJECT": str(project),
                                            "BUNDLE_ASSETS": mode != "unbundled",
                                            "INLINE_ASSETS": mode == "inline"}))
               for mode in args.modes}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"project {project}; link: {args.latency:.0f} ms round trip, {args.down:.0f} kbit/s "
          f"down, {args.up:.0f} kbit/s up (Chromium network emulation); page {args.path}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        # warm the servers as earlier visitors would: pages rendered and cached, and
        # asked for twice, so their best compressed copy is made (web/compression.py)
        for server in servers.values():
            for _ in range(2):
                ctx = browser.new_context()
                ctx.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
                ctx.new_page().goto(server.url + args.path)
                ctx.close()
        compression._maker.submit(lambda: None).result()
        results = {}
        for mode, server in servers.items():
            results[mode] = measure(browser, server.url + args.path, args)
            first, repeat = results[mode]
            print(f"{mode}:")
            print(_line("first", first))
            print(_line("repeat", repeat))
        browser.close()
    for s in servers.values():
        s.stop()
    if "inline" not in results:
        return
    after = results["inline"]
    for name, before in ((m, results[m]) for m in ("bundled", "unbundled") if m in results):
        for i, visit_name in enumerate(("first", "repeat")):
            b = statistics.median(r["tti_s"] for r in before[i])
            a = statistics.median(r["tti_s"] for r in after[i])
            print(f"{visit_name} visit: inline {a:.2f} s vs {name} {b:.2f} s "
                  f"({b / a:.2f}x faster)")
    first = statistics.median(r["tti_s"] for r in after[0])
    repeat = statistics.median(r["tti_s"] for r in after[1])
    print(f"issue 13 targets: first visit {first:.2f} s (target <= 2 s), repeat visit "
          f"{repeat:.2f} s (target <= 1 s); load average {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
