"""The OpenAPI 3.0 document of the register's JSON API (``/api/openapi.json``).

The site properties come from :mod:`geo_p2dd.registry.validate` (the one list
of register fields and their ranges) and the vocabularies of
:mod:`geo_p2dd.schema`, so the document cannot drift from what the API accepts.
No Flask here.
"""

from __future__ import annotations

from typing import Any

from geo_p2dd import __version__
from geo_p2dd.registry.models import IMPORT_STATUSES, SOURCES
from geo_p2dd.registry.uploads import DECISIONS
from geo_p2dd.registry.validate import (
    NUMBERS,
    REQUIRED,
    SIPD_EXAMPLE,
    TEXTS,
    VOCABULARIES,
)
from geo_p2dd.schema import TECHNOLOGIES

GEOJSON = "application/geo+json"
JSON = "application/json"


def site_properties() -> dict[str, Any]:
    """JSON Schema of each register field a client may set."""
    props: dict[str, Any] = {"id": {"type": "string", "maxLength": 200,
                                    "description": "site id (made from kind, name and "
                                                   "village when not given)"}}
    for name, vocab in VOCABULARIES.items():
        props[name] = {"type": "string", "enum": list(vocab.ids),
                       "description": f"{vocab.name}; Indonesian spellings are accepted"}
    for name, (lo, hi, whole) in NUMBERS.items():
        props[name] = {"type": "integer" if whole else "number", "minimum": lo, "maximum": hi,
                       "nullable": name not in REQUIRED}
    for name in TEXTS:
        props[name] = {"type": "string", "nullable": name not in REQUIRED}
    props["village_kode"] = {"type": "string", "pattern": r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$",
                             "example": "64.11.01.2006", "nullable": True}
    props["sipd_code"] = {"type": "string", "example": SIPD_EXAMPLE, "nullable": True,
                          "description": "SIPD kode sub kegiatan"}
    props["technology"] = {"type": "string", "enum": list(TECHNOLOGIES), "nullable": True}
    props["extra"] = {"type": "object", "nullable": True}
    return props


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def import_paths(common: dict[str, Any]) -> dict[str, Any]:
    """The agency-sheet import paths: preview, commit, reviewer's verdict."""
    key = {"name": "import_id", "in": "path", "required": True, "schema": {"type": "string"}}
    gone = _error("no such preview: unknown, expired, or another user's")
    return {
        "/imports": {"get": {
            "summary": "Committed imports, newest first (reviewed ones too)",
            "parameters": [
                {"name": "status", "in": "query", "required": False, "schema": {
                    "type": "string", "enum": ["committed", "verified", "rejected"]}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "default": 0}}],
            "responses": {"200": {"description": "imports", "content": {JSON: {"schema": {
                "type": "object", "properties": {
                    "total": {"type": "integer"},
                    "imports": {"type": "array", "items": _ref("Import")}}}}}},
                "400": {"$ref": "#/components/responses/BadRequest"}, **common}},
            "post": {
            "summary": "Preview an agency's sheet (nothing in the register changes)",
            "description": "The preview is kept in the register database for 7 days; "
                           "commit it from any instance of the app.",
            "requestBody": {"required": True, "content": {"multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary",
                             "description": "CSV, XLSX or vector file of sites"},
                    "kind": {"type": "string", "enum": ["sites"], "default": "sites"}}}}}},
            "responses": {"201": {"description": "the preview", "content": {JSON: {
                "schema": _ref("ImportPreview")}}},
                "400": {"$ref": "#/components/responses/BadRequest"},
                "413": _error("the file is too large"), **common}}},
        "/imports/{import_id}": {"parameters": [key], "get": {
            "summary": "One import (a preview not committed: only for its maker)",
            "responses": {"200": {"description": "the import",
                                  "content": {JSON: {"schema": _ref("Import")}}},
                          "404": gone, **common}}},
        "/imports/{import_id}/commit": {"parameters": [key], "post": {
            "summary": "Apply exactly that preview, in one transaction",
            "responses": {"200": {"description": "applied; the import awaits verification",
                                  "content": {JSON: {"schema": _ref("ImportCommitted")}}},
                          "404": gone,
                          "409": _error("the register changed since the preview (nothing "
                                        "applied), or it was committed already"),
                          **common}}},
        "/imports/{import_id}/verify": {"parameters": [key], "post": {
            "summary": "A reviewer verifies or rejects a committed import",
            "description": "Reviewers and admins only. Rejecting does not undo the "
                           "import's changes: it flags the import for the agency to fix.",
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Verdict")}}},
            "responses": {"200": {"description": "the import after the verdict",
                                  "content": {JSON: {"schema": _ref("Import")}}},
                          "400": {"$ref": "#/components/responses/BadRequest"},
                          "404": _error("no such import"),
                          "409": _error("the import is a preview not committed"),
                          **common}}},
    }


def import_schemas() -> dict[str, Any]:
    """Schemas of the import paths' bodies."""
    count = {"type": "integer", "minimum": 0}
    text = {"type": "string"}
    maybe = {"type": "string", "nullable": True}
    return {
        "RejectedRow": {"type": "object", "required": ["row", "reason"], "properties": {
            "row": {"oneOf": [{"type": "integer"}, {"type": "string"}],
                    "description": "the sheet's row"},
            "column": maybe, "reason": text, "expected": maybe, "found": maybe}},
        "ImportPreview": {"type": "object",
                          "required": ["id", "added", "updated", "unchanged", "rejected"],
                          "properties": {
                              "id": text, "file": text, "rows": count, "added": count,
                              "updated": count, "unchanged": count,
                              "rejected": {"type": "array", "items": _ref("RejectedRow")}}},
        "ImportCommitted": {"type": "object", "properties": {
            "id": text, "added": count, "updated": count, "unchanged": count,
            "status": {"type": "string", "enum": ["committed"]}}},
        "Verdict": {"type": "object", "required": ["decision"], "properties": {
            "decision": {"type": "string", "enum": list(DECISIONS)},
            "note": {"type": "string", "nullable": True}}},
        "Import": {"type": "object", "properties": {
            "id": text, "user": text, "agency": maybe, "file": text,
            "kind": {"type": "string", "enum": ["sites"]},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "register_version": count,
            "status": {"type": "string", "enum": list(IMPORT_STATUSES)},
            "rows": count, "added": count, "updated": count, "unchanged": count,
            "rejected": count,
            "committed_at": {"type": "string", "format": "date-time", "nullable": True},
            "reviewer": maybe,
            "reviewed_at": {"type": "string", "format": "date-time", "nullable": True},
            "review_note": maybe}},
    }


def document(server: str) -> dict[str, Any]:
    """The OpenAPI document; ``server`` is the API's base URL (``.../api``)."""
    site_id = {"name": "site_id", "in": "path", "required": True, "schema": {"type": "string"}}
    if_match = {"name": "If-Match", "in": "header", "required": True,
                "schema": {"type": "string"}, "description": "the ETag the change is based on"}
    etag = {"ETag": {"schema": {"type": "string"}}}
    feature = {GEOJSON: {"schema": {"$ref": "#/components/schemas/Feature"}}}
    common = {"401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}}
    query = [{"name": n, "in": "query", "required": False, "schema": s} for n, s in (
        ("agency", {"type": "string"}), ("status", {"type": "string"}),
        ("kind", {"type": "string"}),
        ("village_kode", {"type": "string", "description": "a village, kecamatan or "
                                                            "kabupaten code"}),
        ("year", {"type": "integer"}),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        ("offset", {"type": "integer", "minimum": 0, "default": 0}))]
    return {
        "openapi": "3.0.3",
        "info": {"title": "geo_p2dd register API", "version": __version__,
                 "description": "The infrastructure register: Starlink terminals, BTS, VSAT, "
                                "fibre and public Wi-Fi recorded by each agency (OPD)."},
        "servers": [{"url": server}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/sites": {
                "get": {"summary": "List sites", "parameters": query, "responses": {
                    "200": {"description": "sites", "content": {GEOJSON: {"schema": {
                        "$ref": "#/components/schemas/FeatureCollection"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, **common}},
                "post": {"summary": "Add a site", "requestBody": {"required": True, "content": {
                    JSON: {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Feature"},
                        {"$ref": "#/components/schemas/Properties"}]}}}},
                    "responses": {"201": {"description": "added", "content": feature,
                                          "headers": {**etag, "Location": {
                                              "schema": {"type": "string"}}}},
                                  "400": {"$ref": "#/components/responses/BadRequest"},
                                  "409": _error("the given id is taken"), **common}},
            },
            "/sites/{site_id}": {
                "parameters": [site_id],
                "get": {"summary": "One site", "responses": {
                    "200": {"description": "the site", "content": feature, "headers": etag},
                    "404": _error("no such site"), **common}},
                "patch": {"summary": "Change some fields", "parameters": [if_match],
                          "requestBody": {"required": True, "content": {JSON: {"schema": {
                              "allOf": [{"$ref": "#/components/schemas/Properties"},
                                        {"$ref": "#/components/schemas/StatusChange"}]}}}},
                          "responses": {
                              "200": {"description": "changed", "content": feature,
                                      "headers": etag},
                              "400": {"$ref": "#/components/responses/BadRequest"},
                              "404": _error("no such site"),
                              "412": _error("the site changed since that ETag"),
                              "428": _error("If-Match is missing"), **common}},
                "delete": {"summary": "Delete (softly: the row and history stay)",
                           "parameters": [if_match], "responses": {
                               "204": {"description": "deleted"},
                               "404": _error("no such site"),
                               "412": _error("the site changed since that ETag"),
                               "428": _error("If-Match is missing"), **common}},
            },
            "/sites/{site_id}/history": {
                "parameters": [site_id],
                "get": {"summary": "The site's changes, oldest first", "responses": {
                    "200": {"description": "changes", "content": {JSON: {"schema": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Change"}}}}},
                    "404": _error("no such site"), **common}},
            },
            **import_paths(common),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "a token from 'geo-p2dd user token'"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "the signed-in browser session; writes also need "
                                           "the X-CSRFToken header"}},
            "responses": {"BadRequest": _error("a bad value; 'field' names it"),
                          "Unauthorized": _error("not signed in, or an unknown token"),
                          "Forbidden": _error("the role or agency may not do this")},
            "schemas": {
                "Properties": {"type": "object", "properties": site_properties(),
                               "required": list(REQUIRED)},
                "Feature": {"type": "object", "required": ["type", "geometry", "properties"],
                            "properties": {
                                "type": {"type": "string", "enum": ["Feature"]},
                                "id": {"type": "string"},
                                "geometry": {"type": "object", "properties": {
                                    "type": {"type": "string", "enum": ["Point"]},
                                    "coordinates": {"type": "array", "minItems": 2,
                                                    "items": {"type": "number"}}}},
                                "properties": {"$ref": "#/components/schemas/Properties"}}},
                "FeatureCollection": {"type": "object", "properties": {
                    "type": {"type": "string", "enum": ["FeatureCollection"]},
                    "features": {"type": "array",
                                 "items": {"$ref": "#/components/schemas/Feature"}},
                    "numberMatched": {"type": "integer"},
                    "numberReturned": {"type": "integer"},
                    "links": {"type": "array", "items": {"type": "object"}}}},
                "Change": {"type": "object", "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "user": {"type": "string", "nullable": True},
                    "source": {"type": "string", "enum": list(SOURCES)},
                    "changes": {"type": "object", "additionalProperties": {
                        "type": "array", "minItems": 2, "maxItems": 2}},
                    "status_date": {"type": "string", "format": "date",
                                    "description": "a status change: the day it took effect"},
                    "status_note": {"type": "string"},
                    "import_id": {"type": "string",
                                  "description": "the import the change came from"}}},
                "StatusChange": {"type": "object", "properties": {
                    "status_date": {"type": "string", "format": "date",
                                    "description": "with a change of status: the day it "
                                                   "took effect (today or earlier; default "
                                                   "none)"},
                    "status_note": {"type": "string",
                                    "description": "with a change of status: why"}}},
                **import_schemas(),
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "field": {"type": "string"},
                    "code": {"type": "integer"}}},
            },
        },
    }
