"""The preview of a 2,000-row agency sheet, against importing the same sheet.

Builds the sample project, writes an agency sheet (CSV) of ``--rows`` sites in its
kampung (half of them already in the register with a changed status, half new,
and one row in fifty bad), then times:

- ``preview_import`` (read and check the sheet, merge it, plan the row changes;
  nothing stored) — what the web's upload page does before "confirm";
- ``save_preview``: the preview stored in the register database (what the web's
  upload keeps, so any app instance can commit it);
- ``commit_upload`` of that stored preview (read back, one database transaction);
- the peer, in the same run on the same disk: ``import_layer`` of the same sheet into a
  copy of the project (``geo-p2dd import``: read, check, merge, the register's
  transaction and a new project generation).

    .venv/bin/python bench/register_import.py [--rows 2000] [--repeat 5]

Prints the median of each, the ratio import / preview and the share of storing
the preview in the whole upload.
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
from geo_p2dd.registry.importing import preview_import  # noqa: E402
from geo_p2dd.registry.store import dispose_engines, project_register  # noqa: E402
from geo_p2dd.registry.uploads import commit_upload, save_preview  # noqa: E402
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
        previews, saves, commits, imports = [], [], [], []
        for i in range(args.repeat):
            copy = Project(shutil.copytree(base.path, tmp / f"p{i}", symlinks=True))
            start = time.perf_counter()
            preview = preview_import(copy, sheet)
            previews.append(time.perf_counter() - start)
            engine = project_register(copy)
            start = time.perf_counter()
            key = save_preview(engine, preview, user="bench")
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            commit_upload(engine, key, user="bench")
            commits.append(time.perf_counter() - start)
            dispose_engines()
            peer = Project(shutil.copytree(base.path, tmp / f"q{i}", symlinks=True))
            start = time.perf_counter()
            report = import_layer(peer, "sites", sheet, user="bench")
            imports.append(time.perf_counter() - start)
        print(f"sheet of {args.rows:,} rows: {len(preview.added)} to add, "
              f"{len(preview.updated)} to update, {len(preview.unchanged)} unchanged, "
              f"{len(preview.rejected)} rejected (import: {report.added} added, "
              f"{report.updated} updated)")
        print(f"preview_import  median {median_ms(previews):8.0f} ms")
        print(f"save_preview    median {median_ms(saves):8.0f} ms  (stored in the database)")
        print(f"commit_upload   median {median_ms(commits):8.0f} ms")
        print(f"import_layer    median {median_ms(imports):8.0f} ms  (peer: geo-p2dd import)")
        print(f"ratio import / preview: {median_ms(imports) / median_ms(previews):.1f}x; "
              f"import / (preview + commit): "
              f"{median_ms(imports) / (median_ms(previews) + median_ms(commits)):.1f}x; "
              f"storing the preview: {median_ms(saves) / median_ms(previews):.0%} of the "
              "preview's time")


if __name__ == "__main__":
    main()
