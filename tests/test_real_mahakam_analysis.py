"""The analysis end to end on the real Mahakam Ulu data in ../shared/data (skipped
when absent): 50 kampung, 2010 census, GHS-POP, the OpenCelliD extract, a coarse DEM.

Only what the model guarantees is asserted. The class counts and the top of the
ranking are printed (``pytest -s``) for comparison with the provincial
communications office's report of October 2021: 23 of the 50 kampung were blank
spots. The OpenCelliD extract holds only a handful of cells near the regency, so
the model finds more gaps than that; this is a property of the data, not asserted.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import mahakam_ulu_files

from geo_p2dd.analysis import GAP_ORDER, analyze_project
from geo_p2dd.imports import init_project

pytestmark = pytest.mark.shared_data

SEAT = "64.11.01.2006"  # Ujoh Bilang, the regency seat
REPORTED_BLANK_SPOTS_2021 = 23


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    files = mahakam_ulu_files()
    project, _ = init_project(tmp_path_factory.mktemp("real") / "mahakam-ulu",
                              region="64.11", **files)
    t0 = time.perf_counter()
    result = analyze_project(project)
    seconds = time.perf_counter() - t0
    v = result.villages
    counts = {c: int((v["gap_class"] == c).sum()) for c in GAP_ORDER}
    print(f"\nMahakam Ulu, analysed in {seconds:.1f} s: gap classes {counts} "
          f"(provincial office, Oct 2021: {REPORTED_BLANK_SPOTS_2021} of 50 blank spots)")
    for r in v.sort_values("rank").head(5).itertuples():
        print(f"  {r.rank}. {r.kode} {r.nama} [{r.gap_class}] score {r.score:.1f}: "
              f"{r.reasons_en}")
    seat = v.set_index("kode").loc[SEAT]
    print(f"  regency seat {SEAT} {seat['nama']}: {seat['gap_class']}, rank {seat['rank']}, "
          f"{seat['reasons_en']}")
    return project, result, seconds


def test_every_kampung_gets_a_class_score_rank_and_reasons(real):
    project, result, seconds = real
    v = result.villages
    assert len(v) == 50 and v["kode"].is_unique
    assert v["gap_class"].isin(GAP_ORDER).all()
    assert v["gap_class_planned"].isin(GAP_ORDER).all()
    # towers are modelled over the whole project grid: every location has a known
    # class ("none" where no tower reaches), so no kampung is "unknown"
    assert (v["gap_class"] != "unknown").all()
    assert v["score"].between(0, 100).all()
    assert sorted(v["rank"]) == list(range(1, 51))
    for _, g in v.groupby("kecamatan_kode"):
        assert sorted(g["rank_kecamatan"]) == list(range(1, len(g) + 1))
    assert v["kecamatan_kode"].nunique() == 5
    c_cols = [c for c in v.columns if c.startswith("c_")]
    np.testing.assert_allclose(v[c_cols].sum(axis=1), v["score"], atol=0.05)
    assert (v.loc[v["score"] > 0, "reasons_en"].str.len() > 0).all()
    assert (v.loc[v["score"] > 0, "reasons_id"].str.len() > 0).all()
    # a regency analysis completes in seconds
    assert seconds < 30


def test_results_are_stored(real):
    project, result, _ = real
    stored = project.read_table("village_results")
    assert sorted(stored["kode"]) == sorted(result.villages["kode"])
    assert len(project.read_table("location_results")) == len(result.locations)
    areas = project.read_table("area_results")
    kab = areas[(areas["level"] == "kabupaten") & (areas["kode"] == "64.11")].iloc[0]
    assert kab["villages"] == 50
    assert kab["people_unserved"] == pytest.approx(result.villages["people_unserved"].sum())
    kec = areas[areas["level"] == "kecamatan"]
    assert len(kec) == 5 and kec["villages"].sum() == 50
    for c in GAP_ORDER:
        assert kec[f"n_{c}"].sum() == kab[f"n_{c}"] == (result.villages["gap_class"] == c).sum()


def test_derived_settlements_carry_the_census_population(real):
    project, result, _ = real
    villages = project.read_layer("villages").set_index("kode")
    v = result.villages.set_index("kode")
    # no locations layer: every kampung gets settlements derived from GHS-POP (or its
    # centre), and their people add up to the census figure (rounded to 0.1 each)
    assert (v["settlements"] >= 1).all()
    census = villages["population"].dropna()
    assert len(census) == 49
    np.testing.assert_allclose(v.loc[census.index, "people_located"], census, atol=0.5)
    # no locations layer and no register: every location is an estimate, and says so
    assert (result.locations["source"] == "estimate").all()
    assert result.locations["position_note"].str.startswith("estimated ").all()


def test_settlements_out_of_every_towers_reach_are_blank_spots(real):
    """A model guarantee: beyond max_distance_m of every tower a cell is "none".

    So a kampung whose settlements all lie farther than that (plus half a cell
    diagonal) from every tower, and that has no Starlink/VSAT/Wi-Fi site, can have
    no usable signal at any settlement: it must be a blank spot.
    """
    project, result, _ = real
    crs = project.grid.crs
    reach = project.config["propagation"]["max_distance_m"] + project.grid.resolution
    sites = project.read_layer("sites")
    assert (sites["kind"] == "bts").all()  # the towers are all the sites there are
    towers = sites.to_crs(crs).geometry
    loc = result.locations
    pts = gpd.GeoSeries(gpd.points_from_xy(loc["lon"], loc["lat"]), crs="EPSG:4326").to_crs(crs)
    nearest = np.array([towers.distance(p).min() for p in pts])
    far = pd.Series(nearest > reach, index=loc.index)
    assert (loc.loc[far, "best_4g"] == "none").all()
    assert loc.loc[far, "best_other"].isin(["none", "unknown"]).all()
    assert (loc.loc[far, "status"] == "unserved").all()
    out_of_reach = far.groupby(loc["village_kode"]).all()
    out_of_reach = out_of_reach[out_of_reach].index
    v = result.villages.set_index("kode")
    assert (v.loc[out_of_reach, "gap_class"] == "blank_spot").all()
    # most kampung lie beyond the reach of the few towers in the extract, so the
    # model finds at least those blank spots (the office reported 23 in 2021)
    n_blank = int((v["gap_class"] == "blank_spot").sum())
    print(f"\n{len(out_of_reach)} kampung beyond every tower's reach; {n_blank} blank spots "
          f"modelled vs {REPORTED_BLANK_SPOTS_2021} reported in Oct 2021")
    assert n_blank >= len(out_of_reach)


def test_regency_seat(real):
    """Ujoh Bilang is ranked by what the model knows about it.

    If a tower modelled coverage at all its settlements and facilities, only distance
    and remoteness could score (at most their weights, 25 of 100 points by default),
    so it would rank below every kampung scoring more. The extract has no cell near
    Ujoh Bilang (the nearest is over 20 km away), so there it is a gap like the others.
    """
    project, result, _ = real
    v = result.villages.set_index("kode")
    seat = v.loc[SEAT]
    assert "Ujoh Bilang" in seat["nama"]
    mine = result.locations[result.locations["village_kode"] == SEAT]
    weights = project.config["weights"]
    if (mine["status"] == "served").all():
        cap = 100 * (weights["distance"] + weights["remoteness"]) / sum(weights.values())
        assert seat["score"] <= cap + 0.01
        assert seat["rank"] > (v["score"] > cap + 0.01).sum()
    else:
        assert seat["gap_class"] != "served"
        assert seat["c_unserved_people"] > 0
        assert "Unserved people" in seat["reasons_en"]
        # every unserved settlement says how far the nearest installed site is
        unserved = mine[mine["status"] != "served"]
        assert unserved["reason_en"].str.contains(r"nearest installed site .* km$").all()
