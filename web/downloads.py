"""Downloads of the gap layers in common GIS formats.

``/downloads/`` lists layers x formats with sizes and a filter form;
``/downloads/<layer>/<format>`` sends one file. Files are generated once into
a cache directory (``EXPORT_CACHE``, default a folder in the system temp
directory) and streamed from disk, never held in memory; every response has an
ETag (the file's sha256) and Last-Modified (the project's files), so a
conditional GET answers 304 and an interrupted download resumes with Range.
Text formats (GeoJSON, CSV, KML) are sent gzip-compressed when the client
accepts it, from a compressed copy made once.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _

from geo_p2dd.columns import describe_column
from geo_p2dd.errors import NotFoundError
from geo_p2dd.exports.catalogue import LAYERS, LayerInfo
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.files import download_name
from geo_p2dd.exports.formats import FORMATS, Format
from geo_p2dd.exports.metadata import attribution, build_metadata, readme_text
from geo_p2dd.exports.query import Filters
from geo_p2dd.exports.writers import write_layer
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS
from web.context import ProjectView, current_view
from web.formats import wire

bp = Blueprint("downloads", __name__, url_prefix="/downloads")

CACHE_VERSION = 1
PREPARE_MAX_FEATURES = 5000  # below this, the page makes the files to show exact sizes
ESTIMATE_ROWS = 300
CACHE_MAX_BYTES = 4_000_000_000


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


def available_layers(data: ExportData) -> list[str]:
    """Layers the project can produce (locations and aggregates need the analysis)."""
    return [n for n in LAYERS if data.analysed or n in ("villages", "sites")]


def data_modified(view: ProjectView) -> dt.datetime:
    """When the project's data last changed (Last-Modified of every download)."""
    stamp = max(view.stamp) if view.stamp else 0
    return dt.datetime.fromtimestamp(stamp / 1e9, dt.UTC).replace(microsecond=0)


def filters_from_args(args) -> Filters:
    return Filters.parse(region=args.get("region"), gap_class=args.getlist("class") or None,
                            min_score=args.get("min_score"), bbox=args.get("bbox"),
                            site_status=args.getlist("status") or None,
                            level=args.getlist("level") or None)


# ------------------------------------------------------------------------------------------ #
# The file cache
# ------------------------------------------------------------------------------------------ #

@dataclass(frozen=True)
class CachedFile:
    path: Path
    etag: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def cache_root(view: ProjectView) -> Path:
    configured = current_app.config.get("EXPORT_CACHE")
    if configured:
        root = Path(configured)
    else:
        tag = hashlib.sha1(str(view.project.path.resolve()).encode()).hexdigest()[:12]
        root = Path(tempfile.gettempdir()) / "geo_p2dd-exports" / tag
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_key(view: ProjectView, layer: str, fmt: Format, filters: Filters,
              wkt: bool) -> str:
    parts = [CACHE_VERSION, list(view.stamp), layer, fmt.key,
             sorted(filters.for_layer(layer).query().items()), bool(wkt and fmt.key == "csv")]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:24]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def cached(view: ProjectView, layer: str, fmt: Format, filters: Filters,
           wkt: bool = False, *, make: bool = True) -> CachedFile | None:
    """The export file for these parameters, made (once) when ``make``."""
    root = cache_root(view)
    key = cache_key(view, layer, fmt, filters, wkt)
    path = root / f"{key}{fmt.extension}"
    tag = root / f"{key}.etag"
    if path.exists() and tag.exists():
        return CachedFile(path, tag.read_text().strip())
    if not make:
        return None
    with _lock(key):
        if path.exists() and tag.exists():
            return CachedFile(path, tag.read_text().strip())
        data = export_data(view)
        frame = data.select(layer, filters)
        meta = build_metadata(data, layer, frame, filters, fmt)
        tmp = root / f".{key}.{uuid.uuid4().hex[:6]}{fmt.extension}"
        try:
            write_layer(frame, tmp, fmt, layer=layer, metadata=meta, wkt=wkt)
            etag = _sha256(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        tag_tmp = tag.with_name(f"{tag.name}.{uuid.uuid4().hex[:6]}")
        tag_tmp.write_text(etag)
        os.replace(tag_tmp, tag)  # readers never see a half-written ETag
        _prune(root, keep=path)
        return CachedFile(path, etag)


def gzipped(entry: CachedFile) -> CachedFile:
    """A gzip-compressed copy of a cached file (made once)."""
    gz = entry.path.with_name(entry.path.name + ".gz")
    if not gz.exists():
        with _lock(str(gz)):
            if not gz.exists():
                tmp = gz.with_name(f".{gz.name}.{uuid.uuid4().hex[:6]}")
                with open(entry.path, "rb") as src, gzip.GzipFile(
                        tmp, "wb", compresslevel=6, mtime=0) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.replace(tmp, gz)
    return CachedFile(gz, entry.etag + "-gz")


def _prune(root: Path, keep: Path) -> None:
    """Delete the oldest cached files while the cache is over its size limit."""
    limit = int(current_app.config.get("EXPORT_CACHE_MAX_BYTES", CACHE_MAX_BYTES))
    files = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    total = sum(p.stat().st_size for p in files)
    for p in sorted(files, key=lambda f: f.stat().st_mtime):
        if total <= limit:
            break
        if p == keep or p.suffix == ".etag":
            continue
        total -= p.stat().st_size
        p.unlink(missing_ok=True)
        p.with_name(p.name.split(".")[0] + ".etag").unlink(missing_ok=True)


def estimated_size(view: ProjectView, layer: str, fmt: Format, filters: Filters
                   ) -> int:
    """Size of a large export estimated from its first rows (cached per view)."""
    key = ("size", layer, fmt.key, tuple(sorted(filters.for_layer(layer).query().items())))
    sizes = view.extra.setdefault("export_sizes", {})
    if key in sizes:
        return sizes[key]
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
    if layer not in available_layers(data):
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
              "site_status": _("Site status"), "level": "level"}
    prepare_max = int(current_app.config.get("DOWNLOADS_PREPARE_MAX_FEATURES",
                                             PREPARE_MAX_FEATURES))
    rows = []
    for name in available_layers(data):
        info = LAYERS[name]
        count = data.count(name, filters)
        small = count <= prepare_max
        # boundaries still to be dissolved (aggregates of a large project without kecamatan/
        # kabupaten layers): no estimate, the first download makes them
        pending = name == "aggregates" and not data.built(name) and \
            data.count(name) > prepare_max
        small = small and not pending
        cells = []
        for fmt in FORMATS.values():
            entry = cached(view, name, fmt, filters, wkt, make=small)
            exact = entry is not None
            size = entry.size if exact else None if pending else \
                estimated_size(view, name, fmt, filters)
            cells.append({"format": fmt, "size": human_size(size), "exact": exact,
                          "url": url_for("downloads.file", layer=name, fmt=fmt.key,
                                         **_query(filters, name, wkt and fmt.key == "csv"))})
        frame = data.columns_frame(name)
        columns = [{"name": c, "description": describe_column(c)[1 if lang == "id" else 0]}
                   for c in frame.columns if c != frame.geometry.name]
        rows.append({"name": name, "info": info, "title": info.title(lang), "count": count,
                     "cells": cells, "columns": columns,
                     "ignored": [labels.get(k, k) for k, ok in filters.applies_to(name).items()
                                 if not ok],
                     "metadata_url": url_for("downloads.metadata", layer=name,
                                             **_query(filters, name)),
                     "readme_url": url_for("downloads.readme", layer=name,
                                           **_query(filters, name))})
    regions = _regions(data)
    return render_template(
        "downloads/index.html", rows=rows, formats=list(FORMATS.values()), filters=filters,
        wkt=wkt, regions=regions, gap_classes=GAP_CLASSES.terms,
        site_statuses=SITE_STATUS.terms, lang=lang,
        attribution=attribution(data.project), analysis_date=data.analysis_date,
        analysed=data.analysed,
        ogcapi_url=url_for("ogcapi.landing", _external=True))


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
    for attempt in (1, 2):  # a concurrent prune may remove the file just made: make it again
        entry = cached(view, layer, fmt_, filters, wkt)
        if encoded:
            entry = gzipped(entry)
        try:
            response = send_file(entry.path, mimetype=wire(fmt_).media_type, as_attachment=True,
                                 download_name=download_name(data, layer, fmt_, filters),
                                 conditional=True, etag=entry.etag,
                                 last_modified=data_modified(view), max_age=0)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    if encoded:
        response.headers["Content-Encoding"] = "gzip"
    if wire(fmt_).compressible:
        response.vary.add("Accept-Encoding")
    response.cache_control.no_cache = True  # always revalidate: cheap with the ETag
    meta_url = url_for("downloads.metadata", layer=layer, **_query(filters, layer))
    response.headers["Link"] = f'<{meta_url}>; rel="describedby"; type="application/json"'

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
