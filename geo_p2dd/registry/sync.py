"""A whole sites layer applied to the register as row changes, in one database transaction.

An import (or any code that writes the ``sites`` layer) ends with a complete
layer: the register's sites with the file's rows merged in. :func:`plan_sites`
turns it into the few row operations it means — create, change some fields,
rename (a site recognised under an older id scheme), soft delete — compared
with the *base* the layer was made from, so a site the layer did not touch is
not written, and a field someone else changed meanwhile (the web, the API) is
kept unless the layer itself changes that field. :func:`apply_plan` applies
the operations in ONE write transaction with one history row per site and one
raise of the register's version: all of them or, on any failure, none.

With ``strict=True`` (a previewed upload committed later) every site the plan
touches must still be at the version the plan saw, else :class:`RegisterChangedError`
(HTTP 409) and nothing is applied.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
from sqlalchemy import Connection, Engine, delete, insert, select, update

from geo_p2dd.errors import GeoP2DDError
from geo_p2dd.registry.db import read_transaction, write_transaction
from geo_p2dd.registry.migrate import _LAYER_FIELDS, layer_rows
from geo_p2dd.registry.repository import HISTORY, SITES, bump_version
from geo_p2dd.registry.validate import REQUIRED

#: the fields an operation may set (``extra`` holds the layer's other columns)
FIELDS = (*_LAYER_FIELDS, "lon", "lat", "extra")
_TOLERANCE = 1e-9


class RegisterChangedError(GeoP2DDError):
    """The register changed since a plan was made from it: HTTP 409, nothing applied."""


@dataclass
class Plan:
    """Row operations that bring the register to a layer.

    Attributes
    ----------
    creates : list of dict
        New sites: ``id`` and their fields.
    updates : list of (id, version, changes)
        Sites whose listed fields change (``deleted_at: None`` brings one back).
    renames : list of (old id, new id, version)
        Sites moved to their current id (history kept).
    deletes : list of (id, version)
        Sites soft-deleted.
    unchanged : int
        Sites of the layer that need no change.
    """

    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    renames: list[tuple[str, str, int]] = field(default_factory=list)
    deletes: list[tuple[str, int]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.renames or self.deletes)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=_TOLERANCE)
    return a == b


def _rows(frame: gpd.GeoDataFrame | None) -> dict[str, dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return {}
    frame = frame.drop(columns=[c for c in ("version",) if c in frame.columns])
    rows, _ = layer_rows(frame)
    for row in rows:  # a layer written without them (as the old layer allowed)
        for name in REQUIRED:
            row.setdefault(name, "")
    return {r["id"]: r for r in rows}


def _db_rows(conn: Connection) -> dict[str, Any]:
    return {r.id: r for r in conn.execute(select(SITES))}


def _db_values(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in FIELDS}


def plan_sites(conn: Connection, frame: gpd.GeoDataFrame,
               base: gpd.GeoDataFrame | None = None, *,
               renames: Mapping[str, str] | None = None, delete_missing: bool = True) -> Plan:
    """The row operations that make the register hold ``frame``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the transaction that will apply the plan, or a read one (strict use).
    frame : GeoDataFrame
        The sites layer wanted (``site_id``, layer columns, point geometry).
    base : GeoDataFrame, optional
        The register as read when ``frame`` was made from it; None: the register now.
    renames : mapping, optional
        Old id → new id of sites ``frame`` holds under their current id.
    delete_missing : bool
        Soft-delete sites of ``base`` that ``frame`` no longer holds.
    """
    renames = dict(renames or {})
    db = _db_rows(conn)
    live = {k: _db_values(r) for k, r in db.items() if r.deleted_at is None}
    base_rows = live if base is None else _rows(base)
    wanted = _rows(frame)
    back = {new: old for old, new in renames.items()}
    plan = Plan()
    for site_id, row in wanted.items():
        old_id = back.get(site_id, site_id)
        if old_id != site_id and old_id in live and (site_id not in db
                                                     or db[site_id].deleted_at is not None):
            plan.renames.append((old_id, site_id, db[old_id].version))
            current = db[old_id]
        else:
            old_id = site_id
            current = db.get(site_id)
        before = base_rows.get(old_id)
        values = {k: row.get(k) for k in FIELDS}
        if current is None:
            plan.creates.append({"id": site_id, **values})
            continue
        now = _db_values(current)
        if before is None:  # new to the layer's base: the layer's values throughout
            changes = {k: v for k, v in values.items() if not _same(v, now[k])}
        else:  # only what the layer changed, onto the register as it is now
            changes = {k: v for k, v in values.items()
                       if not _same(v, before.get(k)) and not _same(v, now[k])}
        if current.deleted_at is not None:
            changes["deleted_at"] = None
        if changes:
            plan.updates.append((site_id, current.version, changes))
        else:
            plan.unchanged += 1
    if delete_missing:
        kept = set(wanted) | set(renames)
        for site_id in base_rows:
            if site_id not in kept and site_id in live:
                plan.deletes.append((site_id, db[site_id].version))
    return plan


def _check(result: Any, site_id: str) -> None:
    if result.rowcount != 1:
        raise RegisterChangedError(f"site {site_id!r} changed since the upload was previewed; "
                              "preview the file again")


def apply_plan(conn: Connection, plan: Plan, *, user: str | None, source: str,
               strict: bool = False, import_id: str | None = None) -> None:
    """Apply ``plan`` in the caller's write transaction (all or nothing with it).

    ``import_id`` (a stored upload, :mod:`geo_p2dd.registry.uploads`) is kept in
    each history row, so the register knows which sites an import touched.

    Raises
    ------
    RegisterChangedError
        ``strict`` and a site is no longer at the version the plan saw, or a
        site to create exists already.
    """
    from geo_p2dd.registry.repository import _check_source

    _check_source(source)
    if plan.empty:
        return
    now = dt.datetime.now(dt.UTC)
    history: list[dict[str, Any]] = []
    c = SITES.c

    def version_ok(site_id: str, version: int):
        return (c.id == site_id, c.version == version) if strict else (c.id == site_id,)

    moved: dict[str, int] = {}  # a renamed site's id -> its version after the move
    for old, new, version in plan.renames:
        row = conn.execute(select(SITES).where(*version_ok(old, version))).first()
        if row is None:
            raise RegisterChangedError(f"site {old!r} changed since the upload was previewed; "
                                  "preview the file again")
        values = {k: getattr(row, k) for k in (col.name for col in SITES.columns)}
        taken = conn.execute(select(SITES.c.version).where(c.id == new)).first()
        if taken is None:
            moved[new] = row.version + 1
            conn.execute(insert(SITES).values({**values, "id": new, "version": moved[new],
                                               "updated_at": now}))
        else:  # a deleted site of that id: the moved site takes its place (histories joined)
            values.pop("id")
            moved[new] = max(row.version, taken.version) + 1
            conn.execute(update(SITES).where(c.id == new).values(
                {**values, "version": moved[new], "updated_at": now}))
        conn.execute(update(HISTORY).where(HISTORY.c.site_id == old).values(site_id=new))
        conn.execute(delete(SITES).where(c.id == old))
        history.append({"site_id": new, "at": now, "user": user, "source": source,
                        "changes": {"id": [old, new]}})
    if plan.creates:
        rows = [{k: v for k, v in r.items()} | {"version": 1, "created_at": now,
                                                  "updated_at": now} for r in plan.creates]
        if strict:
            taken = conn.execute(select(c.id).where(c.id.in_([r["id"] for r in rows]))).first()
            if taken is not None:
                raise RegisterChangedError(f"site {taken.id!r} of the upload was added to the "
                                           "register since it was previewed; preview the file "
                                           "again")
        conn.execute(insert(SITES), rows)
        history += [{"site_id": r["id"], "at": now, "user": user, "source": source,
                     "changes": {k: [None, v] for k, v in r.items()
                                 if k != "id" and v is not None}} for r in plan.creates]
    for site_id, version, changes in plan.updates:
        # a site renamed above is checked at its version after the move (the rename
        # itself checked the version the preview saw)
        version = moved.get(site_id, version)
        row = conn.execute(select(SITES).where(c.id == site_id)).first()
        if row is None:
            raise RegisterChangedError(f"site {site_id!r} left the register")
        result = conn.execute(update(SITES).where(*version_ok(site_id, version))
                              .values(**changes, updated_at=now, version=c.version + 1))
        _check(result, site_id)
        history.append({"site_id": site_id, "at": now, "user": user, "source": source,
                        "changes": {k: [_plain(getattr(row, k)), _plain(v)]
                                    for k, v in changes.items()}})
    for site_id, version in plan.deletes:
        result = conn.execute(update(SITES).where(*version_ok(site_id, version),
                                                  c.deleted_at.is_(None))
                              .values(deleted_at=now, updated_at=now, version=c.version + 1))
        _check(result, site_id)
        history.append({"site_id": site_id, "at": now, "user": user, "source": source,
                        "changes": {"deleted_at": [None, now.isoformat()]}})
    if import_id is not None:
        for entry in history:
            entry["import_id"] = import_id
    conn.execute(insert(HISTORY), history)
    bump_version(conn)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def replace_sites(engine: Engine, frame: gpd.GeoDataFrame,
                  base: gpd.GeoDataFrame | None = None, *,
                  renames: Mapping[str, str] | None = None, user: str | None = None,
                  source: str = "cli") -> Plan:
    """Make the register hold ``frame``, merged with what changed since ``base`` was read.

    One write transaction: planned and applied under the database's write lock,
    so concurrent edits are neither lost nor half-applied.
    """
    with write_transaction(engine) as conn:
        plan = plan_sites(conn, frame, base, renames=renames)
        apply_plan(conn, plan, user=user, source=source)
    return plan


def preview_plan(engine: Engine, frame: gpd.GeoDataFrame, *,
                 renames: Mapping[str, str] | None = None) -> Plan:
    """The plan for ``frame`` against the register now (apply later with ``strict=True``)."""
    with read_transaction(engine) as conn:
        return plan_sites(conn, frame, None, renames=renames)
