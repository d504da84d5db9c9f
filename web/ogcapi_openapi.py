"""The OpenAPI 3.0 document of the OGC API, with each collection's filter parameters.

The document lists, per collection, the equality filters on its queryable
columns: this is how GDAL's OAPIF driver (and so QGIS) learns to send attribute
filters to the server. No Flask here: links come from the ``url`` function.
"""

from __future__ import annotations

from geo_p2dd import __version__
from geo_p2dd.columns import describe_column, json_type
from geo_p2dd.exports.catalogue import CRS84, LAYERS
from geo_p2dd.exports.cql2 import FILTER_LANGS
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.metadata import attribution
from geo_p2dd.exports.query import MAX_NEAR_KM
from geo_p2dd.exports.styles import STYLE_NAME
from geo_p2dd.schema import GAP_CLASSES
from web.ogcapi_core import (
    DEFAULT_LIMIT,
    GEOJSON,
    HTML,
    JSON,
    MAX_LIMIT,
    OPENAPI,
    SCHEMA_JSON,
    STYLE_FORMATS,
    UrlFor,
    extra_params,
)


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


def openapi(data: ExportData, url: UrlFor) -> dict:
    """The OpenAPI 3.0 definition, with each collection's own filter parameters.

    Parameters
    ----------
    data : ExportData
        The project's layers (their columns give the filter parameters).
    url : callable
        ``url(endpoint, **params)``: link of an endpoint (see :mod:`web.links`).
    """
    ref = {k: {"$ref": f"#/components/parameters/{k}"} for k in ("f", "limit", "offset", "bbox",
                                                                  "bbox-crs", "datetime",
                                                                  "region", "filter",
                                                                  "filter-lang", "sortby")}
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
    for cid in data.available():
        info = LAYERS[cid]
        frame = data.columns_frame(cid)
        params = [ref["f"], ref["limit"], ref["offset"], ref["bbox"], ref["bbox-crs"],
                  ref["datetime"], ref["region"], ref["filter"], ref["filter-lang"],
                  ref["sortby"]]
        if "class" in extra_params(cid):
            params.append(_param("class", "Gap class (of the village): " + ", ".join(
                GAP_CLASSES.ids), {"type": "string", "enum": list(GAP_CLASSES.ids)}))
        if cid == "villages":
            params.append(_param("min_score", "Minimum gap score (0-100)",
                                 {"type": "number", "minimum": 0, "maximum": 100}))
        if "near_operator" in extra_params(cid):
            params.append(_param("near_operator", "Keep features within within_km of an "
                                 "installed tower of this operator (Telkomsel, Indosat, XL, "
                                 "Smartfren, Tri or a code such as tsel); with within_km",
                                 {"type": "string"}))
            params.append(_param("within_km", "Distance (km) for near_operator",
                                 {"type": "number", "minimum": 0, "exclusiveMinimum": True,
                                  "maximum": MAX_NEAR_KM}))
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
        paths[f"{base}/styles/{{styleId}}"] = {"get": {
            "summary": f"The {cid} collection's style (default: the web map's)",
            "operationId": f"getStyle_{cid}", "tags": tag, "parameters": [
                {"name": "styleId", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": [STYLE_NAME]}},
                _param("f", "Stylesheet format: OGC SLD 1.1 or QGIS QML",
                       {"type": "string", "enum": list(STYLE_FORMATS), "default": "sld11"})],
            "responses": {"200": {"description": "The stylesheet", "content": {
                m: {"schema": {"type": "string"}} for m in STYLE_FORMATS.values()}},
                "400": {"$ref": "#/components/responses/InvalidParameter"},
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
                             "url": url("downloads.index")}},
        "servers": [{"url": url("ogcapi.landing").rstrip("/")}],
        "tags": [{"name": "Capabilities"}] + [{"name": LAYERS[c].title_en,
                                              "description": LAYERS[c].description_en}
                                             for c in data.available()],
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
                "filter": _param("filter", "CQL2 text filter on the collection's queryables, "
                                 "e.g. no_4g_share >= 0.5 AND kecamatan_kode = '64.11.05' "
                                 "(comparisons, AND, OR, NOT, parentheses, IN, BETWEEN, LIKE, "
                                 "IS NULL)", {"type": "string"}),
                "filter-lang": _param("filter-lang", "Language of filter",
                                      {"type": "string", "enum": list(FILTER_LANGS),
                                       "default": "cql2-text"}),
                "sortby": _param("sortby", "Sort order: comma-separated properties, '-' "
                                 "before a property for descending, e.g. -score,nama",
                                 {"type": "array", "items": {"type": "string"}}),
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
