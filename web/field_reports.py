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
- ``GET /lapor`` → the phone form; ``GET /sw.js`` → its service worker
  (root scope, so it may cache ``/lapor``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
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
                           may_report=current_user.role in REPORTERS)


@bp.get("/sw.js")
def service_worker():
    path = current_app.static_folder + "/sw.js"  # type: ignore[operator]
    with open(path, encoding="utf-8") as fh:
        body = fh.read()
    response = Response(body, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response
