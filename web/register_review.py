"""Reviewers verify agency imports: the imports list and its verdicts.

Thin views over :mod:`geo_p2dd.registry.uploads` (registered inside
:mod:`web.register_imports`' blueprint, so endpoints are
``register_imports.review.*``).

- ``GET /register/imports`` — committed imports, newest first (file, agency,
  who, when, counts, status): *menunggu verifikasi* until a reviewer decides.
  Every signed-in user sees it (an agency sees what became of its sheet).
- ``POST /register/imports/<id>/verify`` — the reviewer's form (CSRF):
  ``decision`` (``verified`` or ``rejected``) and ``note``.
- ``POST /api/imports/<id>/verify`` — JSON ``{"decision", "note"}`` → the import.
- ``GET /api/imports`` (``status``, ``limit``, ``offset``) → ``{"total", "imports"}``
  (committed and reviewed ones, newest first); ``GET /api/imports/<id>`` → one
  (a preview not committed only for the user who made it).

Only ``reviewer`` and ``admin`` decide; editors and viewers get 403. Each
verdict is kept in the audit log. Rejecting does not undo the import's
changes: it flags the import for the agency to correct and upload again.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import Conflict, NotFound

from geo_p2dd.errors import InputError
from geo_p2dd.registry import uploads
from web.auth import register_engine, require, source
from web.links import page_arg

bp = Blueprint("review", __name__)

#: roles that verify or reject imports
REVIEWERS = ("admin", "reviewer")
PAGE_SIZE = 50


def status_labels() -> dict[str, str]:
    """What each import status is called on the pages."""
    return {"previewed": _("Previewed"), "committed": _("Awaiting verification"),
            "verified": _("Verified"), "rejected": _("Rejected")}


def _decide(key: str, decision: Any, note: Any) -> uploads.StoredImport:
    from flask_login import current_user

    try:
        return uploads.review_upload(register_engine(), key, decision, note,
                                     reviewer=current_user.name, source=source())
    except uploads.ImportStateError as exc:
        raise Conflict(_("Only an import saved to the register can be reviewed.")) from exc


@bp.get("/register/imports")
@require()
def imports_page():
    status = request.args.get("status") or None
    page = page_arg()
    if status not in (None, *uploads.DECISIONS, "committed"):
        status = None
    rows, total = uploads.list_uploads(register_engine(), status=status, limit=PAGE_SIZE,
                                       offset=(page - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    query = {"status": status} if status else {}
    return render_template(
        "register/imports.html", imports=rows, total=total, status=status,
        labels=status_labels(), page=page, pages=pages, reviewers=REVIEWERS,
        prev_url=url_for(".imports_page", **query, page=page - 1) if page > 1 else None,
        next_url=url_for(".imports_page", **query, page=page + 1) if page < pages else None)


@bp.post("/register/imports/<key>/verify")
@require(*REVIEWERS)
def verify_form(key: str):
    try:
        done = _decide(key, request.form.get("decision", ""), request.form.get("note", ""))
    except InputError as exc:
        flash(str(exc), "warning")
        return redirect(url_for(".imports_page"))
    flash(_("%(file)s: %(status)s.", file=done.file, status=status_labels()[done.status]))
    return redirect(url_for(".imports_page"))


@bp.post("/api/imports/<key>/verify")
@require(*REVIEWERS)
def api_verify(key: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError(_("The request body must be a JSON object."), column="body",
                         expected='{"decision": "verified" or "rejected", "note": text}',
                         found=request.mimetype or "nothing")
    return _decide(key, body.get("decision"), body.get("note")).to_dict()


@bp.get("/api/imports")
@require()
def api_list():
    from web.api import _int_arg

    rows, total = uploads.list_uploads(
        register_engine(), status=request.args.get("status") or None,
        limit=_int_arg("limit", PAGE_SIZE, 1, 1000), offset=_int_arg("offset", 0, 0, 10**9))
    return {"total": total, "imports": [r.to_dict() for r in rows]}


@bp.get("/api/imports/<key>")
@require()
def api_one(key: str):
    from flask_login import current_user

    record, _preview = uploads.get_upload(register_engine(), key)
    if record.status == "previewed" and record.user != current_user.name:
        raise NotFound(_("This import preview does not exist or has expired; upload the "
                         "file again."))
    return record.to_dict()
