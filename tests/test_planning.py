"""Planning: optimal plans checked against brute force and an independent solver (PuLP/CBC),
coverage per candidate against the analysis's own model, and plans against a re-analysis."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from geo_p2dd.analysis import analyze_project
from geo_p2dd.cli import main
from geo_p2dd.config import DEFAULTS, settings_from_dict
from geo_p2dd.errors import ConfigError, InputError
from geo_p2dd.planning.candidates import local_maxima
from geo_p2dd.planning.costs import check_kinds, site_cost
from geo_p2dd.planning.demand import load_baseline
from geo_p2dd.planning.optimise import (
    Instance,
    export_instance,
    objective_of,
    solve_greedy,
    solve_mip,
)
from geo_p2dd.planning.output import write_plan
from geo_p2dd.planning.plan import PLAN_LABEL, make_plan
from geo_p2dd.planning.reach import tower_classes
from geo_p2dd.planning.whatif import WhatIf
from geo_p2dd.project import Project
from geo_p2dd.propagation import received_power_grid
from geo_p2dd.signal import rsrp_class

TERMINALS = "starlink,vsat,wifi"


# --------------------------------------------------------------------------- #
# the solver: brute force and PuLP/CBC as independent oracles
# --------------------------------------------------------------------------- #


def random_instance(rng: np.random.Generator, m: int, n: int, max_cover: int = 8) -> Instance:
    weights = rng.integers(1, 100, m).astype(float)
    costs = rng.integers(1, 10, n).astype(float)
    cover = [rng.choice(m, int(rng.integers(0, max_cover)), replace=False) for _ in range(n)]
    return Instance(weights, costs, cover)


def brute_force(inst: Instance, max_sites: int | None, budget: float | None) -> float:
    best = 0.0
    n = inst.n_candidates
    for k in range(n + 1 if max_sites is None else min(n, max_sites) + 1):
        for subset in itertools.combinations(range(n), k):
            if budget is not None and inst.costs[list(subset)].sum() > budget:
                continue
            best = max(best, objective_of(inst, subset))
    return best


def pulp_optimum(inst: Instance, max_sites: int | None, budget: float | None) -> float:
    """The same model written in PuLP and solved by its bundled CBC."""
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [prob.add_variable(f"x{j}", cat="Binary") for j in range(inst.n_candidates)]
    y = [prob.add_variable(f"y{i}", 0, 1) for i in range(inst.n_demand)]
    prob += pulp.lpSum(float(w) * y[i] for i, w in enumerate(inst.weights))
    covers: dict[int, list[int]] = {}
    for j, c in enumerate(inst.cover):
        for i in np.unique(c):
            covers.setdefault(int(i), []).append(j)
    for i in range(inst.n_demand):
        prob += y[i] <= pulp.lpSum(x[j] for j in covers.get(i, []))
    if max_sites is not None:
        prob += pulp.lpSum(x) <= max_sites
    if budget is not None:
        prob += pulp.lpSum(float(c) * x[j] for j, c in enumerate(inst.costs)) <= budget
    with warnings.catch_warnings():
        # PuLP 3.3 marks its bundled CBC as deprecated for PuLP 4; it is the one installed here
        warnings.filterwarnings("ignore", "PULP_CBC_CMD is deprecated", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False)
    prob.solve(solver)
    assert pulp.LpStatus[prob.status] == "Optimal"
    return float(pulp.value(prob.objective) or 0.0)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("limits", [(2, None), (None, 12.0), (3, 15.0), (0, None)])
def test_mip_equals_brute_force_on_tiny_instances(seed, limits):
    rng = np.random.default_rng(seed)
    inst = random_instance(rng, m=15, n=8)
    max_sites, budget = limits
    sol = solve_mip(inst, max_sites=max_sites, budget=budget)
    assert sol.status == "optimal" and sol.gap <= 1e-6
    assert sol.objective == pytest.approx(brute_force(inst, max_sites, budget))
    assert max_sites is None or len(sol.chosen) <= max_sites
    assert budget is None or inst.costs[sol.chosen].sum() <= budget + 1e-9
    greedy = solve_greedy(inst, max_sites=max_sites, budget=budget)
    assert greedy.objective <= sol.objective + 1e-9
    assert max_sites is None or len(greedy.chosen) <= max_sites
    assert budget is None or inst.costs[greedy.chosen].sum() <= budget + 1e-9


def test_hand_made_instance_with_a_known_optimum():
    # demand a..e; one tower reaches a, b, c (cost 10); terminals reach one point each (cost 3)
    weights = np.array([10.0, 10.0, 10.0, 40.0, 5.0])
    costs = np.array([10.0, 3.0, 3.0, 3.0])
    cover = [np.array([0, 1, 2]), np.array([3]), np.array([4]), np.array([0])]
    inst = Instance(weights, costs, cover)
    # two sites, any cost: the tower and the terminal at d (30 + 40); a point counts once
    assert sorted(solve_mip(inst, max_sites=2).chosen) == [0, 1]
    assert solve_mip(inst, max_sites=2).objective == 70.0
    # budget 9: three terminals (40 + 5 + 10), the tower does not fit
    sol = solve_mip(inst, budget=9.0)
    assert sorted(sol.chosen) == [1, 2, 3] and sol.objective == 55.0
    # budget 13: the tower and terminal d (70) beat three terminals
    assert solve_mip(inst, budget=13.0).objective == 70.0
    # greedy by weight per rupiah takes the terminals first and misses the optimum
    assert solve_greedy(inst, budget=13.0).objective == 55.0


@pytest.mark.parametrize("seed", range(4))
def test_mip_equals_pulp_cbc_on_larger_instances(seed):
    rng = np.random.default_rng(100 + seed)
    inst = random_instance(rng, m=300, n=120, max_cover=25)
    for max_sites, budget in ((5, None), (None, 40.0), (8, 30.0)):
        sol = solve_mip(inst, max_sites=max_sites, budget=budget)
        assert sol.status == "optimal"
        assert sol.objective == pytest.approx(pulp_optimum(inst, max_sites, budget), rel=1e-6)


def test_a_plan_needs_a_limit_and_sane_values():
    inst = Instance(np.array([1.0]), np.array([1.0]), [np.array([0])])
    with pytest.raises(InputError, match="limit"):
        solve_mip(inst)
    with pytest.raises(InputError, match="budget"):
        solve_mip(inst, budget=-1)
    with pytest.raises(InputError, match="does not exist"):
        Instance(np.array([1.0]), np.array([1.0]), [np.array([3])])


def test_solver_is_deterministic():
    inst = random_instance(np.random.default_rng(7), m=200, n=80, max_cover=30)
    a = solve_mip(inst, max_sites=6)
    b = solve_mip(inst, max_sites=6)
    assert a.chosen == b.chosen and a.objective == b.objective


# --------------------------------------------------------------------------- #
# costs and settings
# --------------------------------------------------------------------------- #


def test_sourced_cost_defaults_follow_their_sources():
    """The defaults README cites: a changed figure must change README's table too."""
    c = DEFAULTS.costs
    # Starlink Indonesia residential plan, Rp 750 ribu a month (May 2024)
    assert c.starlink_opex_idr == 12 * 750_000
    # the standard kit (Rp 7.8 juta) is part of the Starlink capex
    assert c.starlink_capex_idr >= 7_800_000
    # Kominfo, October 2021: Rp 2.6 triliun capex for 824 BTS 4G, opex 10-12.5 % a year
    assert c.bts_capex_idr == pytest.approx(2.6e12 / 824, rel=1e-3)
    assert 0.10 <= c.bts_opex_idr / c.bts_capex_idr <= 0.125


def test_costs_over_the_horizon_and_settings_checked():
    c = DEFAULTS.costs
    assert site_cost("bts", c, 5) == c.bts_capex_idr + 5 * c.bts_opex_idr
    custom = settings_from_dict({"costs": {"starlink_capex_idr": 1.0, "starlink_opex_idr": 2.0},
                                 "planning": {"weight_school": 7}})
    assert site_cost("starlink", custom.costs, 3) == 7.0
    assert custom.planning.facility_weight("school") == 7.0
    with pytest.raises(ConfigError, match="costs.bts_capex_idr"):
        settings_from_dict({"costs": {"bts_capex_idr": -5}})
    with pytest.raises(ConfigError, match="Did you mean"):
        settings_from_dict({"planning": {"horizon_yeras": 3}})
    with pytest.raises(InputError, match="technology"):
        check_kinds("starlink,fibre")
    assert check_kinds("bts, starlink,bts") == ("bts", "starlink")


def test_local_maxima_of_a_dem():
    dem = np.zeros((20, 20))
    dem[3, 4] = 100.0   # a peak in block (0, 0)
    dem[15, 16] = 50.0  # another in block (3, 3)
    dem[12, 11] = 20.0  # lower than its neighbour block's 50: not a local maximum
    dem[0, 19] = np.nan
    rows, cols, elev = local_maxima(dem, 5)
    found = {(int(r), int(c)): float(e) for r, c, e in zip(rows, cols, elev, strict=True)}
    assert found[(3, 4)] == 100.0 and found[(15, 16)] == 50.0
    assert (12, 11) not in found


# --------------------------------------------------------------------------- #
# reach: the analysis's model, on a window
# --------------------------------------------------------------------------- #


def test_tower_reach_equals_the_model_on_the_whole_grid(sample_project):
    base = load_baseline(sample_project)
    s, g, dem = base.settings, base.grid, base.dem
    assert dem is not None
    prop = s.propagation
    xy = base.xy
    for k in (0, len(xy) // 2, len(xy) - 1):
        x, y = xy[k] + np.array([700.0, -300.0])
        got = tower_classes(x, y, g, dem, s, xy)
        tower = gpd.GeoDataFrame(geometry=[shapely.Point(x, y)], crs=g.crs)
        rx, _ = received_power_grid(
            tower, g, environment=prop.environment, mobile_height_m=prop.mobile_height_m,
            max_distance_m=prop.max_distance_m, dem=dem,
            no_los_extra_loss_db=prop.no_los_extra_loss_db,
            default_power_dbm=prop.default_power_dbm, default_height_m=prop.default_height_m,
            default_frequency_mhz=1800.0)
        cls = rsrp_class(rx + np.float32(prop.rsrp_offset_db), s.thresholds.rsrp_dbm)
        cls[cls == 0] = 1
        r, c = g.rowcol(xy[:, 0], xy[:, 1])
        ok = (r >= 0) & (r < g.height) & (c >= 0) & (c < g.width)
        want = np.zeros(len(xy), dtype=np.uint8)
        want[ok] = cls[r[ok], c[ok]]
        np.testing.assert_array_equal(got, want)
        assert (got >= s.thresholds.usable_code).any()


# --------------------------------------------------------------------------- #
# plans on the sample project
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def terminal_plan(sample_project):
    return make_plan(sample_project, max_sites=4, technologies=TERMINALS)


def test_locked_in_demand_is_not_counted(sample_project, terminal_plan):
    loc = sample_project.read_table("location_results")
    served = set(loc.loc[loc["status_planned"] == "served", "location_id"])
    assert served  # the sample has installed and pipeline service
    ids = set(terminal_plan.instance.demand_ids)
    assert ids and not ids & served
    # a terminal on a location the pipeline serves gains nothing
    base = load_baseline(sample_project)
    at = loc[loc["status_planned"] == "served"].iloc[0]
    gain = WhatIf(base).summary([{"kind": "starlink", "lon": at["lon"], "lat": at["lat"]}])
    reach = WhatIf(base).reach({"kind": "starlink", "lon": at["lon"], "lat": at["lat"]})
    assert len(reach) >= 1
    people = pd.to_numeric(base.locations["people"], errors="coerce").fillna(0)
    demand_reached = base.locations["demand"].to_numpy()[reach]
    assert gain["people_newly_served"] == pytest.approx(
        people.to_numpy()[reach][demand_reached & (base.locations["kind"].to_numpy()[reach]
                                                   == "settlement")].sum())


def test_plan_respects_its_limits_and_matches_pulp_on_the_exported_instance(
        sample_project, terminal_plan, tmp_path):
    plan = terminal_plan
    assert len(plan.sites) <= 4 and plan.solution.status == "optimal"
    assert plan.solution.objective >= plan.greedy.objective - 1e-9
    # the exported CSVs are the exact problem: another solver finds the same optimum
    export_instance(plan.instance, tmp_path)
    demand = pd.read_csv(tmp_path / "demand.csv", dtype={"demand_id": str})
    cands = pd.read_csv(tmp_path / "candidates.csv", dtype={"candidate_id": str})
    cov = pd.read_csv(tmp_path / "coverage.csv", dtype=str)
    d_pos = {d: i for i, d in enumerate(demand["demand_id"])}
    cover = [np.array([d_pos[d] for d in cov.loc[cov["candidate_id"] == c, "demand_id"]],
                      dtype=np.int64) for c in cands["candidate_id"]]
    again = Instance(demand["weight"].to_numpy(float), cands["cost_idr"].to_numpy(float), cover)
    assert pulp_optimum(again, 4, None) == pytest.approx(plan.solution.objective, rel=1e-6)
    # with a budget of two terminals' cost
    budget = 2 * site_cost("starlink", sample_project.settings.costs, 5)
    b = make_plan(sample_project, budget=budget, technologies=TERMINALS)
    assert b.totals["cost_idr"] <= budget
    assert b.solution.objective == pytest.approx(pulp_optimum(b.instance, None, budget))


def _add_as_planned(project: Project, sites: pd.DataFrame) -> Project:
    layer = project.read_layer("sites")
    new = gpd.GeoDataFrame({
        "site_id": [f"plan-{i}" for i in range(len(sites))], "kind": sites["kind"].to_numpy(),
        "status": "planned", "name": [f"Rencana {i}" for i in range(len(sites))],
        "village_kode": sites["village_kode"].to_numpy(), "technology": [
            "4G" if k == "bts" else None for k in sites["kind"]]},
        geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326")
    with project.transaction("plan sites") as tx:
        tx.write_layer("sites", pd.concat([layer, new], ignore_index=True))
    fresh = Project(project.path)
    analyze_project(fresh)
    return fresh


def test_plan_promises_what_a_reanalysis_delivers(sample_project, tmp_path):
    """Adding the plan's sites as planned sites and re-running the analysis serves the
    people the plan promised, and the villages change class as the plan said."""
    copy = tmp_path / "project"
    shutil.copytree(sample_project.path, copy, symlinks=True)
    project = Project(copy)
    with project.transaction("fewer tower candidates") as tx:
        tx.config["planning"] = {"bts_max_candidates": 4}
    project = Project(copy)
    plan = make_plan(project, max_sites=4, technologies="bts,starlink", region="99.01.02")
    assert len(plan.sites) == 4 and plan.totals["people_new"] > 0
    assert set(plan.sites["kind"]) <= {"bts", "starlink"}
    before = project.read_table("village_results").set_index("kode")
    after = _add_as_planned(project, plan.sites).read_table("village_results").set_index("kode")
    region = after.index[after.index.str.startswith("99.01.02.")]
    # (a plan for a region counts the region's people; towers may serve neighbours too)
    drop = (before.loc[region, "people_unserved_planned"].sum()
            - after.loc[region, "people_unserved_planned"].sum())
    assert drop == pytest.approx(plan.totals["people_new"], abs=0.5)
    base = load_baseline(project, "99.01.02")
    predicted = WhatIf(base).summary(
        [{"kind": k, "lon": x, "lat": y} for k, x, y in zip(
            plan.sites["kind"], plan.sites["lon"], plan.sites["lat"], strict=True)])
    assert {k: predicted["villages"][k] for k in region} == after.loc[
        region, "gap_class_planned"].to_dict()
    changed = {c["kode"] for c in plan.changes}
    assert changed == {k for k in region
                       if before.loc[k, "gap_class_planned"] != after.loc[k,
                                                                         "gap_class_planned"]}


def test_plan_outputs_are_labelled_and_formula_safe(terminal_plan, tmp_path):
    plan = dataclasses.replace(terminal_plan, sites=terminal_plan.sites.copy())
    plan.sites.loc[0, "village"] = '=HYPERLINK("http://x","x")'
    xlsx = write_plan(plan, tmp_path / "plan.xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    ws = wb.worksheets[0]
    assert PLAN_LABEL in ws["A1"].value
    cells = [c for row in ws.iter_rows() for c in row if c.value == plan.sites.loc[0, "village"]]
    assert cells and all(c.data_type == "s" for c in cells)
    assert any(PLAN_LABEL in str(r[0].value) for r in wb.worksheets[1].iter_rows())
    gpkg = write_plan(plan, tmp_path / "plan.gpkg")
    layers = dict(pyogrio.list_layers(gpkg))
    assert set(layers) == {"rencana_usulan", "provenance"}
    sites = pyogrio.read_dataframe(gpkg, layer="rencana_usulan")
    assert len(sites) == len(plan.sites) and (sites["label"] == PLAN_LABEL).all()
    assert sites.crs.to_epsg() == 4326
    prov = pyogrio.read_dataframe(gpkg, layer="provenance").set_index("key")["value"]
    assert prov["label"] == PLAN_LABEL and prov["solver"] == "highs"
    with pytest.raises(InputError, match="XLSX or GeoPackage"):
        write_plan(plan, tmp_path / "plan.csv")


def test_plan_is_never_written_into_the_register(sample_copy, tmp_path):
    before = sample_copy.read_layer("sites")
    runner = CliRunner()
    result = runner.invoke(main, ["plan", "--project", str(sample_copy.path), "--max-sites", "2",
                                  "--technologies", TERMINALS, "--json",
                                  "--out", str(tmp_path / "p.gpkg"),
                                  "--export-instance", str(tmp_path / "inst")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert {"sites", "people_new", "cost_idr", "objective", "gap", "solver"} <= set(doc)
    assert len(doc["sites"]) == 2 and doc["solver"] == "highs"
    assert set(doc["sites"][0]) >= {"candidate_id", "lon", "lat", "kind", "village_kode",
                                    "people_new", "cost_idr"}
    assert {p.name for p in (tmp_path / "inst").iterdir()} == {
        "demand.csv", "candidates.csv", "coverage.csv"}
    after = Project(sample_copy.path).read_layer("sites")
    pd.testing.assert_frame_equal(before, after)


def test_plan_cli_refuses_without_a_limit(sample_copy):
    result = CliRunner().invoke(main, ["plan", "--project", str(sample_copy.path)])
    assert result.exit_code == 1 and "limit" in result.output


def test_plan_needs_an_analysis(project):
    with pytest.raises(Exception, match="analy"):
        make_plan(project, max_sites=1)


# --------------------------------------------------------------------------- #
# real Mahakam Ulu (../shared/data)
# --------------------------------------------------------------------------- #


def test_real_mahakam_ulu_plan_is_optimal_and_delivered(mahakam_ulu_project, tmp_path):
    """plan --max-sites 5 on the real regency: PuLP/CBC finds the same optimum on the
    exported instance, and a re-analysis with the five sites as planned serves the people
    the plan promised."""
    copy = tmp_path / "mahakam_ulu"
    shutil.copytree(mahakam_ulu_project.path, copy, symlinks=True)
    project = Project(copy)
    with project.transaction("fewer tower candidates") as tx:
        tx.config["planning"] = {"bts_max_candidates": 8}
    project = Project(copy)
    runner = CliRunner()
    out = runner.invoke(main, ["plan", "--project", str(copy), "--max-sites", "5",
                               "--technologies", "bts,starlink", "--json",
                               "--export-instance", str(tmp_path / "inst")])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert len(doc["sites"]) == 5 and doc["solver"] == "highs" and doc["gap"] <= 1e-6
    demand = pd.read_csv(tmp_path / "inst" / "demand.csv", dtype={"demand_id": str})
    cands = pd.read_csv(tmp_path / "inst" / "candidates.csv", dtype={"candidate_id": str})
    cov = pd.read_csv(tmp_path / "inst" / "coverage.csv", dtype=str)
    d_pos = {d: i for i, d in enumerate(demand["demand_id"])}
    by_cand = cov.groupby("candidate_id")["demand_id"].apply(list).to_dict()
    cover = [np.array([d_pos[d] for d in by_cand.get(c, [])], dtype=np.int64)
             for c in cands["candidate_id"]]
    inst = Instance(demand["weight"].to_numpy(float), cands["cost_idr"].to_numpy(float), cover)
    assert pulp_optimum(inst, 5, None) == pytest.approx(doc["objective"], rel=1e-6)
    sites = pd.DataFrame(doc["sites"])
    before = project.read_table("village_results")
    after = _add_as_planned(project, sites).read_table("village_results")
    drop = before["people_unserved_planned"].sum() - after["people_unserved_planned"].sum()
    assert drop == pytest.approx(doc["people_new"], abs=0.5)
    assert doc["people_new"] > 5000  # real Mahakam Ulu: five sites serve thousands


def test_candidate_reaches_are_cached_and_a_bad_cache_is_replaced(sample_copy):
    from geo_p2dd.planning.candidates import candidates
    from geo_p2dd.planning.plan import candidate_reaches

    base = load_baseline(sample_copy)
    cand = candidates(base, ("bts", "starlink"))
    cand = pd.concat([cand[cand["kind"] == "bts"].head(3), cand[cand["kind"] == "starlink"]
                      .head(3)], ignore_index=True)
    # (the copied project's cache may hold the reaches of other plans already)
    old = set(sample_copy.cache_dir().glob("plan-reach-*.npz"))
    first = candidate_reaches(base, cand)
    files = list(set(sample_copy.cache_dir().glob("plan-reach-*.npz")) - old)
    assert len(files) == 1
    again = candidate_reaches(base, cand)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert any(len(a) for a in first)
    files[0].write_bytes(b"not a numpy file")
    third = candidate_reaches(base, cand)
    assert all(np.array_equal(a, b) for a, b in zip(first, third, strict=True))
    # another candidate set is another file
    candidate_reaches(base, cand.head(2))
    assert len(set(sample_copy.cache_dir().glob("plan-reach-*.npz")) - old) == 2
