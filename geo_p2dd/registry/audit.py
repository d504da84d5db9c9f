"""The register's audit log: every change, of every kind of record, newest first.

Changes of sites are in the ``history`` table (one row per change, with its
fields' old and new values); other changes — an import committed, verified or
rejected, a user account added, disabled, changed or given a token — are
:func:`record_event` rows of ``audit_events``, written in the
transaction of the change itself; field reports contribute their submission
and their review. :func:`audit_log` reads them all as one list, filtered by
user, source, kind of record and a date range, one page at a time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Connection, Engine, String, cast, func, insert, literal, null, select
from sqlalchemy import union_all as sql_union_all

from geo_p2dd.errors import InputError
from geo_p2dd.registry.db import read_transaction
from geo_p2dd.registry.models import AuditEvent, FieldReport, History, Site

EVENTS = AuditEvent.__table__
HISTORY = History.__table__
SITES = Site.__table__
REPORTS = FieldReport.__table__
#: the kinds of record the log holds
OBJECT_KINDS = ("site", "import", "report", "user")
PAGE_SIZE = 50


def record_event(conn: Connection, *, at: dt.datetime, user: str | None, source: str,
                 kind: str, object_id: str, action: str,
                 details: dict[str, Any] | None = None) -> None:
    """Write one audit event in the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        In the write transaction of the change itself.
    at : datetime
        When (UTC).
    user : str, optional
        Who.
    source : str
        Where from (``web``, ``api``, ``import``, ``cli``, ...).
    kind : str
        The kind of record (``import``, ...).
    object_id : str
        Which record.
    action : str
        What happened (``committed``, ``verified``, ``rejected``, ...).
    details : dict, optional
        Anything else worth keeping (JSON).
    """
    conn.execute(insert(EVENTS).values(at=at, user=user, source=source, object_kind=kind,
                                       object_id=object_id, action=action,
                                       details=details or {}))


@dataclass(frozen=True)
class AuditFilter:
    """Which entries :func:`audit_log` returns (every condition given must hold).

    Attributes
    ----------
    user, source : str, optional
    kind : {"site", "import", "report", "user"}, optional
    start, end : date, optional
        The first and last day (UTC), both included.
    """

    user: str | None = None
    source: str | None = None
    kind: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One change: when, who, from where, which record, what happened, the details."""

    at: str
    user: str | None
    source: str
    kind: str
    object_id: str
    name: str | None
    action: str
    details: dict[str, Any] = field(default_factory=dict)


def _site_rows():
    h = HISTORY.c
    return (select(h.at.label("at"), h.user.label("user"), h.source.label("source"),
                   literal("site", String).label("kind"), h.site_id.label("object_id"),
                   SITES.c.name.label("name"), literal("changed", String).label("action"),
                   h.changes.label("details"),
                   h.status_date.label("status_date"), h.status_note.label("status_note"),
                   h.import_id.label("import_id"), h.id.label("n"))
            .join(SITES, SITES.c.id == h.site_id))


def _event_rows():
    e = EVENTS.c
    return select(e.at.label("at"), e.user.label("user"), e.source.label("source"),
                  e.object_kind.label("kind"), e.object_id.label("object_id"),
                  cast(null(), String).label("name"), e.action.label("action"),
                  e.details.label("details"),
                  cast(null(), HISTORY.c.status_date.type).label("status_date"),
                  cast(null(), String).label("status_note"),
                  cast(null(), String).label("import_id"), e.id.label("n"))


def _report_rows(reviewed: bool):
    r = REPORTS.c
    return select((r.reviewed_at if reviewed else r.created_at).label("at"),
                  (r.reviewed_by if reviewed else r.reporter).label("user"),
                  literal("web", String).label("source"), literal("report", String).label("kind"),
                  r.id.label("object_id"), r.village_kode.label("name"),
                  (r.status if reviewed else literal("submitted", String)).label("action"),
                  cast(null(), JSON).label("details"),
                  cast(null(), HISTORY.c.status_date.type).label("status_date"),
                  cast(null(), String).label("status_note"),
                  cast(null(), String).label("import_id"), literal(0).label("n"))


def _moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _union(filters: AuditFilter):
    parts = []
    if filters.kind in (None, "site"):
        parts.append(_site_rows())
    if filters.kind is None or filters.kind not in ("site", "report"):
        query = _event_rows()
        if filters.kind is not None:
            query = query.where(EVENTS.c.object_kind == filters.kind)
        parts.append(query)
    if filters.kind in (None, "report"):
        parts.append(_report_rows(False))
        parts.append(_report_rows(True).where(REPORTS.c.reviewed_at.is_not(None)))
    everything = sql_union_all(*parts).subquery("audit")
    where = []
    if filters.user:
        where.append(everything.c.user == filters.user)
    if filters.source:
        where.append(everything.c.source == filters.source)
    if filters.start:
        where.append(everything.c.at >= _moment(filters.start))
    if filters.end:
        where.append(everything.c.at < _moment(filters.end + dt.timedelta(days=1)))
    return everything, where


def _check(filters: AuditFilter) -> None:
    if filters.kind is not None and filters.kind not in OBJECT_KINDS:
        raise InputError("unknown kind of record", column="kind",
                         expected=", ".join(OBJECT_KINDS), found=repr(filters.kind)[:60])
    if filters.start and filters.end and filters.start > filters.end:
        raise InputError("the date range ends before it starts", column="end",
                         expected=f"a date on or after {filters.start.isoformat()}",
                         found=filters.end.isoformat())


def _action(row: Any) -> str:
    if row.kind != "site":
        return row.action
    changes = row.details or {}
    if "deleted_at" in changes and changes["deleted_at"][1] is not None:
        return "deleted"
    if "kind" in changes and "name" in changes and changes["name"][0] is None:
        return "created"
    if "status" in changes:
        return "status"
    return "changed"


def audit_log(engine: Engine, filters: AuditFilter | None = None, *, limit: int = PAGE_SIZE,
              offset: int = 0) -> tuple[list[AuditEntry], int]:
    """Entries matching ``filters``, newest first, and how many match in all.

    Raises
    ------
    InputError
        An unknown kind of record, or a date range ending before it starts.
    """
    from geo_p2dd.registry.repository import _iso

    filters = filters or AuditFilter()
    _check(filters)
    everything, where = _union(filters)
    with read_transaction(engine) as conn:
        total = int(conn.execute(select(func.count()).select_from(everything).where(*where))
                    .scalar_one())
        rows = conn.execute(select(everything).where(*where)
                            .order_by(everything.c.at.desc(), everything.c.n.desc())
                            .limit(limit).offset(offset)).all()
    out = []
    for r in rows:
        details = dict(r.details or {})
        if r.kind == "site":
            details = {"changes": details}
            for name in ("status_date", "status_note", "import_id"):
                value = getattr(r, name)
                if value is not None:
                    details[name] = value.isoformat() if isinstance(value, dt.date) else value
        out.append(AuditEntry(_iso(r.at) or "", r.user, r.source, r.kind, r.object_id,
                              r.name, _action(r), details))
    return out, total


def audit_users(engine: Engine) -> list[str]:
    """Everyone who changed something (for the log's filter)."""
    with read_transaction(engine) as conn:
        names = set(conn.execute(select(HISTORY.c.user).distinct()).scalars())
        names |= set(conn.execute(select(EVENTS.c.user).distinct()).scalars())
    return sorted(n for n in names if n)
