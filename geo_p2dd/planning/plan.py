"""A plan for a project: where to build next within a site count and/or a budget.

``make_plan`` reads the stored analysis (:func:`~geo_p2dd.planning.demand.load_baseline`),
generates candidates (:mod:`~geo_p2dd.planning.candidates`), computes each
candidate's reach with the analysis's models (:mod:`~geo_p2dd.planning.reach`),
prices it (:mod:`~geo_p2dd.planning.costs`), solves the budgeted maximum-coverage
problem with HiGHS (:mod:`~geo_p2dd.planning.optimise`, greedy as the baseline)
and reports the chosen sites, ranked by the people each adds in turn, with the
villages whose class changes (:mod:`~geo_p2dd.planning.whatif`).

A plan is a proposal: it is never written into the register.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geo_p2dd.io.atomic import atomic_path
from geo_p2dd.planning.candidates import candidates as make_candidates
from geo_p2dd.planning.costs import PLAN_KINDS, check_kinds, site_cost
from geo_p2dd.planning.demand import Baseline, load_baseline
from geo_p2dd.planning.optimise import (
    Instance,
    Solution,
    check_limits,
    solve_greedy,
    solve_mip,
)
from geo_p2dd.planning.reach import site_reach
from geo_p2dd.planning.whatif import WhatIf
from geo_p2dd.project import Project, now_iso
from geo_p2dd.schema import PUBLIC_FACILITIES

#: the label every plan output carries (a proposal, not the register)
PLAN_LABEL = "rencana usulan (bukan register)"


@dataclass
class Plan:
    """The chosen sites, the totals and how the plan was found."""

    sites: pd.DataFrame
    totals: dict
    changes: list[dict]
    solution: Solution
    greedy: Solution
    instance: Instance
    provenance: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``plan --json`` document."""
        cols = ["rank", "candidate_id", "lon", "lat", "kind", "village_kode", "village",
                "people_new", "facilities_new", "cost_idr", "cost_per_person_idr"]
        return {
            "sites": [{k: _plain(r[k]) for k in cols} for _, r in self.sites.iterrows()],
            "people_new": self.totals["people_new"],
            "facilities_new": self.totals["facilities_new"],
            "cost_idr": self.totals["cost_idr"],
            "objective": self.solution.objective,
            "gap": self.solution.gap,
            "solver": self.solution.solver,
            "status": self.solution.status,
            "greedy_objective": self.greedy.objective,
            "villages_changing_class": self.changes,
            "label": PLAN_LABEL,
            "provenance": self.provenance,
        }


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


#: bump when what a cached reach means changes
REACH_CACHE_VERSION = 2
#: plan reach files kept in a project's cache (most recently used first)
REACH_CACHE_KEEP = 4


def _reach_key(baseline: Baseline, cand: pd.DataFrame) -> str:
    """Everything a candidate's reach depends on: grid, DEM file, settings, points, sites."""
    s = baseline.settings.to_dict()
    dem = baseline.dem_path
    st = os.stat(dem) if dem is not None else None
    ident = (REACH_CACHE_VERSION, baseline.grid.to_dict(),
             None if st is None else (str(dem), st.st_ino, st.st_size, st.st_mtime_ns),
             s["propagation"], s["thresholds"], s["service_radius_m"])
    h = hashlib.sha1(repr(ident).encode())
    h.update(np.ascontiguousarray(baseline.xy).tobytes())
    loc = baseline.locations  # field evidence decides where a tower's model is believed
    h.update(np.ascontiguousarray(loc[["modelled_4g_code", "measured_4g_code"]].to_numpy(
        np.int64)).tobytes())
    h.update(cand["kind"].astype(str).str.cat(sep=",").encode())
    h.update(np.ascontiguousarray(cand[["x", "y"]].to_numpy(float)).tobytes())
    return h.hexdigest()[:20]


def candidate_reaches(baseline: Baseline, cand: pd.DataFrame,
                      progress: Callable[[str, float], None] | None = None
                      ) -> list[np.ndarray]:
    """The locations each candidate reaches (positions), kept in the project's cache.

    Computing the towers' reach is most of a plan's time; a second plan with the
    same candidates, grid, DEM and settings (another budget or site count) reads
    them back from ``plan-reach-<key>.npz``.
    """
    path = None
    if baseline.cache_dir is not None:
        path = Path(baseline.cache_dir) / f"plan-reach-{_reach_key(baseline, cand)}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    flat, starts = z["flat"], z["starts"]
                if len(starts) == len(cand) + 1:
                    os.utime(path)
                    return [flat[starts[j]:starts[j + 1]] for j in range(len(cand))]
            except (OSError, ValueError, KeyError, EOFError):
                pass  # unreadable: compute again and replace it
    xy = baseline.xy
    dem = baseline.dem if (cand["kind"] == "bts").any() else None
    out = []
    for j, r in enumerate(cand.itertuples()):
        out.append(site_reach({"kind": r.kind, "x": r.x, "y": r.y}, xy, baseline.grid, dem,
                              baseline.settings, believe=baseline.believed_4g))
        if progress is not None and (j % 10 == 0 or j == len(cand) - 1):
            progress("reach", (j + 1) / len(cand))
    if path is not None:
        starts = np.concatenate([[0], np.cumsum([len(h) for h in out])]).astype(np.int64)
        flat = np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)
        with atomic_path(path, fsync=False) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, flat=flat, starts=starts)
        files = sorted(path.parent.glob("plan-reach-*.npz"), key=lambda p: p.stat().st_mtime,
                       reverse=True)
        for old in files[REACH_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    return out


def build_instance(baseline: Baseline, kinds: tuple[str, ...], years: int,
                   progress: Callable[[str, float], None] | None = None,
                   ) -> tuple[Instance, pd.DataFrame, dict]:
    """Candidates, their reach over the demand locations and their cost, as an Instance."""
    t0 = time.perf_counter()
    cand = make_candidates(baseline, kinds)
    t1 = time.perf_counter()
    loc = baseline.locations
    demand_pos = baseline.demand
    demand_pos = demand_pos[loc["weight"].to_numpy()[demand_pos] > 0]
    row_of = np.full(len(loc), -1, dtype=np.int64)
    row_of[demand_pos] = np.arange(len(demand_pos))
    reaches = candidate_reaches(baseline, cand, progress)
    cover = []
    for hit in reaches:
        rows = row_of[hit]
        cover.append(rows[rows >= 0])
    costs = np.array([site_cost(k, baseline.settings.costs, years) for k in cand["kind"]],
                     dtype=float)
    instance = Instance(loc["weight"].to_numpy(float)[demand_pos], costs, cover,
                        demand_ids=list(loc["location_id"].to_numpy()[demand_pos].astype(str)),
                        candidate_ids=list(cand["candidate_id"].astype(str)),
                        candidate_kinds=list(cand["kind"].astype(str)))
    cand["location_pos"] = [demand_pos[c] for c in cover]
    return instance, cand, {"candidates": t1 - t0, "reach": time.perf_counter() - t1}


def make_plan(project: Project, *, region: str | None = None, max_sites: int | None = None,
              budget: float | None = None, technologies: str | tuple[str, ...] = PLAN_KINDS,
              horizon_years: int | None = None, time_limit_s: float | None = None,
              progress: Callable[[str, float], None] | None = None) -> Plan:
    """The best set of new sites for ``project`` within ``max_sites`` and/or ``budget``.

    Parameters
    ----------
    project : Project
        An analysed project.
    region : str, optional
        Plan for this kecamatan or kabupaten code only.
    max_sites : int, optional
        At most this many new sites.
    budget : float, optional
        At most this total cost (IDR, capex + horizon x opex).
    technologies : str or tuple
        Kinds of site to consider (``"starlink,bts"``).
    horizon_years : int, optional
        Years of opex counted (default ``[planning] horizon_years``).
    time_limit_s : float, optional
        Solver time limit (default ``[planning] time_limit_s``).
    progress : callable, optional
        Called as ``progress(stage, fraction)`` (stages: candidates, reach, solve, done).

    Returns
    -------
    Plan
    """
    kinds = check_kinds(technologies)
    check_limits(max_sites, budget)
    step = progress or (lambda stage, fraction: None)
    step("candidates", 0.0)
    baseline = load_baseline(project, region)
    p = baseline.settings.planning
    years = p.horizon_years if horizon_years is None else int(horizon_years)
    instance, cand, timings = build_instance(baseline, kinds, years, progress)
    step("solve", 0.0)
    t0 = time.perf_counter()
    sol = solve_mip(instance, max_sites=max_sites, budget=budget,
                    time_limit_s=p.time_limit_s if time_limit_s is None else time_limit_s)
    timings["solve"] = time.perf_counter() - t0
    greedy = solve_greedy(instance, max_sites=max_sites, budget=budget)
    order = _rank(instance, sol.chosen)
    loc = baseline.locations
    settle = (loc["kind"] == "settlement").to_numpy()
    fac = loc["kind"].isin(PUBLIC_FACILITIES).to_numpy()
    people = pd.to_numeric(loc["people"], errors="coerce").fillna(0.0).to_numpy(float)
    weight = loc["weight"].to_numpy(float)
    taken = np.zeros(len(loc), dtype=bool)
    rows = []
    names = baseline.villages.get("nama", pd.Series(dtype=object))
    for rank, j in enumerate(order, start=1):
        c = cand.iloc[j]
        new = np.zeros(len(loc), dtype=bool)
        new[c["location_pos"]] = True
        gained = new & ~taken
        taken |= new
        p_new = round(float(people[gained & settle].sum()), 1)
        cost = float(instance.costs[j])
        rows.append({"rank": rank, "candidate_id": c["candidate_id"], "kind": c["kind"],
                     "source": c["source"], "lon": round(float(c["lon"]), 6),
                     "lat": round(float(c["lat"]), 6), "village_kode": c["village_kode"],
                     "village": str(names.get(c["village_kode"], "")),
                     "people_new": p_new, "facilities_new": int((gained & fac).sum()),
                     "weight_new": round(float(weight[gained].sum()), 2),
                     "cost_idr": cost,
                     "cost_per_person_idr": round(cost / p_new) if p_new > 0 else None})
    sites = pd.DataFrame(rows, columns=["rank", "candidate_id", "kind", "source", "lon", "lat",
                                        "village_kode", "village", "people_new",
                                        "facilities_new", "weight_new", "cost_idr",
                                        "cost_per_person_idr"])
    whatif = WhatIf(baseline)
    summary = whatif.summary(
        [{"kind": r["kind"], "lon": r["lon"], "lat": r["lat"]} for _, r in sites.iterrows()],
        horizon_years=years) if len(sites) else None
    totals = {
        "sites": len(sites),
        "people_new": round(float(people[taken & settle].sum()), 1),
        "facilities_new": int((taken & fac).sum()),
        "cost_idr": float(instance.costs[order].sum()) if order else 0.0,
        "people_unserved_pipeline": round(float(people[settle & loc["demand"].to_numpy()
                                                       & (loc["status"] != "unknown"
                                                          ).to_numpy()].sum()), 1),
        "candidates": instance.n_candidates, "demand_locations": instance.n_demand,
        "max_sites": max_sites, "budget_idr": budget, "horizon_years": years,
        "technologies": list(kinds),
    }
    provenance = {**baseline.provenance, "created": now_iso(), "label": PLAN_LABEL,
                  "solver": sol.solver, "status": sol.status, "gap": sol.gap,
                  "costs": baseline.settings.to_dict()["costs"],
                  "planning": baseline.settings.to_dict()["planning"]}
    step("done", 1.0)
    return Plan(sites, totals, summary["changes"] if summary else [], sol, greedy, instance,
                provenance, timings)


def _rank(instance: Instance, chosen: list[int]) -> list[int]:
    """``chosen`` in greedy order of the weight each adds (ties by position)."""
    left = list(chosen)
    reached = np.zeros(instance.n_demand, dtype=bool)
    w = np.asarray(instance.weights, dtype=float)
    out = []
    while left:
        gains = [w[np.asarray(instance.cover[j], dtype=np.int64)][
            ~reached[np.asarray(instance.cover[j], dtype=np.int64)]].sum() for j in left]
        k = int(np.argmax(gains))
        j = left.pop(k)
        out.append(j)
        reached[np.asarray(instance.cover[j], dtype=np.int64)] = True
    return out
