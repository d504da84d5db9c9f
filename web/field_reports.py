"""Field reports from phones: the ``/lapor`` form, its service worker and ``/api/reports``.

Roles (documented decision): editors, reviewers and admins send reports
(viewers only read); every signed-in user lists them; reviewers and admins
verify or reject. Authentication as in :mod:`web.api` (bearer token, or the
session with the ``X-CSRFToken`` header).

- ``POST /api/reports`` (``id`` a UUID made on the phone, ``village_kode``,
  ``lon``, ``lat``, ``operator``, ``technology``, ``observed_at``, ``note``)
  → 201 and ``Location`` the first time; 200 with the same body when the same
  id is sent again (the report is stored once).
- ``GET /api/reports`` → ``{"reports": [...]}``; filters ``status``,
  ``village_kode``, ``reporter``.
- ``POST /api/reports/<id>/verify`` and ``/reject`` → 200 and the report.
- ``GET /lapor/tinjau`` → the review page of reviewers and admins (reports
  waiting for review, ``?status=`` the others), each with verify and reject
  buttons (``POST /lapor/tinjau/<id>/verify|reject``, CSRF-protected forms).
- ``GET /lapor`` → the phone form; ``GET /lapor/villages.geojson`` → the
  project's village outlines for its map (vector: no basemap needed);
  ``GET /lapor/token`` → a fresh CSRF token and the signed-in user's name for
  sending the queue (a page opened from the phone's cache may be older than the
  token's lifetime; a queued report is sent only by the user who wrote it);
  ``GET /sw.js`` → the service worker.

Offline (documented decision): the service worker caches exactly
:func:`offline_urls` — the signed-in user's ``/lapor`` page, the village
outlines and the page's scripts, styles and marker images — and nothing else:
never an API response, never another page. Its own policy allows it to fetch
from this site only (a worker obeys the CSP of its script: the ``default-src
'none'`` of non-page responses made its install fail, so it never registered).
Signing out clears it: the sign-out response carries ``Clear-Site-Data``
(cache, storage: the cached page with its CSRF token, the queue, the worker)
and the worker deletes its cache when it sees the sign-out request.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from geo_p2dd.errors import InputError
from geo_p2dd.registry import field_reports as fr
from web.auth import register_engine, require

bp = Blueprint("field_reports", __name__)

#: roles that send field reports
REPORTERS = ("admin", "editor", "reviewer")
#: roles that verify or reject them
REVIEWERS = ("admin", "reviewer")
#: static files the form loads besides the app's stylesheet bundle
FORM_STATIC = ("vendor/leaflet/leaflet.css", "vendor/leaflet/leaflet.js",
               "vendor/leaflet/images/marker-icon.png",
               "vendor/leaflet/images/marker-icon-2x.png",
               "vendor/leaflet/images/marker-shadow.png", "field.js")
#: the zoom whose simplified outlines the form's map shows
MAP_ZOOM = 12
#: placeholder in static/sw.js replaced by what the worker keeps (JSON)
OFFLINE_PLACEHOLDER = "__GEO_P2DD_OFFLINE__"


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError(_("The request body must be a JSON object."), column="body",
                         expected="a JSON object", found=request.mimetype or "nothing")
    return body


@bp.post("/api/reports")
@require(*REPORTERS)
def create():
    report, created = fr.store_report(register_engine(), _json_body(), current_user.name)
    response = jsonify(report)
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for(".one", report_id=report["id"])
    return response


@bp.get("/api/reports")
@require()
def listing():
    args = request.args
    reports = fr.list_reports(register_engine(), status=args.get("status") or None,
                              village_kode=args.get("village_kode") or None,
                              reporter=args.get("reporter") or None)
    return jsonify(reports=reports)


@bp.get("/api/reports/<report_id>")
@require()
def one(report_id: str):
    return jsonify(fr.get_report(register_engine(), report_id))


@bp.post("/api/reports/<report_id>/<any(verify, reject):decision>")
@require(*REVIEWERS)
def review(report_id: str, decision: str):
    status = "verified" if decision == "verify" else "rejected"
    return jsonify(fr.review_report(register_engine(), report_id, status, current_user.name))


@bp.get("/lapor")
@require()
def form():
    from web.context import current_view

    villages = current_view().villages
    options = sorted(zip(villages["kode"], villages["nama"], strict=True), key=lambda kv: kv[1]) \
        if {"kode", "nama"} <= set(villages.columns) else []
    return render_template("field/lapor.html", villages=options,
                           may_report=current_user.role in REPORTERS,
                           may_review=current_user.role in REVIEWERS)


def _village_names() -> dict[str, str]:
    from web.context import current_view

    villages = current_view().villages
    if not {"kode", "nama"} <= set(villages.columns):
        return {}
    return dict(zip(villages["kode"], villages["nama"], strict=True))


@bp.get("/lapor/tinjau")
@require(*REVIEWERS)
def review_page():
    status = request.args.get("status") or "submitted"
    reports = fr.list_reports(register_engine(), status=status)
    return render_template("field/review.html", reports=reports, status=status,
                           statuses=fr.REPORT_STATUSES, names=_village_names())


@bp.post("/lapor/tinjau/<report_id>/<any(verify, reject):decision>")
@require(*REVIEWERS)
def review_form(report_id: str, decision: str):
    status = "verified" if decision == "verify" else "rejected"
    fr.review_report(register_engine(), report_id, status, current_user.name)
    flash(_("Report verified: it counts as evidence in the next analysis.")
          if status == "verified" else _("Report rejected."))
    return redirect(url_for(".review_page", status=request.form.get("back") or None))


@bp.get("/lapor/villages.geojson")
@require()
def villages():
    from web.context import current_view
    from web.mapdata import bbox_villages

    view = current_view()
    if len(view.villages):
        west, south, east, north = (float(v) for v in view.villages.total_bounds)
        text = bbox_villages(view, (west, south, east, north), MAP_ZOOM, g.lang)
    else:
        text = '{"type":"FeatureCollection","features":[]}'
    response = Response(text, mimetype="application/geo+json")
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/lapor/token")
@require()
def token():
    from flask_wtf.csrf import generate_csrf

    response = jsonify(csrf_token=generate_csrf(), user=current_user.name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def _bundle_urls(name: str) -> list[str]:
    from web.assets import BUNDLES, asset_url

    url = asset_url(name)
    return [url] if url else [url_for("static", filename=f) for f in BUNDLES[name]]


def offline_urls() -> dict[str, Any]:
    """What the service worker keeps: the page and outlines (network first), the assets.

    Returns
    -------
    dict
        ``page``, ``villages`` and ``logout`` (paths), ``assets`` (paths kept
        until they change; :func:`service_worker` adds ``cache``, the cache's
        name, new when any of them or the worker changes).
    """
    assets = _bundle_urls("app.css") + [url_for("static", filename=f) for f in FORM_STATIC]
    urls = {"page": url_for(".form"), "villages": url_for(".villages"),
            "logout": url_for("auth.logout"), "assets": assets}
    return urls


@bp.get("/sw.js")
def service_worker():
    path = current_app.static_folder + "/sw.js"  # type: ignore[operator]
    with open(path, encoding="utf-8") as fh:
        body = fh.read()
    urls = offline_urls()
    # the cache is named after the worker, the URLs and the static files' versions: a
    # deployed field.js (same URL, new content) makes a new worker and a new cache
    static = Path(current_app.static_folder)  # type: ignore[arg-type]
    stamps = [(f, *_stamp(static / f)) for f in FORM_STATIC]
    version = hashlib.sha256((body + json.dumps([urls, stamps])).encode()).hexdigest()[:12]
    urls["cache"] = f"geo-p2dd-field-{version}"
    body = body.replace(OFFLINE_PLACEHOLDER, json.dumps(urls))
    response = Response(body, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    # a worker obeys its own script's policy: it fetches from this site only
    response.headers["Content-Security-Policy"] = \
        "default-src 'none'; connect-src 'self'; frame-ancestors 'none'"
    return response
