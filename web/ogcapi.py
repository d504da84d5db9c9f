"""OGC API - Features (Part 1: Core, GeoJSON, HTML, OpenAPI 3.0) under ``/ogcapi``.

One collection per downloadable layer (villages, locations, sites, aggregates;
see :mod:`geo_p2dd.exports.catalogue`). Items take ``bbox``, ``limit`` (1..10,000),
``offset``, ``f=json|html``, ``region`` (code prefix), ``class`` (gap class),
``min_score`` (villages) and equality filters on each collection's main
columns (``?kecamatan_kode=64.11.05``; repeat a parameter for alternatives).
The OpenAPI document lists those parameters per collection, which is how GDAL's
OAPIF driver (and so QGIS) learns to send attribute filters to the server.

Errors are OGC exceptions ``{"code": ..., "description": ...}``: 400 for a bad
parameter, 404 for an unknown collection or feature; never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pandas as pd
from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from geo_p2dd import __version__
from geo_p2dd.columns import describe_column, json_type
from geo_p2dd.errors import InputError, NotFoundError, ProjectError
from geo_p2dd.exports.catalogue import CRS84, LAYERS, LayerInfo
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.features import geojson_features
from geo_p2dd.exports.formats import FORMATS
from geo_p2dd.exports.metadata import attribution
from geo_p2dd.exports.query import Filters
from geo_p2dd.schema import GAP_CLASSES
from web.formats import wire
from web.links import external_url

bp = Blueprint("ogcapi", __name__, url_prefix="/ogcapi")
log = logging.getLogger("geo_p2dd.web")

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CONFORMANCE = [CONF + c for c in ("core", "geojson", "html", "oas30")]
REL_OGC = "http://www.opengis.net/def/rel/ogc/1.0/"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
COMMON_PARAMS = {"f", "lang"}
ITEM_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "region"}
CRS84_NAMES = (None, "", "CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84")


class OGCError(Exception):
    """An OGC API exception: HTTP status, code and a description for the user."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def _exception(status: int, code: str, description: str):
    body = json.dumps({"code": code, "description": description}, ensure_ascii=False)
    return Response(body, status=status, mimetype=JSON)


@bp.errorhandler(Exception)
def handle(exc: Exception):
    if isinstance(exc, OGCError):
        return _exception(exc.status, exc.code, exc.description)
    if isinstance(exc, InputError):
        return _exception(400, "InvalidParameterValue", str(exc))
    if isinstance(exc, NotFoundError):
        return _exception(404, "NotFound", str(exc))
    if isinstance(exc, ProjectError):
        return _exception(503, "ServiceUnavailable", str(exc))
    if isinstance(exc, HTTPException):
        return _exception(exc.code or 500, exc.name.replace(" ", ""), exc.description or "")
    log.exception("unhandled error on %s", request.path)
    return _exception(500, "ServerError", _("Something went wrong on the server. The error "
                                            "was logged."))


# ------------------------------------------------------------------------------------------ #
# Helpers
# ------------------------------------------------------------------------------------------ #

def _data() -> ExportData:
    from web.downloads import export_data

    return export_data()


def _lang() -> str:
    from flask import current_app, g

    return "en" if (g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]) == "en" else "id"


def wants_html() -> bool:
    f = request.args.get("f")
    if f is not None:
        if f.lower() in ("json", "geojson"):
            return False
        if f.lower() == "html":
            return True
        raise OGCError(400, "InvalidParameterValue",
                       f"unknown format f={f!r}; use f=json or f=html")
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML], default=JSON)
    return best == HTML


def check_params(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed - COMMON_PARAMS)
    if unknown:
        raise OGCError(400, "InvalidParameterValue",
                       f"unknown query parameter(s) {', '.join(unknown)}; allowed: "
                       f"{', '.join(sorted(allowed | COMMON_PARAMS))}")


def _url(endpoint: str, **params) -> str:
    return external_url(endpoint, **{k: v for k, v in params.items() if v is not None})


def _json(doc: dict, mimetype: str = JSON) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False, allow_nan=False), mimetype=mimetype)


def _collection_or_404(data: ExportData, cid: str) -> LayerInfo:
    from web.downloads import available_layers

    if cid not in available_layers(data):
        raise OGCError(404, "NotFound", f"no collection {cid!r}; collections: "
                       + ", ".join(available_layers(data)))
    return LAYERS[cid]


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------ #
# Landing page, conformance, API
# ------------------------------------------------------------------------------------------ #

@bp.route("/", methods=["GET"], strict_slashes=False)
def landing():
    check_params(set())
    data = _data()
    p = data.project
    doc = {
        "title": _("%(name)s: village connectivity gaps", name=p.name),
        "description": _("Connectivity gap layers of geo_p2dd as OGC API – Features: villages "
                         "with gap class and score, unserved locations, sites and kecamatan/"
                         "kabupaten figures."),
        "links": [
            {"href": _url("ogcapi.landing", f="json"), "rel": "self", "type": JSON,
             "title": "This document"},
            {"href": _url("ogcapi.landing", f="html"), "rel": "alternate", "type": HTML,
             "title": "This document as HTML"},
            {"href": _url("ogcapi.api"), "rel": "service-desc", "type": OPENAPI,
             "title": "The API definition (OpenAPI 3.0)"},
            {"href": _url("ogcapi.api", f="html"), "rel": "service-doc", "type": HTML,
             "title": "The API documentation"},
            {"href": _url("ogcapi.conformance", f="json"), "rel": "conformance", "type": JSON,
             "title": "Conformance classes"},
            {"href": _url("ogcapi.conformance", f="json"), "rel": REL_OGC + "conformance",
             "type": JSON, "title": "Conformance classes"},
            {"href": _url("ogcapi.collections", f="json"), "rel": "data", "type": JSON,
             "title": "Collections"},
            {"href": _url("ogcapi.collections", f="json"), "rel": REL_OGC + "data",
             "type": JSON, "title": "Collections"},
        ],
    }
    if wants_html():
        return render_template("ogcapi/landing.html", doc=doc, data=data,
                               self_url=_url("ogcapi.landing"),
                               collections=[_collection_doc(data, c) for c in _ids(data)])
    return _json(doc)


@bp.get("/conformance")
def conformance():
    check_params(set())
    doc = {"conformsTo": CONFORMANCE}
    if wants_html():
        return render_template("ogcapi/conformance.html", doc=doc)
    return _json(doc)


@bp.get("/api")
def api():
    check_params(set())
    doc = openapi(_data())
    if wants_html():
        return render_template("ogcapi/api.html", doc=doc)
    return _json(doc, OPENAPI)


# ------------------------------------------------------------------------------------------ #
# Collections
# ------------------------------------------------------------------------------------------ #

def _ids(data: ExportData) -> list[str]:
    from web.downloads import available_layers

    return available_layers(data)


def _collection_doc(data: ExportData, cid: str) -> dict:
    info = LAYERS[cid]
    lang = _lang()
    doc = {"id": cid, "title": info.title(lang), "description": info.description(lang),
           "itemType": "feature", "crs": [CRS84], "storageCrs": CRS84,
           "attribution": attribution(data.project)}
    extent = {}
    bounds = data.extent(cid)
    if bounds is not None:
        w, s, e, n = (round(v, 6) for v in bounds)
        extent["spatial"] = {"bbox": [[w, s, e, n]], "crs": CRS84}
    date = data.analysis_date
    extent["temporal"] = {"interval": [[date, None] if date else [None, None]], "trs": TRS}
    doc["extent"] = extent
    links = [
        {"href": _url("ogcapi.collection", cid=cid, f="json"), "rel": "self", "type": JSON,
         "title": "This collection"},
        {"href": _url("ogcapi.collection", cid=cid, f="html"), "rel": "alternate",
         "type": HTML, "title": "This collection as HTML"},
        {"href": _url("ogcapi.items", cid=cid, f="json"), "rel": "items", "type": GEOJSON,
         "title": "Features as GeoJSON"},
        {"href": _url("ogcapi.items", cid=cid, f="html"), "rel": "items", "type": HTML,
         "title": "Features as HTML"},
        {"href": _url("ogcapi.schema", cid=cid), "rel": "describedby", "type": SCHEMA_JSON,
         "title": "JSON Schema of the features"},
        {"href": _url("ogcapi.queryables", cid=cid), "rel": REL_OGC + "queryables",
         "type": SCHEMA_JSON, "title": "Properties that can be filtered"},
        {"href": _url("downloads.metadata", layer=cid), "rel": "license", "type": JSON,
         "title": "Sources, licences, thresholds, weights, column dictionary"},
    ]
    for fmt in FORMATS.values():
        links.append({"href": _url("downloads.file", layer=cid, fmt=fmt.key),
                      "rel": "enclosure", "type": wire(fmt).media_type,
                      "title": f"Download all as {fmt.label}"})
    doc["links"] = links
    return doc


@bp.get("/collections")
def collections():
    check_params(set())
    data = _data()
    docs = [_collection_doc(data, c) for c in _ids(data)]
    doc = {"links": [
        {"href": _url("ogcapi.collections", f="json"), "rel": "self", "type": JSON,
         "title": "This document"},
        {"href": _url("ogcapi.collections", f="html"), "rel": "alternate", "type": HTML,
         "title": "This document as HTML"}], "collections": docs}
    if wants_html():
        return render_template("ogcapi/collections.html", doc=doc)
    return _json(doc)


@bp.get("/collections/<cid>")
def collection(cid: str):
    check_params(set())
    data = _data()
    _collection_or_404(data, cid)
    doc = _collection_doc(data, cid)
    if wants_html():
        return render_template("ogcapi/collection.html", doc=doc, count=data.count(cid),
                               schema=_schema(data, cid))
    return _json(doc)


def _property_schema(col: pd.Series, name: str) -> dict:
    en, id_ = describe_column(name)
    out = {"type": json_type(col), "title": name}
    if en:
        out["description"] = en if _lang() == "en" else id_
    return out


def _schema(data: ExportData, cid: str) -> dict:
    frame = data.columns_frame(cid)
    cols = [c for c in frame.columns if c != frame.geometry.name]
    geometry = "Point" if LAYERS[cid].geometry == "Point" else "MultiPolygon"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _url("ogcapi.schema", cid=cid),
        "title": LAYERS[cid].title_en,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"type": "object", "title": geometry,
                         "description": f"GeoJSON {geometry} in CRS84 (longitude, latitude)"},
            "properties": {"type": "object",
                           "properties": {c: _property_schema(frame[c], c) for c in cols}},
        },
    }


@bp.get("/collections/<cid>/schema")
def schema(cid: str):
    check_params(set())
    data = _data()
    _collection_or_404(data, cid)
    return _json(_schema(data, cid), SCHEMA_JSON)


@bp.get("/collections/<cid>/queryables")
def queryables(cid: str):
    check_params(set())
    data = _data()
    info = _collection_or_404(data, cid)
    frame = data.columns_frame(cid)
    props = {c: _property_schema(frame[c], c) for c in info.queryables if c in frame}
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": _url("ogcapi.queryables", cid=cid), "type": "object",
           "title": info.title_en, "properties": props, "additionalProperties": False}
    return _json(doc, SCHEMA_JSON)


# ------------------------------------------------------------------------------------------ #
# Items
# ------------------------------------------------------------------------------------------ #

def _extra_params(cid: str) -> set[str]:
    out = set()
    if cid in ("villages", "locations"):
        out.add("class")
    if cid == "villages":
        out.add("min_score")
    return out


def _int_param(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OGCError(400, "InvalidParameterValue",
                       f"{name} must be an integer, found {raw!r}") from None
    if value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise OGCError(400, "InvalidParameterValue",
                       f"{name} must be {limit}, found {value}")
    return value


def items_filters(cid: str, info: LayerInfo) -> Filters:
    args = request.args
    for name in ("bbox-crs", "crs"):  # Part 2 parameters: only CRS84 is offered
        crs = args.get(name)
        if crs not in CRS84_NAMES:
            raise OGCError(400, "InvalidParameterValue",
                           f"{name} {crs!r} is not supported; use {CRS84}")
    base = Filters.parse(region=args.get("region"), gap_class=args.getlist("class") or None,
                            min_score=args.get("min_score"), bbox=args.get("bbox"))
    equals = tuple((c, tuple(args.getlist(c))) for c in info.queryables if c in args)
    return Filters(region=base.region, gap_class=base.gap_class, min_score=base.min_score,
                      bbox=base.bbox, equals=equals)


def _page_links(cid: str, offset: int, limit: int, matched: int) -> list[dict]:
    args = {k: v for k, v in request.args.lists() if k not in ("offset", "f", "limit")}
    flat = {k: v if len(v) > 1 else v[0] for k, v in args.items()}

    def link(rel: str, off: int, fmt: str, mime: str, title: str) -> dict:
        return {"href": _url("ogcapi.items", cid=cid, f=fmt, limit=limit,
                             offset=off if off else None, **flat),
                "rel": rel, "type": mime, "title": title}

    links = [link("self", offset, "json", GEOJSON, "This page"),
             link("alternate", offset, "html", HTML, "This page as HTML")]
    if offset + limit < matched:
        links.append(link("next", offset + limit, "json", GEOJSON, "Next page"))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit), "json", GEOJSON, "Previous page"))
    links.append({"href": _url("ogcapi.collection", cid=cid, f="json"), "rel": "collection",
                  "type": JSON, "title": "The collection"})
    return links


@bp.get("/collections/<cid>/items")
def items(cid: str):
    data = _data()
    info = _collection_or_404(data, cid)
    check_params(ITEM_PARAMS | _extra_params(cid) | set(info.queryables))
    html = wants_html()
    limit = _int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param("offset", 0, 0, None)
    filters = items_filters(cid, info)
    selected = data.select(cid, filters)
    matched = len(selected)
    page = selected.iloc[offset:offset + limit]
    links = _page_links(cid, offset, limit, matched)
    if html:
        return render_template("ogcapi/items.html", cid=cid, info=info, page=page,
                               matched=matched, offset=offset, limit=limit, links=links,
                               columns=_html_columns(page, info),
                               title=info.title(_lang()))
    features = geojson_features(page, info.id_column)
    head = json.dumps({"type": "FeatureCollection", "numberMatched": matched,
                       "numberReturned": len(page), "timeStamp": _now(), "links": links},
                      ensure_ascii=False)
    body = head[:-1] + ',"features":[' + ",".join(features) + "]}"
    response = Response(body, mimetype=GEOJSON)
    response.headers["Content-Crs"] = f"<{CRS84}>"
    return response


def show(value) -> str:
    """A property value for HTML: '–' for missing, whole floats without '.0'."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}" if abs(value) < 1 \
            else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


@bp.app_template_global("ogc_value")
def _show(value) -> str:
    return show(value)


def _html_columns(frame, info: LayerInfo) -> list[str]:
    """A readable subset of columns for HTML tables."""
    wanted = {"villages": ["kode", "nama", "kecamatan", "gap_class", "score", "rank",
                           "people_unserved", "facilities_unserved", "in_programme"],
              "locations": ["location_id", "kind", "name", "village", "people", "status",
                            "village_gap_class"],
              "sites": ["site_id", "kind", "status", "name", "village", "agency", "funding",
                        "year"],
              "aggregates": ["level", "kode", "nama", "villages", "n_blank_spot",
                             "people_unserved", "sites_installed", "sites_planned"]}
    return [c for c in wanted.get(info.name, []) if c in frame]


@bp.get("/collections/<cid>/items/<path:fid>")
def item(cid: str, fid: str):
    check_params(set())
    data = _data()
    info = _collection_or_404(data, cid)
    frame = data.layer(cid)
    hits = (frame[info.id_column].astype("string") == fid).fillna(False).to_numpy(bool)
    if not hits.any():
        raise OGCError(404, "NotFound", f"no feature {fid!r} in collection {cid!r}")
    row = frame[hits].iloc[:1]
    links = [
        {"href": _url("ogcapi.item", cid=cid, fid=fid, f="json"), "rel": "self",
         "type": GEOJSON, "title": "This feature"},
        {"href": _url("ogcapi.item", cid=cid, fid=fid, f="html"), "rel": "alternate",
         "type": HTML, "title": "This feature as HTML"},
        {"href": _url("ogcapi.collection", cid=cid, f="json"), "rel": "collection",
         "type": JSON, "title": "The collection"}]
    if wants_html():
        props = json.loads(geojson_features(row, info.id_column)[0])["properties"]
        return render_template("ogcapi/item.html", cid=cid, fid=fid, info=info, props=props,
                               links=links, title=info.title(_lang()))
    tail = ',"links":' + json.dumps(links, ensure_ascii=False)
    response = Response(geojson_features(row, info.id_column, extra=[tail])[0],
                        mimetype=GEOJSON)
    response.headers["Content-Crs"] = f"<{CRS84}>"
    return response


@bp.route("/<path:rest>")
def not_found(rest: str):
    raise OGCError(404, "NotFound", f"no resource /ogcapi/{rest}")


# ------------------------------------------------------------------------------------------ #
# OpenAPI 3.0
# ------------------------------------------------------------------------------------------ #

def _param(name: str, description: str, schema: dict, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, "style": "form", "explode": False, **extra}


def _responses(ok: str, content: str, schema_ref: str, *, not_found: bool = False,
               bad_request: bool = False) -> dict:
    out = {"200": {"description": ok, "content": {
        content: {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}},
        HTML: {"schema": {"type": "string"}}}}}
    if bad_request:
        out["400"] = {"$ref": "#/components/responses/InvalidParameter"}
    if not_found:
        out["404"] = {"$ref": "#/components/responses/NotFound"}
    out["500"] = {"$ref": "#/components/responses/ServerError"}
    return out


def openapi(data: ExportData) -> dict:
    """The OpenAPI 3.0 definition, with each collection's own filter parameters."""
    ref = {k: {"$ref": f"#/components/parameters/{k}"} for k in ("f", "limit", "offset", "bbox",
                                                                  "bbox-crs", "datetime",
                                                                  "region")}
    paths: dict = {
        "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage",
                      "tags": ["Capabilities"], "parameters": [ref["f"]],
                      "responses": _responses("The landing page", JSON, "landingPage")}},
        "/conformance": {"get": {"summary": "Conformance classes",
                                 "operationId": "getConformanceDeclaration",
                                 "tags": ["Capabilities"], "parameters": [ref["f"]],
                                 "responses": _responses("The conformance classes", JSON,
                                                         "confClasses")}},
        "/api": {"get": {"summary": "This API definition", "operationId": "getAPI",
                         "tags": ["Capabilities"], "parameters": [ref["f"]],
                         "responses": {"200": {"description": "The OpenAPI document",
                                               "content": {OPENAPI: {"schema": {
                                                   "type": "object"}},
                                                   HTML: {"schema": {"type": "string"}}}}}}},
        "/collections": {"get": {"summary": "The feature collections",
                                 "operationId": "getCollections", "tags": ["Capabilities"],
                                 "parameters": [ref["f"]],
                                 "responses": _responses("The collections", JSON,
                                                         "collections")}},
    }
    for cid in _ids(data):
        info = LAYERS[cid]
        frame = data.columns_frame(cid)
        params = [ref["f"], ref["limit"], ref["offset"], ref["bbox"], ref["bbox-crs"],
                  ref["datetime"], ref["region"]]
        if "class" in _extra_params(cid):
            params.append(_param("class", "Gap class (of the village): " + ", ".join(
                GAP_CLASSES.ids), {"type": "string", "enum": list(GAP_CLASSES.ids)}))
        if cid == "villages":
            params.append(_param("min_score", "Minimum gap score (0-100)",
                                 {"type": "number", "minimum": 0, "maximum": 100}))
        for c in info.queryables:
            if c in frame:
                en, _id = describe_column(c)
                params.append(_param(c, f"Equality filter on {c}" + (f": {en}" if en else "")
                                     + "; repeat for alternatives",
                                     {"type": json_type(frame[c])}))
        tag = [info.title_en]
        base = f"/collections/{cid}"
        paths[base] = {"get": {
            "summary": f"Describe the {cid} collection", "operationId": f"describe_{cid}",
            "tags": tag, "parameters": [ref["f"]],
            "responses": _responses("The collection", JSON, "collection", not_found=True)}}
        paths[base + "/items"] = {"get": {
            "summary": f"Features of {cid}", "operationId": f"getFeatures_{cid}",
            "description": info.description_en, "tags": tag, "parameters": params,
            "responses": _responses("The features", GEOJSON, "featureCollectionGeoJSON",
                                    not_found=True, bad_request=True)}}
        paths[base + "/items/{featureId}"] = {"get": {
            "summary": f"One feature of {cid} by its {info.id_column}",
            "operationId": f"getFeature_{cid}", "tags": tag,
            "parameters": [{"$ref": "#/components/parameters/featureId"}, ref["f"]],
            "responses": _responses("The feature", GEOJSON, "featureGeoJSON",
                                    not_found=True)}}
        for name, what in (("schema", "JSON Schema of the features"),
                           ("queryables", "Properties that can be filtered")):
            paths[f"{base}/{name}"] = {"get": {
                "summary": what, "operationId": f"get_{name}_{cid}", "tags": tag,
                "responses": {"200": {"description": what, "content": {
                    SCHEMA_JSON: {"schema": {"type": "object"}}}},
                    "404": {"$ref": "#/components/responses/NotFound"}}}}
    exception = {"type": "object", "required": ["code"], "properties": {
        "code": {"type": "string"}, "description": {"type": "string"}}}
    link = {"type": "object", "required": ["href"], "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
        "title": {"type": "string"}}}
    links = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"geo_p2dd OGC API - Features: {data.project.name}",
                 "version": __version__,
                 "description": "Village connectivity gap layers (Indonesia, P2DD). "
                                + attribution(data.project),
                 "license": {"name": "See each collection's sources and licences",
                             "url": _url("downloads.index")}},
        "servers": [{"url": _url("ogcapi.landing").rstrip("/")}],
        "tags": [{"name": "Capabilities"}] + [{"name": LAYERS[c].title_en,
                                              "description": LAYERS[c].description_en}
                                             for c in _ids(data)],
        "paths": paths,
        "components": {
            "parameters": {
                "f": _param("f", "Response format", {"type": "string",
                                                      "enum": ["json", "html"]}),
                "limit": _param("limit", f"Features per page (at most {MAX_LIMIT})",
                                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                 "default": DEFAULT_LIMIT}),
                "offset": _param("offset", "Features to skip (paging)",
                                 {"type": "integer", "minimum": 0, "default": 0}),
                "bbox": _param("bbox", "west,south,east,north in CRS84",
                               {"type": "array", "minItems": 4, "maxItems": 6,
                                "items": {"type": "number"}}),
                "bbox-crs": _param("bbox-crs", "CRS of bbox (only CRS84)",
                                   {"type": "string", "format": "uri", "enum": [CRS84]}),
                "datetime": _param("datetime", "Accepted and ignored: the layers have no "
                                   "time dimension", {"type": "string"}),
                "region": _param("region", "Kemendagri code prefix, e.g. 64.11 or 64.11.05",
                                 {"type": "string"}),
                "featureId": {"name": "featureId", "in": "path", "required": True,
                              "description": "Feature id (kode, location_id or site_id)",
                              "schema": {"type": "string"}},
            },
            "schemas": {
                "exception": exception, "link": link,
                "landingPage": {"type": "object", "required": ["links"], "properties": {
                    "title": {"type": "string"}, "description": {"type": "string"},
                    "links": links}},
                "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
                    "conformsTo": {"type": "array", "items": {"type": "string"}}}},
                "collection": {"type": "object", "required": ["id", "links"], "properties": {
                    "id": {"type": "string"}, "title": {"type": "string"},
                    "description": {"type": "string"}, "links": links,
                    "extent": {"type": "object"}, "itemType": {"type": "string"},
                    "crs": {"type": "array", "items": {"type": "string"}}}},
                "collections": {"type": "object", "required": ["links", "collections"],
                                "properties": {"links": links, "collections": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/collection"}}}},
                "featureGeoJSON": {"type": "object", "required": ["type", "geometry",
                                                                  "properties"],
                                   "properties": {
                                       "type": {"type": "string", "enum": ["Feature"]},
                                       "id": {"type": "string"},
                                       "geometry": {"type": "object", "nullable": True},
                                       "properties": {"type": "object", "nullable": True},
                                       "links": links}},
                "featureCollectionGeoJSON": {
                    "type": "object", "required": ["type", "features"], "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": {
                            "$ref": "#/components/schemas/featureGeoJSON"}},
                        "links": links, "timeStamp": {"type": "string",
                                                      "format": "date-time"},
                        "numberMatched": {"type": "integer", "minimum": 0},
                        "numberReturned": {"type": "integer", "minimum": 0}}},
            },
            "responses": {
                "InvalidParameter": {"description": "A query parameter has an invalid value",
                                     "content": {JSON: {"schema": {
                                         "$ref": "#/components/schemas/exception"}}}},
                "NotFound": {"description": "The collection or feature does not exist",
                             "content": {JSON: {"schema": {
                                 "$ref": "#/components/schemas/exception"}}}},
                "ServerError": {"description": "A server error occurred",
                                "content": {JSON: {"schema": {
                                    "$ref": "#/components/schemas/exception"}}}},
            },
        },
    }
