"""Scenarios: named sets of hypothetical sites, owned by a user, in the project's database.

A scenario lives in its own tables (``scenarios``, ``scenario_sites``, migration
``0003``) of the register database (:mod:`geo_p2dd.registry.db`), never in the
``sites`` table: nothing here reaches the register, its exports or the
ministry's workbook. :func:`summary` answers now -> scenario through
:class:`geo_p2dd.planning.whatif.WhatIf`; keep one ``WhatIf`` per project to
recompute only what a changed site reaches.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.planning.whatif import WhatIf
from geo_p2dd.registry.db import read_transaction, write_transaction
from geo_p2dd.registry.models import SCENARIO_KINDS, Scenario, ScenarioSite
from geo_p2dd.schema import TECHNOLOGIES

SCENARIOS = Scenario.__table__
SITES = ScenarioSite.__table__
#: optional numeric fields of a scenario site, each > 0 when given (power may be any number)
NUMBERS = ("height_m", "power_dbm", "frequency_mhz", "service_radius_m")
#: every field a scenario site has
SITE_KEYS = ("kind", "technology", "lon", "lat", *NUMBERS)


def check_keys(fields: Mapping[str, Any]) -> None:
    """InputError naming the first field that a scenario site does not have."""
    unknown = sorted(str(k) for k in set(fields) - set(SITE_KEYS))
    if unknown:
        raise InputError("unknown field of a scenario site", column=unknown[0],
                         expected=", ".join(SITE_KEYS), found=", ".join(unknown))


def _site_values(fields: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Checked column values of a scenario site; InputError names the field."""
    out: dict[str, Any] = {}
    check_keys(fields)
    if "kind" in fields or not partial:
        kind = fields.get("kind")
        if kind not in SCENARIO_KINDS:
            raise InputError("unknown site kind for a scenario", column="kind",
                             expected="one of " + ", ".join(SCENARIO_KINDS), found=repr(kind))
        out["kind"] = kind
    if fields.get("technology") not in (None, ""):
        if fields["technology"] not in TECHNOLOGIES:
            raise InputError("unknown technology", column="technology",
                             expected="one of " + ", ".join(TECHNOLOGIES),
                             found=repr(fields["technology"]))
        out["technology"] = fields["technology"]
    for name, low, high in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        if name in fields or not partial:
            out[name] = _number(fields.get(name), name, low=low, high=high)
    for name in NUMBERS:
        if fields.get(name) not in (None, ""):
            value = _number(fields[name], name)
            if name != "power_dbm" and value <= 0:
                raise InputError(f"{name} must be positive", column=name, expected="> 0",
                                 found=repr(fields[name]))
            out[name] = value
    return out


def _number(value: Any, name: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not math.isfinite(v) or not low <= v <= high:
        expected = f"a number from {low:g} to {high:g}" if math.isfinite(low) else "a number"
        raise InputError(f"{name} is not usable", column=name, expected=expected,
                         found=repr(value))
    return v


def create_scenario(engine: Engine, name: str, owner: str) -> int:
    """Create an empty scenario; returns its id."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InputError("a scenario needs a name", column="name",
                         expected="1 to 200 characters", found=repr(name))
    owner = (owner or "").strip()
    if not owner or len(owner) > 100:
        raise InputError("a scenario needs an owner", column="owner",
                         expected="a user name", found=repr(owner))
    with write_transaction(engine) as conn:
        result = conn.execute(insert(SCENARIOS).values(
            name=name, owner=owner, created=dt.datetime.now(dt.UTC)))
        return int(result.inserted_primary_key[0])


def rename_scenario(engine: Engine, scenario_id: int, name: str) -> None:
    """Give a scenario another name; NotFoundError when unknown."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise InputError("a scenario needs a name", column="name",
                         expected="1 to 200 characters", found=repr(name))
    with write_transaction(engine) as conn:
        done = conn.execute(update(SCENARIOS).where(SCENARIOS.c.id == scenario_id)
                            .values(name=name))
        if done.rowcount == 0:
            raise NotFoundError(f"no scenario {scenario_id}")


def list_scenarios(engine: Engine, owner: str | None = None) -> list[dict[str, Any]]:
    """Scenarios (id, name, owner, created), of one owner when given."""
    q = select(SCENARIOS).order_by(SCENARIOS.c.id)
    if owner is not None:
        q = q.where(SCENARIOS.c.owner == owner)
    with read_transaction(engine) as conn:
        return [_scenario(r) for r in conn.execute(q)]


def _scenario(row) -> dict[str, Any]:
    created = row.created
    return {"id": row.id, "name": row.name, "owner": row.owner,
            "created": created.isoformat() if created else None}


def _site(row) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "technology": row.technology, "lon": row.lon,
            "lat": row.lat, **{n: getattr(row, n) for n in NUMBERS}}


def get_scenario(engine: Engine, scenario_id: int) -> dict[str, Any]:
    """A scenario with its sites; NotFoundError when unknown."""
    with read_transaction(engine) as conn:
        row = conn.execute(select(SCENARIOS).where(SCENARIOS.c.id == scenario_id)).first()
        if row is None:
            raise NotFoundError(f"no scenario {scenario_id}")
        sites = conn.execute(select(SITES).where(SITES.c.scenario_id == scenario_id)
                             .order_by(SITES.c.id)).all()
    return {**_scenario(row), "sites": [_site(s) for s in sites]}


def add_site(engine: Engine, scenario_id: int, **fields: Any) -> int:
    """Add a hypothetical site (kind, lon, lat, optional technology and radio values)."""
    values = _site_values(fields)
    with write_transaction(engine) as conn:
        if conn.execute(select(SCENARIOS.c.id).where(SCENARIOS.c.id == scenario_id)
                        ).first() is None:
            raise NotFoundError(f"no scenario {scenario_id}")
        result = conn.execute(insert(SITES).values(scenario_id=scenario_id, **values))
        return int(result.inserted_primary_key[0])


def update_site(engine: Engine, scenario_id: int, site_id: int, **fields: Any) -> None:
    """Change fields of a scenario's site (e.g. ``lon``/``lat`` to move it)."""
    values = _site_values(fields, partial=True)
    with write_transaction(engine) as conn:
        done = conn.execute(update(SITES).where(SITES.c.id == site_id,
                                                SITES.c.scenario_id == scenario_id)
                            .values(**values))
        if done.rowcount == 0:
            raise NotFoundError(f"no site {site_id} in scenario {scenario_id}")


def move_site(engine: Engine, scenario_id: int, site_id: int, lon: float, lat: float) -> None:
    """Move a scenario's site."""
    update_site(engine, scenario_id, site_id, lon=lon, lat=lat)


def delete_site(engine: Engine, scenario_id: int, site_id: int) -> None:
    """Remove a site from a scenario."""
    with write_transaction(engine) as conn:
        done = conn.execute(delete(SITES).where(SITES.c.id == site_id,
                                                SITES.c.scenario_id == scenario_id))
        if done.rowcount == 0:
            raise NotFoundError(f"no site {site_id} in scenario {scenario_id}")


def delete_scenario(engine: Engine, scenario_id: int) -> None:
    """Delete a scenario and its sites."""
    with write_transaction(engine) as conn:
        conn.execute(delete(SITES).where(SITES.c.scenario_id == scenario_id))
        done = conn.execute(delete(SCENARIOS).where(SCENARIOS.c.id == scenario_id))
        if done.rowcount == 0:
            raise NotFoundError(f"no scenario {scenario_id}")


def summary(engine: Engine, scenario_id: int, whatif: WhatIf) -> dict[str, Any]:
    """Now -> scenario for a stored scenario (see :meth:`WhatIf.summary`)."""
    scenario = get_scenario(engine, scenario_id)
    return {"id": scenario["id"], "name": scenario["name"], "owner": scenario["owner"],
            **whatif.summary(scenario["sites"])}


def save_plan(engine: Engine, plan, name: str, owner: str) -> int:
    """A plan's chosen sites as a new scenario (to move them around); returns its id.

    Parameters
    ----------
    plan : geo_p2dd.planning.plan.Plan
    """
    sid = create_scenario(engine, name, owner)
    for r in plan.sites.itertuples():
        add_site(engine, sid, kind=r.kind, lon=float(r.lon), lat=float(r.lat),
                 **({"technology": "4G"} if r.kind == "bts" else {}))
    return sid


def compare(engine: Engine, scenario_ids: list[int], whatif: WhatIf) -> list[dict[str, Any]]:
    """Scenarios side by side: per scenario its name, site count and now -> scenario figures.

    Returns one row per scenario with ``id``, ``name``, ``sites``, ``people_unserved``,
    ``people_newly_served``, ``facilities_newly_served``, ``cost_idr``,
    ``villages_changing_class`` and ``cost_per_person_idr``.
    """
    rows = []
    for sid in scenario_ids:
        scenario = get_scenario(engine, sid)
        s = whatif.summary(scenario["sites"])
        people = s["people_newly_served"]
        rows.append({"id": sid, "name": scenario["name"], "sites": len(scenario["sites"]),
                     "people_unserved": s["people_unserved"], "people_newly_served": people,
                     "facilities_newly_served": s["facilities_newly_served"],
                     "cost_idr": s["cost_idr"], "villages_changing_class": len(s["changes"]),
                     "cost_per_person_idr": round(s["cost_idr"] / people) if people else None})
    return rows
