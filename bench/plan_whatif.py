"""What-if latency and plans on a Mahakam Ulu-sized project, against their named peers.

What-if: the time to add or move one site in a scenario (``WhatIf.summary`` after
the change: the changed site's reach plus the summary) against the named peer,
recomputing the whole analysis (``analyze_project(write=False)``), which is what
answering the same question took before (copy, import the site, re-analyse).
Target: <= 1 s per change.

Plan: ``make_plan --max-sites 5`` (and a budget), HiGHS against PuLP's bundled
CBC on the same instance (same objective, time side by side) and against the
greedy baseline (people newly served per rupiah).

Real Mahakam Ulu from ``../shared/data`` when present, else the sample project; or an
analysed project given with ``--project`` (e.g. the national project symlinked into
``bench/out``), then ``--region`` times a kabupaten of it (target <= 2 s per change) and
the named peer is the same what-if over the whole project (one baseline for all
regions, as the web kept it before the per-region cache).

    .venv/bin/python bench/plan_whatif.py [--changes 20]
    .venv/bin/python bench/plan_whatif.py --project bench/out/national_project_h24 \
        --region 64.11 --changes 20 --no-plan
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo_p2dd.analysis import analyze_project  # noqa: E402
from geo_p2dd.planning.demand import load_baseline  # noqa: E402
from geo_p2dd.planning.optimise import solve_greedy, solve_mip  # noqa: E402
from geo_p2dd.planning.plan import build_instance  # noqa: E402
from geo_p2dd.planning.whatif import WhatIf  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def build_project(workdir: Path):
    warnings.simplefilter("ignore")
    if (DATA / "boundaries" / "mahakam_ulu.gpkg").exists():
        from geo_p2dd.imports import init_project

        project, _ = init_project(
            workdir / "mahakam_ulu", region="64.11",
            villages=DATA / "boundaries" / "mahakam_ulu.gpkg",
            population=DATA / "population" / "mahakam_ulu_census2010.csv",
            population_raster=DATA / "population" / "ghs_pop_1km_kalimantan_timur.tif",
            towers=DATA / "towers" / "opencellid_mcc510_subset.csv",
            dem=DATA / "terrain" / "mahakam_ulu_elevation_5arcmin.tif")
        name = "real Mahakam Ulu (64.11)"
    else:
        from geo_p2dd.sample import build_sample

        project = build_sample(workdir / "sample")
        name = "sample project (../shared/data absent)"
    analyze_project(project)
    return project, name


def pulp_solve(instance, max_sites, budget):
    import pulp

    t0 = time.perf_counter()
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [prob.add_variable(f"x{j}", cat="Binary") for j in range(instance.n_candidates)]
    y = [prob.add_variable(f"y{i}", 0, 1) for i in range(instance.n_demand)]
    prob += pulp.lpSum(float(w) * y[i] for i, w in enumerate(instance.weights))
    covers: dict[int, list[int]] = {}
    for j, c in enumerate(instance.cover):
        for i in np.unique(c):
            covers.setdefault(int(i), []).append(j)
    for i in range(instance.n_demand):
        prob += y[i] <= pulp.lpSum(x[j] for j in covers.get(i, []))
    if max_sites is not None:
        prob += pulp.lpSum(x) <= max_sites
    if budget is not None:
        prob += pulp.lpSum(float(c) * x[j] for j, c in enumerate(instance.costs)) <= budget
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = pulp.PULP_CBC_CMD(msg=False)
    prob.solve(solver)
    return float(pulp.value(prob.objective) or 0.0), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=20, help="site additions/moves timed")
    ap.add_argument("--peer-runs", type=int, default=3, help="full analyses timed")
    ap.add_argument("--project", type=Path, help="an analysed project (else build one)")
    ap.add_argument("--region", help="time the what-if of this region of --project")
    ap.add_argument("--no-plan", action="store_true", help="skip the plan solvers")
    args = ap.parse_args()
    if args.project is not None:
        region_bench(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        project, name = build_project(Path(tmp))
        print(f"project: {name}, grid {project.grid.width} x {project.grid.height} cells")

        peer = []
        for _ in range(args.peer_runs):
            t0 = time.perf_counter()
            analyze_project(project, write=False)
            peer.append(time.perf_counter() - t0)
        peer_s = statistics.median(peer)
        print(f"peer: whole analysis (write=False), median of {len(peer)}: {peer_s:.3f} s")

        t0 = time.perf_counter()
        baseline = load_baseline(project)
        whatif = WhatIf(baseline)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _ = baseline.dem
        dem_s = time.perf_counter() - t0
        print(f"what-if baseline: load {load_s:.3f} s (once per project), DEM {dem_s:.3f} s "
              f"(once, on the first tower)")

        rng = np.random.default_rng(20261129)
        loc = baseline.locations
        pts = loc[loc["demand"]][["lon", "lat"]].to_numpy()
        sites: list[dict] = []
        times = {"add bts": [], "move bts": [], "add starlink": [], "move starlink": []}
        for k in range(args.changes):
            kind = "bts" if k % 2 == 0 else "starlink"
            lon, lat = pts[rng.integers(len(pts))] + rng.normal(0, 0.01, 2)
            if k % 4 < 2 or not sites:
                sites.append({"id": k, "kind": kind, "lon": float(lon), "lat": float(lat)})
                op = f"add {kind}"
            else:
                movable = [s for s in sites if s["kind"] == kind] or sites
                s = movable[int(rng.integers(len(movable)))]
                s["lon"], s["lat"] = s["lon"] + 0.01, s["lat"] - 0.005
                op = f"move {s['kind']}"
            t0 = time.perf_counter()
            summary = whatif.summary(sites)
            times[op].append(time.perf_counter() - t0)
        every = [t for v in times.values() for t in v]
        print(f"what-if, {len(every)} changes in a scenario growing to {len(sites)} sites:")
        for op, v in times.items():
            if v:
                print(f"  {op:<14} n={len(v):>2}  median {statistics.median(v):.3f} s  "
                      f"max {max(v):.3f} s")
        med = statistics.median(every)
        print(f"  all            median {med:.3f} s  max {max(every):.3f} s  "
              f"(target <= 1 s; peer/what-if median = {peer_s / med:.0f}x)")
        print(f"  last summary: {summary['people_newly_served']:,.0f} people newly served, "
              f"{len(summary['changes'])} villages change class")

        kinds = ("starlink", "vsat", "bts", "wifi")
        t0 = time.perf_counter()
        instance, cand, timings = build_instance(baseline, kinds, 5)
        print(f"plan instance: {instance.n_candidates} candidates, {instance.n_demand} demand "
              f"locations, built in {time.perf_counter() - t0:.1f} s "
              f"(candidates {timings['candidates']:.1f} s, reach {timings['reach']:.1f} s)")
        bts_cost = float(instance.costs[cand["kind"].to_numpy() == "bts"][0])
        for max_sites, budget in ((5, None), (None, 3 * bts_cost), (10, 2 * bts_cost)):
            h = solve_mip(instance, max_sites=max_sites, budget=budget)
            g = solve_greedy(instance, max_sites=max_sites, budget=budget)
            p_obj, p_s = pulp_solve(instance, max_sites, budget)
            label = f"max_sites={max_sites} budget={budget and f'{budget:,.0f}'}"
            spent_h = float(instance.costs[h.chosen].sum())
            spent_g = float(instance.costs[g.chosen].sum())
            print(f"  {label}: HiGHS {h.objective:,.1f} ({h.status}, gap {h.gap:.1e}) in "
                  f"{h.seconds:.3f} s | PuLP/CBC {p_obj:,.1f} in {p_s:.3f} s | greedy "
                  f"{g.objective:,.1f} in {g.seconds:.3f} s")
            print(f"    weight per Rp 1e9: HiGHS {h.objective / max(spent_h, 1) * 1e9:,.1f}, "
                  f"greedy {g.objective / max(spent_g, 1) * 1e9:,.1f}")


def _changes(whatif: WhatIf, n: int, seed: int = 20261129) -> dict[str, list[float]]:
    """Time ``n`` additions and moves of towers and Starlinks (the same for every peer)."""
    rng = np.random.default_rng(seed)
    loc = whatif.baseline.locations
    pts = loc[loc["demand"]][["lon", "lat"]].to_numpy()
    if not len(pts):
        pts = loc[["lon", "lat"]].to_numpy()
    sites: list[dict] = []
    times: dict[str, list[float]] = {"add bts": [], "move bts": [], "add starlink": [],
                                     "move starlink": []}
    for k in range(n):
        kind = "bts" if k % 2 == 0 else "starlink"
        lon, lat = pts[rng.integers(len(pts))] + rng.normal(0, 0.01, 2)
        if k % 4 < 2 or not sites:
            sites.append({"id": k, "kind": kind, "lon": float(lon), "lat": float(lat)})
            op = f"add {kind}"
        else:
            movable = [s for s in sites if s["kind"] == kind] or sites
            s = movable[int(rng.integers(len(movable)))]
            s["lon"], s["lat"] = s["lon"] + 0.01, s["lat"] - 0.005
            op = f"move {s['kind']}"
        t0 = time.perf_counter()
        whatif.summary(sites)
        times[op].append(time.perf_counter() - t0)
    return times


def _report(label: str, times: dict[str, list[float]]) -> float:
    every = [t for v in times.values() for t in v]
    med = statistics.median(every)
    print(f"  {label}: median {med:.3f} s, max {max(every):.3f} s over {len(every)} changes "
          + ", ".join(f"{op} {statistics.median(v):.3f}" for op, v in times.items() if v))
    return med


def region_bench(args) -> None:
    """What-if of one region of an analysed (national) project against the whole project."""
    from geo_p2dd.project import Project

    warnings.simplefilter("ignore")
    project = Project(args.project)
    print(f"project: {project.name}, grid {project.grid.width} x {project.grid.height} "
          f"cells, region {args.region or '(whole)'}")
    t0 = time.perf_counter()
    load_baseline(project, args.region)
    read_region = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = (project.read_table("location_results"), project.read_table("village_results"))
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    regional = WhatIf(load_baseline(project, args.region, tables=tables))
    load_region = time.perf_counter() - t0
    b = regional.baseline
    print(f"  region baseline: {len(b.villages)} villages, {len(b.locations)} locations; "
          f"reading the project's tables for it: {read_region:.2f} s (before); from the "
          f"tables in memory (the web app's view, read once per project version in "
          f"{read_s:.2f} s): {load_region:.3f} s")
    med = _report("what-if, region baseline", _changes(regional, args.changes))
    if args.region:
        t0 = time.perf_counter()
        whole = WhatIf(load_baseline(project, tables=tables))
        load_whole = time.perf_counter() - t0
        print(f"  peer: whole-project baseline ({len(whole.baseline.locations)} locations) "
              f"loaded in {load_whole:.2f} s")
        peer = _report("peer: what-if, whole-project baseline, same sites",
                       _changes(whole, args.changes))
        print(f"  per change: region {med:.3f} s vs whole project {peer:.3f} s "
              f"({peer / med:.1f}x); target <= 2 s")


if __name__ == "__main__":
    main()
