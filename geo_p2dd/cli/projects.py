"""Build and inspect a project: ``sample``, ``init``, ``import``, ``info``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geo_p2dd.cli.common import friendly, json_option, project_option, project_path
from geo_p2dd.errors import GeoP2DDError


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing sample project.")
@friendly
def sample(directory: str, force: bool) -> None:
    """Build the fictitious sample regency "Kabupaten Contoh" in DIRECTORY.

    \b
    Example:
      geo-p2dd sample data/sample
    """
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.project import CONFIG_NAME
    from geo_p2dd.sample import build_sample

    path = Path(directory)
    if (path / CONFIG_NAME).exists():
        if not force:
            raise GeoP2DDError(f"{path} already holds a project; pass --force to rebuild it")
        from geo_p2dd.project import Project

        if not Project(path).is_sample:
            raise GeoP2DDError(f"{path} holds a real project, not the sample; --force only "
                               "replaces a sample project")
        import shutil

        shutil.rmtree(path)
    project = build_sample(path)
    analyze_project(project)
    info = project.info()
    click.echo(f"sample project (fictitious) built in {path}: "
               + ", ".join(f"{v['rows']} {k}" for k, v in info["layers"].items()
                           if v["geometry"]))


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default="", help="Project name (default: from the kabupaten).")
@click.option("--region", default=None, metavar="CODE",
              help="Keep only this Kemendagri code prefix, e.g. 64.11.")
@click.option("--villages", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Village (desa/kampung) boundaries.")
@click.option("--villages-layer", default=None, help="Layer of a multi-layer villages file.")
@click.option("--kecamatan", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--kecamatan-layer", default=None)
@click.option("--kabupaten", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--kabupaten-layer", default=None)
@click.option("--population", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Population per village (CSV/XLSX keyed by kode).")
@click.option("--population-raster", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Population grid such as GHS-POP or WorldPop.")
@click.option("--locations", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--sites", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--towers", type=click.Path(exists=True, dir_okay=False), default=None,
              help="OpenCelliD export (clipped to the region).")
@click.option("--coverage", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="Coverage raster or operator polygons; repeatable.")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--lon", default=None, help="Longitude column of point tables.")
@click.option("--lat", default=None, help="Latitude column of point tables.")
@click.option("--licence", "licences", multiple=True, metavar="KIND=LICENCE",
              help="Licence of one input, recorded with it (as import --licence); "
                   "repeatable, e.g. --licence villages='MIT (cahyadsn/wilayah_boundaries)'. "
                   "GHS-POP, WorldPop, OpenCelliD and BPS files are recognised by name.")
@friendly
def init(directory: str, licences: tuple[str, ...], **opts) -> None:
    """Create a project in DIRECTORY from files.

    \b
    Example (real Mahakam Ulu, from ../shared/data):
      geo-p2dd init mahakam-ulu --region 64.11 \\
        --villages ../shared/data/boundaries/mahakam_ulu.gpkg \\
        --population ../shared/data/population/mahakam_ulu_census2010.csv \\
        --population-raster ../shared/data/population/ghs_pop_1km_kalimantan_timur.tif \\
        --towers ../shared/data/towers/opencellid_mcc510_subset.csv \\
        --dem ../shared/data/terrain/mahakam_ulu_elevation_5arcmin.tif
    """
    from geo_p2dd.imports import init_project, parse_licences

    opts["coverage"] = list(opts["coverage"])
    project, reports = init_project(directory, licences=parse_licences(licences), **opts)
    for r in reports:
        for line in r.lines():
            click.echo(line)
    click.echo(f"project {project.name!r} created in {directory}")


@click.command(name="import")
@project_option
@click.argument("kind", type=click.Choice(
    ["villages", "kecamatan", "kabupaten", "locations", "sites", "towers", "coverage",
     "population", "population-raster", "dem", "reports", "ookla"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", default=None, help="Layer (or sheet) of a multi-layer file.")
@click.option("--region", default=None, metavar="CODE", help="Code prefix (villages).")
@click.option("--lon", default=None, help="Longitude column of a table.")
@click.option("--lat", default=None, help="Latitude column of a table.")
@click.option("--operator", default="", help="Operator of a coverage layer.")
@click.option("--technology", default="4G", type=click.Choice(["2G", "3G", "4G", "5G"]))
@click.option("--values", default=None, type=click.Choice(["dbm", "classes"]),
              help="What a coverage raster holds (default: dbm for floats, else classes).")
@click.option("--licence", default=None, help="Licence of the data (recorded with it).")
@json_option("Print the report as JSON.")
@click.option("--rejected-out", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE.csv", help="Write every rejected row (row, column, reason) to a CSV "
                                       "file; the screen shows the first 20 and counts per reason.")
@click.option("--user", default=None, metavar="NAME",
              help="Who the register's history records for sites (default: the OS user).")
@friendly
def import_(project_dir, kind, path, as_json, rejected_out, **opts) -> None:
    """Add or replace one layer of a project.

    Boundaries and rasters are replaced; sites and locations merge by a stable
    id, so re-importing the same sheet updates rows and never duplicates them.

    \b
    Example:
      geo-p2dd import --project data/sample sites register_2026.xlsx
    """
    from geo_p2dd.imports import REJECTED_SHOWN, import_layer
    from geo_p2dd.project import Project

    project = Project(project_path(project_dir))
    report = import_layer(project, kind, path, **opts)
    if rejected_out:
        report.write_rejected(rejected_out)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    lines = report.lines()
    if kind in ("sites", "towers"):
        from geo_p2dd.imports import import_user
        from geo_p2dd.registry.repository import count_sites
        from geo_p2dd.registry.store import project_register

        who = import_user(opts.get("user")) or "-"
        lines.append(f"  register: {count_sites(project_register(project)):,} site(s); changes "
                     f"recorded as {who} (source import); see 'geo-p2dd changes'")
    click.echo("\n".join(lines))
    if len(report.rejected) > REJECTED_SHOWN:
        click.echo(f"  all {len(report.rejected):,} rejected rows: "
                   + (f"written to {rejected_out}" if rejected_out else
                      "pass --rejected-out FILE.csv"))


@click.command()
@project_option
@json_option("Machine-readable output.")
@friendly
def info(project_dir, as_json) -> None:
    """What a project holds: layers, rows, CRS, extent and provenance.

    \b
    Example:
      geo-p2dd info --project data/sample --json
    """
    from geo_p2dd.project import Project

    data = Project(project_path(project_dir)).info()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    sample = " (SAMPLE, fictitious data)" if data["sample"] else ""
    click.echo(f"{data['name']}{sample} - region {data['region_code']} "
               f"{data['region_name']} - metric CRS {data['metric_crs']}")
    for name, layer in data["layers"].items():
        src = layer["source"]
        src_text = ""
        if isinstance(src, dict):
            src_text = f"  from {src.get('file')} ({src.get('licence')}, {src.get('imported')})"
        elif isinstance(src, list):
            src_text = f"  from {len(src)} file(s)"
        extent = layer["extent"]
        ext = f" extent {extent}" if extent else ""
        click.echo(f"  {name}: {layer['rows']} rows {layer['geometry'] or 'table'}{ext}{src_text}")
    for name, r in data["rasters"].items():
        src = r.get("source") or {}
        click.echo(f"  raster {name}: {r['file']}  from {src.get('file')} "
                   f"({src.get('licence')})")
