"""Plans on real Mahakam Ulu: HiGHS (``solve_mip``) against spopt's MCLP and greedy.

Issue 11 asks for a benchmark against spopt's maximal covering location problem
(``spopt.locate.MCLP``, PySAL) on the same instance: same objective, time side
by side, and against the greedy baseline in people served per rupiah.

The instance is our planning instance (``geo_p2dd.planning.plan.build_instance``:
demand locations not served even with the pipeline, weighted in people-equivalents;
Starlink, VSAT, Wi-Fi and BTS candidates with the analysis's reach; costs over a
5-year horizon). For max sites p = 1, 3, 5, 10 it is solved

* by ``solve_mip`` (HiGHS; its time includes building the model from the Instance);
* by spopt: ``MCLP.from_cost_matrix`` on a dense demand x candidate cost matrix that
  is 0 where the candidate reaches the point and 2 elsewhere, ``service_radius=1``,
  ``weights`` = the demand weights, ``p_facilities=p``, solved with its default,
  PuLP's bundled CBC (``PULP_CBC_CMD(msg=False)``); its time includes making the
  cost matrix and spopt's model building. No predefined facilities: installed and
  pipeline sites are not candidates (the demand they serve is already out of the
  instance; ``candidates.csv`` has ``locked`` = 0 throughout). spopt places exactly
  p sites (``== p``), ours at most p; with non-negative weights the optima are equal;
* by ``solve_greedy`` (the baseline).

The script asserts that the two optima are equal within the MIP gap (and that
spopt's chosen sites reach what it reports) and exits 1 otherwise. spopt has no
budget constraint, so the budgeted cases (one BTS's cost; two BTSs' with at most
10 sites) are ours against greedy only. Times are wall seconds, the median of
``--runs``; "cpu" adds the CBC subprocess's CPU time (spopt) to this process's.
Deterministic: the same instance, objectives and chosen sites every run.

    .venv/bin/pip install -e '.[bench]'          # spopt
    .venv/bin/python bench/plan_spopt.py         # real Mahakam Ulu from ../shared/data
    .venv/bin/python bench/plan_spopt.py --project DIR   # an analysed project (copied first)
    .venv/bin/python bench/plan_spopt.py --instance DIR  # `geo-p2dd plan --export-instance DIR`
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from geo_p2dd.planning.optimise import (  # noqa: E402
    Instance,
    objective_of,
    solve_greedy,
    solve_mip,
)

KINDS = ("starlink", "vsat", "bts", "wifi")
YEARS = 5


def cpu_now() -> float:
    """CPU seconds of this process and its waited-for children (CBC runs as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def read_instance(directory: Path) -> tuple[Instance, None]:
    """An instance written by ``geo-p2dd plan --export-instance DIR``."""
    with open(directory / "demand.csv", encoding="utf-8") as fh:
        demand = list(csv.DictReader(fh))
    with open(directory / "candidates.csv", encoding="utf-8") as fh:
        cands = list(csv.DictReader(fh))
    row = {r["demand_id"]: i for i, r in enumerate(demand)}
    col = {r["candidate_id"]: j for j, r in enumerate(cands)}
    cover: list[list[int]] = [[] for _ in cands]
    with open(directory / "coverage.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            cover[col[r["candidate_id"]]].append(row[r["demand_id"]])
    locked = [r["candidate_id"] for r in cands if r.get("locked", "0") not in ("0", "")]
    if locked:
        raise SystemExit(f"{len(locked)} locked candidates: not expected from geo-p2dd plan")
    inst = Instance(np.array([float(r["weight"]) for r in demand]),
                    np.array([float(r["cost_idr"]) for r in cands]),
                    [np.array(c, dtype=np.int64) for c in cover],
                    demand_ids=[r["demand_id"] for r in demand],
                    candidate_ids=[r["candidate_id"] for r in cands],
                    candidate_kinds=[r["kind"] for r in cands])
    return inst, None


def project_instance(project_dir: Path | None, workdir: Path):
    """The plan instance of an analysed project (a copy of it), or of real Mahakam Ulu."""
    warnings.simplefilter("ignore")
    from geo_p2dd.planning.demand import load_baseline
    from geo_p2dd.planning.plan import build_instance
    from geo_p2dd.project import Project

    if project_dir is not None:
        # a copy: the plan's reach cache is written into the project's cache/
        copy = workdir / "project"
        shutil.copytree(project_dir, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("cache"))
        project = Project(copy)
        name = f"{project.name} (copy of the project given)"
    else:
        from plan_whatif import build_project

        project, name = build_project(workdir)
    baseline = load_baseline(project)
    t0 = time.perf_counter()
    inst, cand, _ = build_instance(baseline, KINDS, YEARS)
    print(f"project: {name}; instance built in {time.perf_counter() - t0:.1f} s")
    loc = baseline.locations
    settle = (loc["kind"] == "settlement").to_numpy()
    people = pd.to_numeric(loc["people"], errors="coerce").fillna(0.0).to_numpy(float)
    people = np.where(settle, people, 0.0)
    return inst, (cand, people)


def people_of(extra, chosen: list[int]) -> float | None:
    """People at settlements newly reached by ``chosen`` (None without a project)."""
    if extra is None:
        return None
    cand, people = extra
    hit = np.zeros(len(people), dtype=bool)
    for j in chosen:
        hit[cand["location_pos"].iloc[j]] = True
    return float(people[hit].sum())


def spopt_solve(inst: Instance, p: int) -> tuple[float, list[int], float]:
    """spopt's MCLP from the cost matrix (0 = reaches, 2 = not; radius 1), default CBC.

    Returns the objective, the chosen candidates and the seconds spent building
    (cost matrix and ``from_cost_matrix``) before CBC's solve.
    """
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    cost = np.full((inst.n_demand, inst.n_candidates), 2.0)
    for j, c in enumerate(inst.cover):
        cost[np.asarray(c, dtype=np.int64), j] = 0.0
    model = MCLP.from_cost_matrix(cost, np.asarray(inst.weights, dtype=float),
                                  service_radius=1, p_facilities=p)
    build_s = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.solve(pulp.PULP_CBC_CMD(msg=False))
    status = pulp.LpStatus[model.problem.status]
    if status != "Optimal":
        raise SystemExit(f"spopt/CBC status {status} for p={p}")
    chosen = [j for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5]
    return float(pulp.value(model.problem.objective)), chosen, build_s


def timed(fn, runs: int):
    """(every result, median wall s, median cpu s) of ``runs`` calls."""
    walls, cpus, outs = [], [], []
    for _ in range(runs):
        c0, t0 = cpu_now(), time.perf_counter()
        outs.append(fn())
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_now() - c0)
    return outs, statistics.median(walls), statistics.median(cpus)


def per_rp(weight_or_people: float | None, inst: Instance, chosen: list[int]) -> str:
    """Per Rp 1 miliar (1e9) of the chosen sites' cost."""
    spent = float(np.asarray(inst.costs)[chosen].sum())
    if weight_or_people is None or spent <= 0:
        return "-"
    return f"{weight_or_people / spent * 1e9:,.0f}"


def sites_of(kinds: np.ndarray, chosen: list[int]) -> str:
    """``"1 bts + 9 starlink"``."""
    if not len(kinds):
        return f"{len(chosen)} sites"
    ks, n = np.unique(kinds[chosen], return_counts=True)
    return " + ".join(f"{c} {k}" for k, c in zip(ks, n, strict=True)) or "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--project", type=Path, help="an analysed project (copied, never changed)")
    src.add_argument("--instance", type=Path, help="a directory written by --export-instance")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per solver (median)")
    ap.add_argument("--p", default="1,3,5,10", help="site counts")
    args = ap.parse_args()
    import spopt

    with tempfile.TemporaryDirectory() as tmp:
        if args.instance is not None:
            inst, extra = read_instance(args.instance)
            print(f"instance: {args.instance}")
        else:
            inst, extra = project_instance(args.project, Path(tmp))
    kinds = np.asarray(inst.candidate_kinds)
    print(f"{inst.n_candidates} candidates ("
          + ", ".join(f"{k} {int((kinds == k).sum())}" for k in KINDS)
          + f"), {inst.n_demand} demand locations, {sum(len(c) for c in inst.cover)} "
          f"candidate-location pairs, total weight {float(np.sum(inst.weights)):,.1f}; "
          f"locked candidates: none (spopt predefined_facilities_arr not used)")
    print(f"spopt {spopt.__version__} (MCLP.from_cost_matrix + PULP_CBC_CMD), "
          f"median of {args.runs} runs; weight = people-equivalents, people = at "
          f"settlements; per Rp 1e9 of the sites' {YEARS}-year cost")
    print(f"{'p':>3} | {'HiGHS obj':>10} {'spopt obj':>10} {'gap':>7} | {'HiGHS s':>8} "
          f"{'cpu':>6} | {'spopt s':>8} {'cpu':>6} {'x':>5} | {'greedy obj':>10} "
          f"{'opt/gr':>6} | people/Rp1e9 opt {'greedy':>8} | weight/Rp1e9 opt greedy")
    failed = []
    for p in (int(v) for v in args.p.split(",")):
        if p > inst.n_candidates:
            raise SystemExit(f"p={p} > {inst.n_candidates} candidates (spopt places exactly p)")
        hs, h_s, h_cpu = timed(lambda p=p: solve_mip(inst, max_sites=p), args.runs)
        ss, s_s, s_cpu = timed(lambda p=p: spopt_solve(inst, p), args.runs)
        h, (s_obj, s_chosen, _) = hs[-1], ss[-1]
        s_build = statistics.median(r[2] for r in ss)
        g = solve_greedy(inst, max_sites=p)
        tol = max(h.gap, 1e-6) * max(abs(h.objective), 1.0) + 1e-6
        ok = abs(h.objective - s_obj) <= tol and \
            abs(objective_of(inst, s_chosen) - s_obj) <= 1e-6 * max(s_obj, 1.0)
        if not ok:
            failed.append(p)
        ph, pg = people_of(extra, h.chosen), people_of(extra, g.chosen)
        print(f"{p:>3} | {h.objective:>10,.1f} {s_obj:>10,.1f} {h.gap:>7.1e} | {h_s:>8.3f} "
              f"{h_cpu:>6.2f} | {s_s:>8.3f} {s_cpu:>6.2f} {s_s / h_s:>5.0f} | "
              f"{g.objective:>10,.1f} {h.objective / max(g.objective, 1e-9):>6.3f} | "
              f"{per_rp(ph, inst, h.chosen):>16} {per_rp(pg, inst, g.chosen):>8} | "
              f"{per_rp(h.objective, inst, h.chosen):>10} {per_rp(g.objective, inst, g.chosen):>6}"
              f"{'' if ok else '  MISMATCH'}")
        print(f"      spopt's model building (median) {s_build:.3f} s; "
              f"sites: HiGHS {sites_of(kinds, h.chosen)}, greedy {sites_of(kinds, g.chosen)}"
              + ("" if ph is None else f"; people newly served: HiGHS {ph:,.0f}, greedy {pg:,.0f}"))
    bts = kinds == "bts"
    unit = float(np.asarray(inst.costs)[bts][0]) if bts.any() else float(np.max(inst.costs))
    print(f"budgeted (spopt's MCLP has no budget constraint: ours against greedy per rupiah "
          f"only; a BTS costs Rp {unit:,.0f} over {YEARS} years):")
    for max_sites, budget in ((None, unit), (10, 2 * unit)):
        hs, h_s, _ = timed(lambda m=max_sites, b=budget: solve_mip(inst, max_sites=m, budget=b),
                          args.runs)
        h = hs[-1]
        g = solve_greedy(inst, max_sites=max_sites, budget=budget)
        ph, pg = people_of(extra, h.chosen), people_of(extra, g.chosen)
        costs = np.asarray(inst.costs)

        print(f"  budget Rp {budget:,.0f}, max sites {max_sites or '-'}: HiGHS "
              f"{h.objective:,.1f} (gap {h.gap:.1e}; {sites_of(kinds, h.chosen)}; Rp "
              f"{float(costs[h.chosen].sum()):,.0f}) in {h_s:.3f} s | greedy {g.objective:,.1f} "
              f"({sites_of(kinds, g.chosen)}; Rp {float(costs[g.chosen].sum()):,.0f}); opt/greedy "
              f"{h.objective / max(g.objective, 1e-9):.3f}")
        print(f"    people per Rp 1e9: HiGHS {per_rp(ph, inst, h.chosen)}, greedy "
              f"{per_rp(pg, inst, g.chosen)}; weight per Rp 1e9: HiGHS "
              f"{per_rp(h.objective, inst, h.chosen)}, greedy "
              f"{per_rp(g.objective, inst, g.chosen)}")
    if failed:
        print(f"FAILED: HiGHS and spopt optima differ beyond the MIP gap for p={failed}")
        sys.exit(1)
    print("assert: HiGHS and spopt optima equal within the MIP gap for every p (checked)")


if __name__ == "__main__":
    main()
