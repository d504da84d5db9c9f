"""A project's sites layer moved into the register database, nothing lost.

:func:`open_project_register` is the first-use entry point: it opens (and
migrates) the project's database and, the first time, copies every row of the
``sites`` layer into it (:func:`move_sites_layer`) in one transaction, with a
history row per site (source ``import``). Values the register has no column
for, and values its validation would refuse, are kept in the site's ``extra``
object under their column name, so nothing of the layer is lost. The move is
recorded in ``registry_meta``: a second call (or a second process at the same
time) adds nothing, and a site deleted in the database afterwards stays deleted.

:func:`sites_layer` is the way back: the register as a GeoDataFrame shaped
like the ``sites`` layer, for the analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, insert, select, text

from geo_p2dd.errors import InputError
from geo_p2dd.project import Project, now_iso
from geo_p2dd.registry.db import SQLITE_NAME, open_database, write_transaction
from geo_p2dd.registry.models import History, Meta, Site
from geo_p2dd.registry.repository import SiteFilter, list_sites
from geo_p2dd.registry.validate import FIELDS, NUMBERS, REQUIRED, TEXTS, clean_field
from geo_p2dd.schema import SITES as SITES_SPEC

#: the registry_meta key recording the move of the sites layer
MOVED_KEY = "sites_layer_moved"
#: fields a layer row maps onto (the layer's ``site_id`` is the register's ``id``)
_LAYER_FIELDS = tuple(f for f in FIELDS if f not in ("id", "extra", "lon", "lat"))
_MOVE_LOCK = 6411_2027


@dataclass(frozen=True)
class MoveResult:
    """What :func:`move_sites_layer` did.

    Attributes
    ----------
    added : int
        Sites inserted.
    present : int
        Layer rows whose id the register already held (left as they are).
    kept_in_extra : int
        Values kept in ``extra`` because the register refused them in their column.
    already_moved : bool
        The layer had been moved before; nothing was done.
    """

    added: int = 0
    present: int = 0
    kept_in_extra: int = 0
    already_moved: bool = False


def _plain(value: Any) -> Any:
    """A JSON-ready Python value (None for missing), from numpy or pandas scalars."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def layer_rows(frame: gpd.GeoDataFrame, *, file: str = "sites layer",
               ) -> tuple[list[dict[str, Any]], int]:
    """Register rows from a ``sites`` layer; values refused by a column go to ``extra``.

    Returns
    -------
    rows : list of dict
        One per layer row, ready to insert (``id``, fields, ``lon``, ``lat``, ``extra``).
    kept : int
        How many values were kept in ``extra`` instead of their column.

    Raises
    ------
    InputError
        A row without an id or without a point (nothing could be stored for it).
    """
    geometry = frame.geometry.name
    rows = []
    kept = 0
    points = frame.geometry.to_numpy()
    plain = pd.DataFrame(frame.drop(columns=geometry))
    for number, (record, point) in enumerate(zip(plain.to_dict("records"), points,
                                                 strict=True), start=1):
        values = {k: _plain(v) for k, v in record.items()}
        site_id = values.pop("site_id", None)
        if site_id is None or str(site_id).strip() == "":
            raise InputError("a site without an id", file=file, row=number, column="site_id")
        if point is None or shapely.is_empty(point) or point.geom_type != "Point":
            raise InputError("a site without a point", file=file, row=number,
                             column="geometry", expected="a point", found=repr(point))
        row: dict[str, Any] = {"id": str(site_id), "lon": float(point.x), "lat": float(point.y)}
        extra: dict[str, Any] = {}
        for name, value in values.items():
            if name not in _LAYER_FIELDS:
                if value is not None:
                    extra[name] = value
                continue
            try:
                row[name] = clean_field(name, value)
            except InputError:
                if name in REQUIRED:  # stored as found: the column cannot be empty
                    row[name] = "" if value is None else str(value)
                else:
                    row[name] = None
                if value is not None:
                    extra[name] = value
                    kept += 1
        row["extra"] = extra or None
        rows.append(row)
    return rows, kept


def _moved(conn: Connection) -> bool:
    return conn.execute(select(Meta.key).where(Meta.key == MOVED_KEY)).first() is not None


def move_sites_layer(project: Project, engine: Engine, *, user: str | None = None,
                     ) -> MoveResult:
    """Copy the project's ``sites`` layer into the register, once.

    Parameters
    ----------
    project : Project
        The project (its layer is read from the generation it pins).
    engine : sqlalchemy.Engine
        The register.
    user : str, optional
        Recorded in each site's first history row.

    Returns
    -------
    MoveResult
    """
    with engine.connect() as conn:
        if _moved(conn):
            return MoveResult(already_moved=True)
    frame = project.read_layer_file("sites", required=False)
    origin = str(project.layers_path)
    if frame is None:  # a project moving from its own SQLite register to a server's
        frame, origin = _embedded_register_sites(project, engine)
    rows, kept = ([], 0) if frame is None else layer_rows(frame, file=origin)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":  # two first uses at once: one moves, one waits
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MOVE_LOCK})
        if _moved(conn):
            return MoveResult(already_moved=True)
        held = set(conn.execute(select(Site.id)).scalars())
        new = [r for r in rows if r["id"] not in held]
        moment = pd.Timestamp.now(tz="UTC").to_pydatetime()
        if new:
            conn.execute(insert(Site), [{**r, "version": 1, "created_at": moment,
                                         "updated_at": moment} for r in new])
            conn.execute(insert(History), [
                {"site_id": r["id"], "at": moment, "user": user, "source": "import",
                 "changes": {k: [None, v] for k, v in r.items()
                             if k != "id" and v is not None}} for r in new])
        conn.execute(insert(Meta).values(key=MOVED_KEY, value={
            "at": now_iso(), "project": str(project.path.resolve()),
            "data_version": project.file_data_version, "rows": len(rows),
            "added": len(new)}))
    return MoveResult(added=len(new), present=len(rows) - len(new), kept_in_extra=kept)


def _embedded_register_sites(project: Project, engine: Engine
                             ) -> tuple[gpd.GeoDataFrame | None, str]:
    """The live sites of the project's own ``register.sqlite`` when ``engine`` is another
    database (a project that grew from the embedded default to PostgreSQL): their
    current state moves; their history stays in that file."""
    path = Path(project.path) / SQLITE_NAME
    if not path.exists() or engine.url.database and \
            Path(engine.url.database).resolve() == path.resolve():
        return None, ""
    embedded = open_database(project.path, f"sqlite:///{path.resolve()}")
    try:
        frame = sites_layer(embedded).drop(columns="version")  # (versions start anew)
    finally:
        embedded.dispose()
    return (frame if len(frame) else None), SQLITE_NAME


def open_project_register(project: Project, *, url: str | None = None,
                          user: str | None = None) -> Engine:
    """The project's register database, migrated, with its sites layer moved in on first use.

    Parameters
    ----------
    project : Project
    url : str, optional
        An SQLAlchemy URL (else ``$GEO_P2DD_DATABASE_URL``, else ``register.sqlite``).
    user : str, optional
        Recorded as the author of the moved sites.
    """
    engine = open_database(project.path, url)
    move_sites_layer(project, engine, user=user)
    return engine


def sites_layer(engine: Engine, filters: SiteFilter | None = None) -> gpd.GeoDataFrame:
    """The register as a GeoDataFrame shaped like the ``sites`` layer (EPSG:4326).

    Columns: ``site_id``, the layer's columns, the register's own (budget, SIPD
    code, version...) and every key of ``extra`` that is not a column already.
    Missing text is ``""`` and missing numbers NaN, as the importer writes them.
    """
    sites = list_sites(engine, filters)
    layer_cols = [c.name for c in SITES_SPEC.columns if c.name != "village"]
    own = [c for c in _LAYER_FIELDS if c not in layer_cols]
    records = []
    for s in sites:
        record = {"site_id": s["id"], **{c: s.get(c) for c in layer_cols[1:] + own}}
        for key, value in (s["extra"] or {}).items():
            if record.get(key) is None:
                record[key] = value
        record["version"] = s["version"]
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=None if records else
                                      ["site_id", *layer_cols[1:], *own, "version"])
    for name in TEXTS:
        if name in frame:
            frame[name] = frame[name].fillna("")
    for name in NUMBERS:
        if name in frame:
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
    geometry = shapely.points([s["lon"] for s in sites], [s["lat"] for s in sites]) \
        if sites else []
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
