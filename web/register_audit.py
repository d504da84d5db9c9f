"""The admins' audit log: every change of the register, newest first (``/register/audit``).

A thin view over :func:`geo_p2dd.registry.audit.audit_log` (registered inside
:mod:`web.register_imports`' blueprint: endpoint ``register_imports.audit.audit_page``).
Filters: ``user``, ``source``, ``kind`` (site, import, report, user account), ``from`` and
``to`` (``YYYY-MM-DD``, both included); :data:`PAGE_SIZE` entries a page; a
link to the "changes since" workbook from the ``from`` date. Admins only:
anyone else signed in gets 403.
"""

from __future__ import annotations

import datetime as dt
import math

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _

from geo_p2dd.errors import InputError
from geo_p2dd.registry import audit
from geo_p2dd.registry.models import SOURCES
from web.auth import register_engine, require
from web.links import page_arg

bp = Blueprint("audit", __name__)

PAGE_SIZE = audit.PAGE_SIZE
FILTERS = ("user", "source", "kind", "from", "to")


def _day(name: str) -> dt.date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(_("A date must be written as YYYY-MM-DD."), column=name,
                         expected="YYYY-MM-DD", found=repr(raw[:40])) from None


def kind_labels() -> dict[str, str]:
    """What each kind of record is called on the page."""
    return {"site": _("Site"), "import": _("Import"), "report": _("Field report"),
            "user": _("User account")}


def action_labels() -> dict[str, str]:
    """What each action is called on the page."""
    return {"created": _("created"), "changed": _("changed"), "deleted": _("deleted"),
            "status": _("status changed"), "committed": _("saved to the register"),
            "verified": _("verified"), "rejected": _("rejected (to be corrected)"),
            "submitted": _("submitted"), "added": _("account added"),
            "disabled": _("account disabled"), "role": _("role changed"),
            "agency": _("agency changed"), "token": _("API token issued")}


@bp.get("/register/audit")
@require("admin")
def audit_page():
    page = page_arg()
    kind = request.args.get("kind") or None
    filters = audit.AuditFilter(user=request.args.get("user") or None,
                                source=request.args.get("source") or None,
                                kind=kind, start=_day("from"), end=_day("to"))
    engine = register_engine()
    entries, total = audit.audit_log(engine, filters, limit=PAGE_SIZE,
                                     offset=(page - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    query = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    since = filters.start or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30))
    return render_template(
        "register/audit.html", entries=entries, total=total, page=page, pages=pages,
        args=request.args, users=audit.audit_users(engine), sources=SOURCES,
        kinds=kind_labels(), actions=action_labels(),
        changes_url=url_for("register_summary.changes_xlsx", since=since.isoformat()),
        since=since,
        prev_url=url_for(".audit_page", **query, page=page - 1) if page > 1 else None,
        next_url=url_for(".audit_page", **query, page=page + 1) if page < pages else None)
