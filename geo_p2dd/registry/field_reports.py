"""Field reports: signal reports made on a phone, stored once, reviewed by people.

A report's id is a UUID made on the phone when the report is written, so a
report sent twice (the phone was offline, the answer was lost) is stored once:
:func:`store_report` inserts or, when the id is known, returns the stored report
untouched. Reviewers and admins then verify or reject it. Verified reports are
evidence for the analysis (:func:`geo_p2dd.reports_layer.read_reports`), so a
review that makes a report verified, or no longer verified, raises the
register's version: the project's results become stale.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo_p2dd.codes import normalise_code
from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.registry.db import read_transaction, write_transaction
from geo_p2dd.registry.models import REPORT_STATUSES, FieldReport
from geo_p2dd.registry.repository import bump_version
from geo_p2dd.schema import TECHNOLOGY_SEEN

REPORTS = FieldReport.__table__
_VILLAGE = re.compile(r"\d{2}\.\d{2}\.\d{2}\.\d{4}")
#: the longest note kept, in characters
NOTE_MAX = 2000


def _text(values: Mapping[str, object], key: str, limit: int) -> str | None:
    value = values.get(key)
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise InputError(f"{key} is too long", column=key,
                         expected=f"at most {limit} characters", found=f"{len(text)} characters")
    return text or None


def _number(values: Mapping[str, object], key: str, low: float, high: float) -> float:
    value = values.get(key)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{key} is not a number", column=key,
                         expected=f"a number from {low} to {high}", found=repr(value)) from None
    if not low <= number <= high:
        raise InputError(f"{key} is out of range", column=key,
                         expected=f"a number from {low} to {high}", found=repr(value))
    return number


def _when(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError("observed_at is not a date", column="observed_at",
                             expected="an ISO 8601 date or date and time",
                             found=repr(value)) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise InputError("observed_at is in the future", column="observed_at",
                         expected="a date not after today", found=when.isoformat())
    return when.astimezone(dt.UTC)  # SQLite keeps no offset: store UTC everywhere


def clean_report(values: Mapping[str, object]) -> dict[str, Any]:
    """Check and normalise the fields of a report.

    Parameters
    ----------
    values : mapping
        ``id`` (a UUID), ``village_kode`` (optional), ``lon``, ``lat``,
        ``operator`` (optional), ``technology`` (a term of
        :data:`geo_p2dd.schema.TECHNOLOGY_SEEN`), ``observed_at`` (ISO 8601)
        and ``note`` (optional).

    Returns
    -------
    dict
        The stored fields.

    Raises
    ------
    InputError
        A bad or missing field, named in ``column``.
    """
    raw_id = values.get("id")
    try:
        report_id = str(uuid.UUID(str(raw_id)))
    except ValueError:
        raise InputError("the report id is not a UUID", column="id",
                         expected="a UUID made by the phone", found=repr(raw_id)) from None
    village = values.get("village_kode")
    kode = normalise_code(village) if village not in (None, "") else None
    if kode is not None and not _VILLAGE.fullmatch(kode):
        raise InputError("village_kode is not a village code", column="village_kode",
                         expected="a code such as 64.11.01.2001", found=repr(village))
    technology = TECHNOLOGY_SEEN.parse(values.get("technology"))
    if technology is None:
        raise InputError("technology is not known", column="technology",
                         expected=", ".join(TECHNOLOGY_SEEN.ids),
                         found=repr(values.get("technology")))
    return {
        "id": report_id,
        "village_kode": kode,
        "lon": _number(values, "lon", -180, 180),
        "lat": _number(values, "lat", -90, 90),
        "operator": _text(values, "operator", 100),
        "technology": technology,
        "observed_at": _when(values.get("observed_at")),
        "note": _text(values, "note", NOTE_MAX),
    }


def _as_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("observed_at", "created_at", "reviewed_at"):
        value = out.get(key)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:  # SQLite gives naive UTC back
                value = value.replace(tzinfo=dt.UTC)
            out[key] = value.astimezone(dt.UTC).isoformat()
    return out


def get_report(engine: Engine, report_id: str) -> dict[str, Any]:
    """The stored report ``report_id``; :class:`NotFoundError` when there is none."""
    with read_transaction(engine) as conn:
        row = conn.execute(select(REPORTS).where(REPORTS.c.id == str(report_id))).first()
    if row is None:
        raise NotFoundError(f"no field report {report_id}")
    return _as_dict(row)


def store_report(engine: Engine, values: Mapping[str, object],
                 reporter: str) -> tuple[dict[str, Any], bool]:
    """Store a report once: a re-sent id returns the stored report unchanged.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The register.
    values : mapping
        The report (see :func:`clean_report`).
    reporter : str
        The signed-in user who sends it.

    Returns
    -------
    report : dict
        The stored report.
    created : bool
        True when this call stored it, False when it was stored before.
    """
    cleaned = clean_report(values)
    reporter = (reporter or "").strip()
    if not reporter:
        raise InputError("a report needs a reporter", column="reporter",
                         expected="a user name", found="''")
    row = {**cleaned, "reporter": reporter, "status": "submitted",
           "created_at": dt.datetime.now(dt.UTC)}
    try:
        with write_transaction(engine) as conn:
            known = conn.execute(select(REPORTS.c.id).where(REPORTS.c.id == row["id"])).first()
            if known is None:
                conn.execute(insert(REPORTS).values(**row))
                created = True
            else:
                created = False
    except IntegrityError:  # the same id sent at the same moment: stored by the other
        created = False
    return get_report(engine, row["id"]), created


def list_reports(engine: Engine, *, status: str | None = None, village_kode: str | None = None,
                 reporter: str | None = None) -> list[dict[str, Any]]:
    """Reports, newest observation first, optionally of one status, village or reporter."""
    query = select(REPORTS).order_by(REPORTS.c.observed_at.desc(), REPORTS.c.id)
    if status is not None:
        if status not in REPORT_STATUSES:
            raise InputError("status is not known", column="status",
                             expected=", ".join(REPORT_STATUSES), found=repr(status))
        query = query.where(REPORTS.c.status == status)
    if village_kode:
        query = query.where(REPORTS.c.village_kode == normalise_code(village_kode))
    if reporter:
        query = query.where(REPORTS.c.reporter == reporter)
    with read_transaction(engine) as conn:
        return [_as_dict(r) for r in conn.execute(query)]


def review_report(engine: Engine, report_id: str, decision: str,
                  reviewer: str) -> dict[str, Any]:
    """Verify or reject a report; a second review overrides the first.

    A review that makes a report verified, or no longer verified, raises the register's
    version (:func:`geo_p2dd.registry.repository.bump_version`), as a site's change does.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The register.
    report_id : str
        The report's UUID.
    decision : {"verified", "rejected"}
        The review.
    reviewer : str
        Who reviews (the caller checks that they may).

    Returns
    -------
    dict
        The reviewed report.
    """
    if decision not in ("verified", "rejected"):
        raise InputError("a review verifies or rejects", column="status",
                         expected="verified, rejected", found=repr(decision))
    with write_transaction(engine) as conn:
        before = conn.execute(select(REPORTS.c.status).where(REPORTS.c.id == str(report_id))
                              ).scalar()
        if before is None:
            raise NotFoundError(f"no field report {report_id}")
        conn.execute(update(REPORTS).where(REPORTS.c.id == str(report_id)).values(
            status=decision, reviewed_by=reviewer, reviewed_at=dt.datetime.now(dt.UTC)))
        if "verified" in (before, decision) and before != decision:
            bump_version(conn)  # what the analysis weighs changed: its results are stale
    return get_report(engine, report_id)


def verify_report(engine: Engine, report_id: str, reviewer: str) -> dict[str, Any]:
    """Mark a report verified (see :func:`review_report`)."""
    return review_report(engine, report_id, "verified", reviewer)


def reject_report(engine: Engine, report_id: str, reviewer: str) -> dict[str, Any]:
    """Mark a report rejected (see :func:`review_report`)."""
    return review_report(engine, report_id, "rejected", reviewer)
