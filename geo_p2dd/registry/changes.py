"""Every change of the register since a date, one row per changed field (for the ministry).

:func:`changes_since` reads the history table: for each change of a site
after the given moment, one :class:`Change` per field (site, site name, field,
old value, new value, who, when, source; for a status change, the day it took
effect and its note). :func:`write_changes_xlsx` writes
them as a workbook whose text cells are never formulas
(:func:`geo_p2dd.io.cells.xlsx_cell`); :func:`changes_lines` as text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from geo_p2dd.registry.db import read_transaction
from geo_p2dd.registry.repository import HISTORY, SITES, _iso


@dataclass(frozen=True)
class Change:
    """One field of one site changed: from ``old`` to ``new``, by ``user``, at ``at``."""

    at: str
    site_id: str
    site_name: str | None
    field: str
    old: Any
    new: Any
    user: str | None
    source: str
    #: a status change: the day it took effect and its note
    status_date: str | None = None
    status_note: str | None = None


def since_moment(since: dt.date | dt.datetime | str) -> dt.datetime:
    """The UTC moment a ``--since`` value means (a date: its start, 00:00 UTC)."""
    if isinstance(since, str):
        since = dt.datetime.fromisoformat(since.strip())
    if not isinstance(since, dt.datetime):
        since = dt.datetime.combine(since, dt.time())
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return since.astimezone(dt.UTC)


def changes_since(engine: Engine, since: dt.date | dt.datetime | str) -> list[Change]:
    """Every field changed at or after ``since``, oldest first.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The register.
    since : date, datetime or ISO text
        A date means its start (00:00 UTC); a moment without a zone is UTC.
    """
    moment = since_moment(since)
    query = (select(HISTORY, SITES.c.name.label("site_name"))
             .join(SITES, SITES.c.id == HISTORY.c.site_id)
             .where(HISTORY.c.at >= moment).order_by(HISTORY.c.at, HISTORY.c.id))
    out = []
    with read_transaction(engine) as conn:
        for r in conn.execute(query):
            for name, (old, new) in (r.changes or {}).items():
                dated = name == "status" and (r.status_date or r.status_note)
                out.append(Change(
                    _iso(r.at) or "", r.site_id, r.site_name, name, old, new, r.user,
                    r.source, r.status_date.isoformat() if dated and r.status_date else None,
                    r.status_note if dated else None))
    return out


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


HEADERS = ("When (UTC)", "Site ID", "Site name", "Field", "Old value", "New value", "Who",
           "Source", "Status date", "Status note")


def write_changes_xlsx(changes: list[Change], path: str | Path, lang: str = "id") -> Path:
    """Write ``changes`` as an XLSX workbook (one row per field changed)."""
    from openpyxl import Workbook

    from geo_p2dd.i18n import gettext
    from geo_p2dd.io.atomic import atomic_path
    from geo_p2dd.io.cells import xlsx_cell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(gettext("Changes", lang))
    for column, width in zip("ABCDEFGHIJ", (26, 34, 28, 16, 24, 24, 16, 9, 12, 40),
                             strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    sheet.append([gettext(h, lang) for h in HEADERS])
    for c in changes:
        sheet.append([xlsx_cell(sheet, _shown(v)) for v in
                      (c.at, c.site_id, c.site_name, c.field, c.old, c.new, c.user, c.source,
                       c.status_date, c.status_note)])
    path = Path(path)
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return path


def changes_lines(changes: list[Change]) -> list[str]:
    """The changes as text lines: ``when  site  field: old -> new  (who, source)``."""
    return [f"{c.at}  {c.site_id}  {c.field}: {_shown(c.old)!s} -> {_shown(c.new)!s}  "
            f"({c.user or '-'}, {c.source})" for c in changes]
