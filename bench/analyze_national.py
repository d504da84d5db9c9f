"""End to end: ``geo-p2dd analyze`` on all 83,246 villages of Indonesia.

Run from the repository root after ``bench/zonal_national.py`` (which makes the
national coverage raster in ``bench/out/``)::

    .venv/bin/python bench/analyze_national.py            # reuse the project if built
    .venv/bin/python bench/analyze_national.py --rebuild  # re-import (times the imports)
    .venv/bin/python bench/analyze_national.py --profile  # also profile analyze (pyinstrument)

Steps, each in its own process so that figures are whole-process ones:

1. ``init_project(DIR, villages=indonesia_desa.parquet)`` and
   ``import_layer(project, "coverage", <national raster>, values="classes",
   technology="4G")`` into ``bench/out/national_project`` (timed, only with
   ``--rebuild`` or when the project is missing);
2. ``geo-p2dd analyze --project DIR`` as a whole process: cold (the project's
   label-run cache emptied first) and warm (cache present), N runs each; wall
   time of the process, its peak RSS (``/usr/bin/time``) and the analysis'
   own stage timings (``--json``);
3. exactextract alone as a whole process: read the villages (WKB straight from
   the GeoParquet) and the project's coverage raster into memory, class
   fractions for every village (exactextract's fastest configuration).

Prints one line per step; exits 1 if analyze fails or is slower than
exactextract alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PROJECT = OUT / "national_project"
DESA = ROOT.parent / "shared" / "data" / "boundaries" / "indonesia_desa.parquet"
sys.path.insert(0, str(ROOT / "bench"))

import zonal_national as zn  # noqa: E402

GEO_P2DD = str(Path(sys.executable).with_name("geo-p2dd"))


def timed_process(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; wall seconds, peak RSS (MB, from /usr/bin/time) and its stdout."""
    fmt = "@@maxrss_kb=%M"
    full = ["/usr/bin/time", "-f", fmt, *cmd] if Path("/usr/bin/time").exists() else cmd
    t = time.perf_counter()
    proc = subprocess.run(full, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    m = re.search(r"@@maxrss_kb=(\d+)", proc.stderr)
    return wall, (int(m.group(1)) / 1024 if m else float("nan")), proc.stdout


# -- children ---------------------------------------------------------------------------------


def child_build() -> None:
    from geo_p2dd.imports import import_layer, init_project

    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    t = time.perf_counter()
    project, _ = init_project(PROJECT, villages=DESA)
    t_init = time.perf_counter() - t
    t = time.perf_counter()
    import_layer(project, "coverage", zn.RASTER_TIF, values="classes", technology="4G")
    t_cov = time.perf_counter() - t
    print(json.dumps({"init_s": t_init, "coverage_s": t_cov}))


def child_exactextract() -> None:
    """exactextract alone, whole process: villages + raster in, fractions out."""
    import pyarrow.parquet as pq
    import rasterio
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    t0 = time.perf_counter()
    wkbs = pq.read_table(DESA, columns=["geometry"])["geometry"].to_pylist()
    t1 = time.perf_counter()
    raster = next((PROJECT / "rasters").glob("coverage*.tif"))
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(raster) as src:
        cls = src.read(1)
        w, s, e, n = src.bounds
    t2 = time.perf_counter()
    rast = NumPyRasterSource(cls, w, s, e, n)
    feats = exact_extract(rast, zn._WKB.source(wkbs), ["unique", "frac"])
    t3 = time.perf_counter()
    frac = zn.ee_fractions(feats)
    t4 = time.perf_counter()
    print(json.dumps({"villages": len(frac), "with_value": int((frac.sum(axis=1) > 0).sum()),
                      "stages_s": {"read villages (WKB)": round(t1 - t0, 2),
                                   "read raster": round(t2 - t1, 2),
                                   "exact_extract": round(t3 - t2, 2),
                                   "fractions": round(t4 - t3, 2)}}))


def child_profile() -> None:
    from pyinstrument import Profiler

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.project import Project

    profiler = Profiler(interval=0.002)
    profiler.start()
    result = analyze_project(Project(PROJECT))
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    (OUT / "analyze_profile.txt").write_text(text)
    print(json.dumps({"timings": result.timings}))


# -- parent -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--rebuild", action="store_true", help="re-create the national project")
    ap.add_argument("--runs", type=int, default=3, help="analyze runs, cold and warm each")
    ap.add_argument("--ee-runs", type=int, default=1, help="exactextract-alone runs")
    ap.add_argument("--profile", action="store_true", help="profile analyze (pyinstrument)")
    args = ap.parse_args()
    if args.child == "build":
        child_build()
        return 0
    if args.child == "exactextract":
        child_exactextract()
        return 0
    if args.child == "profile":
        child_profile()
        return 0

    def log(msg: str) -> None:
        print(msg, flush=True)

    subprocess.run([sys.executable, zn.__file__, "--child", "prepare"], check=True, cwd=ROOT)
    log(f"machine: {os.cpu_count()} cores; load average before: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.rebuild or not (PROJECT / "project.toml").exists():
        wall, rss, out = timed_process([sys.executable, __file__, "--child", "build"])
        b = json.loads(out.strip().splitlines()[-1])
        log(f"import: init_project (83,246 villages) {b['init_s']:.1f} s, coverage raster "
            f"{b['coverage_s']:.1f} s; whole process {wall:.1f} s, peak RSS {rss:.0f} MB")
    cache = PROJECT / "cache"
    rows = []
    for mode in ("cold", "warm"):
        walls, rsss, stages = [], [], []
        for _ in range(args.runs):
            if mode == "cold":
                shutil.rmtree(cache, ignore_errors=True)
            wall, rss, out = timed_process([GEO_P2DD, "analyze", "--project", str(PROJECT),
                                            "--json"])
            summary = json.loads(out)
            walls.append(wall)
            rsss.append(rss)
            stages.append(summary["timings_s"])
        i = int(np.argsort(walls)[len(walls) // 2])
        rows.append((f"geo-p2dd analyze ({mode})", walls, max(rsss)))
        log(f"analyze {mode}: runs {', '.join(f'{w:.2f}' for w in walls)} s; stages of the "
            f"median run: {stages[i]}")
    ee_walls, ee_rss = [], []
    for _ in range(args.ee_runs):
        wall, rss, out = timed_process([sys.executable, __file__, "--child", "exactextract"])
        ee_walls.append(wall)
        ee_rss.append(rss)
        log(f"exactextract alone: {wall:.2f} s; stages "
            f"{json.loads(out.strip().splitlines()[-1])['stages_s']}")
    rows.append(("exactextract alone", ee_walls, max(ee_rss)))
    ee = float(np.median(ee_walls))
    log("")
    log(f"{'whole process':<28}{'median_s':>10}{'runs':>6}{'peak_rss_MB':>13}"
        f"{'x_exactextract':>16}")
    for name, walls, rss in rows:
        m = float(np.median(walls))
        log(f"{name:<28}{m:>10.2f}{len(walls):>6}{rss:>13.0f}{m / ee:>16.3f}")
    log(f"summary: {summary['villages']} villages, per class {summary['per_class']}")
    if args.profile:
        wall, rss, out = timed_process([sys.executable, __file__, "--child", "profile"])
        log(f"profile (warm cache) written to {OUT / 'analyze_profile.txt'}")
    cold = float(np.median(rows[0][1]))
    return 0 if cold < ee else 1


if __name__ == "__main__":
    sys.exit(main())
