"""The budgeted maximum-coverage problem, solved exactly (HiGHS) or greedily.

Why
---
"Where should the next five towers or terminals go?" is the maximal covering
location problem (Church & ReVelle 1974) with a budget: choose candidate sites
so that the weight of the demand they reach is largest, each demand point
counted once however many chosen sites reach it. Textbook tools (spopt's MCLP)
solve it with a site count only; planners also have a budget and sites of very
different prices (a tower costs what 250 terminals do).

Method
------
Binary ``x_j`` per candidate, continuous ``0 <= y_i <= 1`` per demand point::

    maximise   sum_i w_i y_i
    subject to y_i <= sum_{j covers i} x_j      (a point counts only when reached)
               sum_j x_j <= max_sites           (when given)
               sum_j c_j x_j <= budget          (when given)

For binary ``x`` the optimum has ``y_i = min(1, sum x_j)``, so ``y`` needs no
integrality. Demand no candidate reaches is left out of the model. HiGHS
(``highspy``) solves it with a time limit; the result carries HiGHS's own
optimality gap (0 when proven optimal). :func:`solve_greedy` (best marginal
weight, per rupiah when a budget is set) is the baseline and the fallback.

Traps
-----
* HiGHS is deterministic for the same model; the columns are always built in
  candidate order, so the same inputs give the same plan.
* Several optima may exist: compare objectives, not chosen sets, across solvers.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geo_p2dd.errors import InputError
from geo_p2dd.io.atomic import atomic_path


@dataclass(frozen=True)
class Instance:
    """One problem: demand weights, candidate costs and which candidate reaches which point.

    Parameters
    ----------
    weights : numpy.ndarray
        Weight of each demand point, shape (m,).
    costs : numpy.ndarray
        Cost of each candidate, shape (n,).
    cover : list of numpy.ndarray
        For each candidate, the indices of the demand points it reaches.
    demand_ids, candidate_ids : list of str, optional
        Names used by :func:`export_instance` (default: positions).
    candidate_kinds : list of str, optional
        Kind of each candidate (exported).
    """

    weights: np.ndarray
    costs: np.ndarray
    cover: list[np.ndarray]
    demand_ids: list[str] = field(default_factory=list)
    candidate_ids: list[str] = field(default_factory=list)
    candidate_kinds: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        m, n = len(self.weights), len(self.costs)
        if len(self.cover) != n:
            raise InputError("one coverage list per candidate is needed",
                             expected=f"{n} lists", found=f"{len(self.cover)}")
        for j, c in enumerate(self.cover):
            c = np.asarray(c)
            if len(c) and (c.min() < 0 or c.max() >= m):
                raise InputError("coverage names a demand point that does not exist",
                                 row=j, expected=f"indices 0..{m - 1}", found=str(c.max()))
        if np.any(np.asarray(self.weights) < 0) or np.any(np.asarray(self.costs) < 0):
            raise InputError("weights and costs must not be negative")

    @property
    def n_candidates(self) -> int:
        return len(self.costs)

    @property
    def n_demand(self) -> int:
        return len(self.weights)


@dataclass
class Solution:
    """Chosen candidates (positions, in the order chosen or by position) and how good."""

    chosen: list[int]
    objective: float
    bound: float
    gap: float
    status: str
    solver: str
    seconds: float


def covered(instance: Instance, chosen: list[int] | np.ndarray) -> np.ndarray:
    """Boolean mask of the demand points reached by ``chosen``."""
    mask = np.zeros(instance.n_demand, dtype=bool)
    for j in chosen:
        mask[np.asarray(instance.cover[int(j)], dtype=np.int64)] = True
    return mask


def objective_of(instance: Instance, chosen: list[int] | np.ndarray) -> float:
    """Weight of the demand reached by ``chosen`` (each point once)."""
    return float(np.asarray(instance.weights, dtype=float)[covered(instance, chosen)].sum())


def check_limits(max_sites: int | None, budget: float | None) -> None:
    """InputError unless a site count and/or a budget is given, neither negative."""
    if max_sites is None and budget is None:
        raise InputError("a plan needs a limit", expected="--max-sites N and/or --budget IDR",
                         found="neither")
    if max_sites is not None and max_sites < 0:
        raise InputError("max_sites must not be negative", column="max_sites",
                         expected="an integer >= 0", found=str(max_sites))
    if budget is not None and not budget >= 0:
        raise InputError("the budget must not be negative", column="budget",
                         expected="IDR >= 0", found=str(budget))


_BANNER_SHOWN = False


def _new_highs():
    """A silent ``highspy.Highs``.

    HiGHS prints a banner on stdout when the first instance of a process is made,
    before any option can be set; it would corrupt ``plan --json``. That first
    construction runs with file descriptor 1 pointed at ``os.devnull``.
    """
    import os
    import sys

    import highspy

    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h


def solve_mip(instance: Instance, *, max_sites: int | None = None, budget: float | None = None,
              time_limit_s: float = 60.0, mip_rel_gap: float = 1e-6) -> Solution:
    """Solve the budgeted maximum-coverage problem exactly with HiGHS.

    Parameters
    ----------
    instance : Instance
    max_sites : int, optional
        At most this many sites.
    budget : float, optional
        At most this total cost.
    time_limit_s : float
        HiGHS stops after this long; the gap then says how far from proven optimal.
    mip_rel_gap : float
        Relative gap at which HiGHS stops as optimal.

    Returns
    -------
    Solution
        ``solver`` is ``"highs"``; the chosen candidates by position.
    """
    import highspy

    check_limits(max_sites, budget)
    t0 = time.perf_counter()
    n = instance.n_candidates
    w = np.asarray(instance.weights, dtype=float)
    cost = np.asarray(instance.costs, dtype=float)
    # demand points some affordable candidate reaches (others can never count)
    usable = np.ones(n, dtype=bool)
    if budget is not None:
        usable &= cost <= budget + 1e-9
    if max_sites == 0:
        usable[:] = False
    pts = np.unique(np.concatenate([np.asarray(instance.cover[j], dtype=np.int64)
                                    for j in range(n) if usable[j]] or [np.zeros(0, np.int64)]))
    pts = pts[w[pts] > 0]
    if len(pts) == 0:
        return Solution([], 0.0, 0.0, 0.0, "optimal", "highs", time.perf_counter() - t0)
    row_of = np.full(instance.n_demand, -1, dtype=np.int64)
    row_of[pts] = np.arange(len(pts))
    m = len(pts)
    # columns: x_0..x_{n-1}, then y_0..y_{m-1}; rows: m coverage rows, then the limits
    n_rows = m + (max_sites is not None) + (budget is not None)
    starts, index, value = [0], [], []
    for j in range(n):
        r = row_of[np.asarray(instance.cover[j], dtype=np.int64)]
        r = np.unique(r[r >= 0]) if usable[j] else np.zeros(0, np.int64)
        col_rows = list(r)
        col_vals = [-1.0] * len(r)
        extra = m
        if max_sites is not None:
            col_rows.append(extra)
            col_vals.append(1.0)
            extra += 1
        if budget is not None:
            col_rows.append(extra)
            col_vals.append(float(cost[j]))
        index.extend(col_rows)
        value.extend(col_vals)
        starts.append(len(index))
    for i in range(m):
        index.append(i)
        value.append(1.0)
        starts.append(len(index))

    lp = highspy.HighsLp()
    lp.num_col_ = n + m
    lp.num_row_ = n_rows
    lp.col_cost_ = np.concatenate([np.zeros(n), w[pts]])
    lp.col_lower_ = np.zeros(n + m)
    lp.col_upper_ = np.concatenate([usable.astype(float), np.ones(m)])
    row_upper = [0.0] * m
    if max_sites is not None:
        row_upper.append(float(max_sites))
    if budget is not None:
        row_upper.append(float(budget))
    lp.row_lower_ = np.full(n_rows, -highspy.kHighsInf)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * m

    h = _new_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value[:n])
    chosen = [int(j) for j in np.flatnonzero(values > 0.5)]
    objective = objective_of(instance, chosen)
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else objective
    gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else 0.0
    if status == "optimal":
        gap = max(0.0, min(gap, 1.0))
    return Solution(chosen, objective, max(bound, objective), gap, status, "highs",
                    time.perf_counter() - t0)


def solve_greedy(instance: Instance, *, max_sites: int | None = None,
                 budget: float | None = None) -> Solution:
    """Greedy baseline: add the candidate with the best marginal weight until a limit binds.

    With a budget the marginal weight is taken per rupiah (candidates that no
    longer fit are skipped); ties go to the lower position, so the result is
    deterministic. No optimality guarantee beyond the classic (1 - 1/e) bound
    for the site count alone.
    """
    check_limits(max_sites, budget)
    t0 = time.perf_counter()
    w = np.asarray(instance.weights, dtype=float)
    cost = np.asarray(instance.costs, dtype=float)
    cover = [np.unique(np.asarray(c, dtype=np.int64)) for c in instance.cover]
    reached = np.zeros(instance.n_demand, dtype=bool)
    chosen: list[int] = []
    spent = 0.0
    free = np.ones(instance.n_candidates, dtype=bool)
    while max_sites is None or len(chosen) < max_sites:
        gains = np.array([w[c[~reached[c]]].sum() if free[j] else 0.0
                          for j, c in enumerate(cover)])
        fits = free & (gains > 0)
        if budget is not None:
            fits &= spent + cost <= budget + 1e-9
        if not fits.any():
            break
        score = gains / np.maximum(cost, 1e-9) if budget is not None else gains
        score = np.where(fits, score, -np.inf)
        j = int(np.argmax(score))
        chosen.append(j)
        free[j] = False
        spent += cost[j]
        reached[cover[j]] = True
    objective = objective_of(instance, chosen)
    return Solution(chosen, objective, np.nan, np.nan, "heuristic", "greedy",
                    time.perf_counter() - t0)


def export_instance(instance: Instance, directory: str | Path) -> list[Path]:
    """Write the exact problem as ``demand.csv``, ``candidates.csv`` and ``coverage.csv``.

    ``demand.csv``: ``demand_id,weight``; ``candidates.csv``:
    ``candidate_id,kind,cost_idr,locked`` (installed and pipeline sites are not
    candidates: the demand they serve is already out of the instance, so
    ``locked`` is always 0); ``coverage.csv``: ``candidate_id,demand_id``. Any
    other solver can read these and check a plan.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    d_ids = instance.demand_ids or [str(i) for i in range(instance.n_demand)]
    c_ids = instance.candidate_ids or [str(j) for j in range(instance.n_candidates)]
    kinds = instance.candidate_kinds or [""] * instance.n_candidates
    files = []

    def write(name: str, header: list[str], rows) -> None:
        path = out / name
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            wr = csv.writer(fh)
            wr.writerow(header)
            wr.writerows(rows)
        files.append(path)

    write("demand.csv", ["demand_id", "weight"],
          ((d, repr(float(x))) for d, x in zip(d_ids, instance.weights, strict=True)))
    write("candidates.csv", ["candidate_id", "kind", "cost_idr", "locked"],
          ((c, k, repr(float(x)), 0) for c, k, x in zip(c_ids, kinds, instance.costs,
                                                       strict=True)))
    write("coverage.csv", ["candidate_id", "demand_id"],
          ((c_ids[j], d_ids[int(i)]) for j in range(instance.n_candidates)
           for i in np.unique(np.asarray(instance.cover[j], dtype=np.int64))))
    return files
