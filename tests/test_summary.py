"""Tests for geo_p2dd.summary: the figures of printed summaries.

Expected figures are computed here from the stored tables (read with pyogrio and
pandas), never through geo_p2dd.summary itself.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo_p2dd.errors import NotFoundError
from geo_p2dd.summary import (
    GAP_ORDER,
    STATUS_ORDER,
    build_summary,
    headline,
    list_regions,
    read_region_results,
    region_level,
    register_by_agency,
    resolve_region,
    top_gaps,
)


def _table(project, name: str) -> pd.DataFrame:
    return pyogrio.read_dataframe(project.layer_path(name), layer=name, read_geometry=False)


@pytest.fixture(scope="module")
def tables(sample_project):
    return {"villages": _table(sample_project, "village_results"),
            "areas": _table(sample_project, "area_results"),
            "sites": sample_project.read_layer("sites")}


def _expected(v: pd.DataFrame) -> dict:
    people = v["people_located"].sum()
    return {
        "villages": len(v),
        "classes": {c: int((v["gap_class"] == c).sum()) for c in GAP_ORDER},
        "people": round(people),
        "people_unserved": round(v["people_unserved"].sum()),
        "people_4g": round(v["people_4g"].sum()),
        "share_4g": v["people_4g"].sum() / people,
        "facilities": int(v["facilities"].sum()),
        "facilities_unserved": int(v["facilities_unserved"].sum()),
        "sites": {s: int(v[f"sites_{s}"].sum()) for s in STATUS_ORDER},
    }


@pytest.mark.parametrize("region", ["99.01", "99.01.01", "99.01.03", "99.01.05"])
def test_headline_equals_the_stored_results(sample_project, tables, region):
    v = tables["villages"]
    mine = v[v["kode"].str.startswith(region + ".")]
    s = build_summary(sample_project, region)
    want = _expected(mine)
    got = s.headline
    for key in ("villages", "classes", "people", "people_unserved", "people_4g", "facilities",
                "facilities_unserved", "sites"):
        assert got[key] == want[key], key
    assert got["share_4g"] == pytest.approx(want["share_4g"])
    assert sum(got["classes"].values()) == got["villages"]


def test_headline_agrees_with_the_analysis_aggregates(sample_project, tables):
    areas = tables["areas"]
    for level, code in (("kabupaten", "99.01"), ("kecamatan", "99.01.02")):
        row = areas[(areas["level"] == level) & (areas["kode"] == code)].iloc[0]
        h = build_summary(sample_project, code).headline
        assert h["villages"] == row["villages"]
        for c in GAP_ORDER:
            assert h["classes"][c] == row[f"n_{c}"]
        assert h["people_unserved"] == round(row["people_unserved"])
        assert h["facilities_unserved"] == row["facilities_unserved"]
        for st in STATUS_ORDER:
            assert h["sites"][st] == row[f"sites_{st}"]
        assert h["in_programme"] == row["n_in_programme"]


def test_sample_has_every_status_and_more_than_one_class(sample_project):
    h = build_summary(sample_project, "99.01").headline
    assert all(h["sites"][s] > 0 for s in STATUS_ORDER)
    assert sum(1 for c in GAP_ORDER if h["classes"][c]) >= 2


def test_headline_of_villages_without_people():
    v = pd.DataFrame({"gap_class": ["unknown"], "in_programme": [False], "people_located": [0.0],
                      "people_unserved": [0.0], "people_unserved_planned": [0.0],
                      "people_4g": [0.0], "facilities": [0], "facilities_unserved": [0],
                      **{f"sites_{s}": [0] for s in STATUS_ORDER}})
    h = headline(v)
    assert h["classes"]["unknown"] == 1 and h["people"] == 0
    assert math.isnan(h["share_4g"]) and math.isnan(h["share_unserved"])
    assert h["school_unserved"] == 0  # absent columns count as none


def test_top_gaps_are_ranked_and_leave_out_served(tables):
    v = tables["villages"]
    top = top_gaps(v, n=10, lang="en")
    expected = v[v["gap_class"] != "served"].sort_values("rank").head(10)
    assert list(top["kode"]) == list(expected["kode"])
    assert list(top["rank_project"]) == list(expected["rank"])
    assert (top["rank"].diff().dropna() > 0).all()
    assert (top["gap_class"] != "served").all()
    first = expected.iloc[0]
    assert top["reasons"].iloc[0] == first["reasons_en"].split("; ")
    top_id = top_gaps(v, n=3, lang="id")
    assert len(top_id) == 3 and top_id["reasons"].iloc[0] == first["reasons_id"].split("; ")


def test_top_gaps_of_a_kecamatan_rank_within_it(tables):
    v = tables["villages"]
    kec = v[v["kecamatan_kode"] == "99.01.02"]
    top = top_gaps(kec, n=50)
    order = kec.sort_values("rank")
    ranks = dict(zip(order["kode"], range(1, len(order) + 1), strict=True))
    assert all(ranks[k] == r for k, r in zip(top["kode"], top["rank"], strict=True))
    assert set(top["kode"]) == set(kec.loc[kec["gap_class"] != "served", "kode"])


def test_one_kecamatan_table_per_kecamatan(sample_project, tables):
    v = tables["villages"]
    s = build_summary(sample_project, "99.01")
    codes = sorted(v["kecamatan_kode"].unique())
    assert [t.region.kode for t in s.kecamatan_tables] == codes
    assert list(s.kecamatan["kode"]) == codes
    for t in s.kecamatan_tables:
        mine = v[v["kecamatan_kode"] == t.region.kode]
        assert sorted(t.rows["kode"]) == sorted(mine["kode"])
        assert list(t.rows["rank"]) == list(range(1, len(mine) + 1))
        assert t.totals["people_unserved"] == round(mine["people_unserved"].sum())
        assert t.region.title() == f"Kecamatan {mine['kecamatan'].iloc[0]}"
    assert s.kecamatan["villages"].sum() == len(v)
    kec = build_summary(sample_project, "99.01.04")
    assert [t.region.kode for t in kec.kecamatan_tables] == ["99.01.04"]


def test_register_by_agency_and_status(sample_project, tables):
    sites = tables["sites"]
    table = build_summary(sample_project, "99.01").register
    total = table.iloc[-1]
    assert total["agency"] == "Jumlah"
    inside = sites[sites["village_kode"].str.startswith("99.01.")]
    for st in STATUS_ORDER:
        assert total[st] == int((inside["status"] == st).sum())
        assert table.iloc[:-1][st].sum() == total[st]
    assert total["total"] == len(inside)
    body = table.iloc[:-1].set_index("agency")
    for agency, group in inside.groupby("agency"):
        assert body.loc[agency, "total"] == len(group)
    assert list(table.iloc[:-1]["total"]) == sorted(table.iloc[:-1]["total"], reverse=True)
    kec = build_summary(sample_project, "99.01.02").register
    assert kec.iloc[-1]["total"] == int(sites["village_kode"].str.startswith("99.01.02.").sum())


def test_register_without_agency_or_sites():
    sites = pd.DataFrame({"agency": ["Diskominfo", "", None], "status": ["installed",
                                                                           "planned", "planned"]})
    table = register_by_agency(sites, lang="en")
    assert list(table["agency"]) == ["(agency not given)", "Diskominfo", "Total"]
    assert table.iloc[0]["planned"] == 2 and table.iloc[-1]["total"] == 3
    assert register_by_agency(None).empty
    assert register_by_agency(sites.iloc[:0]).empty


def test_regions(sample_project, tables):
    regions = list_regions(tables["villages"], tables["areas"])
    assert [r.kode for r in regions] == ["99.01", "99.01.01", "99.01.02", "99.01.03",
                                         "99.01.04", "99.01.05"]
    assert regions[0].level == "kabupaten" and regions[0].title() == "Kabupaten Contoh (SAMPEL)"
    assert regions[1].parent == "Kabupaten Contoh (SAMPEL)"
    assert resolve_region(tables["villages"], None, "990102").kode == "99.01.02"  # no dots
    assert region_level("64.11") == "kabupaten" and region_level("64.11.01") == "kecamatan"
    assert region_level("64.11.01.2006") is None


@pytest.mark.parametrize("code", ["99.02", "99.01.09", "99.01.01.2001", "nonsense"])
def test_unknown_region_is_not_found(sample_project, code):
    with pytest.raises(NotFoundError, match="choose one of: 99.01"):
        build_summary(sample_project, code)


def test_unanalysed_project_says_so(project):
    with pytest.raises(NotFoundError, match="analyze"):
        build_summary(project, "99.01")


def test_provenance_and_method(sample_project):
    s = build_summary(sample_project, "99.01", lang="en")
    sources = sample_project.config["sources"]
    assert len(s.provenance) == len(sources)
    labels = {p["key"]: p["label"] for p in s.provenance}
    assert labels["villages"] == "Village boundaries"
    assert all("/" not in p["file"] for p in s.provenance)  # file names, not server paths
    assert all("SAMPLE" in p["note"] for p in s.provenance)
    analysis = sample_project.config["analysis"]
    assert s.method["rsrp_dbm"] == analysis["thresholds"]["rsrp_dbm"]
    assert s.method["served_share"] == analysis["thresholds"]["served_share"]
    assert s.method["weights"] == analysis["weights"]
    assert s.method["date"] == analysis["date"][:10]
    assert s.is_sample
    assert np.isclose(sum(s.method["weights"].values()), 1.0)


def test_sources_name_the_field_reports_verified_in_the_register(sample_copy):
    import uuid

    from geo_p2dd.registry import store
    from geo_p2dd.registry.field_reports import review_report, store_report
    from geo_p2dd.report.html import render_html

    def sources(lang="id"):
        return {p["key"]: p for p in build_summary(sample_copy, "99.01", lang=lang).provenance}

    assert "reports:register" not in sources()  # no verified report yet
    engine = store.engine_for(sample_copy.path)
    village = sample_copy.read_layer("villages").iloc[0]
    point = village.geometry.representative_point()
    for day, decision in (("2026-03-05", "verified"), ("2026-01-20", "verified"),
                          ("2025-12-01", "rejected"), ("2025-11-01", None)):
        stored, _ = store_report(engine, {
            "id": str(uuid.uuid4()), "village_kode": village["kode"], "lon": point.x,
            "lat": point.y, "technology": "none", "observed_at": day}, "ana")
        if decision:
            review_report(engine, stored["id"], decision, "rina")
    entry = sources()["reports:register"]
    assert entry["rows"] == 2  # verified ones only
    assert entry["note"] == "diamati 2026-01-20 s.d. 2026-03-05"
    assert entry["label"] == "Laporan lapangan terverifikasi di register"
    assert entry["imported"] == dt.datetime.now(dt.UTC).date().isoformat()
    english = sources("en")["reports:register"]
    assert english["note"] == "observed 2026-01-20 to 2026-03-05"
    html = render_html(sample_copy, "99.01", map_src="data:,")
    assert "Laporan lapangan terverifikasi di register (basis data register)" in html
    assert "diamati 2026-01-20 s.d. 2026-03-05" in html


@pytest.mark.parametrize("region", ["99.01", "99.01.02"])
def test_region_results_are_read_alone(sample_project, tables, region):
    """A summary read from disk reads its region's rows only, all columns."""
    v = tables["villages"]
    got = read_region_results(sample_project, region)
    assert list(got.columns) == list(v.columns)
    assert list(got["kode"]) == list(v.loc[v["kode"].str.startswith(region + "."), "kode"])


@pytest.mark.parametrize("code", ["99.07", "99.01.01.2001", "nonsense"])
def test_region_results_of_no_region_are_all_rows(sample_project, tables, code):
    """No such region, or a village code: every row (the error names the regions)."""
    assert len(read_region_results(sample_project, code)) == len(tables["villages"])
