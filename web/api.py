"""The register's JSON API: sites as GeoJSON, optimistic changes by ETag, their history.

Authentication: ``Authorization: Bearer <token>`` (``geo-p2dd user token``) or
the signed-in session (then writes need the ``X-CSRFToken`` header). Every
request needs a signed-in user; writes need ``admin`` or an ``editor`` of the
record's agency. Changes go through :mod:`geo_p2dd.registry.repository`, so
they land in the same history as imports and the register pages (source
``api`` for tokens, ``web`` for sessions).

- ``GET /api/sites`` → FeatureCollection; filters ``agency``, ``status``,
  ``kind``, ``village_kode`` (a village, kecamatan or kabupaten code),
  ``year``; paging ``limit`` (≤ :data:`MAX_LIMIT`) and ``offset``.
- ``POST /api/sites`` (a Feature, or properties with ``lon``/``lat``) → 201,
  ``Location``, ``ETag``.
- ``GET /api/sites/<id>`` → a Feature with its ``ETag``.
- ``PATCH /api/sites/<id>`` with ``If-Match`` → 200 and the new ``ETag``; 412
  when stale, 428 without it. With a ``status`` change, ``status_date``
  (``YYYY-MM-DD``, not in the future) and ``status_note`` go to its history.
- ``DELETE /api/sites/<id>`` with ``If-Match`` → 204 (soft delete).
- ``GET /api/sites/<id>/history`` → ``[{"at", "user", "source", "changes",
  "status_date"?, "status_note"?, "import_id"?}]``.
- ``GET /api/openapi.json`` → the OpenAPI 3 document.

Errors are JSON ``{"error", "field"?}`` (:mod:`web.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from geo_p2dd.errors import InputError
from geo_p2dd.registry import repository as repo
from geo_p2dd.registry.validate import FIELDS
from web.auth import WRITERS, check_may_edit, register_engine, require, source

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FILTERS = ("agency", "status", "kind", "village_kode", "year")
#: properties of a feature that are not register fields (read-only, ignored on writes)
READ_ONLY = ("version", "created_at", "updated_at", "deleted_at", "etag")
GEOJSON = "application/geo+json"


def feature(site: Mapping[str, Any]) -> dict[str, Any]:
    """A site as a GeoJSON Feature (``id`` the site id; every other column a property)."""
    props = {k: v for k, v in site.items() if k not in ("id", "lon", "lat")}
    props["lon"], props["lat"] = site["lon"], site["lat"]
    return {"type": "Feature", "id": site["id"],
            "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
            "properties": props}


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError(_("The request body must be a JSON object."), column="body",
                         expected="a JSON object (a GeoJSON Feature or properties)",
                         found=request.mimetype or "nothing")
    return body


def values_from_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """Register fields from a GeoJSON Feature or a plain properties object.

    A Feature's point geometry gives ``lon``/``lat``; its ``id`` the site id.
    Read-only properties (version, times) are dropped.
    """
    if body.get("type") == "Feature":
        props = dict(body.get("properties") or {})
        geometry = body.get("geometry")
        if geometry is not None:
            coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
            if not (isinstance(geometry, dict) and geometry.get("type") == "Point"
                    and isinstance(coords, list) and len(coords) >= 2):
                raise InputError(_("The geometry must be a point."), column="geometry",
                                 expected='{"type": "Point", "coordinates": [lon, lat]}',
                                 found=repr(geometry)[:100])
            props["lon"], props["lat"] = coords[0], coords[1]
        if body.get("id") is not None:
            props.setdefault("id", body["id"])
    else:
        props = dict(body)
    return {k: v for k, v in props.items() if k not in READ_ONLY}


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise InputError(_("A paging parameter is out of range."), column=name,
                         expected=f"a whole number from {lo} to {hi}", found=repr(raw))
    return value


def site_filter(args: Mapping[str, str], *, limit: int | None = None,
                offset: int = 0) -> repo.SiteFilter:
    """A :class:`~geo_p2dd.registry.repository.SiteFilter` from query parameters."""
    given = {k: args[k] for k in FILTERS if args.get(k)}
    return repo.SiteFilter(**given, limit=limit, offset=offset)


@bp.get("/sites")
@require()
def list_sites():
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**9)
    engine = register_engine()
    filters = site_filter(request.args, limit=limit, offset=offset)
    sites = repo.list_sites(engine, filters)
    matched = repo.count_sites(engine, filters)
    links = []
    base = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    if offset + len(sites) < matched:
        links.append({"rel": "next", "type": GEOJSON, "href": url_for(
            "api.list_sites", **base, limit=limit, offset=offset + limit)})
    body = {"type": "FeatureCollection", "features": [feature(s) for s in sites],
            "numberMatched": matched, "numberReturned": len(sites), "links": links}
    return Response(_dump(body), mimetype=GEOJSON)


def _dump(body: Any) -> str:
    import json

    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _one(site: dict[str, Any], tag: str, status: int = 200) -> Response:
    response = Response(_dump(feature(site)), status=status, mimetype=GEOJSON)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/sites")
@require(*WRITERS)
def create_site():
    values = values_from_body(_json_body())
    if current_user.role == "editor" and not values.get("agency"):
        values["agency"] = current_user.agency  # an editor records for their own agency
    check_may_edit(values.get("agency"))
    site, tag = repo.create_site(register_engine(), values, user=current_user.name,
                                 source=source())
    response = _one(site, tag, 201)
    response.headers["Location"] = url_for("api.get_site", site_id=site["id"])
    return response


@bp.get("/sites/<path:site_id>/history")
@require()
def site_history(site_id: str):
    return jsonify(repo.history(register_engine(), site_id))


@bp.get("/sites/<path:site_id>")
@require()
def get_site(site_id: str):
    site, tag = repo.get_site(register_engine(), site_id)
    if request.if_none_match.contains(tag.strip('"')):
        response = Response(status=304)
        response.headers["ETag"] = tag
        return response
    return _one(site, tag)


def _if_match() -> str | None:
    return request.headers.get("If-Match")


@bp.patch("/sites/<path:site_id>")
@require(*WRITERS)
def patch_site(site_id: str):
    engine = register_engine()
    changes = values_from_body(_json_body())
    dated = {k: changes.pop(k) for k in ("status_date", "status_note") if k in changes}
    if changes.get("id") == site_id:  # a whole Feature sent back: its own id is no change
        del changes["id"]
    site, _tag = repo.get_site(engine, site_id)
    check_may_edit(site["agency"])  # the agency of the version If-Match names, or 412 below
    if "agency" in changes:
        check_may_edit(changes["agency"])
    site, tag = repo.patch_site(engine, site_id, changes, _if_match(), user=current_user.name,
                                source=source(), **dated)
    return _one(site, tag)


@bp.delete("/sites/<path:site_id>")
@require(*WRITERS)
def delete_site(site_id: str):
    engine = register_engine()
    site, _tag = repo.get_site(engine, site_id)
    check_may_edit(site["agency"])
    tag = _if_match()
    if not tag:
        raise repo.PreconditionRequired(_("Deleting a site needs If-Match with its ETag."))
    repo.delete_site(engine, site_id, tag, user=current_user.name, source=source())
    return Response(status=204)


@bp.get("/openapi.json")
def openapi():
    from web.api_openapi import document

    return Response(_dump(document(url_for("api.list_sites", _external=True)
                                   .removesuffix("/sites"))),
                    mimetype="application/vnd.oai.openapi+json;version=3.0")


__all__ = ["bp", "feature", "values_from_body", "FIELDS"]
