"""``export``: gap layers for telco partners in every common GIS format."""

from __future__ import annotations

import dataclasses
import json

import click

from geo_p2dd.cli.common import friendly, json_option, project_option, project_path
from geo_p2dd.exports.catalogue import LAYERS


@click.command()
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
@json_option("Print what was written as JSON.")
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
    result = export_layer(Project(project_path(project_dir)), layer, out, fmt, filters=filters,
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
