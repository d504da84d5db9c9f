"""One call from a project layer to a file: :func:`export_layer`.

Files are named ``<region>_<layer>[-<filters>]_<date><ext>``
(:func:`download_name`), the same on the command line and on the web.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from geo_p2dd.errors import InputError
from geo_p2dd.exports.catalogue import get_layer
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.formats import (
    FORMATS,
    SIDECAR_FORMATS,
    Format,
    get_format,
    known_extension,
    sidecar_path,
)
from geo_p2dd.exports.metadata import build_metadata
from geo_p2dd.exports.query import Filters
from geo_p2dd.exports.writers import write_layer
from geo_p2dd.project import Project


@dataclass
class ExportResult:
    """What :func:`export_layer` wrote."""

    path: Path
    layer: str
    format: Format
    rows: int
    metadata: dict = field(repr=False)
    sidecar: Path | None = None
    ignored_filters: list[str] = field(default_factory=list)


def file_date(data: ExportData) -> str:
    """The date in download names: the analysis date, else today (UTC)."""
    date = data.analysis_date
    if date:
        return str(date)[:10]
    return dt.datetime.now(dt.UTC).date().isoformat()


def download_name(data: ExportData, layer: str, fmt: Format | str,
                  filters: Filters | None = None) -> str:
    """``<region>_<layer>[-<classes/statuses>]_<date><ext>``, e.g.
    ``64.11_villages_2026-11-28.gpkg``."""
    fmt = get_format(fmt)
    f = (filters or Filters()).for_layer(layer)
    region = f.region or data.project.region_code or "all"
    what = layer
    extra = list(f.gap_class) + list(f.site_status) + list(f.level)
    if f.min_score is not None:
        extra.append(f"score{f.min_score:g}")
    if f.bbox is not None:
        extra.append("bbox")
    if f.cql2:
        extra.append("filtered")
    if f.near_operator:
        extra.append(f"near-{f.near_operator}-{f.within_km:g}km")
    if extra:
        what += "-" + "+".join(extra)
    name = f"{region}_{what}_{file_date(data)}{fmt.extension}"
    return re.sub(r"[^\w.+\-]", "_", name)


def export_layer(project: Project | ExportData, layer: str, out: str | Path | None = None,
                 fmt: Format | str | None = None, *, filters: Filters | None = None,
                 wkt: bool = False, sidecar: bool | None = None) -> ExportResult:
    """Export one layer of a project to a file.

    Parameters
    ----------
    project : Project or ExportData
    layer : str
        villages, locations, sites or aggregates.
    out : str or Path, optional
        Output file (with a known extension), or a directory (created if needed) to
        write :func:`download_name` into; default: the current directory.
    fmt : str, optional
        A key of :data:`FORMATS`; default from ``out``'s extension, else gpkg.
    filters : Filters, optional
    wkt : bool
        CSV: add a ``wkt`` column.
    sidecar : bool, optional
        Write ``<file>.metadata.json`` beside the file; default for formats that
        cannot hold metadata (CSV).

    Examples
    --------
    >>> export_layer(Project("data/sample"), "villages", "out/villages.gpkg",
    ...              filters=Filters.parse(region="99.01.01"))   # doctest: +SKIP
    """
    data = project if isinstance(project, ExportData) else ExportData(project)
    get_layer(layer)
    filters = filters or Filters()
    out_is_file = out is not None and not Path(out).is_dir() and known_extension(out)
    if fmt is None:
        fmt = get_format(out) if out_is_file else FORMATS["gpkg"]
    fmt = get_format(fmt)
    if out_is_file and get_format(out) != fmt:
        raise InputError("the output file's extension does not match the format",
                         column="out", expected=f"a name ending in {fmt.extension}",
                         found=str(out), hint="leave out --format to take it from the name")
    if not out_is_file:
        folder = Path(out or ".")
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / download_name(data, layer, fmt, filters)
    frame = data.select(layer, filters)
    meta = build_metadata(data, layer, frame, filters, fmt)
    path = write_layer(frame, out, fmt, layer=layer, metadata=meta, wkt=wkt)
    side = None
    if sidecar if sidecar is not None else fmt.key in SIDECAR_FORMATS:
        side = sidecar_path(path)
        side.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    ignored = [k for k, ok in filters.applies_to(layer).items() if not ok]
    return ExportResult(path=path, layer=layer, format=fmt, rows=len(frame), metadata=meta,
                        sidecar=side, ignored_filters=ignored)
