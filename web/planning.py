"""Scenarios over HTTP: a thin adapter over :mod:`geo_p2dd.planning.scenarios`.

``POST /api/scenarios`` ``{"name"}`` -> 201 ``{"id"}``;
``POST /api/scenarios/<id>/sites`` ``{"lon", "lat", "kind", ...}`` -> 201 with the
scenario's summary (``people_unserved``, ``people_newly_served``,
``villages`` ``{kode: gap_class}``, ``cost_idr``, ...) and the new ``site_id``;
``PATCH /api/scenarios/<id>/sites/<site>`` moves or changes a site (200, summary);
``DELETE`` a site (200, summary) or the scenario (204); ``GET /api/scenarios`` and
``GET /api/scenarios/<id>`` (the sites and the summary).

Not signed in yet: the owner is the JSON's ``owner`` (else "anonymous"); the sign-in
wires the signed-in user here. One :class:`~geo_p2dd.planning.whatif.WhatIf` per
project generation is kept, so a change recomputes only the changed site's reach.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, current_app, request
from sqlalchemy import Engine

from geo_p2dd.errors import InputError
from geo_p2dd.planning import scenarios as sc
from geo_p2dd.planning.demand import load_baseline
from geo_p2dd.planning.whatif import WhatIf
from geo_p2dd.registry.db import open_database

bp = Blueprint("planning", __name__)

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_whatifs: dict[str, tuple[tuple, WhatIf]] = {}


def _engine() -> Engine:
    path = current_app.config["PROJECT"]
    with _lock:
        engine = _engines.get(path)
        if engine is None:
            engine = _engines[path] = open_database(path)
        return engine


def _whatif() -> WhatIf:
    from web.context import current_view

    view = current_view()
    key = str(view.project.path)
    with _lock:
        hit = _whatifs.get(key)
        if hit is not None and hit[0] == view.stamp:
            return hit[1]
    whatif = WhatIf(load_baseline(view.project))
    with _lock:
        _whatifs[key] = (view.stamp, whatif)
    return whatif


def _json(*, site: bool = False) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object", expected='{"name": ...}',
                         found=(request.content_type or "no content type"))
    if site:
        sc.check_keys(body)  # only a site's fields reach the library as keywords
    return body


@bp.post("/api/scenarios")
def create():
    body = _json()
    owner = body.get("owner") or "anonymous"
    return {"id": sc.create_scenario(_engine(), body.get("name", ""), str(owner))}, 201


@bp.get("/api/scenarios")
def index():
    return {"scenarios": sc.list_scenarios(_engine(), request.args.get("owner"))}


@bp.get("/api/scenarios/<int:scenario_id>")
def show(scenario_id: int):
    engine = _engine()
    scenario = sc.get_scenario(engine, scenario_id)
    return {**scenario, "summary": sc.summary(engine, scenario_id, _whatif())}


@bp.delete("/api/scenarios/<int:scenario_id>")
def delete(scenario_id: int):
    sc.delete_scenario(_engine(), scenario_id)
    return "", 204


@bp.post("/api/scenarios/<int:scenario_id>/sites")
def add_site(scenario_id: int):
    engine = _engine()
    site_id = sc.add_site(engine, scenario_id, **_json(site=True))
    return {"site_id": site_id, **sc.summary(engine, scenario_id, _whatif())}, 201


@bp.patch("/api/scenarios/<int:scenario_id>/sites/<int:site_id>")
def change_site(scenario_id: int, site_id: int):
    engine = _engine()
    sc.update_site(engine, scenario_id, site_id, **_json(site=True))
    return sc.summary(engine, scenario_id, _whatif())


@bp.delete("/api/scenarios/<int:scenario_id>/sites/<int:site_id>")
def delete_site(scenario_id: int, site_id: int):
    engine = _engine()
    sc.delete_site(engine, scenario_id, site_id)
    return sc.summary(engine, scenario_id, _whatif())
