"""Tests for geo_p2dd.scoring (pure functions): normalise, weighted_score, rank, explain.

Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_p2dd.errors import InputError
from geo_p2dd.project import DEFAULT_CONFIG
from geo_p2dd.scoring import (
    FACTORS,
    explain,
    explain_all,
    factor_label,
    normalise,
    rank,
    weighted_score,
)


def raw_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "unserved_people": [0.0, 50.0, 200.0, np.nan],
        "unserved_facilities": [0, 1, 4, 2],
        "no_4g_share": [0.0, 0.5, 1.0, np.nan],
        "distance": [0.0, 15.0, 45.0, 30.0],
        "remoteness": [10.0, 20.0, 40.0, 0.0],
        "nothing_planned": [0.0, 1.0, 1.0, 0.0],
    }, index=["a", "b", "c", "d"])


def test_normalise_each_factor_to_0_1():
    n = normalise(raw_frame())
    assert list(n.columns) == list(FACTORS)
    # counts and remoteness are divided by their maximum (200 people, 4 facilities,
    # 40 km); distance is divided by the 30 km cap and clipped; shares as they are;
    # NaN means "not known" and counts 0.
    assert n["unserved_people"].tolist() == [0.0, 0.25, 1.0, 0.0]
    assert n["unserved_facilities"].tolist() == [0.0, 0.25, 1.0, 0.5]
    assert n["no_4g_share"].tolist() == [0.0, 0.5, 1.0, 0.0]
    assert n["distance"].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert n["remoteness"].tolist() == [0.25, 0.5, 1.0, 0.0]
    assert n["nothing_planned"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert ((n >= 0) & (n <= 1)).all().all()
    # another cap: 45 km / 60 km = 0.75
    assert normalise(raw_frame(), distance_cap_km=60)["distance"].tolist() == [
        0.0, 0.25, 0.75, 0.5]


def test_normalise_all_zero_missing_and_negative():
    raw = pd.DataFrame({"unserved_people": [0.0, 0.0], "distance": [np.nan, np.nan]})
    n = normalise(raw)
    assert n["unserved_people"].tolist() == [0.0, 0.0]  # no division by zero
    assert "distance" not in n.columns  # all NaN: the factor is not available
    with pytest.raises(InputError, match="negative"):
        normalise(pd.DataFrame({"distance": [1.0, -2.0]}))


def test_weighted_score_contributions_add_up():
    n = normalise(raw_frame())
    score, contrib = weighted_score(n, DEFAULT_CONFIG["weights"])
    # default weights 0.30/0.20/0.15/0.15/0.10/0.10 add up to 1; village c is 1 on
    # every factor -> 100; village a: remoteness 0.25 * 10 = 2.5
    assert score["c"] == pytest.approx(100.0)
    assert score["a"] == pytest.approx(2.5)
    # village b: 0.25*30 + 0.25*20 + 0.5*15 + 0.5*15 + 0.5*10 + 1*10
    #          = 7.5 + 5 + 7.5 + 7.5 + 5 + 10 = 42.5
    assert score["b"] == pytest.approx(42.5)
    assert contrib.loc["b"].to_dict() == pytest.approx({
        "unserved_people": 7.5, "unserved_facilities": 5.0, "no_4g_share": 7.5,
        "distance": 7.5, "remoteness": 5.0, "nothing_planned": 10.0})
    np.testing.assert_allclose(contrib.sum(axis=1), score)
    assert score.between(0, 100).all()


def test_weights_of_missing_factors_are_rescaled():
    # only two factors available; weights 0.30 and 0.10 -> 75 % and 25 % of 100
    n = pd.DataFrame({"unserved_people": [1.0, 0.2], "nothing_planned": [0.0, 1.0]})
    score, contrib = weighted_score(n, DEFAULT_CONFIG["weights"])
    assert score.tolist() == pytest.approx([75.0, 0.2 * 75 + 25.0])
    assert list(contrib.columns) == ["unserved_people", "nothing_planned"]


def test_changing_a_weight_changes_the_order():
    # x: many unserved people, close to service; y: few people, far away
    n = pd.DataFrame({"unserved_people": [1.0, 0.1], "distance": [0.1, 1.0]}, index=["x", "y"])
    s1, _ = weighted_score(n, {"unserved_people": 0.8, "distance": 0.2})
    s2, _ = weighted_score(n, {"unserved_people": 0.2, "distance": 0.8})
    # s1: x = 80 + 2 = 82, y = 8 + 20 = 28;  s2: x = 20 + 8 = 28, y = 2 + 80 = 82
    assert s1.tolist() == pytest.approx([82.0, 28.0])
    assert s2.tolist() == pytest.approx([28.0, 82.0])


@pytest.mark.parametrize(("weights", "message"), [
    ({"unserved_people": 1.0, "popularity": 1.0}, "unknown weight"),
    ({"unserved_people": -1.0, "distance": 2.0}, "negative"),
    ({"unserved_people": 0.0, "distance": 0.0}, "add up to 0"),
])
def test_bad_weights_are_refused(weights, message):
    n = pd.DataFrame({"unserved_people": [1.0], "distance": [0.5]})
    with pytest.raises(InputError, match=message):
        weighted_score(n, weights)


def test_rank_ties_are_broken_by_unserved_people_then_code():
    df = pd.DataFrame({
        "kode": ["99.01.01.2003", "99.01.01.2001", "99.01.02.2001", "99.01.01.2002",
                 "99.01.02.2002"],
        "kecamatan_kode": ["99.01.01", "99.01.01", "99.01.02", "99.01.01", "99.01.02"],
        "score": [50.0, 50.0, 70.0, 50.0, 10.0],
        "people_unserved": [10.0, 10.0, 0.0, 30.0, 5.0],
    })
    # 70 first; then the three 50s: 30 people before 10 people; the two with 10
    # people by code (2001 before 2003); 10 last
    assert rank(df).tolist() == [4, 3, 1, 2, 5]
    assert rank(df, by="kecamatan_kode").tolist() == [3, 2, 1, 1, 2]
    # the order of the rows does not matter
    shuffled = df.iloc[[4, 2, 0, 3, 1]]
    assert rank(shuffled).to_dict() == rank(df).to_dict()


def test_unknown_villages_rank_after_every_known_gap():
    # an unknown village (no signal data) scores high on distance and remoteness alone;
    # it still ranks after the blank spot, the no-4G and even the served village
    df = pd.DataFrame({
        "kode": ["99.01.01.2001", "99.01.01.2002", "99.01.01.2003", "99.01.01.2004",
                 "99.01.01.2005"],
        "kecamatan_kode": ["99.01.01"] * 5,
        "score": [80.0, 30.0, 12.0, 5.0, 60.0],
        "people_unserved": [0.0, 40.0, 20.0, 0.0, 0.0],
        "gap_class": ["unknown", "blank_spot", "no_4g", "served", "unknown"],
    })
    # known first by score (30, 12, 5); then the unknown by score (80 before 60)
    assert rank(df).tolist() == [4, 1, 2, 3, 5]
    assert rank(df, by="kecamatan_kode").tolist() == [4, 1, 2, 3, 5]
    # without the rule (the score alone) the unknown village would come first
    assert rank(df, unknown_last=None).tolist() == [1, 3, 4, 5, 2]


def test_explain_lists_the_largest_contributions():
    row = pd.Series({"people_unserved": 1234.4, "facilities_unserved": 2, "no_4g_share": 0.75,
                     "dist_service_km": 12.345, "remoteness_km": 80.0})
    contrib = {"unserved_people": 20.0, "unserved_facilities": 5.0, "no_4g_share": 11.25,
               "distance": 6.2, "remoteness": 0.04, "nothing_planned": 0.0}
    en = explain(row, contrib, "en")
    assert en == ["Unserved people: 1,234 people (+20.0)",
                  "Share of people without 4G: 75% (+11.2)",
                  "Distance to nearest service: 12.3 km (+6.2)"]
    # Indonesian labels and number formats (thousands with ".", decimals with ",")
    id_ = explain(row, contrib, "id", top=6)
    assert id_[0] == "Penduduk belum terlayani: 1.234 jiwa (+20.0)"
    assert "Jarak ke layanan terdekat: 12,3 km (+6.2)" in id_
    # contributions of 0.05 points or less are not reasons
    assert len(id_) == 4
    assert not any("Keterpencilan" in s for s in id_)
    assert explain(row, {k: 0.0 for k in contrib}, "en") == []


def test_every_factor_has_labels_in_both_languages():
    for f in FACTORS:
        assert factor_label(f, "en") and factor_label(f, "id")
        assert factor_label(f, "en") != factor_label(f, "id")


@pytest.mark.parametrize("lang", ["id", "en"])
def test_explain_all_writes_what_explain_writes_row_by_row(sample_project, lang):
    """The vectorised reasons equal the per-village ones (ties, NaN, zero, missing)."""
    v = sample_project.read_table("village_results")
    contrib = v[[f"c_{f}" for f in FACTORS]].rename(columns=lambda c: c[2:])
    # ties, missing and tiny contributions, and missing figures, on purpose
    contrib.iloc[0] = [5.0, 5.0, 5.0, 5.0, 0.0, 0.05]
    contrib.iloc[1] = [float("nan"), 1.0, 2.0, 2.0, 2.0, 0.06]
    v.loc[v.index[1], "dist_service_km"] = float("nan")
    v.loc[v.index[2], "people_unserved"] = float("nan")
    expected = ["; ".join(explain(v.iloc[i], contrib.iloc[i].to_dict(), lang))
                for i in range(len(v))]
    assert explain_all(v, contrib, lang) == expected
    assert explain_all(v.iloc[:0], contrib.iloc[:0], lang) == []
