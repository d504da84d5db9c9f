"""The "Rekomendasi" section of the printed summary: the best next sites of a region.

:func:`recommendations` runs the planning library's :func:`~geo_p2dd.planning.plan.make_plan`
(no second optimiser) for the summarised kabupaten or kecamatan, within the
project's ``[planning] summary_max_sites`` and ``summary_budget_idr``, and returns
what the section prints: one row per site (rank, kampung, technology, people and
public facilities newly served, cost over the horizon, cost per person), the
totals and one sentence on how the sites were chosen. Every row is a model's
proposal (*usulan model, bukan register*): nothing here reads or writes the register.

A plan of a kabupaten takes seconds, so the plan's figures are kept in the project's
cache (``cache/summaries/recommendations_<region>_<key>.json``), keyed by the project's
data version (:func:`geo_p2dd.report.cache.data_version`: ``project.toml``, the
layers and the register) and the planning and cost settings; a repeated summary
reads them back. The kept figures do not depend on the language: labels and
numbers are formatted on reading.

The section never fails the summary: ``status`` says what it shows.

- ``"ok"``: the rows;
- ``"disabled"``: ``summary_max_sites = 0`` (no section at all);
- ``"per_kabupaten"``: a province or national summary (recommendations are made per
  kabupaten; no plan is run, so the province PDF stays fast);
- ``"failed"``: one line saying why (e.g. the analysis predates planning's columns).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from geo_p2dd.errors import GeoP2DDError
from geo_p2dd.i18n import format_int, format_pct, gettext
from geo_p2dd.io.atomic import atomic_write_bytes
from geo_p2dd.project import Project
from geo_p2dd.report.cache import SingleFlight, data_version
from geo_p2dd.schema import SITE_KINDS

log = logging.getLogger(__name__)

#: bump when what a kept recommendation means changes
CACHE_VERSION = 1
SUBDIR = "summaries"
#: the label every recommendation carries
LABEL = "model proposal, not the register"
#: levels a plan is made for (a province or the nation says "per kabupaten")
PLANNED_LEVELS = ("kabupaten", "kecamatan")
#: one plan per key at a time (a web page and its PDF asked together share it)
_flights = SingleFlight()
#: the figures of a plan's site kept per row
ROW_KEYS = ("rank", "candidate_id", "kind", "village_kode", "village", "lon", "lat",
            "people_new", "facilities_new", "cost_idr", "cost_per_person_idr")


def limits(project: Project) -> tuple[int, float | None]:
    """``(max_sites, budget)`` of the summary's recommendations (budget None: no limit)."""
    p = project.settings.planning
    budget = float(p.summary_budget_idr)
    return int(p.summary_max_sites), (budget if budget > 0 else None)


def cache_key(project: Project, region: str) -> str:
    """What a region's recommendations depend on: data version, region, settings."""
    s = project.settings.to_dict()
    ident = (CACHE_VERSION, data_version(project), region, limits(project),
             s["planning"], s["costs"])
    return hashlib.sha1(repr(ident).encode()).hexdigest()[:16]


def cache_path(project: Project, region: str) -> Path:
    """Where the recommendations of ``region`` for the current data and settings are kept."""
    directory = project.cache_dir() / SUBDIR
    key = cache_key(project, region)
    return directory / f"recommendations_{region.replace('.', '')}_{key}.json"


def plan_figures(project: Project, region: str) -> dict:
    """The plan of ``region`` within the summary's limits, as plain figures (no texts).

    Returns
    -------
    dict
        ``rows`` (one dict per site, :data:`ROW_KEYS`), ``totals`` (``sites``,
        ``people_new``, ``facilities_new``, ``cost_idr``, ``candidates``,
        ``horizon_years``, ``max_sites``, ``budget_idr``), ``solver``, ``status``, ``gap``.
    """
    from geo_p2dd.planning.plan import make_plan

    max_sites, budget = limits(project)
    plan = make_plan(project, region=region, max_sites=max_sites, budget=budget)
    rows = [{k: _plain(r[k]) for k in ROW_KEYS} for _, r in plan.sites.iterrows()]
    t = plan.totals
    return {"rows": rows,
            "totals": {k: _plain(t[k]) for k in ("sites", "people_new", "facilities_new",
                                                 "cost_idr", "candidates", "horizon_years",
                                                 "max_sites", "budget_idr")},
            "solver": plan.solution.solver, "status": plan.solution.status,
            "gap": _plain(plan.solution.gap),
            "analysis_stale": bool(plan.provenance.get("analysis_stale", False))}


def cached_figures(project: Project, region: str) -> dict:
    """:func:`plan_figures`, read from the project's cache when kept for the same key.

    Concurrent callers for the same key (a web page and its PDF) share one plan.
    """
    path = cache_path(project, region)
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # unreadable: plan again and replace it

    def make() -> dict:
        if path.is_file():  # kept by a flight that ended since we looked
            return json.loads(path.read_text(encoding="utf-8"))
        figures = plan_figures(project, region)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(figures).encode("utf-8"), fsync=False)
        for old in path.parent.glob(f"recommendations_{region.replace('.', '')}_*.json"):
            if old != path:
                old.unlink(missing_ok=True)
        return figures

    return _flights.do(str(path), make)


def recommendations(project: Project, region: str, level: str, lang: str = "id") -> dict:
    """The "Rekomendasi" section of the summary of ``region`` (``level`` of the region).

    Returns
    -------
    dict
        ``status`` (ok, disabled, per_kabupaten, failed), ``label``, and for ``ok``:
        ``rows`` (figures formatted for ``lang``), ``totals``, ``method`` (one sentence);
        for ``per_kabupaten`` and ``failed``: ``message`` (one line).
    """
    out = {"status": "disabled", "label": gettext(LABEL, lang)}
    max_sites, _ = limits(project)
    if max_sites <= 0:
        return out
    if level not in PLANNED_LEVELS:
        out.update(status="per_kabupaten", message=gettext(
            "Recommendations are made per kabupaten: see the summary of each kabupaten.",
            lang))
        return out
    try:
        figures = cached_figures(project, region)
    except GeoP2DDError as exc:  # our own errors say why in words meant for users
        reason = str(exc)
        if "predates planning" in reason:  # the common case, said in the summary's language
            message = gettext("No recommendations: the stored analysis predates planning; "
                              "run 'geo-p2dd analyze' again.", lang)
        else:
            message = gettext("No recommendations: %(reason)s.", lang,
                              reason=reason.rstrip("."))
        return {**out, "status": "failed", "message": message}
    except Exception:  # noqa: BLE001 - the summary is printed without the section
        log.exception("recommendations of %s failed", region)
        return {**out, "status": "failed",
                "message": gettext("No recommendations: the plan could not be computed "
                                   "(the error is in the server's log).", lang)}
    return {**out, "status": "ok", **present(figures, lang)}


def present(figures: dict, lang: str) -> dict:
    """Rows, totals and the method sentence of kept ``figures`` as printed in ``lang``."""
    from geo_p2dd.budget import format_idr

    rows = [{**r, "technology": SITE_KINDS.label(r["kind"], lang),
             "people": format_int(r["people_new"], lang),
             "facilities": format_int(r["facilities_new"], lang),
             "cost": format_idr(r["cost_idr"], lang),
             "per_person": format_idr(r["cost_per_person_idr"], lang)}
            for r in figures["rows"]]
    t = figures["totals"]
    per_person = t["cost_idr"] / t["people_new"] if t["people_new"] else None
    totals = {**t, "people": format_int(t["people_new"], lang),
              "facilities": format_int(t["facilities_new"], lang),
              "cost": format_idr(t["cost_idr"], lang),
              "per_person": format_idr(per_person, lang)}
    limit = gettext("at most %(n)s sites", lang, n=format_int(t["max_sites"], lang))
    if t.get("budget_idr"):
        limit += gettext(" and a budget of %(idr)s", lang,
                         idr=format_idr(t["budget_idr"], lang))
    solver = {"highs": "HiGHS"}.get(figures["solver"], figures["solver"])
    gap = figures.get("gap")
    method = gettext(
        "Chosen as a budgeted maximum coverage problem (%(limit)s, cost over %(years)s "
        "years) solved by %(solver)s among %(n)s candidate sites, optimality gap "
        "%(gap)s; the installed and pipeline sites of the register are locked in, so "
        "only people and facilities they do not serve count.", lang,
        limit=limit, years=format_int(t["horizon_years"], lang), solver=solver,
        n=format_int(t["candidates"], lang),
        gap="–" if gap is None else format_pct(gap, lang, 2))
    if figures.get("analysis_stale"):
        method += " " + gettext("The stored analysis is older than the data; run the "
                                "analysis again for current recommendations.", lang)
    return {"rows": rows, "totals": totals, "method": method}


def _plain(value):
    """A JSON-ready value (numpy scalars as Python numbers, NaN as None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
