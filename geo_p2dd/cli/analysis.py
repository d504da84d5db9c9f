"""Analyse a project and question its results: ``analyze``, ``check``, ``explain``."""

from __future__ import annotations

import json

import click

from geo_p2dd.cli.common import friendly, json_option, lang_option, project_option, project_path


@click.command()
@project_option
@json_option("Machine-readable summary.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the heavy steps on this Dask cluster (default: [compute] scheduler).")
@click.option("--workers", type=click.IntRange(min=0), default=None, metavar="N",
              help="Start a local Dask cluster of N worker processes (default: "
                   "[compute] workers; 0: in this process).")
@friendly
def analyze(project_dir, as_json, scheduler, workers) -> None:
    """Compute coverage, gap classes, scores and ranks; store them in the project.

    Results go into results.gpkg beside layers.gpkg (village_results,
    location_results, area_results) in one atomic write; re-running with unchanged inputs gives
    identical results. With --scheduler or --workers the tower modelling and
    the area shares run as Dask tasks (same results); the project directory
    must be readable at the same path on every worker.

    \b
    Example:
      geo-p2dd analyze --project data/sample --json
      geo-p2dd analyze --project /shared/national --scheduler tcp://10.0.0.5:8786
    """
    from geo_p2dd.analysis import GAP_ORDER, analyze_project
    from geo_p2dd.project import Project
    from geo_p2dd.schema import GAP_CLASSES

    result = analyze_project(Project(project_path(project_dir)), scheduler=scheduler,
                             workers=workers)
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    shown = [c for c in GAP_ORDER if any(summary[f"per_class{s}"][c] for s in ("", "_planned"))
             or c not in ("unknown", "public_access_only")]
    level = summary["area_level"]
    width = max(12, max(len(GAP_CLASSES.label(c, "en")) for c in shown) + 2)
    header = f"{level:<24}{'villages':>9}" + "".join(
        f"{GAP_CLASSES.label(c, 'en')[:width - 2]:>{width}}" for c in shown)
    click.echo(header + f"{'people unserved':>17}{'facilities':>12}")
    for k in summary["per_area"]:
        click.echo(f"{(k['kode'] + ' ' + str(k['nama']))[:23]:<24}{k['villages']:>9}"
                   + "".join(f"{k[c]:>{width}}" for c in shown)
                   + f"{k['people_unserved']:>17,}{k['facilities_unserved']:>12}")
    click.echo("")
    # now vs the pipeline (in progress + planned): villages per class, people unserved
    click.echo(f"{'villages per class':<24}{'now':>10}{'pipeline':>10}{'proposals':>11}")
    for c in shown:
        click.echo(f"{GAP_CLASSES.label(c, 'en'):<24}{summary['per_class'][c]:>10}"
                   f"{summary['per_class_planned'][c]:>10}"
                   f"{summary['per_class_proposed'][c]:>11}")
    click.echo(f"{'people unserved':<24}{summary['people_unserved']:>10,}"
               f"{summary['people_unserved_planned']:>10,}"
               f"{summary['people_unserved_proposed']:>11,}")
    click.echo(f"{summary['villages']} villages analysed; {summary['in_programme']} in a "
               f"programme (in progress or planned sites would improve them)")


@click.command()
@project_option
@json_option('Print {"findings": [{"kind", "severity", "layer", "id", "row", "message"}]}.')
@lang_option(help="Language of the messages.")
@friendly
def check(project_dir, as_json, lang) -> None:
    """Consistency checks an official should see before the figures leave the office.

    Sites outside the kampung they name, Starlink/VSAT/Wi-Fi/fibre sites farther
    than [locations] snap_km (default 2 km) from every settlement, kampung whose
    settlements are only estimates, several sites at one position, register rows
    without agency or year, implausible coverage values, population figures that
    are negative, NaN or infinite, field reports that contradict the model. Only
    reads the project.

    Findings are not errors: the exit code is 0 whatever is found (1 only when
    the project cannot be read).

    \b
    Example:
      geo-p2dd check --project data/sample --lang en
    """
    from geo_p2dd.check import check_project
    from geo_p2dd.project import Project

    findings = check_project(Project(project_path(project_dir)))
    if as_json:
        click.echo(json.dumps({"findings": [f.to_dict(lang) for f in findings]}, indent=2,
                              ensure_ascii=False))
        return
    if not findings:
        click.echo("ok" if lang == "en" else "ok: tidak ada temuan")
        return
    heads = (("severity", "layer", "row", "id", "message") if lang == "en" else
             ("tingkat", "lapisan", "baris", "id", "pesan"))
    severity = {"warning": "peringatan"} if lang == "id" else {}
    rows = [(severity.get(f.severity, f.severity), f.layer, "" if f.row is None else str(f.row),
             f.id or "", f.message(lang)) for f in findings]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads[:4])]
    for r in (heads, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True))
                   + "  " + r[4])
    counts = {s: sum(f.severity == s for f in findings) for s in ("warning", "info")}
    click.echo(f"{len(findings)} finding(s): {counts['warning']} warning, {counts['info']} info"
               if lang == "en" else
               f"{len(findings)} temuan: {counts['warning']} peringatan, {counts['info']} info")


@click.command()
@project_option
@click.argument("kode")
@lang_option(default="en")
@friendly
def explain(project_dir, kode, lang) -> None:
    """Why a village ranks where it does: each factor's contribution.

    \b
    Example:
      geo-p2dd explain --project data/sample 99.01.01.2005
    """
    from geo_p2dd.explain import explain_village
    from geo_p2dd.project import Project

    click.echo(explain_village(Project(project_path(project_dir)), kode, lang))
