"""The ``geo-p2dd`` command line.

Exit codes: 0 success, 1 bad input (one readable paragraph on stderr), 2 usage error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
import warnings
from pathlib import Path

import click

from geo_p2dd.errors import GeoP2DDError
from geo_p2dd.exports.catalogue import LAYERS

PROJECT_HELP = "Project directory (default: $GEO_P2DD_PROJECT, else the current directory)."


def _project_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("GEO_P2DD_PROJECT") or ".")


def project_option(f):
    return click.option("--project", "project_dir", default=None, metavar="DIR",
                        help=PROJECT_HELP)(f)


def friendly(f):
    """Run a command, turning our errors into one paragraph and exit code 1."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = ctx.find_root().params.get("debug", False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = f(*args, **kwargs)
            except GeoP2DDError as exc:
                _print_warnings(caught)
                if debug:
                    raise
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            except (OSError, MemoryError) as exc:
                _print_warnings(caught)
                if debug:
                    raise
                click.echo(f"error: {exc.__class__.__name__}: {exc}", err=True)
                sys.exit(1)
            except Exception as exc:  # a bug of ours: say so in one line, not a traceback
                _print_warnings(caught)
                if debug:
                    raise
                click.echo(f"error: unexpected {exc.__class__.__name__}: {exc} (this is a bug "
                           "in geo_p2dd; run with --debug for the traceback and report it)",
                           err=True)
                sys.exit(1)
        _print_warnings(caught)
        return result

    return wrapper


def _print_warnings(caught) -> None:
    from geo_p2dd.io.vector import RepairWarning

    seen = set()
    for w in caught:
        if issubclass(w.category, RepairWarning) and str(w.message) not in seen:
            seen.add(str(w.message))
            click.echo(f"repaired: {w.message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="geo-p2dd")
def main(debug: bool) -> None:
    """geo_p2dd: village connectivity gaps for Indonesia's P2DD programme.

    Commands that change a project wait for another change in progress (up to
    GEO_P2DD_LOCK_TIMEOUT seconds, default 600) and say so.

    \b
    Example:
      geo-p2dd sample data/sample
      geo-p2dd analyze --project data/sample
      geo-p2dd serve --project data/sample
    """
    from geo_p2dd.lock import set_wait_reporter

    set_wait_reporter(lambda message: click.echo(message, err=True))


@main.command()
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


@main.command()
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


@main.command(name="import")
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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
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

    project = Project(_project_dir(project_dir))
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


@main.command()
@project_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly
def info(project_dir, as_json) -> None:
    """What a project holds: layers, rows, CRS, extent and provenance.

    \b
    Example:
      geo-p2dd info --project data/sample --json
    """
    from geo_p2dd.project import Project

    data = Project(_project_dir(project_dir)).info()
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


@main.command()
@project_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the heavy steps on this Dask cluster (default: [compute] scheduler).")
@click.option("--workers", type=click.IntRange(min=0), default=None, metavar="N",
              help="Start a local Dask cluster of N worker processes (default: "
                   "[compute] workers; 0: in this process).")
@friendly
def analyze(project_dir, as_json, scheduler, workers) -> None:
    """Compute coverage, gap classes, scores and ranks; store them in the project.

    Results go into layers.gpkg (village_results, location_results,
    area_results) in one atomic write; re-running with unchanged inputs gives
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

    result = analyze_project(Project(_project_dir(project_dir)), scheduler=scheduler,
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


@main.command()
@project_option
@click.option("--json", "as_json", is_flag=True,
              help='Print {"findings": [{"kind", "severity", "layer", "id", "row", "message"}]}.')
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the messages.")
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

    findings = check_project(Project(_project_dir(project_dir)))
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


@main.command()
@project_option
@click.argument("kode")
@click.option("--lang", type=click.Choice(["id", "en"]), default="en", show_default=True)
@friendly
def explain(project_dir, kode, lang) -> None:
    """Why a village ranks where it does: each factor's contribution.

    \b
    Example:
      geo-p2dd explain --project data/sample 99.01.01.2005
    """
    from geo_p2dd.explain import explain_village
    from geo_p2dd.project import Project

    click.echo(explain_village(Project(_project_dir(project_dir)), kode, lang))


PROXY_HEADERS = "x-forwarded-for x-forwarded-host x-forwarded-proto x-forwarded-port"


def server_options(*, threads: int = 8, connection_limit: int = 1000, channel_timeout: int = 30,
                   max_request_body: int = 64 * 1024 * 1024, trusted_proxy: str | None = None,
                   trusted_proxy_headers: str = PROXY_HEADERS) -> dict:
    """Keyword arguments for waitress, with the limits ``serve`` defaults to.

    waitress's own defaults let 100 idle or half-open sockets (its connection limit)
    lock everyone out for two minutes (its channel timeout); ours keep room for many
    more and drop idle connections after ``channel_timeout`` seconds. ``poll()`` instead
    of ``select()`` lifts the 1,024-descriptor ceiling of ``select``.
    """
    options = {"threads": threads, "connection_limit": connection_limit,
               "channel_timeout": channel_timeout,
               "cleanup_interval": max(1, min(30, channel_timeout // 3)),
               "max_request_body_size": max_request_body, "asyncore_use_poll": True,
               "ident": "geo_p2dd"}
    if trusted_proxy:
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_headers=trusted_proxy_headers,
                       clear_untrusted_proxy_headers=True)
    return options


def _raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit of open files towards ``wanted`` (each connection holds one)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            click.echo(f"warning: at most {target} open files (ulimit -n); lower "
                       "--connection-limit or raise the limit", err=True)


@main.command()
@project_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Requests handled at the same time.")
@click.option("--connection-limit", default=1000, show_default=True,
              type=click.IntRange(1, 100_000),
              help="Open connections (idle ones included) before new ones wait.")
@click.option("--channel-timeout", default=30, show_default=True, type=click.IntRange(1),
              help="Seconds an idle or stalled connection is kept open.")
@click.option("--max-request-body", default=64 * 1024 * 1024, show_default=True,
              type=click.IntRange(0), help="Largest request body in bytes (larger: 413).")
@click.option("--trusted-proxy", default=None, metavar="IP",
              help="Address of a reverse proxy whose X-Forwarded-* headers are believed "
                   "('*' for any; only behind a firewall).")
@click.option("--trusted-proxy-headers", default=PROXY_HEADERS, show_default=True,
              help="Which X-Forwarded-* headers of the trusted proxy to use.")
@click.option("--public-url", default=None, metavar="URL",
              help="The address people use (https://peta.example.go.id); absolute links "
                   "(OGC API, downloads) start with it. Without it they use the request's "
                   "host only when it is localhost, else they are relative.")
@friendly
def serve(project_dir, host, port, threads, connection_limit, channel_timeout,
          max_request_body, trusted_proxy, trusted_proxy_headers, public_url) -> None:
    """Serve the web app for a project with a production WSGI server (waitress).

    For the internet, put it behind a reverse proxy (TLS, rate limits): see the
    README, "Running behind a reverse proxy".

    \b
    Example:
      geo-p2dd serve --project data/sample --port 5000
      geo-p2dd serve --project /srv/mahulu --trusted-proxy 127.0.0.1 \
        --public-url https://peta.example.go.id
    """
    from waitress import serve as waitress_serve

    from geo_p2dd.project import Project
    from web import create_app

    project = Project(_project_dir(project_dir))
    config = {"PROJECT": str(project.path)}
    if public_url:
        if not public_url.startswith(("http://", "https://")):
            raise GeoP2DDError(f"--public-url must start with http:// or https://, found "
                               f"{public_url!r}")
        config["PUBLIC_URL"] = public_url
    app = create_app(config)
    options = server_options(threads=threads, connection_limit=connection_limit,
                             channel_timeout=channel_timeout,
                             max_request_body=max_request_body, trusted_proxy=trusted_proxy,
                             trusted_proxy_headers=trusted_proxy_headers)
    _raise_open_files_limit(connection_limit + 256)
    click.echo(f"serving {project.name} on http://{host}:{port}/ ({threads} threads, up to "
               f"{connection_limit} connections, idle ones closed after {channel_timeout} s)")
    waitress_serve(app, host=host, port=port, **options)


# --- export (gap layers for telco partners; issue 5) ------------------------------------------

@main.command()
@project_option
@click.option("--layer", required=True,
              type=click.Choice(list(LAYERS)),
              help="Layer to export (locations_unserved: only the locations not served).")
@click.option("--format", "fmt", default=None,
              type=click.Choice(["gpkg", "geojson", "shp", "csv", "kml", "kmz", "fgb",
                                 "parquet"]),
              help="File format (default: from --out's extension, else gpkg).")
@click.option("--out", default=None, metavar="FILE",
              help="Output file or directory (default: <region>_<layer>_<date>.<ext> in the "
                   "current directory).")
@click.option("--region", default=None, metavar="CODE",
              help="Kemendagri code prefix, e.g. 64.11 or 64.11.05.")
@click.option("--class", "gap_class", default=None, metavar="CLASSES",
              help="Gap classes, comma-separated: blank_spot, no_4g, partial_4g, served, "
                   "unknown (villages, locations, locations_unserved).")
@click.option("--min-score", default=None, type=float, help="Minimum gap score (villages).")
@click.option("--bbox", default=None, metavar="W,S,E,N",
              help="Keep features intersecting this lon/lat box.")
@click.option("--status", "site_status", default=None, metavar="STATUSES",
              help="Site statuses, comma-separated: installed, in_progress, planned, proposed "
                   "(sites).")
@click.option("--level", default=None, metavar="LEVELS",
              help="Aggregate levels: kecamatan, kabupaten (aggregates).")
@click.option("--filter", "cql2", default=None, metavar="CQL2",
              help="CQL2 text filter on any column, e.g. \"no_4g_share >= 0.5 AND "
                   "kecamatan_kode = '64.11.05'\".")
@click.option("--near-operator", default=None, metavar="OPERATOR",
              help="Keep features within --within-km of an installed tower of this operator "
                   "(Telkomsel, Indosat, XL, Smartfren, Tri or a code such as tsel).")
@click.option("--within-km", default=None, type=float, metavar="KM",
              help="Distance for --near-operator (km).")
@click.option("--wkt", is_flag=True, help="CSV: add the geometry as WKT.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@friendly
def export(project_dir, layer, fmt, out, region, gap_class, min_score, bbox, site_status, level,
           cql2, near_operator, within_km, wkt, as_json) -> None:
    """Export a gap layer for GIS: GeoPackage, GeoJSON, Shapefile, CSV, KML/KMZ,
    FlatGeobuf or GeoParquet, with its metadata (sources, licences, thresholds,
    weights, analysis date, column dictionary).

    \b
    Example:
      geo-p2dd export --project data/sample --layer villages --format gpkg \\
        --region 99.01 --out villages.gpkg
      geo-p2dd export --project data/sample --layer villages --class blank_spot --format shp
      geo-p2dd export --project data/sample --layer villages --filter "ops_4g = 1"
      geo-p2dd export --project data/sample --layer locations_unserved \\
        --near-operator Telkomsel --within-km 10
    """
    from geo_p2dd.exports.files import export_layer
    from geo_p2dd.exports.query import Filters
    from geo_p2dd.project import Project

    filters = Filters.parse(region=region, gap_class=gap_class, min_score=min_score, bbox=bbox,
                            site_status=site_status, level=level,
                            near_operator=near_operator, within_km=within_km)
    if cql2:
        filters = dataclasses.replace(filters, cql2=cql2)
    result = export_layer(Project(_project_dir(project_dir)), layer, out, fmt, filters=filters,
                          wkt=wkt)
    if as_json:
        click.echo(json.dumps({"path": str(result.path), "layer": layer,
                               "format": result.format.key, "rows": result.rows,
                               "bytes": result.path.stat().st_size,
                               "sidecar": str(result.sidecar) if result.sidecar else None,
                               "ignored_filters": result.ignored_filters}, indent=2))
        return
    for name in result.ignored_filters:
        click.echo(f"note: the {name} filter does not apply to the {layer} layer; ignored",
                   err=True)
    size = result.path.stat().st_size
    click.echo(f"wrote {result.rows} {layer} to {result.path} ({result.format.label}, "
               f"{size / 1e6:.1f} MB)" if size >= 1e5 else
               f"wrote {result.rows} {layer} to {result.path} ({result.format.label}, "
               f"{size / 1e3:.1f} kB)")
    if result.sidecar:
        click.echo(f"metadata in {result.sidecar}")


# --- end export ---------------------------------------------------------------------------------


# --- report and register (printable summaries, infrastructure register; issue 6) --------------

def _write_atomic(path: Path, data: bytes) -> None:
    from geo_p2dd.io.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)


@main.command()
@project_option
@click.option("--region", default=None, metavar="CODE",
              help="Kabupaten (64.11) or kecamatan (64.11.01) code; default: the project's "
                   "region.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PDF file to write.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the summary.")
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

    project = Project(_project_dir(project_dir))
    region = region or project.region_code
    if not region:
        raise GeoP2DDError("the project has no region code; name one with --region CODE")
    data = render_pdf(project, region, lang=lang)
    path = Path(out)
    _write_atomic(path, data)
    click.echo(f"wrote the summary of {region} ({lang}) to {path} ({len(data) / 1e3:.0f} kB)")


@main.command()
@project_option
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="XLSX file to write.")
@click.option("--region", default=None, metavar="CODE",
              help="Only the sites in the villages of this kabupaten or kecamatan.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the headers and labels.")
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

    project = Project(_project_dir(project_dir))
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


@main.command()
@project_option
@click.option("--since", required=True, metavar="YYYY-MM-DD",
              help="Changes at or after this date (00:00 UTC) or ISO moment.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              metavar="FILE.xlsx", help="Write the changes as XLSX (default: print them).")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Language of the workbook's headers.")
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
    found = changes_since(project_register(Project(_project_dir(project_dir))), since)
    if out:
        write_changes_xlsx(found, out, lang)
        click.echo(f"wrote {len(found):,} change(s) since {since} to {out}")
        return
    for line in changes_lines(found):
        click.echo(line)
    click.echo(f"{len(found):,} change(s) since {since}")


# --- end report and register ------------------------------------------------------------------


# --- config (check project.toml; issue 14) ----------------------------------------------------

@main.group(name="config")
def config_group() -> None:
    """Check the settings of a project (its project.toml).

    \b
    Example:
      geo-p2dd config check --project data/sample
    """


@config_group.command(name="check")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
@friendly
def config_check(project_dir, as_json) -> None:
    """Validate project.toml: print "ok" and the effective settings (defaults
    included), or every problem with its key, value and what is allowed (exit 1).

    \b
    Example:
      geo-p2dd config check --project data/sample
    """
    from geo_p2dd.config import describe
    from geo_p2dd.project import CONFIG_NAME, Project

    project = Project(_project_dir(project_dir))  # a ConfigError lists every problem
    path = project.path / CONFIG_NAME
    if as_json:
        click.echo(json.dumps({"ok": True, "file": str(path),
                               "settings": project.settings.to_dict()}, indent=2,
                              ensure_ascii=False))
        return
    click.echo(f"ok: {path}")
    for line in describe(project.settings):
        click.echo(f"  {line}")


# --- end config ---------------------------------------------------------------------------------


# --- user: people who sign in to the web app and API tokens ---------------------------------------

def _register(project_dir):
    from geo_p2dd.registry.db import open_database

    return open_database(_project_dir(project_dir))


@main.group(name="user")
def user() -> None:
    """Users of the web register and their API tokens (the project's database, or
    $GEO_P2DD_DATABASE_URL).

    \b
    Example:
      printf '%s\\n' "$PASSWORD" | geo-p2dd user add --project data/sample ana \\
          --role editor --agency Diskominfo --password-stdin
      geo-p2dd user token --project data/sample ana
    """


@user.command(name="add")
@project_option
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "editor", "reviewer", "viewer"]),
              help="admin: users and all records; editor: the records of one agency; "
                   "reviewer, viewer: read.")
@click.option("--agency", default=None, metavar="OPD", help="The agency an editor records for.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (else the user "
                   "has no password and uses API tokens only).")
@friendly
def user_add(project_dir, name, role, agency, password_stdin) -> None:
    """Add a user who signs in to the web register.

    \b
    Example:
      printf '%s\\n' "$PASSWORD" | geo-p2dd user add --project data/sample budi \\
          --role admin --password-stdin
    """
    from geo_p2dd.registry.accounts import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    added = add_user(_register(project_dir), name, role, agency=agency, password=password)
    where = f" of {added['agency']}" if added["agency"] else ""
    click.echo(f"added {added['name']}: {added['role']}{where}"
               + ("" if password is not None else " (no password: API tokens only)"))


@user.command(name="list")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly
def user_list(project_dir, as_json) -> None:
    """List the users: name, role, agency and whether they are disabled.

    \b
    Example:
      geo-p2dd user list --project data/sample
    """
    from geo_p2dd.registry.accounts import list_users

    users = list_users(_register(project_dir))
    if as_json:
        click.echo(json.dumps(users, indent=2, ensure_ascii=False))
        return
    for u in users:
        click.echo("\t".join([u["name"], u["role"], u["agency"] or "-",
                              "disabled" if u["disabled"] else "active"]))


@user.command(name="disable")
@project_option
@click.argument("name")
@friendly
def user_disable(project_dir, name) -> None:
    """Disable a user: no more sign-in, and their API tokens stop working.

    \b
    Example:
      geo-p2dd user disable --project data/sample budi
    """
    from geo_p2dd.registry.accounts import disable_user

    disable_user(_register(project_dir), name)
    click.echo(f"disabled {name}")


@user.command(name="token")
@project_option
@click.argument("name")
@friendly
def user_token(project_dir, name) -> None:
    """Make a new API token for a user and print it on the last line (it is stored
    hashed and cannot be shown again). Send it as "Authorization: Bearer TOKEN".

    \b
    Example:
      geo-p2dd user token --project data/sample ana
    """
    from geo_p2dd.registry.accounts import new_token

    token = new_token(_register(project_dir), name)
    click.echo(f"new API token for {name} (shown once; stored only as its SHA-256):")
    click.echo(token)


# --- end user -----------------------------------------------------------------------------------


# --- planning (plan, scenario) ------------------------------------------------------------------


@main.command()
@project_option
@click.option("--region", default=None, metavar="CODE", help="Plan for this kecamatan/kabupaten.")
@click.option("--max-sites", type=click.IntRange(min=0), default=None, help="At most N new sites.")
@click.option("--budget", type=click.FloatRange(min=0), default=None, metavar="IDR",
              help="At most this total cost (capex + horizon x opex).")
@click.option("--technologies", default="starlink,vsat,bts,wifi", show_default=True,
              help="Kinds of site to consider, comma-separated.")
@click.option("--horizon-years", type=click.IntRange(min=0), default=None,
              help="Years of opex counted (default: [planning] horizon_years).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Solver time limit in seconds (default: [planning] time_limit_s).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the plan as .xlsx or .gpkg.")
@click.option("--export-instance", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Write the exact problem solved as CSV files.")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True)
@click.option("--save-scenario", default=None, metavar="NAME",
              help="Also save the chosen sites as a scenario (prints its id on stderr).")
@click.option("--owner", default=None, help="Owner of the saved scenario (default: $USER).")
@friendly
def plan(project_dir, region, max_sites, budget, technologies, horizon_years, time_limit,
         as_json, out, export_instance, lang, save_scenario, owner) -> None:
    """Where to build next: the sites that serve the most unserved people and public
    facilities within --max-sites and/or --budget (installed and pipeline sites locked
    in). A proposal (rencana usulan), never written into the register.

    \b
    Example:
      geo-p2dd plan --project data/sample --max-sites 5 --out plan.xlsx
    """
    from geo_p2dd.errors import InputError
    from geo_p2dd.planning.optimise import export_instance as write_instance
    from geo_p2dd.planning.output import write_plan
    from geo_p2dd.planning.plan import PLAN_LABEL, make_plan
    from geo_p2dd.project import Project

    if max_sites is None and budget is None:
        raise InputError("a plan needs a limit", expected="--max-sites N and/or --budget IDR",
                         found="neither")
    result = make_plan(Project(_project_dir(project_dir)), region=region, max_sites=max_sites,
                       budget=budget, technologies=technologies, horizon_years=horizon_years,
                       time_limit_s=time_limit)
    if out:
        write_plan(result, out, lang=lang)
    if export_instance:
        write_instance(result.instance, export_instance)
    if save_scenario:
        from geo_p2dd.planning.scenarios import save_plan

        with _scenario_engine(project_dir) as engine:
            sid = save_plan(engine, result, save_scenario,
                            owner or os.environ.get("USER") or "cli")
        click.echo(f"scenario {sid}: {save_scenario}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{PLAN_LABEL}")
    click.echo(f"{'#':>3} {'kind':<9}{'village':<26}{'lon':>11}{'lat':>10}{'people':>9}"
               f"{'facil.':>7}{'cost (IDR)':>17}")
    for r in result.sites.itertuples():
        click.echo(f"{r.rank:>3} {r.kind:<9}{(r.village_kode + ' ' + r.village)[:25]:<26}"
                   f"{r.lon:>11.5f}{r.lat:>10.5f}{r.people_new:>9,.0f}{r.facilities_new:>7}"
                   f"{r.cost_idr:>17,.0f}")
    t = result.totals
    click.echo(f"total: {t['sites']} sites, {t['people_new']:,.0f} people and "
               f"{t['facilities_new']} public facilities newly served of "
               f"{t['people_unserved_pipeline']:,.0f} unserved, {t['cost_idr']:,.0f} IDR over "
               f"{t['horizon_years']} years")
    s = result.solution
    click.echo(f"solver: {s.solver} ({s.status}, gap {s.gap:.2%}); objective {s.objective:,.1f}"
               f" vs greedy {result.greedy.objective:,.1f}")
    for ch in result.changes:
        click.echo(f"  {ch['kode']} {ch['nama']}: {ch['from']} -> {ch['to']}")


@main.group()
def scenario() -> None:
    """Scenarios: named sets of hypothetical sites (never part of the register).

    \b
    Example:
      geo-p2dd scenario create --project data/sample "Lima menara"
      geo-p2dd scenario add-site --project data/sample 1 --kind bts --lon 114.1 --lat 0.8
    """


@contextlib.contextmanager
def _scenario_engine(project_dir):
    from geo_p2dd.registry.db import open_database

    engine = open_database(_project_dir(project_dir))
    try:
        yield engine
    finally:
        engine.dispose()


def _echo_summary(project_dir, engine, scenario_id: int) -> None:
    from geo_p2dd.planning import scenarios as sc
    from geo_p2dd.planning.demand import load_baseline
    from geo_p2dd.planning.whatif import WhatIf
    from geo_p2dd.project import Project

    whatif = WhatIf(load_baseline(Project(_project_dir(project_dir))))
    click.echo(json.dumps(sc.summary(engine, scenario_id, whatif), indent=2,
                          ensure_ascii=False))


@scenario.command(name="create")
@project_option
@click.argument("name")
@click.option("--owner", default=None, help="Owner (default: $USER).")
@friendly
def scenario_create(project_dir, name, owner) -> None:
    """Create a scenario; prints its id."""
    from geo_p2dd.planning import scenarios as sc

    owner = owner or os.environ.get("USER") or "cli"
    with _scenario_engine(project_dir) as engine:
        click.echo(sc.create_scenario(engine, name, owner))


@scenario.command(name="list")
@project_option
@click.option("--owner", default=None)
@friendly
def scenario_list(project_dir, owner) -> None:
    """List scenarios as JSON."""
    from geo_p2dd.planning import scenarios as sc

    with _scenario_engine(project_dir) as engine:
        found = sc.list_scenarios(engine, owner)
    click.echo(json.dumps(found, indent=2, ensure_ascii=False))


@scenario.command(name="show")
@project_option
@click.argument("scenario_id", type=int)
@friendly
def scenario_show(project_dir, scenario_id) -> None:
    """Now -> scenario as JSON: villages changing class, people newly served, cost."""
    with _scenario_engine(project_dir) as engine:
        _echo_summary(project_dir, engine, scenario_id)


@scenario.command(name="compare")
@project_option
@click.argument("scenario_ids", type=int, nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@friendly
def scenario_compare(project_dir, scenario_ids, as_json) -> None:
    """Scenarios side by side: people newly served, cost, villages changing class."""
    from geo_p2dd.planning import scenarios as sc
    from geo_p2dd.planning.demand import load_baseline
    from geo_p2dd.planning.whatif import WhatIf
    from geo_p2dd.project import Project

    whatif = WhatIf(load_baseline(Project(_project_dir(project_dir))))
    with _scenario_engine(project_dir) as engine:
        rows = sc.compare(engine, list(scenario_ids), whatif)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"{'id':>4} {'name':<24}{'sites':>6}{'people new':>12}{'facilities':>11}"
               f"{'villages':>9}{'cost (IDR)':>19}")
    for r in rows:
        click.echo(f"{r['id']:>4} {r['name'][:23]:<24}{r['sites']:>6}"
                   f"{r['people_newly_served']:>12,.0f}{r['facilities_newly_served']:>11}"
                   f"{r['villages_changing_class']:>9}{r['cost_idr']:>19,.0f}")


@scenario.command(name="add-site")
@project_option
@click.argument("scenario_id", type=int)
@click.option("--kind", required=True, type=click.Choice(["starlink", "vsat", "bts", "wifi"]))
@click.option("--lon", type=float, required=True)
@click.option("--lat", type=float, required=True)
@click.option("--technology", default=None)
@click.option("--height-m", type=float, default=None)
@click.option("--power-dbm", type=float, default=None)
@click.option("--frequency-mhz", type=float, default=None)
@click.option("--service-radius-m", type=float, default=None)
@friendly
def scenario_add_site(project_dir, scenario_id, **fields) -> None:
    """Add a hypothetical site; prints the scenario's summary."""
    from geo_p2dd.planning import scenarios as sc

    with _scenario_engine(project_dir) as engine:
        sc.add_site(engine, scenario_id, **{k: v for k, v in fields.items() if v is not None})
        _echo_summary(project_dir, engine, scenario_id)


@scenario.command(name="move-site")
@project_option
@click.argument("scenario_id", type=int)
@click.argument("site_id", type=int)
@click.option("--lon", type=float, required=True)
@click.option("--lat", type=float, required=True)
@friendly
def scenario_move_site(project_dir, scenario_id, site_id, lon, lat) -> None:
    """Move a site of a scenario; prints the scenario's summary."""
    from geo_p2dd.planning import scenarios as sc

    with _scenario_engine(project_dir) as engine:
        sc.move_site(engine, scenario_id, site_id, lon, lat)
        _echo_summary(project_dir, engine, scenario_id)


@scenario.command(name="delete-site")
@project_option
@click.argument("scenario_id", type=int)
@click.argument("site_id", type=int)
@friendly
def scenario_delete_site(project_dir, scenario_id, site_id) -> None:
    """Remove a site from a scenario."""
    from geo_p2dd.planning import scenarios as sc

    with _scenario_engine(project_dir) as engine:
        sc.delete_site(engine, scenario_id, site_id)


@scenario.command(name="delete")
@project_option
@click.argument("scenario_id", type=int)
@friendly
def scenario_delete(project_dir, scenario_id) -> None:
    """Delete a scenario and its sites."""
    from geo_p2dd.planning import scenarios as sc

    with _scenario_engine(project_dir) as engine:
        sc.delete_scenario(engine, scenario_id)


# --- end planning -------------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
