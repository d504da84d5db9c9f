"""The printed summary PDF of one province of the national project (issue 13: <= 10 s).

Renders the summary of ``--region`` (a province code, default 64 Kalimantan Timur; a
kabupaten or kecamatan code works too) as ``geo-p2dd report`` does (``render_pdf``:
the region's rows of the results and the villages in the map's frame are read, not the
whole country), ``--runs`` times in one process (run 1 is the first render: fonts,
templates and the register's first use), and prints the wall and CPU time of each part
-- reading the tables, the static map (reading the frame's villages included), the
HTML, WeasyPrint's layout and the PDF -- end to end, with the page count and size. The
load of the machine (1-minute load average) is printed with the figures: the CPU time
is the figure to compare on a shared machine.

The national project is the one ``bench/analyze_national.py`` builds
(``bench/out/national_project``); without it, the largest real project that can be built
here (Mahakam Ulu from ``../shared/data``, its kabupaten) is used.

Usage::

    .venv/bin/python bench/province_pdf.py [--project DIR] [--region 64] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import projects  # noqa: E402

NATIONAL = projects.OUT / "national_project"


@contextmanager
def timed(figures: dict, name: str):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    figures[name] = (time.perf_counter() - wall, time.process_time() - cpu)


def render(project_dir: Path, region: str, lang: str) -> tuple[dict, int, int]:
    """One summary PDF as ``geo-p2dd report`` makes it (``render_pdf``), part by part."""
    from weasyprint import HTML

    from geo_p2dd.project import Project
    from geo_p2dd.report.html import MAP_MAX_HEIGHT_MM, STATIC, map_data_uri, summary_html
    from geo_p2dd.report.pdf import static_fetcher
    from geo_p2dd.staticmap import render_map
    from geo_p2dd.summary import build_summary, read_region_results, resolve_region

    figures: dict = {}
    project = Project(project_dir)
    with timed(figures, "read"):  # the region's results only; the map reads its frame
        results = read_region_results(project, region)
        areas = project.read_table("area_results", required=False)
        sites = project.read_layer("sites", required=False)
        code = resolve_region(results, areas, region).kode
    with timed(figures, "static map"):
        png = render_map(project, code, fmt="png", lang=lang, results=results, areas=areas,
                         sites=sites, max_height_mm=MAP_MAX_HEIGHT_MM)
    with timed(figures, "html"):
        summary = build_summary(project, code, lang=lang, results=results, areas=areas,
                                sites=sites)
        html = summary_html(summary, map_src=map_data_uri(png))
    with timed(figures, "layout"):
        document = HTML(string=html, base_url=STATIC.resolve().as_uri() + "/",
                        url_fetcher=static_fetcher()).render()
    with timed(figures, "pdf"):
        pdf = document.write_pdf()
    return figures, len(document.pages), len(pdf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--region", default=None)
    parser.add_argument("--lang", default="id")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if args.project is None:
        if (NATIONAL / "project.toml").exists():
            args.project, region = NATIONAL, args.region or "64"
        else:
            args.project, region = projects.default_project(), args.region or "64.11"
    else:
        region = args.region or "64"
    print(f"project {args.project}, region {region}, language {args.lang}")
    for run in range(args.runs):
        figures, pages, size = render(args.project, region, args.lang)
        wall = sum(w for w, _ in figures.values())
        cpu = sum(c for _, c in figures.values())
        parts = ", ".join(f"{k} {w:.2f} s (CPU {c:.2f})" for k, (w, c) in figures.items())
        print(f"run {run + 1} ({'first' if run == 0 else 'repeat'}): summary PDF end to end "
              f"(reading included) in {wall:.1f} s (CPU {cpu:.1f} s); {pages} pages, "
              f"{size / 1e6:.2f} MB; {parts}; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")
    print("target: <= 10 s end to end (issue 13)")


if __name__ == "__main__":
    main()
