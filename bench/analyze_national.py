"""End to end: ``geo-p2dd analyze`` on all 83,246 villages of Indonesia.

Run from the repository root (the national class raster is made by
``bench/zonal_national.py``'s prepare step, the dBm one from it here, both into
``bench/out/``)::

    .venv/bin/python bench/analyze_national.py            # reuse the project if built
    .venv/bin/python bench/analyze_national.py --rebuild  # re-import (times the imports)
    .venv/bin/python bench/analyze_national.py --profile  # also profile analyze (pyinstrument)

Steps, each in its own process so that figures are whole-process ones:

1. ``init_project(DIR, villages=indonesia_desa.parquet)`` and
   ``import_layer(project, "coverage", <national raster>, values="classes",
   technology="4G")`` into ``bench/out/national_project``; the same with the
   float32 dBm variant of that raster (``values="dbm"``: every class drawn as a
   dBm value inside its class band with the default thresholds, so both
   projects have the same classes) into ``bench/out/national_project_dbm``
   (timed, only with ``--rebuild`` or when a project is missing);
2. ``geo-p2dd analyze --project DIR`` as a whole process, for each project:
   cold (the project's cache emptied first: label runs, and for dBm the class
   cache) and warm (cache present), N runs each; wall time of the process, its
   peak RSS (``/usr/bin/time``) and the analysis' own stage timings
   (``--json``);
3. exactextract alone as a whole process: read the villages (WKB straight from
   the GeoParquet) and the project's coverage raster into memory, class
   fractions for every village (exactextract's fastest configuration).

Prints one line per step; exits 1 if analyze fails, if the classes project's
cold analyze is slower than exactextract alone, or if the dBm project's warm
analyze takes more than half of exactextract's time (issue 13's target).
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
PROJECT_DBM = OUT / "national_project_dbm"
DESA = ROOT.parent / "shared" / "data" / "boundaries" / "indonesia_desa.parquet"
sys.path.insert(0, str(ROOT / "bench"))

import zonal_national as zn  # noqa: E402

GEO_P2DD = str(Path(sys.executable).with_name("geo-p2dd"))
DBM_TIF = OUT / f"coverage_dbm_{zn.SEED}.tif"
DBM_NODATA = -9999.0
#: centre of each class' dBm band (default thresholds -85/-95/-105/-115); class 0 is nodata
DBM_CENTRE = np.array([DBM_NODATA, -125.0, -110.0, -100.0, -90.0, -80.0], dtype=np.float32)


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


def child_prepare_dbm() -> None:
    """The dBm variant of the class raster: float32, each class inside its dBm band.

    A value per pixel = its class' band centre + a deterministic offset in
    -4.5..+4.5 dB (0.5 dB steps), so that the classes with the default
    thresholds are exactly those of the class raster and the file does not
    compress to nothing; class 0 (unknown) becomes nodata.
    """
    import rasterio

    if DBM_TIF.exists():
        return
    cls = np.load(zn.RASTER_NPY, mmap_mode="r")
    rng = np.random.default_rng(zn.SEED + 1)
    tmp = DBM_TIF.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": zn.WIDTH, "height": zn.HEIGHT, "count": 1,
               "dtype": "float32", "crs": "EPSG:4326", "transform": zn.transform(),
               "nodata": DBM_NODATA, "tiled": True, "blockxsize": 512, "blockysize": 512,
               "compress": "DEFLATE", "BIGTIFF": "YES"}
    t = time.perf_counter()
    with rasterio.open(tmp, "w", **profile) as dst:
        step = 1024
        for r in range(0, zn.HEIGHT, step):
            c = np.asarray(cls[r:r + step])
            dbm = DBM_CENTRE[c]
            noise = rng.integers(-9, 10, size=c.shape, dtype=np.int8).astype(np.float32)
            dbm += np.where(c > 0, noise * np.float32(0.5), np.float32(0))
            dst.write(dbm, 1, window=rasterio.windows.Window(0, r, zn.WIDTH, c.shape[0]))
    os.replace(tmp, DBM_TIF)
    print(f"raster: -> {DBM_TIF.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)


def child_build(which: str) -> None:
    from geo_p2dd.imports import import_layer, init_project

    path, raster, values = ((PROJECT, zn.RASTER_TIF, "classes") if which == "classes"
                            else (PROJECT_DBM, DBM_TIF, "dbm"))
    if path.exists():
        shutil.rmtree(path)
    t = time.perf_counter()
    project, _ = init_project(path, villages=DESA)
    t_init = time.perf_counter() - t
    t = time.perf_counter()
    import_layer(project, "coverage", raster, values=values, technology="4G")
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


def child_profile(project_dir: Path) -> None:
    from pyinstrument import Profiler

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.project import Project

    profiler = Profiler(interval=0.002)
    profiler.start()
    result = analyze_project(Project(project_dir))
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    (OUT / f"analyze_profile_{project_dir.name}.txt").write_text(text)
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
    if args.child in ("build-classes", "build-dbm"):
        child_build(args.child.removeprefix("build-"))
        return 0
    if args.child == "prepare-dbm":
        child_prepare_dbm()
        return 0
    if args.child == "exactextract":
        child_exactextract()
        return 0
    if args.child in ("profile-classes", "profile-dbm"):
        child_profile(PROJECT if args.child == "profile-classes" else PROJECT_DBM)
        return 0

    def log(msg: str) -> None:
        print(msg, flush=True)

    subprocess.run([sys.executable, zn.__file__, "--child", "prepare"], check=True, cwd=ROOT)
    subprocess.run([sys.executable, __file__, "--child", "prepare-dbm"], check=True, cwd=ROOT)
    log(f"machine: {os.cpu_count()} cores; load average before: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    projects = (("classes", PROJECT), ("dbm", PROJECT_DBM))
    for which, path in projects:
        if args.rebuild or not (path / "project.toml").exists():
            wall, rss, out = timed_process([sys.executable, __file__, "--child",
                                            f"build-{which}"])
            b = json.loads(out.strip().splitlines()[-1])
            log(f"import ({which}): init_project (83,246 villages) {b['init_s']:.1f} s, "
                f"coverage raster {b['coverage_s']:.1f} s; whole process {wall:.1f} s, "
                f"peak RSS {rss:.0f} MB")
    rows, summaries = [], {}
    for which, path in projects:
        cache = path / "cache"
        for mode in ("cold", "warm"):
            walls, rsss, stages = [], [], []
            for _ in range(args.runs):
                if mode == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                wall, rss, out = timed_process([GEO_P2DD, "analyze", "--project", str(path),
                                                "--json"])
                summary = json.loads(out)
                walls.append(wall)
                rsss.append(rss)
                stages.append(summary["timings_s"])
            summaries[which] = summary
            i = int(np.argsort(walls)[len(walls) // 2])
            rows.append((f"analyze {which} ({mode})", walls, max(rsss)))
            log(f"analyze {which} {mode}: runs {', '.join(f'{w:.2f}' for w in walls)} s; "
                f"stages of the median run: {stages[i]}")
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
    med = {}
    for name, walls, rss in rows:
        med[name] = m = float(np.median(walls))
        log(f"{name:<28}{m:>10.2f}{len(walls):>6}{rss:>13.0f}{m / ee:>16.3f}")
    for which, summary in summaries.items():
        log(f"summary ({which}): {summary['villages']} villages, per class "
            f"{summary['per_class']}")
    same = summaries["classes"]["per_class"] == summaries["dbm"]["per_class"]
    log(f"dBm and classes projects give the same village classes: {same}")
    warm_dbm = med["analyze dbm (warm)"]
    log(f"target analyze dBm (warm) <= 0.5 x exactextract: {warm_dbm:.2f} s, "
        f"{warm_dbm / ee:.3f} x -> {'MET' if warm_dbm <= ee / 2 else 'MISSED'}")
    if args.profile:
        for which, _ in projects:
            timed_process([sys.executable, __file__, "--child", f"profile-{which}"])
        log(f"profiles (warm cache) written to {OUT}/analyze_profile_*.txt")
    cold = med["analyze classes (cold)"]
    return 0 if cold < ee and warm_dbm <= ee / 2 and same else 1

if __name__ == "__main__":
    sys.exit(main())
