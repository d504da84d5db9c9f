"""The field report form's kampung outlines on the national project: one kabupaten.

Usage (on a private copy of the analysed national project: the register gets a
user and the project cache its simplified outlines)::

    cp -a bench/out/national_project bench/out/national_project_mine
    .venv/bin/python bench/field_outlines.py bench/out/national_project_mine [64.11 ...]

In a fresh app (Flask test client, so only server time is measured), signed in
with an API token:

1. the form page ``/lapor`` (its kabupaten select; the kampung come with the
   outlines), then the peer, measured in the same run: the outlines as the form asked for them
   before (``/lapor/villages.geojson`` without a kabupaten, which on a project
   of several kabupaten now answers "choose one"; the previous code served the
   whole project's extent through ``bbox_villages``, which refuses above 8,000
   villages: its answer and time are measured by calling it directly);
2. ``/lapor/villages.geojson?region=KK.KK`` for each kabupaten given (default
   64.11, Mahakam Ulu, and the kabupaten with the most villages): cold (first
   request of the process: nothing simplified yet), warm (the same data
   version: kept in memory), and a conditional request with the ETag (304).

One line per request: milliseconds, bytes, gzip bytes (what a phone downloads
with compression), features.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "bench" / "out" / "national_project_h28"


def _line(label: str, seconds: float, body: bytes, features: int | None) -> None:
    print(f"{label:<52} {seconds * 1000:9.1f} ms {len(body):>12,} B "
          f"{len(gzip.compress(body, 6)):>11,} B gz  {features if features is not None else '-':>7}"
          " features")


def main(project_dir: Path, regions: list[str]) -> None:
    import pandas as pd

    from geo_p2dd.registry import accounts, db
    from web import create_app

    engine = db.open_database(project_dir)
    if not any(u["name"] == "bench" for u in accounts.list_users(engine)):
        accounts.add_user(engine, "bench", "viewer")
    token = accounts.new_token(engine, "bench")
    engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    app = create_app({"PROJECT": str(project_dir), "TESTING": True})
    client = app.test_client()

    with app.test_request_context():
        from web.context import current_view
        from web.mapdata import bbox_villages

        view = current_view()
        villages = view.villages
        print(f"project: {len(villages):,} villages")
        if not regions:
            counts = pd.Series(villages["kode"].str.slice(0, 5)).value_counts()
            regions = ["64.11", str(counts.index[0])]
        start = time.perf_counter()
        old = bbox_villages(view, tuple(float(v) for v in villages.total_bounds), 12, "id")
        _line("peer: previous code, whole extent (bbox_villages)", time.perf_counter() - start,
              old.encode(), len(json.loads(old)["features"]))
        print(f"    its answer: {old[:90]}")

    start = time.perf_counter()
    form = client.get("/lapor", headers=auth)
    _line("/lapor (the form: kabupaten select, no kampung list)", time.perf_counter() - start,
          form.data, None)
    start = time.perf_counter()
    plain = client.get("/lapor/villages.geojson", headers=auth)
    _line("/lapor/villages.geojson (no kabupaten)", time.perf_counter() - start, plain.data,
          len(plain.get_json()["features"]))
    for region in regions:
        url = f"/lapor/villages.geojson?region={region}"
        for label in ("cold", "warm"):
            start = time.perf_counter()
            got = client.get(url, headers=auth)
            assert got.status_code == 200, got.data[:200]
            _line(f"{url} {label}", time.perf_counter() - start, got.data,
                  len(got.get_json()["features"]))
        start = time.perf_counter()
        same = client.get(url, headers={**auth, "If-None-Match": got.headers["ETag"]})
        _line(f"{url} If-None-Match -> {same.status_code}", time.perf_counter() - start,
              same.data, None)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]) if args else PROJECT, args[1:])
