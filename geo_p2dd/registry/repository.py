"""Reading and changing register sites: row transactions, optimistic concurrency, history.

No Flask here: the web pages, the JSON API, ``geo-p2dd import`` and the CLI
all change sites through these functions, each change one short transaction
that also writes its history row (who, when, source, ``{field: [old, new]}``).

Concurrency is optimistic: every site carries a ``version``, its ETag is
``"<id>-<version>"``, and a change applies only when the caller's ETag is still
current — ``UPDATE sites ... WHERE id = :id AND version = :v`` with a row-count
check, atomic on SQLite (one writer at a time) and on PostgreSQL (the second of
two concurrent updates re-reads the row and no longer matches). A stale ETag
raises :class:`PreconditionFailed` (HTTP 412), a missing one
:class:`PreconditionRequired` (428).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from geo_p2dd.errors import GeoP2DDError, InputError, NotFoundError
from geo_p2dd.registry.db import read_transaction, write_transaction
from geo_p2dd.registry.models import SOURCES, History, RegisterVersion, Site
from geo_p2dd.registry.validate import clean_field, clean_site, clean_status_date

SITES = Site.__table__
HISTORY = History.__table__
VERSION = RegisterVersion.__table__
#: the columns of a site as returned (the database's own ``geom`` is not among them)
COLUMNS = tuple(c.name for c in SITES.columns)
_TIMES = ("created_at", "updated_at", "deleted_at")
#: the longest status note kept (characters)
MAX_NOTE = 2000


class PreconditionFailed(GeoP2DDError):  # noqa: N818 - named after HTTP 412
    """The site changed since the caller read it (its ETag is stale): HTTP 412."""

    def __init__(self, site_id: str, given: str | None, current: str | None) -> None:
        self.site_id = site_id
        self.given = given
        self.current = current
        super().__init__(f"site {site_id!r} changed since it was read: If-Match {given} "
                         f"is not its current ETag {current}; read it again and re-apply "
                         "the change")


class PreconditionRequired(GeoP2DDError):  # noqa: N818 - named after HTTP 428
    """A change without the ETag of the version it is based on: HTTP 428."""


class SiteExistsError(GeoP2DDError, ValueError):
    """A new site whose id the register already holds: HTTP 409."""


def etag(site_id: str, version: int) -> str:
    """The ETag of a site version: ``"<id>-<version>"`` (quotes included)."""
    return f'"{site_id}-{version}"'


def _version_from_etag(site_id: str, tag: str | None) -> int:
    if tag is None or not str(tag).strip():
        raise PreconditionRequired(f"a change of site {site_id!r} needs If-Match with the "
                                   "ETag of the version it is based on")
    text = str(tag).strip().removeprefix("W/")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    stem, _, number = text.rpartition("-")
    if stem != site_id or not number.isdigit():
        raise PreconditionFailed(site_id, str(tag), None)
    return int(number)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite keeps no zone; the register writes UTC only
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def _site_dict(row: Any) -> dict[str, Any]:
    site = {name: getattr(row, name) for name in COLUMNS}
    for name in _TIMES:
        site[name] = _iso(site[name])
    return site


def _check_source(source: str) -> str:
    if source not in SOURCES:
        raise InputError("unknown source of a change", column="source",
                         expected=f"one of {', '.join(SOURCES)}", found=repr(source))
    return source


def _record(conn: Connection, site_id: str, at: dt.datetime, user: str | None, source: str,
            changes: dict[str, list[Any]], **dated: Any) -> None:
    conn.execute(insert(HISTORY).values(site_id=site_id, at=at, user=user, source=source,
                                        changes=changes, **dated))
    bump_version(conn)


def bump_version(conn: Connection) -> None:
    """Raise the register's version in the caller's write transaction (see :func:`version`).

    The row lock it takes on PostgreSQL is held to the commit, so versions are
    raised in commit order and a reader never sees a change without its version.
    """
    conn.execute(update(VERSION).where(VERSION.c.id == 1).values(n=VERSION.c.n + 1))


def version(engine_or_conn: Engine | Connection) -> int:
    """The register's version: raised by every create, change and delete of a site."""
    query = select(VERSION.c.n).where(VERSION.c.id == 1)
    if isinstance(engine_or_conn, Connection):
        return int(engine_or_conn.execute(query).scalar() or 0)
    with read_transaction(engine_or_conn) as conn:
        return int(conn.execute(query).scalar() or 0)


def _fetch(conn: Connection, site_id: str, *, include_deleted: bool = False) -> Any:
    query = select(SITES).where(SITES.c.id == site_id)
    if not include_deleted:
        query = query.where(SITES.c.deleted_at.is_(None))
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"the register has no site {site_id!r}")
    return row


def create_site(engine: Engine, values: Mapping[str, object], *, user: str | None = None,
                source: str = "cli") -> tuple[dict[str, Any], str]:
    """Add a site; its history records every field it was created with.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The register (:func:`geo_p2dd.registry.db.open_database`).
    values : mapping
        Field → value; ``kind``, ``name``, ``status``, ``lon`` and ``lat`` are
        required. Without ``id`` one is made from kind, name and village
        (``starlink-sd-long-apari-64.11.04.2001``, ``-2``, ``-3``... when taken).
    user : str, optional
        Who adds it.
    source : {"web", "import", "api", "cli"}
        Where the change comes from.

    Returns
    -------
    site : dict
        The stored site.
    etag : str
        Its ETag.

    Raises
    ------
    InputError
        A bad or missing field (named in ``column``).
    SiteExistsError
        The given ``id`` is taken.
    """
    _check_source(source)
    cleaned = clean_site(values)
    given = cleaned.pop("id", None)
    base = given or _stable_id(cleaned)
    for attempt in range(1, 1000):
        site_id = base if attempt == 1 else f"{base}-{attempt}"
        try:
            return _insert(engine, site_id, cleaned, user, source)
        except IntegrityError:
            with read_transaction(engine) as conn:
                taken = conn.execute(select(SITES.c.id).where(SITES.c.id == site_id)).first()
            if taken is None:
                raise
            if given is not None:
                raise SiteExistsError(f"the register already holds a site {site_id!r}; "
                                      "change it, or give another id") from None
    raise SiteExistsError(f"no free id for a site like {base!r}")  # pragma: no cover


def create_sites(engine: Engine, values: Sequence[Mapping[str, object]], *,
                 user: str | None = None, source: str = "cli") -> list[dict[str, Any]]:
    """Add several sites in one transaction: all of them, or none.

    Each is checked as :func:`create_site` checks one (every row before anything is
    written) and takes a free id made from kind, name and village (``-2``, ``-3``...
    when taken, also by a site added earlier in the same call).

    Returns
    -------
    list of dict
        The stored sites, in the order given.

    Raises
    ------
    InputError
        A bad or missing field (named in ``column``); nothing is added.
    """
    _check_source(source)
    cleaned = [clean_site(v) for v in values]
    now = _now()
    made: list[dict[str, Any]] = []
    with write_transaction(engine) as conn:
        for row in cleaned:
            base = row.pop("id", None) or _stable_id(row)
            taken = set(conn.execute(select(SITES.c.id).where(
                SITES.c.id.like(f"{base}%"))).scalars())
            site_id = next(candidate for candidate in
                           (base if n == 1 else f"{base}-{n}" for n in range(1, len(taken) + 2))
                           if candidate not in taken)
            conn.execute(insert(SITES).values(**row, id=site_id, version=1, created_at=now,
                                              updated_at=now))
            _record(conn, site_id, now, user, source,
                    {k: [None, v] for k, v in row.items() if v is not None})
            made.append(_site_dict(_fetch(conn, site_id)))
    return made


def _stable_id(cleaned: Mapping[str, Any]) -> str:
    from geo_p2dd.layers import stable_id  # the importer's ids, so both agree

    return stable_id(cleaned.get("kind"), cleaned.get("name"), cleaned.get("village_kode"))


def _insert(engine: Engine, site_id: str, cleaned: dict[str, Any], user: str | None,
            source: str) -> tuple[dict[str, Any], str]:
    now = _now()
    row = {**cleaned, "id": site_id, "version": 1, "created_at": now, "updated_at": now}
    with write_transaction(engine) as conn:
        conn.execute(insert(SITES).values(**row))
        _record(conn, site_id, now, user, source,
                {k: [None, v] for k, v in cleaned.items() if v is not None})
        site = _site_dict(_fetch(conn, site_id))
    return site, etag(site_id, 1)


def get_site(engine: Engine, site_id: str, *, include_deleted: bool = False,
             ) -> tuple[dict[str, Any], str]:
    """A site and its ETag.

    Raises
    ------
    NotFoundError
        No such site (or it is deleted and ``include_deleted`` is False).
    """
    with read_transaction(engine) as conn:
        row = _fetch(conn, site_id, include_deleted=include_deleted)
    return _site_dict(row), etag(row.id, row.version)


def patch_site(engine: Engine, site_id: str, changes: Mapping[str, object],
               if_match: str | None, *, user: str | None = None, source: str = "api",
               status_date: object = None, status_note: str | None = None,
               ) -> tuple[dict[str, Any], str]:
    """Change some fields of a site, if nobody changed it since ``if_match``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The register.
    site_id : str
        The site.
    changes : mapping
        Field → new value (None or "" clears an optional field).
    if_match : str
        The ETag the change is based on (from :func:`get_site` or the last change).
    user : str, optional
        Who changes it.
    source : {"web", "import", "api", "cli"}
        Where the change comes from.
    status_date : str or date, optional
        With a change of ``status``: the day it took effect (``YYYY-MM-DD``, today
        or earlier); kept in the history row.
    status_note : str, optional
        With a change of ``status``: why (kept in the history row).

    Returns
    -------
    site : dict
        The site after the change.
    etag : str
        Its new ETag (unchanged when no value differed).

    Raises
    ------
    PreconditionRequired
        ``if_match`` is missing.
    PreconditionFailed
        The site changed since ``if_match`` was read.
    InputError
        A bad field value (named in ``column``).
    NotFoundError
        No such site.
    """
    _check_source(source)
    version = _version_from_etag(site_id, if_match)
    cleaned = clean_site(changes, partial=True)
    dated = _status_dated(status_date, status_note)
    with write_transaction(engine) as conn:
        row = _fetch(conn, site_id)
        if row.version != version:
            raise PreconditionFailed(site_id, if_match, etag(site_id, row.version))
        diff = {k: [getattr(row, k), v] for k, v in cleaned.items() if getattr(row, k) != v}
        if dated and "status" not in diff:
            raise InputError("a status date or note goes with a change of status",
                             column="status", expected="a status other than the current one",
                             found=repr(cleaned.get("status", row.status)))
        if not diff:
            return _site_dict(row), etag(site_id, row.version)
        now = _now()
        result = conn.execute(
            update(SITES)
            .where(SITES.c.id == site_id, SITES.c.version == version,
                   SITES.c.deleted_at.is_(None))
            .values(**{k: new for k, (_, new) in diff.items()}, updated_at=now,
                    version=SITES.c.version + 1))
        if result.rowcount != 1:  # another writer got there between our read and write
            raise PreconditionFailed(site_id, if_match, None)
        _record(conn, site_id, now, user, source, diff, **dated)
        row = _fetch(conn, site_id)
    return _site_dict(row), etag(site_id, row.version)


def _status_dated(status_date: object, status_note: str | None) -> dict[str, Any]:
    """The history columns of a dated status change (empty without date and note)."""
    dated: dict[str, Any] = {}
    if status_date is not None and str(status_date).strip():
        dated["status_date"] = clean_status_date(status_date)
    if status_note is not None:
        if not isinstance(status_note, str):
            raise InputError("a status note is text", column="status_note", expected="text",
                             found=repr(status_note)[:100])
        if len(status_note) > MAX_NOTE:
            raise InputError("the status note is too long", column="status_note",
                             expected=f"at most {MAX_NOTE} characters", found=f"{len(status_note)}")
        if status_note.strip():
            dated["status_note"] = status_note.strip()
    return dated


def delete_site(engine: Engine, site_id: str, if_match: str | None = None, *,
                user: str | None = None, source: str = "api") -> None:
    """Soft-delete a site: it leaves lists and maps, its row and history stay.

    Parameters
    ----------
    if_match : str, optional
        When given, delete only if the site is still at this ETag.

    Raises
    ------
    PreconditionFailed
        ``if_match`` is stale.
    NotFoundError
        No such site, or already deleted.
    """
    _check_source(source)
    version = None if if_match is None else _version_from_etag(site_id, if_match)
    now = _now()
    with write_transaction(engine) as conn:
        row = _fetch(conn, site_id)
        if version is not None and row.version != version:
            raise PreconditionFailed(site_id, if_match, etag(site_id, row.version))
        result = conn.execute(
            update(SITES)
            .where(SITES.c.id == site_id, SITES.c.version == row.version,
                   SITES.c.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now, version=SITES.c.version + 1))
        if result.rowcount != 1:
            raise PreconditionFailed(site_id, if_match, None)
        _record(conn, site_id, now, user, source, {"deleted_at": [None, _iso(now)]})


def history(engine: Engine, site_id: str) -> list[dict[str, Any]]:
    """A site's changes, oldest first: ``{"at", "user", "source", "changes"}`` each.

    Raises
    ------
    NotFoundError
        The register never held the site.
    """
    with read_transaction(engine) as conn:
        _fetch(conn, site_id, include_deleted=True)
        rows = conn.execute(select(HISTORY).where(HISTORY.c.site_id == site_id)
                            .order_by(HISTORY.c.at, HISTORY.c.id)).all()
    return [history_entry(r) for r in rows]


def history_entry(row: Any) -> dict[str, Any]:
    """One history row as returned: ``at``, ``user``, ``source``, ``changes`` and, when
    set, ``status_date``/``status_note`` (a dated status change) and ``import_id``."""
    entry = {"at": _iso(row.at), "user": row.user, "source": row.source,
             "changes": row.changes}
    if row.status_date is not None:
        entry["status_date"] = row.status_date.isoformat()
    if row.status_note is not None:
        entry["status_note"] = row.status_note
    if row.import_id is not None:
        entry["import_id"] = row.import_id
    return entry


@dataclass(frozen=True)
class SiteFilter:
    """Which sites :func:`list_sites` returns; every condition given must hold.

    Attributes
    ----------
    agency, status, kind, funding : str or sequence of str, optional
        One value or any of several (vocabulary spellings accepted).
    year, budget_year : int, optional
    village_kode : str, optional
        A village code, or a kecamatan/kabupaten code meaning every village in it.
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
    include_deleted : bool
    limit, offset : int, optional
    """

    agency: str | Sequence[str] | None = None
    status: str | Sequence[str] | None = None
    kind: str | Sequence[str] | None = None
    funding: str | Sequence[str] | None = None
    year: int | None = None
    budget_year: int | None = None
    village_kode: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    include_deleted: bool = False
    limit: int | None = None
    offset: int = 0


def _many(field: str, value: str | Sequence[str]) -> list[Any]:
    values = [value] if isinstance(value, str) else list(value)
    return [clean_field(field, v) for v in values]


def _conditions(filters: SiteFilter) -> list[Any]:
    c = SITES.c
    where: list[Any] = []
    for field in ("agency", "status", "kind", "funding"):
        value = getattr(filters, field)
        if value is not None:
            where.append(getattr(c, field).in_(_many(field, value)))
    for field in ("year", "budget_year"):
        value = getattr(filters, field)
        if value is not None:
            where.append(getattr(c, field) == clean_field(field, value))
    if filters.village_kode:
        from geo_p2dd.codes import normalise_code

        code = normalise_code(filters.village_kode)
        where.append(or_(c.village_kode == code, c.village_kode.startswith(code + ".")))
    if filters.bbox is not None:
        x0, y0, x1, y1 = (float(v) for v in filters.bbox)
        where.append(and_(c.lon.between(x0, x1), c.lat.between(y0, y1)))
    if not filters.include_deleted:
        where.append(c.deleted_at.is_(None))
    return where


def list_sites(engine: Engine, filters: SiteFilter | None = None) -> list[dict[str, Any]]:
    """Sites matching ``filters`` (all live sites without), ordered by id.

    Raises
    ------
    InputError
        A filter value that no site could have (e.g. an unknown status).
    """
    filters = filters or SiteFilter()
    query = select(SITES).where(*_conditions(filters)).order_by(SITES.c.id)
    if filters.limit is not None:
        query = query.limit(filters.limit)
    if filters.offset:
        query = query.offset(filters.offset)
    with read_transaction(engine) as conn:
        return [_site_dict(r) for r in conn.execute(query)]


def count_sites(engine: Engine, filters: SiteFilter | None = None) -> int:
    """How many sites match ``filters`` (limit and offset ignored)."""
    filters = filters or SiteFilter()
    with read_transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(SITES)
                                .where(*_conditions(filters))).scalar_one())
