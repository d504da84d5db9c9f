"""A register of 740,000 sites: map page size and register XLSX memory (issue 12, item 5).

Copies an analysed project (default: builds the sample in ``bench/out/many_sites``),
writes N synthetic sites inside its villages, then asks the app for ``/`` and
``/report/register.xlsx`` and prints their sizes, times and the process's peak RSS::

    .venv/bin/python bench/many_sites.py [--sites 740000] [--project DIR]

Before the grouping of sites on the map and the row-by-row register: a 189 MB page
and 6 GB for the workbook (issue 12).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=740_000)
    ap.add_argument("--project", help="an analysed project to copy (default: the sample)")
    args = ap.parse_args()
    import warnings

    from test_web_sites import _many_sites

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.project import Project
    from geo_p2dd.sample import build_sample
    from web import create_app

    work = ROOT / "bench" / "out" / "many_sites"
    shutil.rmtree(work, ignore_errors=True)
    if args.project:
        shutil.copytree(args.project, work, symlinks=True)
        project = Project(work)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            project = build_sample(work)
            analyze_project(project)
    t = time.perf_counter()
    _many_sites(project, args.sites)
    print(f"wrote {args.sites:,} sites in {time.perf_counter() - t:.0f} s")
    client = create_app({"PROJECT": str(work)}).test_client()
    for path in ("/", "/report/register.xlsx"):
        t = time.perf_counter()
        r = client.get(path)
        print(f"{path}: {r.status_code}, {len(r.get_data()) / 1e6:.2f} MB in "
              f"{time.perf_counter() - t:.1f} s")
    print(f"peak RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
