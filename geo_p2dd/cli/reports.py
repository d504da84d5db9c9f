"""Printable summaries and the register: ``report``, ``register``, ``changes``."""

from __future__ import annotations

from pathlib import Path

import click

from geo_p2dd.cli.common import friendly, lang_option, project_option, project_path
from geo_p2dd.errors import GeoP2DDError


def _write_atomic(path: Path, data: bytes) -> None:
    from geo_p2dd.io.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)


@click.command()
@project_option
@click.option("--region", default=None, metavar="CODE",
              help="Kabupaten (64.11) or kecamatan (64.11.01) code; default: the project's "
                   "region.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PDF file to write.")
@lang_option(help="Language of the summary.")
@friendly
def report(project_dir, region, out, lang) -> None:
    """Write the printable A4 coverage summary of a kabupaten or kecamatan as PDF.

    The same summary as the web page /report/<region>, rendered by the library
    (WeasyPrint; no web server involved): headline figures, a map, the ranked
    gaps, a table per kecamatan, the register by agency and status, and the data
    sources and thresholds.

    \b
    Example:
      geo-p2dd report --project data/sample --region 99.01 --out ringkasan.pdf
      geo-p2dd report --project data/sample --region 99.01.02 --out summary.pdf --lang en
    """
    from geo_p2dd.project import Project
    from geo_p2dd.report import render_pdf

    project = Project(project_path(project_dir))
    region = region or project.region_code
    if not region:
        raise GeoP2DDError("the project has no region code; name one with --region CODE")
    data = render_pdf(project, region, lang=lang)
    path = Path(out)
    _write_atomic(path, data)
    click.echo(f"wrote the summary of {region} ({lang}) to {path} ({len(data) / 1e3:.0f} kB)")


@click.command()
@project_option
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="XLSX file to write.")
@click.option("--region", default=None, metavar="CODE",
              help="Only the sites in the villages of this kabupaten or kecamatan.")
@lang_option(help="Language of the headers and labels.")
@friendly
def register(project_dir, out, region, lang) -> None:
    """Export the infrastructure register (the sites layer) as an XLSX workbook.

    A summary sheet by agency (OPD), year and status, then one sheet per status
    (Terpasang, Proses, Rencana, Usulan) with every column and the stable ID,
    so an edited sheet imports back with 'geo-p2dd import ... sites FILE
    --layer SHEET' and updates rows instead of duplicating them.

    \b
    Example:
      geo-p2dd register --project data/sample --out register.xlsx
    """
    from geo_p2dd.errors import NotFoundError
    from geo_p2dd.layers import normalise_code
    from geo_p2dd.project import Project
    from geo_p2dd.register import write_register
    from geo_p2dd.summary import in_region

    project = Project(project_path(project_dir))
    if region is not None:
        region = normalise_code(region)
        villages = project.read_layer("villages", columns=["kode"])
        if not in_region(villages["kode"], region).any():
            raise NotFoundError(f"no village of the project lies in {region!r}; codes look "
                                f"like {villages['kode'].iloc[0]}")
    counts = write_register(project, out, lang=lang, region=region)
    total = sum(counts.values())
    click.echo(f"wrote {total} site(s) to {out}: " + ", ".join(
        f"{n} {status.replace('_', ' ')}" for status, n in counts.items()))


@click.command()
@project_option
@click.option("--since", required=True, metavar="YYYY-MM-DD",
              help="Changes at or after this date (00:00 UTC) or ISO moment.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              metavar="FILE.xlsx", help="Write the changes as XLSX (default: print them).")
@lang_option(help="Language of the workbook's headers.")
@friendly
def changes(project_dir, since, out, lang) -> None:
    """Every change of the register since a date: site, field, old, new, who, when, source.

    \b
    Example:
      geo-p2dd changes --project data/sample --since 2026-01-01 --out perubahan.xlsx
    """
    from geo_p2dd.errors import InputError
    from geo_p2dd.project import Project
    from geo_p2dd.registry.changes import (
        changes_lines,
        changes_since,
        since_moment,
        write_changes_xlsx,
    )
    from geo_p2dd.registry.store import project_register

    try:
        since_moment(since)
    except ValueError:
        raise InputError("not a date", column="--since", expected="YYYY-MM-DD",
                         found=repr(since)) from None
    found = changes_since(project_register(Project(project_path(project_dir))), since)
    if out:
        write_changes_xlsx(found, out, lang)
        click.echo(f"wrote {len(found):,} change(s) since {since} to {out}")
        return
    for line in changes_lines(found):
        click.echo(line)
    click.echo(f"{len(found):,} change(s) since {since}")
