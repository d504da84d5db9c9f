"""Pages while the analysis re-runs in the background, and how long results lag an edit.

Builds and analyses the sample project, adds an admin with an API token and serves
the app with waitress on 127.0.0.1 with re-analysis on (``REANALYSE``). Then:

1. *Page latency*: a village page (``GET /village/<kode>``, kept in the page cache)
   fetched ``--repeat`` times while nothing runs (the peer), then as often as it can
   be while a background analysis runs after an API edit. The first request after
   the edit reads the project view again (the register's version changed) and
   renders the page: it is printed apart.
2. *Lag*: from the API edit (PATCH sent) until ``GET /api/analysis`` reports the
   results computed from that register version, against the same analysis run
   in-process with :func:`geo_p2dd.analysis.analyze_project` in the same run (the peer).

    .venv/bin/python bench/reanalysis_pages.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geo_p2dd.analysis import analyze_project  # noqa: E402
from geo_p2dd.registry import accounts  # noqa: E402
from geo_p2dd.registry.store import engine_for  # noqa: E402
from geo_p2dd.sample import build_sample  # noqa: E402


def quantiles(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return statistics.median(ms), ms[int(0.9 * (len(ms) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    from conftest import LiveServer

    from web import create_app, reanalysis

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = build_sample(Path(tmp) / "sample")
        t = time.perf_counter()
        analyze_project(project)
        in_process = time.perf_counter() - t
        engine = engine_for(project.path)
        accounts.add_user(engine, "admin", "admin")
        token = {"Authorization": f"Bearer {accounts.new_token(engine, 'admin')}"}
        kode = project.read_table("village_results")["kode"].iloc[0]
        server = LiveServer(create_app({"PROJECT": str(project.path), "REANALYSE": True}))
        conn = http.client.HTTPConnection("127.0.0.1", server.port)

        def get(url: str, headers: dict | None = None) -> tuple[float, http.client.HTTPResponse,
                                                                 bytes]:
            t0 = time.perf_counter()
            conn.request("GET", url, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return (time.perf_counter() - t0) * 1000, resp, body

        page = f"/village/{kode}?lang=id"
        get(page)  # rendered once, then from the page cache
        idle = [get(page)[0] for _ in range(args.repeat)]

        _, resp, body = get("/api/sites", token)
        site_id = json.loads(body)["features"][0]["id"]
        _, resp, _ = get(f"/api/sites/{site_id}", token)
        conn.request("PATCH", f"/api/sites/{site_id}", body=json.dumps({"name": "Bench"}),
                     headers={**token, "If-Match": resp.getheader("ETag"),
                              "Content-Type": "application/json"})
        sent = time.perf_counter()
        resp = conn.getresponse()
        edited = json.loads(resp.read())
        assert resp.status == 200, edited
        target = json.loads(get("/api/analysis")[2])["register_version"]

        first = get(page)[0]
        runner = reanalysis.runner_for(project.path)
        during = []
        while runner.snapshot().status in ("queued", "running") and len(during) < 10_000:
            during.append(get(page)[0])
        while True:
            status = json.loads(get("/api/analysis")[2])
            if status["analysed_register_version"] == target and status["status"] == "idle":
                break
            time.sleep(0.05)
        lag = time.perf_counter() - sent
        state = runner.snapshot()
        reanalysis.stop_runner(project.path)
        conn.close()
        time.sleep(0.5)  # the server's channel closes before its loop does
        server.stop()

    m, p90 = quantiles(idle)
    print(f"village page, nothing running:   median {m:7.1f} ms, p90 {p90:7.1f} ms "
          f"({len(idle)} requests)")
    print(f"first request after the edit:    {first:7.1f} ms (view read again, page rendered)")
    if during:
        m2, p2 = quantiles(during)
        print(f"village page, analysis running:  median {m2:7.1f} ms, p90 {p2:7.1f} ms "
              f"({len(during)} requests); ratio running/idle {m2 / m:.2f}")
    else:
        print("village page, analysis running:  no request completed while it ran")
    print(f"edit -> new results served:      {lag:7.2f} s (runs {state.runs}, "
          f"error {state.error})")
    print(f"the same analysis in-process:    {in_process:7.2f} s; ratio lag/analysis "
          f"{lag / in_process:.2f}")


if __name__ == "__main__":
    main()
