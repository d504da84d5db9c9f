"""Downloads of the gap layers in common GIS formats.

``/downloads/`` lists layers x formats with sizes and a filter form;
``/downloads/<layer>/<format>`` sends one file. Files are generated once into
a private, bounded cache (:mod:`web.export_cache`; ``EXPORT_CACHE``, default a
folder under the Flask instance path) and streamed from disk, never held in
memory; every response has an ETag (the file's sha256) and Last-Modified (the
project's files), so a conditional GET answers 304 and an interrupted download
resumes with Range (:mod:`web.fileresponse`). Filters are canonical before
they name a cached file: the minimum score in steps of 0.1, bbox corners to 4
decimals. Text formats (GeoJSON, CSV, KML) are sent gzip-compressed when the
client accepts it, from a compressed copy made once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from geo_p2dd.columns import describe_column
from geo_p2dd.errors import NotFoundError
from geo_p2dd.exports import cql2
from geo_p2dd.exports.catalogue import LAYERS, LayerInfo
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.files import download_name
from geo_p2dd.exports.formats import FORMATS, Format
from geo_p2dd.exports.metadata import attribution, build_metadata, licence_links, readme_text
from geo_p2dd.exports.query import Filters
from geo_p2dd.exports.writers import write_layer
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS
from web.context import ProjectView, current_view
from web.export_cache import Entry, ExportCache, private_dir
from web.fileresponse import file_response
from web.formats import wire
from web.links import external_url

bp = Blueprint("downloads", __name__, url_prefix="/downloads")

CACHE_VERSION = 1
PREPARE_MAX_FEATURES = 5000  # below this, the page makes the files to show exact sizes
ESTIMATE_ROWS = 300
ESTIMATES_KEPT = 256  # size estimates kept per project view
CACHE_MAX_BYTES = 4_000_000_000
CACHE_MAX_FILES = 500
SCORE_DECIMALS = 1
BBOX_DECIMALS = 4


# ------------------------------------------------------------------------------------------ #
# Shared with the OGC API: the project's layers as export frames (one per loaded view)
# ------------------------------------------------------------------------------------------ #

def export_data(view: ProjectView | None = None) -> ExportData:
    """The :class:`~geo_p2dd.exports.data.ExportData` of the current project view (cached on it)."""
    view = view or current_view()
    data = view.extra.get("export_data")
    if data is None:
        with _export_data_lock:  # one build per view, however many threads ask at once
            data = view.extra.get("export_data")
            if data is None:
                data = ExportData(view.project, villages=view.villages,
                                  results=view.results, locations=view.locations,
                                  areas=view.areas, sites=view.sites, loaded=True)
                view.extra["export_data"] = data
    return data


_export_data_lock = threading.Lock()


def data_modified(view: ProjectView) -> dt.datetime:
    """When the project's data last changed (Last-Modified of every download)."""
    stamp = max(view.stamp) if view.stamp else 0
    return dt.datetime.fromtimestamp(stamp / 1e9, dt.UTC).replace(microsecond=0)


def filters_from_args(args) -> Filters:
    """The download filters of a request, canonical (see :func:`canonical_filters`);
    ``filter`` is a CQL2 text filter as the OGC API takes it (checked here: 400)."""
    text = (args.get("filter") or "").strip() or None
    if text is not None:
        cql2.parse(text)
    return canonical_filters(dataclasses.replace(Filters.parse(
        region=args.get("region"), gap_class=args.getlist("class") or None,
        min_score=args.get("min_score"), bbox=args.get("bbox"),
        site_status=args.getlist("status") or None, level=args.getlist("level") or None,
        near_operator=args.get("near_operator"), within_km=args.get("within_km")),
        cql2=text))


# ------------------------------------------------------------------------------------------ #
# The file cache (see web.export_cache)
# ------------------------------------------------------------------------------------------ #

def canonical_filters(filters: Filters) -> Filters:
    """The filters as downloads take them: minimum score and ``within_km`` in steps of 0.1,
    bbox corners rounded outwards to 4 decimals (about 11 m), so that ``min_score=1.2345`` and
    ``1.2346`` share one cached file instead of filling the disk."""
    score = None if filters.min_score is None else round(filters.min_score, SCORE_DECIMALS)
    bbox = None
    if filters.bbox is not None:
        w, s, e, n = (v * 10 ** BBOX_DECIMALS for v in filters.bbox)

        def down(v: float) -> float:  # round(): 114.1234 * 1e4 is 1141233.9999999998
            return math.floor(round(v, 6)) / 10 ** BBOX_DECIMALS

        def up(v: float) -> float:
            return math.ceil(round(v, 6)) / 10 ** BBOX_DECIMALS

        bbox = (max(-180.0, down(w)), max(-90.0, down(s)), min(180.0, up(e)), min(90.0, up(n)))
    km = None if filters.within_km is None else max(0.1, round(filters.within_km, 1))
    return dataclasses.replace(filters, min_score=score, bbox=bbox, within_km=km)


def export_cache(view: ProjectView) -> ExportCache:
    """The project's download cache: ``EXPORT_CACHE``, else a private folder under the
    Flask instance path (one per project)."""
    configured = current_app.config.get("EXPORT_CACHE")
    tag = hashlib.sha1(str(view.project.path.resolve()).encode()).hexdigest()[:12]
    root = Path(configured) if configured else \
        Path(current_app.instance_path) / "export-cache" / tag
    return ExportCache(private_dir(root),
                       max_bytes=int(current_app.config.get("EXPORT_CACHE_MAX_BYTES",
                                                            CACHE_MAX_BYTES)),
                       max_files=int(current_app.config.get("EXPORT_CACHE_MAX_FILES",
                                                            CACHE_MAX_FILES)))


def cache_key(view: ProjectView, layer: str, fmt: Format, filters: Filters,
              wkt: bool) -> str:
    parts = [CACHE_VERSION, list(view.stamp), layer, fmt.key,
             sorted(filters.for_layer(layer).query().items()), bool(wkt and fmt.key == "csv")]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:24]


def cached(view: ProjectView, layer: str, fmt: Format, filters: Filters,
           wkt: bool = False, *, make: bool = True) -> Entry | None:
    """The export file for these parameters, made (once) when ``make``."""
    cache = export_cache(view)
    key = cache_key(view, layer, fmt, filters, wkt)
    if not make:
        return cache.lookup(key, fmt.extension)
    return cache.get(key, fmt.extension, _writer(view, layer, fmt, filters, wkt))


def _writer(view: ProjectView, layer: str, fmt: Format, filters: Filters,
            wkt: bool) -> Callable[[Path], None]:
    """What writes the export file of these parameters to a path."""
    def write(path: Path) -> None:
        data = export_data(view)
        frame = data.select(layer, filters)
        meta = build_metadata(data, layer, frame, filters, fmt)
        write_layer(frame, path, fmt, layer=layer, metadata=meta, wkt=wkt)

    return write


def estimated_size(view: ProjectView, layer: str, fmt: Format, filters: Filters
                   ) -> int:
    """Size of a large export estimated from its first rows (cached per view)."""
    key = ("size", layer, fmt.key, tuple(sorted(filters.for_layer(layer).query().items())))
    sizes = view.extra.setdefault("export_sizes", {})
    if key in sizes:
        return sizes[key]
    if len(sizes) >= ESTIMATES_KEPT:
        sizes.clear()
    data = export_data(view)
    frame = data.select(layer, filters)
    n = len(frame)
    part = frame.iloc[:ESTIMATE_ROWS]
    with tempfile.TemporaryDirectory() as tmp:
        meta = build_metadata(data, layer, part, filters, fmt)
        out = write_layer(part, Path(tmp) / f"x{fmt.extension}", fmt, layer=layer,
                             metadata=meta)
        size = out.stat().st_size
    estimate = int(size * n / max(len(part), 1))
    sizes[key] = estimate
    return estimate


# ------------------------------------------------------------------------------------------ #
# Views
# ------------------------------------------------------------------------------------------ #

def _layer_or_404(data: ExportData, layer: str) -> LayerInfo:
    if layer not in LAYERS:
        raise NotFoundError(_("There is no layer %(layer)s.", layer=layer))
    if layer not in data.available():
        raise NotFoundError(_("The %(layer)s layer needs the analysis; run 'geo-p2dd analyze' "
                              "first.", layer=layer))
    return LAYERS[layer]


def _format_or_404(key: str) -> Format:
    fmt = FORMATS.get(key)
    if fmt is None:
        raise NotFoundError(_("There is no format %(format)s.", format=key))
    return fmt


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            value = n / div
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n} B"


@bp.get("/")
def index():
    view = current_view()
    data = export_data(view)
    filters = filters_from_args(request.args)
    wkt = request.args.get("wkt") in ("1", "true", "on")
    lang = "en" if _lang() == "en" else "id"
    labels = {"gap_class": _("Gap class"), "min_score": _("Minimum score"),
              "site_status": _("Site status"), "level": "level", "cql2": _("CQL2 filter")}
    used = cql2.properties(cql2.parse(filters.cql2)) if filters.cql2 else set()
    prepare_max = int(current_app.config.get("DOWNLOADS_PREPARE_MAX_FEATURES",
                                             PREPARE_MAX_FEATURES))
    rows = []
    for name in data.available():
        info = LAYERS[name]
        frame = data.columns_frame(name)
        # a CQL2 filter names columns: layers without them are listed unfiltered
        cql2_fits = used <= set(frame.columns)
        layer_filters = filters if cql2_fits else dataclasses.replace(filters, cql2=None)
        count = data.count(name, layer_filters)
        small = count <= prepare_max
        # boundaries still to be dissolved (aggregates of a large project without kecamatan/
        # kabupaten layers): no estimate, the first download makes them
        pending = name == "aggregates" and not data.built(name) and \
            data.count(name) > prepare_max
        small = small and not pending
        cells = []
        for fmt in FORMATS.values():
            entry = cached(view, name, fmt, layer_filters, wkt, make=small)
            exact = entry is not None
            size = entry.size if exact else None if pending else \
                estimated_size(view, name, fmt, layer_filters)
            cells.append({"format": fmt, "size": human_size(size), "exact": exact,
                          "url": url_for("downloads.file", layer=name, fmt=fmt.key,
                                         **_query(layer_filters, name,
                                                  wkt and fmt.key == "csv"))})
        ignored = [labels.get(k, k) for k, ok in filters.applies_to(name).items() if not ok]
        if not cql2_fits:
            ignored.append(labels["cql2"])
        columns = [{"name": c, "description": describe_column(c)[1 if lang == "id" else 0]}
                   for c in frame.columns if c != frame.geometry.name]
        rows.append({"name": name, "info": info, "title": info.title(lang), "count": count,
                     "cells": cells, "columns": columns,
                     "ignored": ignored,
                     "metadata_url": url_for("downloads.metadata", layer=name,
                                             **_query(layer_filters, name)),
                     "readme_url": url_for("downloads.readme", layer=name,
                                           **_query(layer_filters, name))})
    regions = _regions(data)
    return render_template(
        "downloads/index.html", rows=rows, formats=list(FORMATS.values()), filters=filters,
        wkt=wkt, regions=regions, gap_classes=GAP_CLASSES.terms,
        site_statuses=SITE_STATUS.terms, lang=lang,
        attribution=attribution(data.project), analysis_date=data.analysis_date,
        analysed=data.analysed,
        ogcapi_url=external_url("ogcapi.landing"))


def _lang() -> str:
    from flask import g

    return g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]


def _query(filters: Filters, layer: str, wkt: bool = False) -> dict:
    q = filters.for_layer(layer).query()
    if wkt:
        q["wkt"] = "1"
    return q


def _regions(data: ExportData) -> list[tuple[str, str]]:
    """(code, label) choices for the region filter: the kabupaten and kecamatan."""
    villages = data.layer("villages")
    out = []
    for code_col, name_col in (("kabupaten_kode", "kabupaten"), ("kecamatan_kode", "kecamatan")):
        if code_col not in villages:
            continue
        pairs = villages[[code_col] + ([name_col] if name_col in villages else [])] \
            .dropna(subset=[code_col]).drop_duplicates(code_col).sort_values(code_col)
        for row in pairs.itertuples(index=False):
            label = f"{row[0]} {row[1]}" if len(row) > 1 and isinstance(row[1], str) else row[0]
            out.append((row[0], label))
    return out


@bp.get("/<layer>/<fmt>")
def file(layer: str, fmt: str):
    view = current_view()
    data = export_data(view)
    _layer_or_404(data, layer)
    fmt_ = _format_or_404(fmt)
    filters = filters_from_args(request.args)
    wkt = fmt_.key == "csv" and request.args.get("wkt") in ("1", "true", "on")
    encoded = wire(fmt_).compressible and "gzip" in request.headers.get("Accept-Encoding", "")
    entry, fh = export_cache(view).open(
        cache_key(view, layer, fmt_, filters, wkt), fmt_.extension,
        _writer(view, layer, fmt_, filters, wkt), compressed=encoded)
    response = file_response(fh, mimetype=wire(fmt_).media_type,
                             download_name=download_name(data, layer, fmt_, filters),
                             etag=entry.etag, last_modified=data_modified(view))
    if encoded:
        response.headers["Content-Encoding"] = "gzip"
    if wire(fmt_).compressible:
        response.vary.add("Accept-Encoding")
    meta_url = url_for("downloads.metadata", layer=layer, **_query(filters, layer))
    response.headers["Link"] = ", ".join(
        [f'<{meta_url}>; rel="describedby"; type="application/json"']
        + [f'<{href}>; rel="license"; title="{name.replace(chr(34), chr(39))}"'
           for name, href in licence_links(data.project)])

    return response


@bp.get("/<layer>/metadata.json")
def metadata(layer: str):
    meta = _layer_metadata(layer)
    return Response(json.dumps(meta, ensure_ascii=False, indent=1),
                    mimetype="application/json")


@bp.get("/<layer>/README.txt")
def readme(layer: str):
    return Response(readme_text(_layer_metadata(layer)), mimetype="text/plain")


def _layer_metadata(layer: str) -> dict:
    """Metadata of a layer as filtered by the request's query."""
    data = export_data()
    _layer_or_404(data, layer)
    filters = filters_from_args(request.args)
    return build_metadata(data, layer, data.select(layer, filters), filters)
