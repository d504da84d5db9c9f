"""The preview of a 2,000-row agency sheet, against importing the same sheet.

Builds the sample project, writes an agency sheet (CSV) of ``--rows`` sites in its
kampung (half of them already in the register with a changed status, half new,
and one row in fifty bad), then times:

- ``preview_import`` (read and check the sheet, merge it, plan the row changes;
  nothing stored) — what the web's upload page does before "confirm";
- ``commit_import`` of that preview (one database transaction);
- the peer, in the same run on the same disk: ``import_layer`` of the same sheet into a
  copy of the project (``geo-p2dd import``: read, check, merge, the register's
  transaction and a new project generation).

    .venv/bin/python bench/register_import.py [--rows 2000] [--repeat 5]

Prints the median of each and the ratio import / preview.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo_p2dd.imports import import_layer  # noqa: E402
from geo_p2dd.project import Project  # noqa: E402
from geo_p2dd.registry.importing import commit_import, preview_import  # noqa: E402
from geo_p2dd.sample import build_sample  # noqa: E402


def agency_sheet(project: Project, path: Path, rows: int) -> None:
    villages = project.read_layer("villages")
    points = villages.representative_point()
    rng = np.random.default_rng(0)
    lines = ["nama lokasi,jenis,status,kode_desa,OPD,sumber dana,tahun,pagu,tahun anggaran,"
             "bujur,lintang"]
    for i in range(rows):
        v = int(rng.integers(len(villages)))
        status = "terpasang" if i % 2 else "rencana"
        bad = "hilang" if i % 50 == 49 else status
        p = points.iloc[v]
        lines.append(f"Wifi Bench {i},wifi kampung,{bad},{villages['kode'].iloc[v]},"
                     f"Dinas {i % 7},APBD,2025,{100_000_000 + i},2025,"
                     f"{p.x + rng.uniform(-1e-3, 1e-3):.6f},{p.y:.6f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = build_sample(tmp / "sample")
        first = tmp / "first.csv"
        agency_sheet(base, first, args.rows // 2)
        import_layer(base, "sites", first, user="bench")  # half of the sheet is known
        sheet = tmp / "sheet.csv"
        agency_sheet(base, sheet, args.rows)
        text = sheet.read_text().replace(",rencana,", ",proses,")  # known rows change status
        sheet.write_text(text)
        previews, commits, imports = [], [], []
        for i in range(args.repeat):
            copy = Project(shutil.copytree(base.path, tmp / f"p{i}", symlinks=True))
            start = time.perf_counter()
            preview = preview_import(copy, sheet)
            previews.append(time.perf_counter() - start)
            start = time.perf_counter()
            commit_import(copy, preview, "bench")
            commits.append(time.perf_counter() - start)
            peer = Project(shutil.copytree(base.path, tmp / f"q{i}", symlinks=True))
            start = time.perf_counter()
            report = import_layer(peer, "sites", sheet, user="bench")
            imports.append(time.perf_counter() - start)
        print(f"sheet of {args.rows:,} rows: {len(preview.added)} to add, "
              f"{len(preview.updated)} to update, {len(preview.unchanged)} unchanged, "
              f"{len(preview.rejected)} rejected (import: {report.added} added, "
              f"{report.updated} updated)")
        print(f"preview_import  median {median_ms(previews):8.0f} ms")
        print(f"commit_import   median {median_ms(commits):8.0f} ms")
        print(f"import_layer    median {median_ms(imports):8.0f} ms  (peer: geo-p2dd import)")
        print(f"ratio import / preview: {median_ms(imports) / median_ms(previews):.1f}x; "
              f"import / (preview + commit): "
              f"{median_ms(imports) / (median_ms(previews) + median_ms(commits)):.1f}x")


if __name__ == "__main__":
    main()
