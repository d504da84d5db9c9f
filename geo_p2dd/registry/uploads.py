"""Uploaded sheets kept in the register database: preview, commit, review, expiry.

An agency's sheet is previewed once (:func:`geo_p2dd.registry.importing.preview_import`)
and the preview is stored here (:func:`save_preview`) — who, when, the file's
name, the kind, the register version it was made against and the planned row
changes — so any app instance on the same database can show and commit it.
:func:`commit_upload` applies exactly the stored plan in one write transaction
(every touched site still at the version the preview saw, else
:class:`~geo_p2dd.registry.sync.RegisterChangedError`, HTTP 409, and nothing is
applied), marks the import ``committed`` and tags each history row with the
import's id. A reviewer then marks it ``verified`` or ``rejected`` with a note
(:func:`review_upload`); rejecting does not undo its changes, it flags the import
for the agency to correct. Previews never committed expire
(:data:`PREVIEW_TTL`) and are removed by :func:`purge_expired`.

Commits and reviews are written to the audit log (:mod:`geo_p2dd.registry.audit`)
in the same transaction as the change itself.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from geo_p2dd.errors import GeoP2DDError, InputError, NotFoundError
from geo_p2dd.registry.audit import record_event
from geo_p2dd.registry.db import read_transaction, write_transaction
from geo_p2dd.registry.importing import ImportPreview
from geo_p2dd.registry.models import IMPORT_STATUSES, History, Import
from geo_p2dd.registry.repository import _iso, version
from geo_p2dd.registry.sync import apply_plan

IMPORTS = Import.__table__
HISTORY = History.__table__
#: how long a preview waits for its commit
PREVIEW_TTL = dt.timedelta(days=7)
#: what a reviewer may decide
DECISIONS = ("verified", "rejected")
#: the longest review note kept (characters)
MAX_NOTE = 2000


class ImportStateError(GeoP2DDError):
    """The import is not in a state that allows this (committed twice, reviewed before
    its commit): HTTP 409."""


@dataclass(frozen=True)
class StoredImport:
    """An import as the register keeps it (times as ISO text, UTC)."""

    id: str
    user: str
    agency: str | None
    file: str
    kind: str
    created_at: str
    expires_at: str
    register_version: int
    status: str
    rows: int
    added: int
    updated: int
    unchanged: int
    rejected: int
    committed_at: str | None
    reviewer: str | None
    reviewed_at: str | None
    review_note: str | None

    def to_dict(self) -> dict[str, Any]:
        """The import as the JSON API shows it."""
        return dict(self.__dict__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _stored(row: Any) -> StoredImport:
    return StoredImport(
        id=row.id, user=row.user, agency=row.agency, file=row.file, kind=row.kind,
        created_at=_iso(row.created_at) or "", expires_at=_iso(row.expires_at) or "",
        register_version=int(row.register_version), status=row.status, rows=row.rows,
        added=row.added, updated=row.updated, unchanged=row.unchanged, rejected=row.rejected,
        committed_at=_iso(row.committed_at), reviewer=row.reviewer,
        reviewed_at=_iso(row.reviewed_at), review_note=row.review_note)


def save_preview(engine: Engine, preview: ImportPreview, *, user: str,
                 agency: str | None = None, kind: str = "sites",
                 ttl: dt.timedelta = PREVIEW_TTL) -> str:
    """Store ``preview`` (status ``previewed``) and return its new id.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The register.
    preview : ImportPreview
        What committing the sheet would do.
    user : str
        Who uploaded it (only they commit it).
    agency : str, optional
        The agency it is for (default: the agencies its rows name).
    kind : str
        What the sheet holds (``sites``).
    ttl : timedelta
        How long the preview waits for its commit.
    """
    now = _now()
    key = secrets.token_hex(16)
    agency = agency or (", ".join(preview.agencies) if preview.agencies else None)
    with write_transaction(engine) as conn:
        _purge(conn, now)
        conn.execute(insert(IMPORTS).values(
            id=key, user=user, agency=agency, file=preview.file, kind=kind, created_at=now,
            expires_at=now + ttl, register_version=version(conn), status="previewed",
            rows=preview.rows, added=len(preview.added), updated=len(preview.updated),
            unchanged=len(preview.unchanged), rejected=len(preview.rejected),
            preview=preview.to_record()))
    return key


def _purge(conn: Connection, now: dt.datetime) -> int:
    result = conn.execute(delete(IMPORTS).where(IMPORTS.c.status == "previewed",
                                                IMPORTS.c.expires_at < now))
    return int(result.rowcount or 0)


def purge_expired(engine: Engine, now: dt.datetime | None = None) -> int:
    """Remove previews never committed whose time ran out; how many went."""
    with write_transaction(engine) as conn:
        return _purge(conn, now or _now())


def _fetch(conn: Connection, key: str, user: str | None) -> Any:
    row = conn.execute(select(IMPORTS).where(IMPORTS.c.id == key)).first()
    if row is None or (user is not None and row.user != user):
        raise NotFoundError(f"no import {key!r} (unknown, expired, or another user's)")
    if row.status == "previewed" and _aware(row.expires_at) < _now():
        raise NotFoundError(f"the preview {key!r} expired without being committed")
    return row


def get_upload(engine: Engine, key: str, *, user: str | None = None,
               ) -> tuple[StoredImport, ImportPreview]:
    """An import and its preview.

    Parameters
    ----------
    user : str, optional
        When given, only this user's import is found (another's is "not found").

    Raises
    ------
    NotFoundError
        Unknown, another user's, or a preview that expired.
    """
    with read_transaction(engine) as conn:
        row = _fetch(conn, key, user)
    return _stored(row), ImportPreview.from_record(row.preview)


def commit_upload(engine: Engine, key: str, *, user: str, source: str = "import",
                  ) -> StoredImport:
    """Apply the stored preview ``key`` of ``user`` in one transaction: all of it or nothing.

    Raises
    ------
    NotFoundError
        Unknown, another user's, or expired.
    ImportStateError
        Committed already.
    RegisterChangedError
        A site of the preview changed (or appeared) since it was made.
    """
    now = _now()
    with write_transaction(engine) as conn:
        row = _fetch(conn, key, user)
        if row.status != "previewed":
            raise ImportStateError(f"the import {key!r} was committed already")
        # claim it first: of two commits at once, the second finds it no longer previewed
        claimed = conn.execute(update(IMPORTS).where(IMPORTS.c.id == key,
                                                     IMPORTS.c.status == "previewed")
                               .values(status="committed", committed_at=now))
        if claimed.rowcount != 1:
            raise ImportStateError(f"the import {key!r} was committed already")
        preview = ImportPreview.from_record(row.preview)
        apply_plan(conn, preview.plan, user=user, source=source, strict=True, import_id=key)
        record_event(conn, at=_now(), user=user, source=_event_source(source), kind="import",
                     object_id=key, action="committed",
                     details={"file": row.file, "agency": row.agency, "added": row.added,
                              "updated": row.updated, "unchanged": row.unchanged,
                              "rejected": row.rejected})
        row = conn.execute(select(IMPORTS).where(IMPORTS.c.id == key)).one()
    return _stored(row)


def _event_source(source: str) -> str:
    return "import" if source == "import" else source


def review_upload(engine: Engine, key: str, decision: str, note: str | None, *,
                  reviewer: str, source: str = "web") -> StoredImport:
    """Mark a committed import ``verified`` or ``rejected`` with a note.

    A rejected import keeps its changes: it is flagged for the agency to correct
    its sheet. A later review replaces an earlier one (both are in the audit log).

    Raises
    ------
    InputError
        ``decision`` is not one of :data:`DECISIONS` (``column`` ``decision``), or
        the note is not text (``note``).
    NotFoundError
        No such import.
    ImportStateError
        The import is a preview not committed.
    """
    if decision not in DECISIONS:
        raise InputError("unknown review decision", column="decision",
                         expected=" or ".join(DECISIONS), found=repr(decision)[:60])
    if note is not None and not isinstance(note, str):
        raise InputError("a review note is text", column="note", expected="text",
                         found=repr(note)[:60])
    if note is not None and len(note) > MAX_NOTE:
        raise InputError("the review note is too long", column="note",
                         expected=f"at most {MAX_NOTE} characters", found=f"{len(note)}")
    note = (note or "").strip() or None
    now = _now()
    with write_transaction(engine) as conn:
        row = _fetch(conn, key, None)
        if row.status == "previewed":
            raise ImportStateError(f"the import {key!r} is a preview not committed; only "
                                   "committed imports are reviewed")
        conn.execute(update(IMPORTS).where(IMPORTS.c.id == key).values(
            status=decision, reviewer=reviewer, reviewed_at=now, review_note=note))
        record_event(conn, at=now, user=reviewer, source=source, kind="import",
                     object_id=key, action=decision,
                     details={"file": row.file, "agency": row.agency, "note": note,
                              "before": row.status})
        row = conn.execute(select(IMPORTS).where(IMPORTS.c.id == key)).one()
    return _stored(row)


def list_uploads(engine: Engine, *, status: str | None = None, limit: int = 50,
                 offset: int = 0) -> tuple[list[StoredImport], int]:
    """Committed (and reviewed) imports, newest first, and how many there are.

    Parameters
    ----------
    status : {"committed", "verified", "rejected"}, optional
        Only those.
    """
    where = [IMPORTS.c.status != "previewed"]
    if status:
        if status not in IMPORT_STATUSES:
            raise InputError("unknown import status", column="status",
                             expected=", ".join(IMPORT_STATUSES), found=repr(status)[:60])
        where.append(IMPORTS.c.status == status)
    with read_transaction(engine) as conn:
        total = int(conn.execute(select(func.count()).select_from(IMPORTS).where(*where))
                    .scalar_one())
        rows = conn.execute(select(IMPORTS).where(*where)
                            .order_by(IMPORTS.c.committed_at.desc(), IMPORTS.c.id)
                            .limit(limit).offset(offset)).all()
    return [_stored(r) for r in rows], total


def unverified_sites(engine: Engine, site_ids: list[str] | None = None,
                    ) -> dict[str, tuple[str, str]]:
    """Sites changed by an import not verified: site id → (import id, its status).

    The status is ``committed`` (waiting for a reviewer) or ``rejected`` (to be
    corrected by the agency; a site in both kinds of import shows ``rejected``).

    Parameters
    ----------
    site_ids : list of str, optional
        Only these sites (e.g. one page of the register).
    """
    query = (select(HISTORY.c.site_id, HISTORY.c.import_id, IMPORTS.c.status)
             .join(IMPORTS, IMPORTS.c.id == HISTORY.c.import_id)
             .where(IMPORTS.c.status.in_(("committed", "rejected"))).distinct())
    if site_ids is not None:
        if not site_ids:
            return {}
        query = query.where(HISTORY.c.site_id.in_(site_ids))
    found: dict[str, tuple[str, str]] = {}
    with read_transaction(engine) as conn:
        for site, key, status in conn.execute(query):
            if site not in found or status == "rejected":
                found[site] = (key, status)
    return found
