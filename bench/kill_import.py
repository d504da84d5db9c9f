"""kill -9 at random moments of a real import, then check the project (issue 12).

Builds a project from a villages file (default: Mahakam Ulu; ``--national`` for
all 83,246 villages of Indonesia), then N times: starts ``geo-p2dd import``
of the villages file again (the heaviest import: layers, grid and config all
change), kills it with SIGKILL after a random delay within the import's
measured duration, and checks that ``geo-p2dd info`` and ``geo-p2dd analyze``
accept the project and that it is in the old or the new state (the
configuration's villages source and the layer agree, and nothing is left in
``.staging-*``).

    .venv/bin/python bench/kill_import.py --national --kills 5

This is a check, not a timed benchmark; it prints one line per kill and exits 1
on the first inconsistency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "boundaries"
OUT = ROOT / "bench" / "out"


def geo(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", "from geo_p2dd.cli import main; main()",
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def run(*args: str) -> tuple[int, str, str]:
    p = geo(*args)
    out, err = p.communicate()
    return p.returncode, out, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--national", action="store_true", help="all of Indonesia")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    villages = DATA / ("indonesia_desa.parquet" if args.national else "mahakam_ulu.gpkg")
    if not villages.exists():
        print(f"needs {villages} (../shared/data)")
        return 1
    project = OUT / ("kill_national" if args.national else "kill_mahakam_ulu")
    shutil.rmtree(project, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    rc, _, err = run("init", str(project), "--villages", str(villages))
    if rc:
        print(err)
        return 1
    t0 = time.perf_counter()
    rc, _, err = run("import", "--project", str(project), "villages", str(villages))
    duration = time.perf_counter() - t0
    print(f"one villages import of {villages.name}: {duration:.1f} s (whole process)")
    rng = random.Random(args.seed)
    for k in range(args.kills):
        delay = rng.uniform(0.3 * duration, 1.0 * duration)
        p = geo("import", "--project", str(project), "villages", str(villages))
        time.sleep(delay)
        finished = p.poll() is not None
        p.send_signal(signal.SIGKILL)
        p.communicate()
        staged = sum(f.stat().st_size for d in project.glob(".staging-*")
                     for f in d.rglob("*") if f.is_file())
        rc, out, err = run("info", "--project", str(project), "--json")
        if rc:
            print(f"kill {k + 1}: info failed: {err}")
            return 1
        info = json.loads(out)
        rows = info["layers"]["villages"]["rows"]
        source_rows = info["layers"]["villages"]["source"]["rows"]
        if rows != source_rows:
            print(f"kill {k + 1}: villages layer has {rows} rows, its source says {source_rows}")
            return 1
        t1 = time.perf_counter()
        rc, out, err = run("analyze", "--project", str(project))
        if rc:
            print(f"kill {k + 1}: analyze failed: {err}")
            return 1
        left = list(project.glob(".staging-*"))
        state = "already finished" if finished else "mid-import"
        print(f"kill {k + 1} after {delay:.1f} s ({state}): {staged / 1e6:.0f} MB staged "
              f"left by the kill; info ok ({rows} villages, data version "
              f"{info['data_version']}); analyze ok in {time.perf_counter() - t1:.1f} s; "
              f"staging left after: {len(left)}")
        if left:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
