"""Figures the analysis reports beside the class and score, checked for consistency."""

from __future__ import annotations

import numpy as np

from geo_p2dd.analysis import CLASS_NAMES


def test_nearest_tower_is_never_nearer_than_nearest_site(sample_project):
    v = sample_project.read_table("village_results")
    both = v.dropna(subset=["dist_service_km", "dist_tower_km"])
    assert len(both) > 0
    # towers are a subset of sites, so the nearest tower is at least as far
    assert (both["dist_tower_km"] + 1e-9 >= both["dist_service_km"]).all()
    loc = sample_project.read_table("location_results")
    ok = loc.dropna(subset=["nearest_site_km", "nearest_tower_km"])
    assert (ok["nearest_tower_km"] + 0.01 >= ok["nearest_site_km"]).all()


def test_population_shares_per_signal_class(sample_project):
    v = sample_project.read_table("village_results")
    cols = [f"pop_{c}" for c in CLASS_NAMES]
    with_pop = v[v["pop_grid"] > 0]
    assert len(with_pop) > 0
    np.testing.assert_allclose(with_pop[cols].sum(axis=1), 1.0, atol=1e-6)


def test_each_coverage_source_is_reported_and_best_of_matches(sample_project):
    loc = sample_project.read_table("location_results")
    signal = [c for c in loc.columns if c.startswith("cls_")]  # cls_<source key>
    assert "cls_mod4g" in signal
    assert "cls_mod3g" in signal  # the sample's 2G tower
    order = {name: i for i, name in enumerate(CLASS_NAMES)}
    four_g = [c for c in signal if c.endswith(("4g", "5g"))]
    best = loc[four_g].apply(lambda r: max(r, key=order.get), axis=1)
    assert (best == loc["best_4g"]).all()


def test_reasons_in_both_languages(sample_project):
    loc = sample_project.read_table("location_results")
    unserved = loc[loc["status"] == "unserved"]
    assert len(unserved) > 0
    assert unserved["reason_en"].str.contains("nearest installed site|no installed site").all()
    assert unserved["reason_id"].str.contains("titik terpasang terdekat|belum ada titik").all()
    served = loc[loc["status"] == "served"]
    assert not served["reason_id"].str.contains("terdekat").any()


def test_remoteness_is_measured_to_the_configured_seat(sample_copy):
    import tomllib

    import tomli_w

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.project import Project

    before = sample_copy.read_table("village_results").set_index("kode")
    seat = before["remoteness_km"].idxmax()  # make the most remote village the seat
    path = sample_copy.path / "project.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["project"]["seat_kode"] = seat
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    after = analyze_project(Project(sample_copy.path)).villages.set_index("kode")
    assert after.loc[seat, "remoteness_km"] == 0.0
    assert before.loc[seat, "remoteness_km"] > 0.0
