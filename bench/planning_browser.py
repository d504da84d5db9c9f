"""What-if latency in a real browser: click on the Planning page's map -> summary shown.

Starts the app on a loopback server (waitress), signs in with headless Chromium, creates a
scenario on ``/rencana`` and adds ``--clicks`` sites (Starlink and BTS in turn) by clicking
the map at unserved settlements; the page records the click and the moment the summary is
drawn (``window.geoP2DDPlanning``). Named peers in the same run: with ``--region`` the same
clicks on the whole-project page (one what-if baseline for every region); without it, one
re-analysis of the project (``analyze_project(write=False)``), what answering the question
took before scenarios.

    .venv/bin/python bench/planning_browser.py                 # real Mahakam Ulu (built)
    .venv/bin/python bench/planning_browser.py --project bench/out/national_project_h24 \\
        --region 64.11
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from geo_p2dd.codes import in_region  # noqa: E402
from geo_p2dd.project import Project  # noqa: E402
from geo_p2dd.registry import accounts, db  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "rahasia-bench-123"


def serve(project_path: Path):
    from waitress.server import create_server

    from web import create_app

    app = create_app({"PROJECT": str(project_path)})
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.socket.getsockname()[1]}"


def clicks(page, url: str, points: list[tuple[float, float]], name: str) -> list[float]:
    """Latencies (ms) of adding one site per point on ``url`` (a fresh scenario)."""
    page.goto(url)
    page.wait_for_function("() => window.geoP2DDPlanning && window.geoP2DDPlanning.ready")
    page.fill("#scenario-name", name)
    n = page.evaluate("() => window.geoP2DDPlanning.updates")
    page.click("#new-scenario")
    page.wait_for_function("(n) => window.geoP2DDPlanning.updates > n", arg=n, timeout=300_000)
    out = []
    for i, (lon, lat) in enumerate(points):
        page.select_option("#site-kind", "bts" if i % 2 else "starlink")
        x, y = page.evaluate(
            """([lon, lat]) => {
                const map = window.geoP2DDPlanning.map;
                map.setView([lat, lon], 13, {animate: false});
                const p = map.latLngToContainerPoint([lat, lon]);
                const box = map.getContainer().getBoundingClientRect();
                return [box.left + p.x, box.top + p.y];
            }""", [lon, lat])
        n = page.evaluate("() => window.geoP2DDPlanning.updates")
        page.mouse.click(x, y)
        page.wait_for_function("(n) => window.geoP2DDPlanning.updates > n", arg=n,
                               timeout=300_000)
        out.append(page.evaluate(
            "() => window.geoP2DDPlanning.renderedAt - window.geoP2DDPlanning.clickedAt"))
    return out


def report(label: str, ms: list[float]) -> float:
    med = statistics.median(ms)
    print(f"  {label}: median {med:.0f} ms over {len(ms)} clicks (min {min(ms):.0f}, "
          f"max {max(ms):.0f}; the first includes loading the what-if baseline)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, help="an analysed project (else real Mahakam Ulu)")
    ap.add_argument("--region", help="plan this region of --project (/rencana?region=)")
    ap.add_argument("--clicks", type=int, default=10)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        if args.project is None:
            from plan_whatif import build_project

            project, name = build_project(Path(tmp))
        else:
            project, name = Project(args.project), str(args.project)
        loc = project.read_table("location_results")
        loc = loc[(loc["status_planned"] != "served") & (loc["kind"] == "settlement")]
        if args.region:
            loc = loc[in_region(loc["village_kode"], args.region).to_numpy()]
        loc = loc.sort_values("people", ascending=False)
        points = [(float(r.lon), float(r.lat)) for r in loc.head(args.clicks).itertuples()]
        engine = db.open_database(project.path)
        user = f"bench{int(time.time())}"
        accounts.add_user(engine, user, "viewer", password=PASSWORD)
        engine.dispose()
        server, url = serve(project.path)
        print(f"project: {name}; {len(points)} clicks at unserved settlements")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_cookies([{"name": "basemap", "value": "none", "url": url}])
            page = context.new_page()
            page.goto(url + "/auth/login")
            page.fill('input[name="name"]', user)
            page.fill('input[name="password"]', PASSWORD)
            page.click('#login-form button[type="submit"]')
            page.wait_for_load_state()
            if args.region:
                med = report(f"/rencana?region={args.region}", clicks(
                    page, f"{url}/rencana?region={args.region}", points, "bench region"))
                peer = report("peer: /rencana, whole project", clicks(
                    page, f"{url}/rencana", points, "bench whole"))
            else:
                med = report("/rencana", clicks(page, f"{url}/rencana", points, "bench"))
                from geo_p2dd.analysis import analyze_project

                t0 = time.perf_counter()
                analyze_project(Project(project.path), write=False)
                peer = (time.perf_counter() - t0) * 1000
                print(f"  peer: one re-analysis of the project {peer:.0f} ms")
            print(f"  peer / what-if in the browser: {peer / med:.1f}x")
            browser.close()
        server.close()


if __name__ == "__main__":
    main()
