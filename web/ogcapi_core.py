"""OGC API - Features as plain functions: request values in, documents or replies out.

No Flask here. Each function takes the project's :class:`ExportData`, the query
parameters (a mapping of name -> list of values), a ``url(endpoint, **params)``
function for links (see :mod:`web.links`) and the language, and returns a
document (a dict) or a :data:`Reply` ``(status, headers, body)``. Bad input
raises :class:`~geo_p2dd.errors.InputError` (400) or
:class:`~geo_p2dd.errors.NotFoundError` (404): :mod:`web.errors` turns them
into OGC exceptions ``{"code": ..., "description": ...}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo_p2dd.columns import describe_column, json_type
from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.exports import cql2
from geo_p2dd.exports.catalogue import CRS84, LAYERS, LOCATION_LAYERS, LayerInfo
from geo_p2dd.exports.cql2 import FILTER_LANGS
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.features import geojson_features
from geo_p2dd.exports.formats import FORMATS
from geo_p2dd.exports.metadata import attribution, licence_links
from geo_p2dd.exports.query import Filters
from geo_p2dd.exports.styles import QML_MEDIA_TYPE, SLD_MEDIA_TYPE, STYLE_NAME, qml, sld
from web.formats import wire

Reply = tuple[int, dict[str, str], str]
UrlFor = Callable[..., str]
Args = Mapping[str, Sequence[str]]

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CONF3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CONFORMANCE = [CONF + c for c in ("core", "geojson", "html", "oas30")] + \
    [CONF3 + c for c in ("queryables", "queryables-query-parameters", "filter",
                         "features-filter")] + \
    [CQL2 + c for c in ("cql2-text", "basic-cql2", "advanced-comparison-operators")]
REL_OGC = "http://www.opengis.net/def/rel/ogc/1.0/"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
COMMON_PARAMS = {"f", "lang"}
ITEM_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "region", "filter",
               "filter-lang", "filter-crs", "sortby"}
CRS84_NAMES = (None, "", "CRS84", "OGC:CRS84", CRS84)
#: a readable subset of columns for HTML tables
HTML_COLUMNS = {
    "villages": ["kode", "nama", "kecamatan", "gap_class", "score", "rank", "people_unserved",
                 "facilities_unserved", "in_programme"],
    "locations": ["location_id", "kind", "name", "village", "people", "status",
                  "village_gap_class"],
    "locations_unserved": ["location_id", "kind", "name", "village", "people", "status",
                           "village_gap_class"],
    "sites": ["site_id", "kind", "status", "name", "village", "agency", "funding", "year"],
    "aggregates": ["level", "kode", "nama", "villages", "n_blank_spot", "people_unserved",
                   "sites_installed", "sites_planned"],
}


# ------------------------------------------------------------------------------------------ #
# Parameters
# ------------------------------------------------------------------------------------------ #

def first(args: Args, name: str) -> str | None:
    """The first value of a query parameter (None when absent)."""
    values = args.get(name) or []
    return values[0] if values else None


def wants_html(f: str | None, best: str | None) -> bool:
    """HTML or JSON: from ``f`` when given, else the best match of the Accept header."""
    if f is not None:
        if f.lower() in ("json", "geojson"):
            return False
        if f.lower() == "html":
            return True
        raise InputError("unknown format", column="f", expected="json or html",
                         found=repr(f))
    return best == HTML


def check_params(args: Args, allowed: set[str]) -> None:
    """Refuse query parameters this resource does not know (a typo filters nothing)."""
    unknown = sorted(set(args) - allowed - COMMON_PARAMS)
    if unknown:
        raise InputError(f"unknown query parameter(s) {', '.join(unknown)}",
                         column=unknown[0],
                         expected=", ".join(sorted(allowed | COMMON_PARAMS)))


def int_param(args: Args, name: str, default: int, low: int, high: int | None) -> int:
    raw = first(args, name)
    if raw is None or raw == "":
        return default
    limit = f"an integer from {low} to {high}" if high is not None else \
        f"an integer of at least {low}"
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{name} is not an integer", column=name, expected=limit,
                         found=repr(raw)) from None
    if value < low or (high is not None and value > high):
        raise InputError(f"{name} out of range", column=name, expected=limit,
                         found=str(value))
    return value


def collection_info(data: ExportData, cid: str) -> LayerInfo:
    """The layer behind collection ``cid`` (NotFoundError when the project has none)."""
    if cid not in data.available():
        raise NotFoundError(f"no collection {cid!r}; collections: "
                            + ", ".join(data.available()))
    return LAYERS[cid]


def extra_params(cid: str) -> set[str]:
    """Filters a collection takes beyond the common ones."""
    out = set()
    if cid in ("villages", *LOCATION_LAYERS):
        out.add("class")
    if cid == "villages":
        out.add("min_score")
    if cid != "aggregates":
        out |= {"near_operator", "within_km"}
    return out


def items_filters(args: Args, info: LayerInfo) -> Filters:
    for name in ("bbox-crs", "crs", "filter-crs"):  # Part 2 parameters: only CRS84
        crs = first(args, name)
        if crs not in CRS84_NAMES:
            raise InputError(f"{name} is not supported", column=name, expected=CRS84,
                             found=repr(crs))
    base = Filters.parse(region=first(args, "region"),
                         gap_class=list(args.get("class") or []) or None,
                         min_score=first(args, "min_score"), bbox=first(args, "bbox"),
                         near_operator=first(args, "near_operator"),
                         within_km=first(args, "within_km"))
    equals = tuple((c, tuple(args[c])) for c in info.queryables if c in args)
    lang = first(args, "filter-lang")
    if lang not in (None, "", *FILTER_LANGS):
        raise InputError("filter language not supported", column="filter-lang",
                         expected=", ".join(FILTER_LANGS), found=repr(lang))
    text = first(args, "filter")
    if text is not None and text.strip():
        cql2.parse(text)  # a syntax error is a 400 before any data is read
    return Filters(region=base.region, gap_class=base.gap_class, min_score=base.min_score,
                   bbox=base.bbox, equals=equals, near_operator=base.near_operator,
                   within_km=base.within_km,
                   cql2=text if text is not None and text.strip() else None)


# ------------------------------------------------------------------------------------------ #
# Documents
# ------------------------------------------------------------------------------------------ #

def reply(doc: dict, mimetype: str = JSON, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON document as a 200 reply."""
    return 200, {"Content-Type": mimetype, **(headers or {})}, json.dumps(
        doc, ensure_ascii=False, allow_nan=False)


def landing_doc(url: UrlFor, title: str, description: str) -> dict:
    return {
        "title": title,
        "description": description,
        "links": [
            {"href": url("ogcapi.landing", f="json"), "rel": "self", "type": JSON,
             "title": "This document"},
            {"href": url("ogcapi.landing", f="html"), "rel": "alternate", "type": HTML,
             "title": "This document as HTML"},
            {"href": url("ogcapi.api"), "rel": "service-desc", "type": OPENAPI,
             "title": "The API definition (OpenAPI 3.0)"},
            {"href": url("ogcapi.api", f="html"), "rel": "service-doc", "type": HTML,
             "title": "The API documentation"},
            {"href": url("ogcapi.conformance", f="json"), "rel": "conformance", "type": JSON,
             "title": "Conformance classes"},
            {"href": url("ogcapi.conformance", f="json"), "rel": REL_OGC + "conformance",
             "type": JSON, "title": "Conformance classes"},
            {"href": url("ogcapi.collections", f="json"), "rel": "data", "type": JSON,
             "title": "Collections"},
            {"href": url("ogcapi.collections", f="json"), "rel": REL_OGC + "data",
             "type": JSON, "title": "Collections"},
        ],
    }


def conformance_doc() -> dict:
    return {"conformsTo": CONFORMANCE}


def collection_doc(data: ExportData, cid: str, url: UrlFor, lang: str) -> dict:
    info = LAYERS[cid]
    doc = {"id": cid, "title": info.title(lang), "description": info.description(lang),
           "itemType": "feature", "crs": [CRS84], "storageCrs": CRS84,
           "attribution": attribution(data.project), "defaultStyle": STYLE_NAME}
    extent = {}
    bounds = data.extent(cid)
    if bounds is not None:
        w, s, e, n = (round(v, 6) for v in bounds)
        extent["spatial"] = {"bbox": [[w, s, e, n]], "crs": CRS84}
    date = data.analysis_date
    extent["temporal"] = {"interval": [[date, None] if date else [None, None]], "trs": TRS}
    doc["extent"] = extent
    links = [
        {"href": url("ogcapi.collection", cid=cid, f="json"), "rel": "self", "type": JSON,
         "title": "This collection"},
        {"href": url("ogcapi.collection", cid=cid, f="html"), "rel": "alternate",
         "type": HTML, "title": "This collection as HTML"},
        {"href": url("ogcapi.items", cid=cid, f="json"), "rel": "items", "type": GEOJSON,
         "title": "Features as GeoJSON"},
        {"href": url("ogcapi.items", cid=cid, f="html"), "rel": "items", "type": HTML,
         "title": "Features as HTML"},
        {"href": url("ogcapi.schema", cid=cid), "rel": "describedby", "type": SCHEMA_JSON,
         "title": "JSON Schema of the features"},
        {"href": url("ogcapi.queryables", cid=cid), "rel": REL_OGC + "queryables",
         "type": SCHEMA_JSON, "title": "Properties that can be filtered"},
        {"href": url("downloads.metadata", layer=cid), "rel": "license", "type": JSON,
         "title": "Sources, licences, thresholds, weights, column dictionary"},
        *({"href": href, "rel": "license", "type": HTML, "title": f"Licence: {name}"}
          for name, href in licence_links(data.project)),
        {"href": url("ogcapi.style", cid=cid, sid=STYLE_NAME, f="sld11"), "rel": "stylesheet",
         "type": SLD_MEDIA_TYPE, "title": "Default style (OGC SLD 1.1)"},
        {"href": url("ogcapi.style", cid=cid, sid=STYLE_NAME, f="qml"), "rel": "stylesheet",
         "type": QML_MEDIA_TYPE, "title": "Default style (QGIS QML)"},
    ]
    for fmt in FORMATS.values():
        links.append({"href": url("downloads.file", layer=cid, fmt=fmt.key),
                      "rel": "enclosure", "type": wire(fmt).media_type,
                      "title": f"Download all as {fmt.label}"})
    doc["links"] = links
    return doc


def collections_doc(data: ExportData, url: UrlFor, lang: str) -> dict:
    return {"links": [
        {"href": url("ogcapi.collections", f="json"), "rel": "self", "type": JSON,
         "title": "This document"},
        {"href": url("ogcapi.collections", f="html"), "rel": "alternate", "type": HTML,
         "title": "This document as HTML"}],
        "collections": [collection_doc(data, c, url, lang) for c in data.available()]}


def property_schema(col: pd.Series, name: str, lang: str) -> dict:
    en, id_ = describe_column(name)
    out = {"type": json_type(col), "title": name}
    if en:
        out["description"] = en if lang == "en" else id_
    return out


def schema_doc(data: ExportData, cid: str, url: UrlFor, lang: str) -> dict:
    frame = data.columns_frame(cid)
    cols = [c for c in frame.columns if c != frame.geometry.name]
    geometry = "Point" if LAYERS[cid].geometry == "Point" else "MultiPolygon"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url("ogcapi.schema", cid=cid),
        "title": LAYERS[cid].title_en,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"type": "object", "title": geometry,
                         "description": f"GeoJSON {geometry} in CRS84 (longitude, latitude)"},
            "properties": {"type": "object",
                           "properties": {c: property_schema(frame[c], c, lang)
                                          for c in cols}},
        },
    }


def queryables_doc(data: ExportData, cid: str, url: UrlFor, lang: str) -> dict:
    """Every attribute column: each can be used in a CQL2 ``filter`` (and the layer's main
    columns also as ``?column=value`` parameters)."""
    info = collection_info(data, cid)
    frame = data.columns_frame(cid)
    props = {c: property_schema(frame[c], c, lang) for c in frame.columns
             if c != frame.geometry.name}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": url("ogcapi.queryables", cid=cid), "type": "object",
            "title": info.title_en, "properties": props, "additionalProperties": False}


STYLE_FORMATS = {"sld11": SLD_MEDIA_TYPE, "qml": QML_MEDIA_TYPE}


def style_reply(data: ExportData, cid: str, sid: str, f: str | None) -> Reply:
    """A collection's style as a stylesheet: SLD 1.1 (``f=sld11``, the default) or QML."""
    info = collection_info(data, cid)
    if sid != STYLE_NAME:
        raise NotFoundError(f"no style {sid!r} for collection {cid!r}; styles: {STYLE_NAME}")
    key = (f or "sld11").lower()
    if key not in STYLE_FORMATS:
        raise InputError("unknown style format", column="f", expected=", ".join(STYLE_FORMATS),
                         found=repr(f))
    body = sld(cid, f"{info.title_id} / {info.title_en}") if key == "sld11" else qml(cid)
    return 200, {"Content-Type": STYLE_FORMATS[key]}, body


# ------------------------------------------------------------------------------------------ #
# Items
# ------------------------------------------------------------------------------------------ #

@dataclass(frozen=True)
class ItemsPage:
    """One page of a collection's features and what describes it."""

    cid: str
    info: LayerInfo
    page: gpd.GeoDataFrame
    matched: int
    offset: int
    limit: int
    links: list[dict]

    @property
    def columns(self) -> list[str]:
        """The columns an HTML table shows."""
        return [c for c in HTML_COLUMNS.get(self.cid, []) if c in self.page]


def page_links(args: Args, cid: str, offset: int, limit: int, matched: int,
               url: UrlFor) -> list[dict]:
    kept = {k: list(v) for k, v in args.items() if k not in ("offset", "f", "limit")}
    flat = {k: v if len(v) > 1 else v[0] for k, v in kept.items()}

    def link(rel: str, off: int, fmt: str, mime: str, title: str) -> dict:
        return {"href": url("ogcapi.items", cid=cid, f=fmt, limit=limit,
                            offset=off if off else None, **flat),
                "rel": rel, "type": mime, "title": title}

    links = [link("self", offset, "json", GEOJSON, "This page"),
             link("alternate", offset, "html", HTML, "This page as HTML")]
    if offset + limit < matched:
        links.append(link("next", offset + limit, "json", GEOJSON, "Next page"))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit), "json", GEOJSON, "Previous page"))
    links.append({"href": url("ogcapi.collection", cid=cid, f="json"), "rel": "collection",
                  "type": JSON, "title": "The collection"})
    return links


def items_page(data: ExportData, cid: str, args: Args, url: UrlFor) -> ItemsPage:
    """The page of features the query asks for (parameters checked first)."""
    info = collection_info(data, cid)
    check_params(args, ITEM_PARAMS | extra_params(cid) | set(info.queryables))
    limit = int_param(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = int_param(args, "offset", 0, 0, None)
    filters = items_filters(args, info)
    sortby = first(args, "sortby")
    columns = data.columns_frame(cid)
    keys = cql2.parse_sortby(sortby, [c for c in columns.columns
                                      if c != columns.geometry.name]) if sortby else []
    selected = cql2.sort_frame(data.select(cid, filters), keys)
    matched = len(selected)
    return ItemsPage(cid, info, selected.iloc[offset:offset + limit], matched, offset, limit,
                     page_links(args, cid, offset, limit, matched, url))


def items_reply(page: ItemsPage, now: dt.datetime | None = None) -> Reply:
    """The page as a GeoJSON FeatureCollection."""
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")
    features = geojson_features(page.page, page.info.id_column)
    head = json.dumps({"type": "FeatureCollection", "numberMatched": page.matched,
                       "numberReturned": len(page.page), "timeStamp": stamp,
                       "links": page.links}, ensure_ascii=False)
    body = head[:-1] + ',"features":[' + ",".join(features) + "]}"
    return 200, {"Content-Type": GEOJSON, "Content-Crs": f"<{CRS84}>"}, body


@dataclass(frozen=True)
class Feature:
    """One feature of a collection, with its links."""

    cid: str
    fid: str
    info: LayerInfo
    row: gpd.GeoDataFrame
    links: list[dict]

    def properties(self) -> dict:
        return json.loads(geojson_features(self.row, self.info.id_column)[0])["properties"]


def feature(data: ExportData, cid: str, fid: str, url: UrlFor) -> Feature:
    info = collection_info(data, cid)
    frame = data.layer(cid)
    hits = (frame[info.id_column].astype("string") == fid).fillna(False).to_numpy(bool)
    if not hits.any():
        raise NotFoundError(f"no feature {fid!r} in collection {cid!r}")
    links = [
        {"href": url("ogcapi.item", cid=cid, fid=fid, f="json"), "rel": "self",
         "type": GEOJSON, "title": "This feature"},
        {"href": url("ogcapi.item", cid=cid, fid=fid, f="html"), "rel": "alternate",
         "type": HTML, "title": "This feature as HTML"},
        {"href": url("ogcapi.collection", cid=cid, f="json"), "rel": "collection",
         "type": JSON, "title": "The collection"}]
    return Feature(cid, fid, info, frame[hits].iloc[:1], links)


def feature_reply(item: Feature) -> Reply:
    tail = ',"links":' + json.dumps(item.links, ensure_ascii=False)
    body = geojson_features(item.row, item.info.id_column, extra=[tail])[0]
    return 200, {"Content-Type": GEOJSON, "Content-Crs": f"<{CRS84}>"}, body


def show(value) -> str:
    """A property value for HTML: '–' for missing, whole floats without '.0'."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}" if abs(value) < 1 \
            else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)
