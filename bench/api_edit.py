"""An edit round-trip through the JSON API over HTTP, against the same edit in the library.

Builds the sample project, moves its sites into the register (SQLite in the
project), adds an editor with an API token and serves the app with waitress on
127.0.0.1 (the production server of ``geo-p2dd serve``). Then times one *edit
round-trip* as a client sees it — ``GET /api/sites/<id>`` for the ETag, then
``PATCH`` with ``If-Match`` (token check, role check, validation, one row
transaction with its history row) on one kept-alive connection — against the
peer measured in the same run on the same database: the same two calls made
in-process (``get_site`` + ``patch_site``), i.e. what HTTP, Flask and the
checks add.

    .venv/bin/python bench/api_edit.py [--repeat 200]

Prints the median and 90th percentile of each and the ratio API / library.
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

from geo_p2dd.registry import accounts  # noqa: E402
from geo_p2dd.registry.repository import get_site, list_sites, patch_site  # noqa: E402
from geo_p2dd.sample import build_sample  # noqa: E402


def quantiles(times: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in times)
    return statistics.median(ms), ms[int(0.9 * (len(ms) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    from conftest import LiveServer

    from geo_p2dd.project import Project
    from geo_p2dd.registry.migrate import open_project_register
    from web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_sample(Path(tmp) / "p")
        project = Project(Path(tmp) / "p")
        engine = open_project_register(project)
        accounts.add_user(engine, "ana", "editor", agency="Diskominfo")
        token = accounts.new_token(engine, "ana")
        site_id = next(s["id"] for s in list_sites(engine) if s["agency"] == "Diskominfo")
        server = LiveServer(create_app({"PROJECT": str(project.path)}))
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        auth = {"Authorization": f"Bearer {token}"}

        def over_http(i: int) -> None:
            conn.request("GET", f"/api/sites/{site_id}", headers=auth)
            got = conn.getresponse()
            got.read()
            body = json.dumps({"notes": f"api {i}"})
            conn.request("PATCH", f"/api/sites/{site_id}", body=body, headers={
                **auth, "If-Match": got.headers["ETag"], "Content-Type": "application/json"})
            done = conn.getresponse()
            done.read()
            assert done.status == 200, done.status

        def in_process(i: int) -> None:
            _site, tag = get_site(engine, site_id)
            patch_site(engine, site_id, {"notes": f"lib {i}"}, tag, user="ana", source="cli")

        results = {}
        for name, edit in (("api over HTTP", over_http), ("library", in_process)):
            for i in range(10):  # warm up
                edit(-i - 1)
            times = []
            for i in range(args.repeat):
                start = time.perf_counter()
                edit(i)
                times.append(time.perf_counter() - start)
            results[name] = quantiles(times)
        server.stop()
        engine.dispose()

    for name, (median, p90) in results.items():
        print(f"{name:>14}: median {median:7.2f} ms   p90 {p90:7.2f} ms")
    ratio = results["api over HTTP"][0] / results["library"][0]
    print(f"edit round-trip through the API costs {ratio:.1f}x the library's "
          f"({args.repeat} edits each, SQLite)")


if __name__ == "__main__":
    main()
