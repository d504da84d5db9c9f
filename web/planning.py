"""Scenarios over HTTP: a thin adapter over :mod:`geo_p2dd.planning.scenarios`.

``POST /api/scenarios`` ``{"name"}`` -> 201 ``{"id"}``;
``POST /api/scenarios/<id>/sites`` ``{"lon", "lat", "kind", ...}`` -> 201 with the
scenario's summary (``people_unserved``, ``people_newly_served``,
``villages`` ``{kode: gap_class}``, ``cost_idr``, ...) and the new ``site_id``;
``PATCH /api/scenarios/<id>/sites/<site>`` moves or changes a site (200, summary);
``DELETE`` a site (200, summary) or the scenario (204); ``GET /api/scenarios`` and
``GET /api/scenarios/<id>`` (the sites and the summary); ``PATCH /api/scenarios/<id>``
``{"name"}`` renames it; ``GET /api/scenarios/compare?ids=1,2`` puts scenarios side by
side (:func:`~geo_p2dd.planning.scenarios.compare`).

``POST /api/plans`` ``{"max_sites", "budget", "technologies", "region",
"horizon_years"}`` -> 202 ``{"id"}`` and runs the plan in the background (one at a
time); ``GET /api/plans/<id>`` -> ``{"status": "queued"|"running"|"done"|"failed",
"stage", "progress", "plan"}`` (``plan`` as ``geo-p2dd plan --json`` when done).
``POST /api/plans/<id>/scenario`` ``{"name"}`` saves a finished plan's sites as a
scenario (201 ``{"id"}``); ``POST /api/plans/<id>/propose`` ``{"candidate_ids": [...]}``
adds the chosen sites to the register as ``proposed`` (usulan) under the planner's
agency, through the register's create path (history source ``plan``, the planner's
name): editors for their own agency and admins only (403 with the reason otherwise).

Every route needs a signed-in user (session with CSRF token, or an API token): a
scenario belongs to the user who made it; only they (or an admin) change or delete it.
Plans are started by any signed-in user. One :class:`~geo_p2dd.planning.whatif.WhatIf` per
project generation (and ``?region=``, for a kabupaten of a national project) is kept, so a
change recomputes only the changed site's reach and the region's figures.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, current_app, request
from flask_login import current_user
from sqlalchemy import Engine
from werkzeug.exceptions import Conflict, Forbidden

from geo_p2dd.codes import in_region, normalise_code
from geo_p2dd.errors import GeoP2DDError, InputError, NotFoundError
from geo_p2dd.planning import scenarios as sc
from geo_p2dd.planning.costs import check_kinds
from geo_p2dd.planning.demand import load_baseline
from geo_p2dd.planning.optimise import check_limits
from geo_p2dd.planning.plan import make_plan
from geo_p2dd.planning.whatif import WhatIf
from web.auth import check_may_edit, register_engine, require

bp = Blueprint("planning", __name__)
log = logging.getLogger(__name__)

_lock = threading.Lock()
#: what-if baselines kept per project and region (most recently used last)
WHATIF_REGIONS_KEPT = 8
_whatifs: OrderedDict[tuple[str, str], tuple[tuple, WhatIf]] = OrderedDict()


def _engine() -> Engine:
    """The register database that holds the scenarios (the app's one engine of it)."""
    return register_engine()


def _region() -> str | None:
    """``?region=`` of a what-if (a kabupaten or kecamatan code), None for the project."""
    region = request.args.get("region")
    return normalise_code(region) if region else None


def _whatif() -> WhatIf:
    """The what-if of the project (or of ``?region=``), kept per project version and region.

    A kabupaten of a national project is planned with its own baseline: a change
    then recomputes that region's figures only, not the whole country's.
    """
    from web.context import current_view

    view = current_view()
    region = _region()
    key = (str(view.project.path), region or "")
    with _lock:
        hit = _whatifs.get(key)
        if hit is not None and hit[0] == view.stamp:
            _whatifs.move_to_end(key)
            return hit[1]
    if region and not in_region(view.villages["kode"], region).any():
        raise NotFoundError(f"no village of the project lies in region {region}")
    # the view's tables (already in memory): a region is sliced, not read again
    whatif = WhatIf(load_baseline(view.project, region, tables=(view.locations, view.results)))
    with _lock:
        _whatifs[key] = (view.stamp, whatif)
        _whatifs.move_to_end(key)
        while len(_whatifs) > WHATIF_REGIONS_KEPT:
            _whatifs.popitem(last=False)
    return whatif


def _json(*, site: bool = False) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object", expected='{"name": ...}',
                         found=(request.content_type or "no content type"))
    if site:
        sc.check_keys(body)  # only a site's fields reach the library as keywords
    return body


def _own(engine: Engine, scenario_id: int) -> None:
    """Refuse (403) a change to another user's scenario (admins may)."""
    owner = sc.get_scenario(engine, scenario_id)["owner"]
    if owner != current_user.name and current_user.role != "admin":
        raise Forbidden(f"scenario {scenario_id} belongs to {owner}")


@bp.post("/api/scenarios")
@require()
def create():
    body = _json()
    return {"id": sc.create_scenario(_engine(), body.get("name", ""), current_user.name)}, 201


@bp.get("/api/scenarios")
@require()
def index():
    return {"scenarios": sc.list_scenarios(_engine(), request.args.get("owner"))}


@bp.get("/api/scenarios/<int:scenario_id>")
@require()
def show(scenario_id: int):
    engine = _engine()
    scenario = sc.get_scenario(engine, scenario_id)
    return {**scenario, "summary": sc.summary(engine, scenario_id, _whatif())}


@bp.patch("/api/scenarios/<int:scenario_id>")
@require()
def rename(scenario_id: int):
    engine = _engine()
    _own(engine, scenario_id)
    sc.rename_scenario(engine, scenario_id, _json().get("name", ""))
    return sc.get_scenario(engine, scenario_id)


@bp.get("/api/scenarios/compare")
@require()
def compare():
    try:
        ids = [int(v) for v in request.args.get("ids", "").split(",") if v.strip()]
    except ValueError:
        raise InputError("ids must be scenario numbers", column="ids",
                         expected="1,2", found=request.args.get("ids")) from None
    if not 1 <= len(ids) <= 6:
        raise InputError("compare one to six scenarios", column="ids",
                         expected="1 to 6 ids", found=str(len(ids)))
    return {"scenarios": sc.compare(_engine(), ids, _whatif())}


@bp.delete("/api/scenarios/<int:scenario_id>")
@require()
def delete(scenario_id: int):
    _own(_engine(), scenario_id)
    sc.delete_scenario(_engine(), scenario_id)
    return "", 204


@bp.post("/api/scenarios/<int:scenario_id>/sites")
@require()
def add_site(scenario_id: int):
    engine = _engine()
    _own(engine, scenario_id)
    site_id = sc.add_site(engine, scenario_id, **_json(site=True))
    return {"site_id": site_id, **sc.summary(engine, scenario_id, _whatif())}, 201


@bp.patch("/api/scenarios/<int:scenario_id>/sites/<int:site_id>")
@require()
def change_site(scenario_id: int, site_id: int):
    engine = _engine()
    _own(engine, scenario_id)
    sc.update_site(engine, scenario_id, site_id, **_json(site=True))
    return sc.summary(engine, scenario_id, _whatif())


@bp.delete("/api/scenarios/<int:scenario_id>/sites/<int:site_id>")
@require()
def delete_site(scenario_id: int, site_id: int):
    engine = _engine()
    _own(engine, scenario_id)
    sc.delete_site(engine, scenario_id, site_id)
    return sc.summary(engine, scenario_id, _whatif())


# --- plans in the background ---------------------------------------------------------------

#: plan jobs kept (oldest dropped first)
PLAN_JOBS_KEPT = 20
_plans: dict[str, dict[str, Any]] = {}
_runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan")


def _optional_number(body: dict, name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            kind is int and not float(value).is_integer()):
        raise InputError(f"{name} must be a number", column=name,
                         expected="a whole number" if kind is int else "a number",
                         found=repr(value))
    return kind(value)


def _run_plan(job: dict[str, Any], path: str, params: dict[str, Any]) -> None:
    from geo_p2dd.project import Project

    def progress(stage: str, fraction: float) -> None:
        job["stage"], job["progress"] = stage, round(float(fraction), 3)

    job["status"] = "running"
    try:
        plan = make_plan(Project(path), progress=progress, **params)
        job["plan"] = plan.to_json()
        job["status"] = "done"
    except GeoP2DDError as exc:  # bad input or project: the user's message, no paths
        from web.errors import without_paths

        job["status"], job["error"] = "failed", without_paths(str(exc), path, "project")
    except Exception:  # noqa: BLE001 - a bug of ours: logged, never shown
        log.exception("plan %s failed", job["id"])
        job["status"], job["error"] = "failed", "unexpected error (logged on the server)"


@bp.post("/api/plans")
@require()
def start_plan():
    body = _json()
    params = {"max_sites": _optional_number(body, "max_sites", int),
              "budget": _optional_number(body, "budget", float),
              "horizon_years": _optional_number(body, "horizon_years", int),
              "technologies": check_kinds(body.get("technologies") or
                                          "starlink,vsat,bts,wifi"),
              "region": body.get("region") or None}
    check_limits(params["max_sites"], params["budget"])
    job = {"id": uuid.uuid4().hex[:12], "status": "queued", "stage": "", "progress": 0.0,
           "owner": current_user.name}
    with _lock:
        _plans[job["id"]] = job
        while len(_plans) > PLAN_JOBS_KEPT:
            _plans.pop(next(iter(_plans)))
    _runner.submit(_run_plan, job, current_app.config["PROJECT"], params)
    return {"id": job["id"], "status": job["status"]}, 202, {
        "Location": f"/api/plans/{job['id']}"}


@bp.get("/api/plans/<job_id>")
@require()
def plan_status(job_id: str):
    return {k: v for k, v in _plan_job(job_id).items() if not k.startswith("_")}


def _plan_job(job_id: str) -> dict[str, Any]:
    """The plan ``job_id`` of the signed-in user (admins: anyone's); 404, 403."""
    job = _plans.get(job_id)
    if job is None:
        raise NotFoundError(f"no plan {job_id}")
    if job["owner"] != current_user.name and current_user.role != "admin":
        raise Forbidden(f"plan {job_id} belongs to {job['owner']}")
    return job


def _done_plan(job_id: str) -> dict[str, Any]:
    job = _plan_job(job_id)
    if job["status"] != "done":
        raise InputError("the plan has not finished", column="status", expected="done",
                         found=job["status"])
    return job["plan"]


def _chosen(plan: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's sites named by ``candidate_ids`` (all when the key is absent)."""
    ids = body.get("candidate_ids")
    sites = plan["sites"]
    if ids is None:
        return sites
    by_id = {str(s["candidate_id"]): s for s in sites}
    if not isinstance(ids, list) or not ids:
        raise InputError("candidate_ids must be a list of the plan's candidate ids",
                         column="candidate_ids", expected="a non-empty list", found=repr(ids))
    unknown = [str(i) for i in ids if str(i) not in by_id]
    if unknown:
        raise InputError("not a site of this plan", column="candidate_ids",
                         expected="ids of the plan's sites", found=", ".join(unknown[:5]))
    return [by_id[str(i)] for i in dict.fromkeys(str(i) for i in ids)]


@bp.post("/api/plans/<job_id>/scenario")
@require()
def plan_to_scenario(job_id: str):
    plan = _done_plan(job_id)
    body = _json()
    sites = _chosen(plan, body)
    engine = _engine()
    sid = sc.create_scenario(engine, body.get("name") or f"Rencana {job_id}", current_user.name)
    for s in sites:
        sc.add_site(engine, sid, kind=s["kind"], lon=float(s["lon"]), lat=float(s["lat"]),
                    **({"technology": "4G"} if s["kind"] == "bts" else {}))
    return {"id": sid}, 201


@bp.post("/api/plans/<job_id>/propose")
@require()
def propose(job_id: str):
    from geo_p2dd.registry import repository as repo
    from geo_p2dd.schema import SITE_KINDS

    agency = current_user.agency
    check_may_edit(agency)  # editors of their own agency, admins; 403 says why
    job = _plan_job(job_id)
    plan = _done_plan(job_id)
    sites = _chosen(plan, _json())
    rows = []
    for s in sites:
        kind = s["kind"]
        place = s.get("village") or s.get("village_kode") or ""
        values = {"kind": kind, "status": "proposed", "lon": float(s["lon"]),
                  "lat": float(s["lat"]), "village_kode": s.get("village_kode") or None,
                  "agency": agency or None,
                  "name": f"Usulan {SITE_KINDS.label(kind, 'id')} {place}".strip(),
                  "notes": f"rencana {job_id}, kandidat {s['candidate_id']}"}
        if kind == "bts":
            values["technology"] = "4G"
        rows.append(values)
    chosen = {str(s["candidate_id"]) for s in sites}
    with _lock:  # each of a plan's sites is proposed once: again (a double click) is 409
        again = chosen & (job.setdefault("proposed", {}).keys() | job.get("_proposing", set()))
        if again:
            raise Conflict(f"plan {job_id}: already proposed: candidates "
                           f"{', '.join(sorted(again))}")
        job.setdefault("_proposing", set()).update(chosen)  # "_": not in the status
    try:  # one transaction: every chosen site, or none
        made = [site["id"] for site in repo.create_sites(
            register_engine(), rows, user=current_user.name, source="plan")]
        with _lock:
            job["proposed"].update(zip((str(s["candidate_id"]) for s in sites), made,
                                       strict=True))
    finally:
        with _lock:
            job["_proposing"] -= chosen
    return {"site_ids": made}, 201
