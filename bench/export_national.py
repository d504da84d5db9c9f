"""Benchmark: export the national village layer (83,246 desa) as a GeoPackage.

    .venv/bin/python bench/export_national.py [--project DIR] [--format gpkg]

The first run builds a national project from
``../shared/data/boundaries/indonesia_desa.parquet`` (``init_project`` with no
region, then ``analyze_project``) in ``bench/out/national`` (reused later; pass
``--rebuild`` to start again). The export is then measured in a fresh Python
process so that its peak resident memory is the export's own: loading the
project's layers, building the villages layer with every analysis column, and
writing the file with its metadata (what ``geo-p2dd export --layer villages
--format gpkg`` and the web download do).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "boundaries" / "indonesia_desa.parquet"
OUT = ROOT / "bench" / "out"


def rss_mb() -> float:
    """Current resident set size (MB) from /proc."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(project_dir: Path) -> dict:
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the national file's invalid polygons are repaired
        project, _ = init_project(project_dir, villages=DATA)
    t1 = time.perf_counter()
    analyze_project(project)
    t2 = time.perf_counter()
    return {"init_s": round(t1 - t0, 1), "analyze_s": round(t2 - t1, 1)}


def measure(project_dir: Path, fmt: str, out: Path) -> dict:
    """Run in a child process: time and peak memory of one export."""
    import geopandas  # noqa: F401  (libraries loaded before the baseline)
    import pyogrio  # noqa: F401

    from geo_p2dd.exports.data import ExportData
    from geo_p2dd.exports.metadata import build_metadata
    from geo_p2dd.exports.writers import write_layer
    from geo_p2dd.project import Project

    base = rss_mb()
    t0 = time.perf_counter()
    data = ExportData(Project(project_dir))
    frame = data.layer("villages")
    t1 = time.perf_counter()
    meta = build_metadata(data, "villages", frame, fmt=None)
    write_layer(frame, out, fmt, layer="villages", metadata=meta)
    t2 = time.perf_counter()
    return {"rows": len(frame), "columns": frame.shape[1], "load_s": round(t1 - t0, 2),
            "write_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
            "baseline_rss_mb": round(base, 1), "peak_rss_mb": round(peak_mb(), 1),
            "bytes": out.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, default=OUT / "national")
    ap.add_argument("--format", default="gpkg")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = OUT / f"national_villages.{args.format}"
    if args.child:
        print(json.dumps(measure(args.project, args.format, out)))
        return
    if not DATA.exists():
        sys.exit(f"needs {DATA} (the national boundaries in ../shared/data)")
    OUT.mkdir(parents=True, exist_ok=True)
    if args.rebuild and args.project.exists():
        import shutil

        shutil.rmtree(args.project)
    built = None
    if not (args.project / "project.toml").exists():
        print(f"building the national project in {args.project} (once) ...", flush=True)
        built = build(args.project)
        print(f"  init {built['init_s']} s, analyze {built['analyze_s']} s", flush=True)
    child = subprocess.run([sys.executable, __file__, "--child", "--project", str(args.project),
                            "--format", args.format], capture_output=True, text=True,
                           check=True)
    r = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"national village layer -> {args.format}: {r['rows']:,} villages x {r['columns']} "
          f"columns, {r['bytes'] / 1e6:.0f} MB")
    print(f"  time: {r['total_s']} s (load and join {r['load_s']} s, write {r['write_s']} s)")
    print(f"  peak RSS: {r['peak_rss_mb']:.0f} MB (Python + libraries before loading: "
          f"{r['baseline_rss_mb']:.0f} MB)")
    print(json.dumps({"build": built, "export": r}))


if __name__ == "__main__":
    main()
