"""Server time of the per-view village data and of the summaries index, national project.

Usage (after ``bench/analyze_national.py`` made and analysed the national project)::

    .venv/bin/python bench/village_views.py [PROJECT_DIR] [--villages-only]

In a fresh app (Flask test client, so only server time is measured), in order:

1. ``/api/villages.geojson?bbox=&zoom=10`` for the densest 1400 x 900 px view of
   Central Java at zoom 10 (the window holding most villages among a grid of
   candidates): the first request (cold: nothing of the project's map data in
   memory yet; a band not yet in the project cache starts building in the
   background), then — once any background build is done — the same view
   again, a view panned by half a screen, and the view with the in-memory map
   data dropped (a fresh process: the band is read from the project cache);
2. ``/report/`` and a province page ``/report/?in=33``, cold and warm.

One line per request: milliseconds, response size, features. Compare runs of
two checkouts by running the script from each (``PYTHONPATH`` set to it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "bench" / "out" / "national_project"
ZOOM = 10
WIDTH_PX, HEIGHT_PX = 1400, 900
CENTRAL_JAVA = (108.5, -8.3, 111.8, -6.3)  # west, south, east, north


def view_bbox(lon: float, lat: float) -> tuple[float, float, float, float]:
    """The bbox of a 1400 x 900 px web-mercator view centred on (lon, lat) at ZOOM."""
    deg = 360.0 / (256.0 * 2 ** ZOOM)
    half_w = WIDTH_PX / 2 * deg
    half_h = HEIGHT_PX / 2 * deg * np.cos(np.radians(lat))
    return lon - half_w, lat - half_h, lon + half_w, lat + half_h


def densest_view(project_dir: Path) -> tuple[tuple[float, float, float, float], int]:
    import shapely

    from geo_p2dd.project import Project

    villages = Project(project_dir).read_layer("villages", columns=["kode"])
    tree = shapely.STRtree(villages.geometry.values)
    best, count = None, -1
    west, south, east, north = CENTRAL_JAVA
    for lon in np.arange(west + 0.9, east - 0.9 + 1e-9, 0.1):
        for lat in np.arange(south + 0.6, north - 0.6 + 1e-9, 0.1):
            box = view_bbox(float(lon), float(lat))
            n = len(tree.query(shapely.box(*box)))
            if n > count:
                best, count = box, n
    return best, count


def timed_get(client, url: str) -> tuple[float, bytes, int]:
    t = time.perf_counter()
    response = client.get(url)
    ms = (time.perf_counter() - t) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return ms, response.get_data(), response.status_code


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    villages_only = "--villages-only" in sys.argv  # (an old /report/ takes minutes)
    project_dir = Path(args[0]) if args else PROJECT
    box, count = densest_view(project_dir)
    print(f"densest Central Java view at zoom {ZOOM}, {WIDTH_PX} x {HEIGHT_PX} px: "
          f"{', '.join(f'{v:.4f}' for v in box)} ({count} villages' bounds meet it)")
    from web import create_app

    t = time.perf_counter()
    app = create_app({"PROJECT": str(project_dir), "TESTING": True})
    client = app.test_client()
    from web.context import load_view

    load_view(project_dir)
    print(f"app and project view loaded in {(time.perf_counter() - t) * 1000:.0f} ms")
    from web import mapdata

    w, s, e, n = box
    shift = (e - w) / 2
    view_url = f"/api/villages.geojson?bbox={w},{s},{e},{n}&zoom={ZOOM}"
    urls = [("villages cold", view_url), ("wait", ""), ("villages again", view_url),
            ("villages panned", f"/api/villages.geojson?bbox={w + shift},{s},{e + shift},{n}"
                                f"&zoom={ZOOM}"),
            ("fresh view", ""), ("villages fresh view", view_url),
            ("villages fresh again", view_url),
            ("report index cold", "/report/"), ("report index warm", "/report/"),
            ("report province 33", "/report/?in=33")]
    for name, url in urls:
        if villages_only and name.startswith("report"):
            continue
        if name == "wait":  # a band being built in the background (this checkout's)
            t = time.perf_counter()
            for thread in list(getattr(mapdata, "_building", {}).values()):
                thread.join()
            print(f"background band build waited for: {time.perf_counter() - t:.1f} s")
            continue
        if name == "fresh view":
            load_view(project_dir).extra.clear()
            continue
        ms, body, _ = timed_get(client, url)
        extra = ""
        if "villages" in name:
            extra = f", {len(json.loads(body)['features'])} features"
        print(f"{name:<22}{ms:>9.0f} ms  {len(body) / 1e6:>7.2f} MB{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
