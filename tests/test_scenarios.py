"""Scenarios: stored in the project's database apart from the register; what-if summaries
checked against a real re-analysis with the scenario's sites added as planned sites."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from pg import pg_cluster, pg_url  # noqa: F401 - the PostgreSQL fixtures
from sqlalchemy import inspect, text

from geo_p2dd.analysis import analyze_project
from geo_p2dd.cli import main
from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.planning import scenarios as sc
from geo_p2dd.planning.demand import load_baseline
from geo_p2dd.planning.whatif import WhatIf
from geo_p2dd.project import Project
from geo_p2dd.registry import db


@pytest.fixture
def engine(sample_copy):
    engine = db.open_database(sample_copy.path)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request, tmp_path):
    """The register database on SQLite and on a real PostgreSQL + PostGIS (tests/pg.py)."""
    if request.param == "sqlite":
        engine = db.open_database(url=f"sqlite:///{tmp_path / 'register.sqlite'}")
    else:
        engine = db.open_database(url=request.getfixturevalue("pg_url"))
        with db.write_transaction(engine) as conn:
            conn.execute(text("TRUNCATE scenarios, scenario_sites RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


def test_migration_creates_the_scenario_tables(any_engine):
    engine = any_engine
    assert db.current_revision(engine) == db.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"scenarios", "scenario_sites", "sites"} <= tables


def test_create_add_move_delete(any_engine):
    engine = any_engine
    sid = sc.create_scenario(engine, "Lima menara", "andi")
    other = sc.create_scenario(engine, "Lain", "budi")
    a = sc.add_site(engine, sid, kind="bts", lon=113.5, lat=0.8, height_m=60)
    b = sc.add_site(engine, sid, kind="starlink", lon=113.6, lat=0.7, service_radius_m=150)
    got = sc.get_scenario(engine, sid)
    assert got["name"] == "Lima menara" and got["owner"] == "andi"
    assert [s["id"] for s in got["sites"]] == [a, b]
    assert got["sites"][0]["height_m"] == 60 and got["sites"][1]["service_radius_m"] == 150
    sc.move_site(engine, sid, a, 113.55, 0.82)
    assert sc.get_scenario(engine, sid)["sites"][0]["lon"] == 113.55
    assert [s["id"] for s in sc.list_scenarios(engine, owner="budi")] == [other]
    with pytest.raises(NotFoundError):
        sc.move_site(engine, other, a, 113.0, 0.8)  # a site of another scenario
    sc.delete_site(engine, sid, b)
    assert len(sc.get_scenario(engine, sid)["sites"]) == 1
    sc.delete_scenario(engine, sid)
    with pytest.raises(NotFoundError):
        sc.get_scenario(engine, sid)
    with engine.connect() as conn:  # the sites went with it
        assert conn.execute(text("SELECT count(*) FROM scenario_sites")).scalar() == 0


@pytest.mark.parametrize("fields, column", [
    ({"kind": "fiber", "lon": 113.0, "lat": 0.8}, "kind"),
    ({"kind": "bts", "lon": 200.0, "lat": 0.8}, "lon"),
    ({"kind": "bts", "lon": 113.0, "lat": "x"}, "lat"),
    ({"kind": "bts", "lon": 113.0, "lat": 0.8, "height_m": -3}, "height_m"),
    ({"kind": "bts", "lon": 113.0, "lat": 0.8, "technology": "6G"}, "technology"),
    ({"kind": "bts", "lon": 113.0, "lat": 0.8, "colour": "red"}, "colour"),
])
def test_bad_sites_are_refused_naming_the_field(any_engine, fields, column):
    engine = any_engine
    sid = sc.create_scenario(engine, "x", "andi")
    with pytest.raises(InputError) as info:
        sc.add_site(engine, sid, **fields)
    assert info.value.column == column


def test_scenarios_never_reach_the_register(engine, sample_copy):
    from geo_p2dd.registry.migrate import open_project_register

    register = open_project_register(sample_copy)
    with register.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM sites")).scalar()
    sid = sc.create_scenario(engine, "x", "andi")
    sc.add_site(engine, sid, kind="starlink", lon=113.6, lat=0.7)
    with register.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sites")).scalar() == before
    layer = Project(sample_copy.path).read_layer("sites")
    assert not layer["kind"].isna().any() and len(layer) == len(sample_copy.read_layer("sites"))


def _reanalysed_with(project: Project, sites: list[dict]) -> pd.DataFrame:
    layer = project.read_layer("sites")
    new = gpd.GeoDataFrame({
        "site_id": [f"scn-{i}" for i in range(len(sites))],
        "kind": [s["kind"] for s in sites], "status": "planned",
        "name": [f"Skenario {i}" for i in range(len(sites))],
        "height_m": [s.get("height_m") for s in sites],
        "technology": ["4G" if s["kind"] == "bts" else None for s in sites]},
        geometry=gpd.points_from_xy([s["lon"] for s in sites], [s["lat"] for s in sites]),
        crs="EPSG:4326")
    with project.transaction("scenario sites") as tx:
        tx.write_layer("sites", pd.concat([layer, new], ignore_index=True))
    fresh = Project(project.path)
    analyze_project(fresh)
    return fresh.read_table("village_results").set_index("kode")


def test_whatif_summary_equals_a_reanalysis(sample_copy, engine):
    loc = sample_copy.read_table("location_results")
    unserved = loc[(loc["status_planned"] != "served") & (loc["kind"] == "settlement")]
    first, second = unserved.iloc[0], unserved.iloc[len(unserved) // 2]
    sid = sc.create_scenario(engine, "Campuran", "andi")
    sc.add_site(engine, sid, kind="bts", lon=float(second["lon"]), lat=float(second["lat"]),
                height_m=50)
    sc.add_site(engine, sid, kind="starlink", lon=float(first["lon"]), lat=float(first["lat"]))
    whatif = WhatIf(load_baseline(sample_copy))
    got = sc.summary(engine, sid, whatif)
    assert got["people_newly_served"] > 0
    cost = sample_copy.settings.costs
    assert got["cost_idr"] == cost.bts_capex_idr + cost.starlink_capex_idr + 5 * (
        cost.bts_opex_idr + cost.starlink_opex_idr)
    before = sample_copy.read_table("village_results").set_index("kode")
    after = _reanalysed_with(sample_copy, sc.get_scenario(engine, sid)["sites"])
    assert got["people_unserved"] == pytest.approx(after["people_unserved_planned"].sum(),
                                                   abs=0.5)
    assert got["people_unserved_pipeline"] == pytest.approx(
        before["people_unserved_planned"].sum(), abs=0.5)
    assert got["villages"] == after["gap_class_planned"].to_dict()
    assert {c["kode"] for c in got["changes"]} == set(
        before.index[before["gap_class_planned"] != after["gap_class_planned"]])


def test_whatif_tower_where_no_4g_is_known_equals_a_reanalysis(sample_copy, engine):
    """Without modelled towers 4G is unknown at many locations; one new tower makes it
    known ("none" at least) on the whole grid, as the analysis's tower model does: the
    villages' classes must follow (share of 4G among the known, "unknown" no more)."""
    layer = sample_copy.read_layer("sites")
    with sample_copy.transaction("no towers") as tx:
        tx.write_layer("sites", layer[layer["kind"] != "bts"].reset_index(drop=True))
    project = Project(sample_copy.path)
    analyze_project(project)
    base = load_baseline(project)
    loc = base.locations
    # the case under test: locations on the grid whose 4G is unknown with the pipeline
    assert ((loc["best_4g_planned_code"] == 0) & loc["on_grid"]).any()
    target = loc[(loc["status_planned"] != "served") & (loc["kind"] == "settlement")].iloc[0]
    sid = sc.create_scenario(engine, "Satu menara", "andi")
    sc.add_site(engine, sid, kind="bts", lon=float(target["lon"]), lat=float(target["lat"]),
                height_m=60)
    got = sc.summary(engine, sid, WhatIf(base))
    before = project.read_table("village_results").set_index("kode")
    after = _reanalysed_with(project, sc.get_scenario(engine, sid)["sites"])
    assert got["villages"] == after["gap_class_planned"].to_dict()
    assert {c["kode"] for c in got["changes"]} == set(
        before.index[before["gap_class_planned"] != after["gap_class_planned"]])
    assert got["people_unserved"] == pytest.approx(after["people_unserved_planned"].sum(),
                                                   abs=0.5)


def test_whatif_tower_where_the_field_denies_the_model_agrees_with_a_reanalysis(
        sample_copy, engine, tmp_path):
    """Field reports overturned the model at a settlement (modelled 4G, measured none). A
    new tower whose model there is no better than the old model must not be promised to
    serve it: the what-if and the analysis share one comparison (evidence.later_4g)."""
    import warnings

    import numpy as np

    from geo_p2dd.imports import import_layer
    from geo_p2dd.planning.reach import site_reach, tower_classes
    from geo_p2dd.schema import SIGNAL_CODES

    loc = sample_copy.read_table("location_results")
    t = loc[(loc["status"] == "served") & (loc["kind"] == "settlement")
            & (loc["served_by_site"].fillna("") == "")].iloc[0]
    sheet = tmp_path / "laporan.csv"
    sheet.write_text("kampung,lintang,bujur,operator,jaringan,tanggal,pelapor\n"
                     f"{t['village_kode']},{t['lat']},{t['lon']},Telkomsel,Tidak ada sinyal,"
                     "05/03/2026,Pak A\n"
                     f"{t['village_kode']},{t['lat']},{t['lon']},XL,Tidak ada sinyal,"
                     "06/03/2026,Bu B\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_layer(sample_copy, "reports", sheet)
        analyze_project(sample_copy)
    project = Project(sample_copy.path)
    base = load_baseline(project)
    loc = base.locations
    i = int(np.flatnonzero(loc["location_id"] == t["location_id"])[0])
    row = loc.iloc[i]
    assert (row["evidence"], row["best_4g"], row["status_planned"]) == \
        ("measured", "none", "unserved")
    # the stored pipeline view's class agrees with its status (no 4G where the field says none)
    assert row["best_4g_planned_code"] < base.settings.thresholds.usable_code
    modelled = SIGNAL_CODES[row["modelled_4g"]]
    usable = base.settings.thresholds.usable_code
    # a tower whose model at the settlement is usable but no better than the old model
    found = None
    for d in range(1000, 15001, 500):
        for ang in range(0, 360, 30):
            x = row["x"] + d * np.cos(np.radians(ang))
            y = row["y"] + d * np.sin(np.radians(ang))
            c = tower_classes(x, y, base.grid, base.dem, base.settings, base.xy[[i]])[0]
            if usable <= c <= modelled:
                found = (x, y)
                break
        if found:
            break
    assert found, "no tower position with a usable model no better than the old one"
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(base.grid.crs, "EPSG:4326", always_xy=True).transform(*found)
    site = {"kind": "bts", "technology": "4G", "lon": float(lon), "lat": float(lat)}
    raw = site_reach({**site, "x": found[0], "y": found[1]}, base.xy, base.grid, base.dem,
                     base.settings)
    assert i in raw  # the model alone would promise service there
    whatif = WhatIf(base)
    assert i not in whatif.reach(site)  # the field's "none" stands, as in the analysis
    got = whatif.summary([site])
    sid = sc.create_scenario(engine, "Menara", "andi")
    sc.add_site(engine, sid, **site)
    after = _reanalysed_with(project, sc.get_scenario(engine, sid)["sites"])
    after_loc = Project(sample_copy.path).read_table("location_results").set_index(
        "location_id")
    assert after_loc.loc[t["location_id"], "status_planned"] != "served"
    assert got["villages"] == after["gap_class_planned"].to_dict()
    assert got["people_unserved"] == pytest.approx(after["people_unserved_planned"].sum(),
                                                   abs=0.5)


def test_moving_a_site_recomputes_only_that_site(sample_copy, engine):
    whatif = WhatIf(load_baseline(sample_copy))
    sid = sc.create_scenario(engine, "x", "andi")
    a = sc.add_site(engine, sid, kind="bts", lon=113.5, lat=0.8)
    sc.add_site(engine, sid, kind="wifi", lon=113.6, lat=0.7)
    sc.summary(engine, sid, whatif)
    computed = dict(whatif._reach)
    assert len(computed) == 2
    sc.move_site(engine, sid, a, 113.52, 0.8)
    sc.summary(engine, sid, whatif)
    assert len(whatif._reach) == 3  # the moved tower only; the Wi-Fi reach was reused
    assert all(whatif._reach[k] is v for k, v in computed.items())


def test_scenario_cli(sample_copy):
    runner = CliRunner()
    p = str(sample_copy.path)
    out = runner.invoke(main, ["scenario", "create", "--project", p, "Coba", "--owner", "andi"])
    assert out.exit_code == 0, out.output
    sid = out.output.strip()
    out = runner.invoke(main, ["scenario", "add-site", "--project", p, sid, "--kind",
                               "starlink", "--lon", "113.6", "--lat", "0.7"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert {"people_unserved", "people_newly_served", "villages", "cost_idr"} <= set(doc)
    out = runner.invoke(main, ["scenario", "list", "--project", p])
    assert json.loads(out.output)[0]["name"] == "Coba"
    out = runner.invoke(main, ["scenario", "show", "--project", p, "99"])
    assert out.exit_code == 1 and "no scenario 99" in out.output
    out = runner.invoke(main, ["scenario", "delete", "--project", p, sid])
    assert out.exit_code == 0


# --------------------------------------------------------------------------- #
# the JSON API (web/planning.py)
# --------------------------------------------------------------------------- #


def _signed_client(app, engine, name: str, role: str = "viewer"):
    """A test client that sends ``name``'s API token (a planner need not edit the register)."""
    from geo_p2dd.registry import accounts

    accounts.add_user(engine, name, role, password="kata-sandi-123")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {accounts.new_token(engine, name)}"
    return client


@pytest.fixture
def web_app(sample_copy, monkeypatch):
    from web import create_app

    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    engine = db.open_database(sample_copy.path)
    yield app, engine
    engine.dispose()


@pytest.fixture
def client(web_app):
    return _signed_client(*web_app, "andi")


def test_api_scenarios_need_sign_in_and_belong_to_their_owner(web_app):
    app, engine = web_app
    assert app.test_client().post("/api/scenarios", json={"name": "x"}).status_code == 401
    assert app.test_client().post("/api/plans", json={"max_sites": 1}).status_code == 401
    andi, budi = _signed_client(app, engine, "andi"), _signed_client(app, engine, "budi")
    sid = andi.post("/api/scenarios", json={"name": "Milik Andi", "owner": "budi"}
                    ).get_json()["id"]
    assert andi.get(f"/api/scenarios/{sid}").get_json()["owner"] == "andi"  # not the JSON's
    site = {"lon": 114.0, "lat": 0.1, "kind": "starlink"}
    assert budi.post(f"/api/scenarios/{sid}/sites", json=site).status_code == 403
    assert budi.delete(f"/api/scenarios/{sid}").status_code == 403
    admin = _signed_client(app, engine, "admin", "admin")
    assert admin.delete(f"/api/scenarios/{sid}").status_code == 204


def test_api_scenario_round_trip(client, sample_copy):
    r = client.post("/api/scenarios", json={"name": "Tiga menara", "owner": "andi"})
    assert r.status_code == 201
    sid = r.get_json()["id"]
    loc = sample_copy.read_table("location_results")
    target = loc[(loc["status_planned"] != "served") & (loc["kind"] == "settlement")].iloc[0]
    r = client.post(f"/api/scenarios/{sid}/sites",
                    json={"lon": float(target["lon"]), "lat": float(target["lat"]),
                          "kind": "starlink"})
    assert r.status_code == 201
    doc = r.get_json()
    assert {"people_unserved", "people_newly_served", "villages", "cost_idr",
            "site_id"} <= set(doc)
    assert doc["people_newly_served"] >= float(target["people"]) - 0.05
    assert set(doc["villages"]) == set(sample_copy.read_table("village_results")["kode"])
    site = doc["site_id"]
    # moving it far from everyone serves nobody new
    r = client.patch(f"/api/scenarios/{sid}/sites/{site}", json={"lon": 112.0, "lat": -3.0})
    assert r.status_code == 200 and r.get_json()["people_newly_served"] == 0
    r = client.get(f"/api/scenarios/{sid}")
    assert r.status_code == 200
    assert r.get_json()["sites"][0]["lon"] == 112.0
    assert r.get_json()["summary"]["cost_idr"] > 0
    assert client.delete(f"/api/scenarios/{sid}/sites/{site}").get_json()["cost_idr"] == 0
    assert client.delete(f"/api/scenarios/{sid}").status_code == 204
    assert client.get(f"/api/scenarios/{sid}").status_code == 404


@pytest.mark.parametrize("body, column", [
    ({"lon": 113.0, "lat": 0.8, "kind": "satellite"}, "kind"),
    ({"lon": 113.0, "lat": 0.8, "kind": "bts", "engine": 1}, "engine"),
    ({"lon": "timur", "lat": 0.8, "kind": "bts"}, "lon"),
])
def test_api_refuses_bad_sites_with_400(client, body, column):
    sid = client.post("/api/scenarios", json={"name": "x"}).get_json()["id"]
    r = client.post(f"/api/scenarios/{sid}/sites", json=body)
    assert r.status_code == 400
    assert column in r.get_json()["description"]
    assert "/tmp" not in r.get_data(as_text=True)


def test_api_needs_a_name_and_json(client):
    assert client.post("/api/scenarios", json={}).status_code == 400
    assert client.post("/api/scenarios", data="name=x").status_code == 400
    assert client.post("/api/scenarios/999/sites",
                       json={"lon": 113.0, "lat": 0.8, "kind": "bts"}).status_code == 404


def test_a_plan_saved_as_a_scenario_and_compared(sample_copy, engine):
    from geo_p2dd.planning.plan import make_plan

    plan = make_plan(sample_copy, max_sites=3, technologies="starlink,wifi")
    sid = sc.save_plan(engine, plan, "Dari rencana", "andi")
    other = sc.create_scenario(engine, "Kosong", "andi")
    whatif = WhatIf(load_baseline(sample_copy))
    got = sc.summary(engine, sid, whatif)
    assert got["people_newly_served"] == pytest.approx(plan.totals["people_new"], abs=0.05)
    assert got["cost_idr"] == pytest.approx(plan.totals["cost_idr"])
    rows = sc.compare(engine, [sid, other], whatif)
    assert [r["sites"] for r in rows] == [3, 0]
    assert rows[1]["people_newly_served"] == 0 and rows[1]["cost_per_person_idr"] is None
    out = CliRunner().invoke(main, ["scenario", "compare", "--project", str(sample_copy.path),
                                    str(sid), str(other), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == json.loads(json.dumps(rows))


def test_api_plan_runs_in_the_background(client, sample_copy):
    import time

    r = client.post("/api/plans", json={"max_sites": 2, "technologies": "starlink,wifi"})
    assert r.status_code == 202
    job = r.get_json()["id"]
    assert r.headers["Location"] == f"/api/plans/{job}"
    deadline = time.monotonic() + 120
    while True:
        doc = client.get(f"/api/plans/{job}").get_json()
        if doc["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert doc["status"] == "done", doc
    assert doc["progress"] == 1.0 and doc["stage"] == "done"
    plan = doc["plan"]
    assert len(plan["sites"]) == 2 and plan["solver"] == "highs"
    assert plan["label"] == "rencana usulan (bukan register)"
    want = make_plan_json(sample_copy)
    assert plan["objective"] == pytest.approx(want["objective"])


def make_plan_json(project):
    from geo_p2dd.planning.plan import make_plan

    return make_plan(project, max_sites=2, technologies="starlink,wifi").to_json()


@pytest.mark.parametrize("body", [{}, {"max_sites": "five"}, {"max_sites": 2.5},
                                  {"budget": -1}, {"max_sites": 1, "technologies": "fibre"}])
def test_api_plan_refuses_bad_requests(client, body):
    r = client.post("/api/plans", json=body)
    assert r.status_code == 400, r.get_json()
    assert client.get("/api/plans/nope").status_code == 404
