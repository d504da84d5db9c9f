"""The printed summary with and without its "Rekomendasi" section (first and repeat).

Copies an analysed project (default: real Mahakam Ulu in ``bench/out/mahakam_ulu``)
to a temporary directory with an empty cache, and times the summary of ``--region``
(HTML with its map, and the PDF) as ``geo-p2dd report`` lays it out:

- ``off``: ``[planning] summary_max_sites = 0``, the section disabled (the summary as it
  was before the section: the peer);
- ``first``: ``summary_max_sites = 5`` with an empty cache (the plan is computed);
- ``repeat``: the same again (the plan's figures read back from the project cache).

Wall and CPU seconds of each, the ratios to ``off``, and the 1-minute load average.
The PDF cache (``cached_pdf``) is not used: every run lays the PDF out again.

Usage::

    .venv/bin/python bench/summary_recommendations.py [--project DIR] [--region 64.11]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default=str(ROOT / "bench" / "out" / "mahakam_ulu"))
    ap.add_argument("--region", default="64.11")
    args = ap.parse_args()
    from geo_p2dd.project import Project
    from geo_p2dd.report.pdf import render_pdf
    from geo_p2dd.report.recommendations import recommendations

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "project"
        shutil.copytree(args.project, path, symlinks=True)
        shutil.rmtree(path / "cache", ignore_errors=True)

        def configure(n: int) -> Project:
            project = Project(path)
            with project.transaction("bench summary_max_sites") as tx:
                tx.config["planning"] = {**tx.config.get("planning", {}),
                                         "summary_max_sites": n}
            return Project(path)

        rows = []
        project = configure(0)
        _, wall, cpu = _timed(lambda: render_pdf(project, args.region))
        rows.append(("off (no section)", wall, cpu))
        project = configure(5)
        shutil.rmtree(path / "cache", ignore_errors=True)  # no plan reaches kept either
        for name in ("first (plan computed)", "repeat (plan from cache)"):
            project = Project(path)
            _, wall, cpu = _timed(lambda p=project: render_pdf(p, args.region))
            rows.append((name, wall, cpu))
        rec = recommendations(project, args.region, "kabupaten")
        print(f"summary PDF of {args.region} ({Path(args.project).name}), "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"{'run':<28}{'wall s':>8}{'cpu s':>8}{'x off':>8}")
        for name, wall, cpu in rows:
            print(f"{name:<28}{wall:>8.2f}{cpu:>8.2f}{wall / rows[0][1]:>8.2f}")
        print(f"section: {rec['status']}, {len(rec.get('rows', []))} sites, "
              f"{rec.get('totals', {}).get('people', '-')} people newly served")


if __name__ == "__main__":
    main()
