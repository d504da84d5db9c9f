"""Field evidence beats the model: hand-computed cases for each rule."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_p2dd import evidence
from geo_p2dd.analysis import analyze_project
from geo_p2dd.check import check_project
from geo_p2dd.config import EvidenceSettings, settings_from_dict
from geo_p2dd.imports import import_layer
from geo_p2dd.report import render_html
from geo_p2dd.schema import SIGNAL_CODES
from tests.conftest import write_text

UTM = "EPSG:32650"  # metres around 117 E; distances below are in metres
NONE, MARGINAL, POOR, FAIR, GOOD = (SIGNAL_CODES[c] for c in
                                    ("none", "marginal", "poor", "fair", "good"))
USABLE = POOR  # the default usable class


def _at(xy_m: list[tuple[float, float]]) -> gpd.GeoSeries:
    """Points given in metres of UTM 50N, as EPSG:4326."""
    return gpd.GeoSeries(shapely.points(np.array(xy_m, dtype=float) + [500000.0, 10000.0]),
                         crs=UTM).to_crs("EPSG:4326")


def _locations(xy_m, kode="99.01.01.2001"):
    n = len(xy_m)
    return gpd.GeoDataFrame({"location_id": [f"L{i}" for i in range(n)],
                             "kind": "settlement", "name": [f"Loc {i}" for i in range(n)],
                             "village_kode": kode, "people": 100.0, "source": "imported"},
                            geometry=_at(xy_m).values, crs="EPSG:4326")


def _reports(rows):
    """rows: (x_m, y_m, class_4g, class_other, reported_at, village_kode)."""
    return gpd.GeoDataFrame({
        "report_id": [f"r{i}" for i in range(len(rows))],
        "village_kode": [r[5] if len(r) > 5 else "99.01.01.2001" for r in rows],
        "class_4g": [r[2] for r in rows], "class_other": [r[3] for r in rows],
        "reported_at": [r[4] for r in rows]},
        geometry=_at([(r[0], r[1]) for r in rows]).values, crs="EPSG:4326")


def _coverage(best_4g, best_other=None, by_site=None):
    n = len(best_4g)
    best_other = np.zeros(n, dtype=np.uint8) if best_other is None else best_other
    by_site = np.full(n, "", dtype=object) if by_site is None else by_site
    b4 = np.asarray(best_4g, dtype=np.uint8)
    frame = pd.DataFrame({"best_4g": b4, "best_other": np.asarray(best_other, dtype=np.uint8),
                          "best_source": "modelled 4G", "by_site": by_site,
                          "status": evidence.location_status(b4, best_other, by_site, USABLE),
                          "reason_en": "4G good", "reason_id": "4G baik"})
    return frame


DAY1, DAY2, DAY1_LATER = "2026-03-05T08:00:00", "2026-03-06T09:00:00", "2026-03-05T15:00:00"
CFG = EvidenceSettings()  # 1000 m, 2 reports, distinct days


def test_two_days_of_no_signal_overturn_good_4g():
    locs = _locations([(0, 0)])
    reps = _reports([(300, 0, NONE, NONE, DAY1), (0, 400, NONE, NONE, DAY2)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    assert ev.iloc[0][["evidence", "evidence_reports", "evidence_periods", "measured_4g",
                       "measured_other"]].tolist() == ["measured", 2, 2, NONE, NONE]
    now, _ = evidence.apply_evidence(_coverage([GOOD]), _coverage([GOOD]), ev, USABLE)
    assert (now["best_4g"].iloc[0], now["status"].iloc[0], now["status_modelled"].iloc[0]) == \
        (NONE, "unserved", "served")
    assert now["reason_id"].iloc[0].startswith("diukur di lapangan: 2 laporan pada 2 hari")
    assert now["reason_en"].iloc[0].endswith("model: 4G good")
    [row] = evidence.conflicts(locs, now, USABLE).to_dict("records")
    assert (row["location_id"], row["modelled_4g"], row["measured_4g"], row["status"]) == \
        ("L0", "good", "none", "unserved")


def test_other_direction_model_none_reports_4g():
    locs = _locations([(0, 0)])
    reps = _reports([(0, 0, FAIR, 0, DAY1), (0, 0, GOOD, 0, DAY2)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    # periods FAIR and GOOD: the lower median is FAIR
    assert ev["measured_4g"].iloc[0] == FAIR
    now, _ = evidence.apply_evidence(_coverage([NONE], [NONE]), _coverage([NONE], [NONE]), ev,
                                     USABLE)
    assert (now["best_4g"].iloc[0], now["status"].iloc[0]) == (FAIR, "served")


def test_same_day_is_not_enough_but_distinct_hours_can_be():
    locs = _locations([(0, 0)])
    reps = _reports([(0, 0, NONE, NONE, DAY1), (0, 0, NONE, NONE, DAY1_LATER)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    assert ev.iloc[0][["evidence", "evidence_reports", "evidence_periods"]].tolist() == \
        ["reported", 2, 1]
    now, _ = evidence.apply_evidence(_coverage([GOOD]), _coverage([GOOD]), ev, USABLE)
    assert now["status"].iloc[0] == "served"  # the model stands
    hourly = evidence.evidence_at(locs, reps, UTM, EvidenceSettings(distinct="hour"), USABLE)
    assert hourly["evidence"].iloc[0] == "measured"


def test_undated_reports_prove_no_period_and_min_reports_is_a_setting():
    locs = _locations([(0, 0)])
    reps = _reports([(0, 0, NONE, NONE, None), (0, 0, NONE, NONE, None),
                     (0, 0, NONE, NONE, DAY1)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    assert ev.iloc[0][["evidence", "evidence_reports", "evidence_periods"]].tolist() == \
        ["reported", 3, 1]
    one = evidence.evidence_at(locs, reps, UTM, EvidenceSettings(min_reports=1), USABLE)
    assert one["evidence"].iloc[0] == "measured"


def test_radius_and_disagreement():
    locs = _locations([(0, 0), (5000, 0)])
    reps = _reports([(1500, 0, NONE, NONE, DAY1), (1500, 0, NONE, NONE, DAY2),   # too far
                     (5000, 0, GOOD, 0, DAY1), (5000, 0, NONE, NONE, DAY2)])     # disagree
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    assert ev["evidence"].tolist() == ["modelled", "reported"]
    wide = evidence.evidence_at(locs, reps, UTM, EvidenceSettings(evidence_radius_m=1600),
                                USABLE)
    assert wide["evidence"].iloc[0] == "measured"


def test_best_within_a_period_counts():
    # on day 1 one phone had no signal, another had 4G: the signal is there that day
    locs = _locations([(0, 0)])
    reps = _reports([(0, 0, NONE, NONE, DAY1), (0, 0, FAIR, 0, DAY1_LATER),
                     (0, 0, GOOD, 0, DAY2)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    assert (ev["evidence"].iloc[0], ev["measured_4g"].iloc[0]) == ("measured", FAIR)


def test_a_site_serving_by_radius_still_serves_but_the_conflict_is_listed():
    locs = _locations([(0, 0)])
    reps = _reports([(0, 0, NONE, NONE, DAY1), (0, 0, NONE, NONE, DAY2)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    by_site = np.array(["starlink-x"], dtype=object)
    cov = _coverage([GOOD], by_site=by_site)
    now, _ = evidence.apply_evidence(cov, cov, ev, USABLE)
    assert now["status"].iloc[0] == "served"
    assert len(evidence.conflicts(locs, now, USABLE)) == 1  # 4G usable -> not usable


def test_pipeline_view_keeps_measurement_unless_pipeline_towers_model_better():
    locs = _locations([(0, 0), (3000, 0)])
    reps = _reports([(0, 0, NONE, NONE, DAY1), (0, 0, NONE, NONE, DAY2),
                     (3000, 0, NONE, NONE, DAY1), (3000, 0, NONE, NONE, DAY2)])
    ev = evidence.evidence_at(locs, reps, UTM, CFG, USABLE)
    now_cov = _coverage([GOOD, NONE], [NONE, NONE])
    later_cov = _coverage([GOOD, GOOD], [NONE, NONE])  # a planned tower reaches the second
    _, later = evidence.apply_evidence(now_cov, later_cov, ev, USABLE)
    assert later["status"].tolist() == ["unserved", "served"]


def test_reports_in_a_kampung_without_a_location_nearby_become_one_location():
    villages = pd.DataFrame({"kode": ["99.01.01.2001", "99.01.01.2002"], "nama": ["Satu", "Dua"]})
    locs = _locations([(0, 0)])
    reps = _reports([(200, 0, NONE, NONE, DAY1),                           # near L0: none
                     (4000, 0, NONE, NONE, DAY1), (4300, 0, NONE, NONE, DAY2),  # one new
                     (9000, 0, FAIR, 0, DAY1),                              # a second new one
                     (100, 0, FAIR, 0, DAY1, "99.01.01.2002")])              # other kampung
    new = evidence.report_locations(reps, locs, villages, UTM, 1000.0)
    assert new["location_id"].tolist() == ["report-99.01.01.2001-1", "report-99.01.01.2001-2",
                                           "report-99.01.01.2002-1"]
    assert set(new["source"]) == {"report"} and set(new["kind"]) == {"other"}
    assert new["name"].iloc[2] == "Titik laporan sinyal Dua 1"


def test_reports_without_coordinates_speak_of_the_main_settlement():
    locs = _locations([(0, 0), (5000, 0)])
    locs["people"] = [50.0, 300.0]  # the second is the main settlement
    reps = _reports([(9000, 0, FAIR, 0, DAY1), (9000, 0, FAIR, 0, DAY2),
                     (9000, 0, FAIR, 0, DAY1, "99.01.01.2002")])
    reps["placed"] = [True, True, True]
    moved = evidence.at_main_settlement(reps, locs)
    back = moved.geometry.to_crs(UTM)
    assert np.allclose(back.x.to_numpy()[:2], 505000.0) and np.allclose(back.y.to_numpy()[:2],
                                                                         10000.0)
    assert np.isclose(back.x.iloc[2], 509000.0)  # kampung without a settlement: unchanged
    ev = evidence.evidence_at(locs, moved, UTM, CFG, USABLE)
    assert ev["evidence"].tolist() == ["modelled", "measured"]


def test_location_status_matches_coverage_rule(sample_project):
    table = sample_project.read_layer("location_results")
    codes = {n: c for n, c in SIGNAL_CODES.items()}
    status = evidence.location_status(table["best_4g"].map(codes).to_numpy(),
                                      table["best_other"].map(codes).to_numpy(),
                                      table["served_by_site"].fillna("").to_numpy(dtype=object),
                                      sample_project.settings.thresholds.usable_code)
    assert (status == table["status"].to_numpy()).all()


def test_settings_refuse_unknown_distinct():
    from geo_p2dd.errors import ConfigError

    assert settings_from_dict({"evidence": {"distinct": "hour"}}).evidence.distinct == "hour"
    with pytest.raises(ConfigError, match="evidence.distinct"):
        settings_from_dict({"evidence": {"distinct": "week"}})


def test_project_reports_change_figures_in_the_right_direction(sample_copy, tmp_path):
    """Two days of "Tidak ada sinyal" at a served settlement make it unserved, end to end."""
    before = sample_copy.read_layer("location_results")
    served = before[(before["status"] == "served") & (before["kind"] == "settlement")
                    & (before["served_by_site"].fillna("") == "")]
    target, lone = served.iloc[0], served[served["village_kode"] != served["village_kode"]
                                          .iloc[0]].iloc[-1]
    vil_before = sample_copy.read_layer("village_results").set_index("kode")
    sheet = write_text(tmp_path / "laporan_sinyal.csv",
                       "kampung,lintang,bujur,operator,jaringan,tanggal,pelapor\n"
                       f"{target['village_kode']},{target['lat']},{target['lon']},Telkomsel,"
                       "Tidak ada sinyal,05/03/2026,Pak A\n"
                       f"{target['village_kode']},{target['lat']},{target['lon']},XL,"
                       "Tidak ada sinyal,06/03/2026,Bu B\n"
                       f"{lone['village_kode']},{lone['lat']},{lone['lon']},XL,"
                       "Tidak ada sinyal,06/03/2026,Bu C\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_layer(sample_copy, "reports", sheet)
        kinds = {f.kind for f in check_project(sample_copy)}
        assert "reports_not_analysed" in kinds  # the import removed the old results
        analyze_project(sample_copy)
    findings = {(f.kind, f.id): f for f in check_project(sample_copy)}
    over = findings[("evidence_overturns_model", target["location_id"])]
    assert over.severity == "warning"
    assert "2 laporan pada 2 hari berbeda menyatakan 4G tidak ada sinyal" in over.message("id")
    assert "2 report(s) on 2 different days say 4G none" in over.message("en")
    loose = findings[("evidence_contradicts_model", lone["location_id"])]
    assert loose.severity == "info" and "(2 on different days needed)" in loose.message("en")
    after = sample_copy.read_layer("location_results").set_index("location_id")
    row = after.loc[target["location_id"]]
    assert (row["evidence"], row["status"], row["status_modelled"], row["best_4g"]) == \
        ("measured", "unserved", "served", "none")
    # only locations within 1 km of a report carry evidence
    assert set(after.loc[after["evidence"] != "modelled", "village_kode"]) <= {
        target["village_kode"], lone["village_kode"]}
    conflicts = sample_copy.read_layer("evidence_conflicts")
    assert target["location_id"] in set(conflicts["location_id"])
    vil_after = sample_copy.read_layer("village_results").set_index("kode")
    k = target["village_kode"]
    assert vil_after.loc[k, "people_served"] < vil_before.loc[k, "people_served"]
    assert vil_after.loc[k, "people_unserved"] > vil_before.loc[k, "people_unserved"]
    # the printed summary: a footnote, the rule in the method, the conflict and the checks
    html = render_html(sample_copy, "99.01", map_src="data:,", today="2026-03-10")
    assert 'id="evidence-note"' in html
    assert "Bukti lapangan: di" in html and "laporan membalik hasil model" in html
    assert "Hasil ukur mengalahkan model: di lokasi dalam radius 1.000 m" in html
    assert "Laporan dan pengukuran sinyal lapangan (laporan_sinyal.csv)" in html  # provenance
    appendix = html[html.index('id="appendix"'):]
    assert target["name"] in appendix and "Tidak ada sinyal" in appendix
    assert "evidence_overturns_model" in appendix
    english = render_html(sample_copy, "99.01", lang="en", map_src="data:,")
    assert "Field evidence: at" in english and "Where field reports overturned the model" in \
        english

    # the map marks measured locations (a distinct marker property, drawn with a ring)
    from web import create_app
    from web.context import load_view
    from web.mapdata import locations_geojson

    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    with app.test_request_context("/"):
        data = locations_geojson(load_view(sample_copy.path), None, "id")
    by_evidence = {f["properties"]["name"]: f["properties"]["evidence"] for f in data["features"]}
    assert by_evidence[target["name"]] == "measured"
    assert set(by_evidence.values()) <= {"modelled", "measured", "reported"}

def test_summary_without_reports_has_no_footnote(sample_project):
    html = render_html(sample_project, "99.01", map_src="data:,")
    assert 'id="evidence-note"' not in html
    assert "Hasil ukur mengalahkan model" not in html
    assert 'id="check-counts"' in html  # the sample has findings (estimated settlements)


# -- real data: Mahakam Ulu (../shared/data; skipped when absent) ---------------------------

UJOH_BILANG, LONG_BAGUN_ILIR, LONG_ISUN, LONG_APARI, TIONG_OHANG = (
    "64.11.01.2006", "64.11.01.2007", "64.11.05.2004", "64.11.04.2010", "64.11.04.2004")


def test_real_mahakam_ulu_reports_change_figures_in_the_right_direction(mahakam_ulu_project,
                                                                        tmp_path, capsys):
    """A Diskominfo-style sheet on the real kampung: 4G at the regency seat (no coordinates),
    no signal where the model says served, a disagreeing pair, a lone report, bad rows."""
    import shutil

    from geo_p2dd.analysis import GAP_ORDER
    from geo_p2dd.project import Project

    path = tmp_path / "mahakam-ulu"
    shutil.copytree(mahakam_ulu_project.path, path, symlinks=True)
    project = Project(path)
    loc0 = project.read_table("location_results")
    vil0 = project.read_table("village_results").set_index("kode")
    served0 = loc0[loc0["status"] == "served"]
    assert len(served0), "the real model serves at least one location (Memahak Besar)"
    rows = ["No,Kampung,Lintang,Bujur,Operator,Jaringan,Tanggal,Pelapor,Keterangan",
            "1,Ujoh Bilang,,,Telkomsel,4G,03/02/2026,Staf Diskominfo,depan kantor bupati",
            "2,Ujoh Bilang,,,Telkomsel,4G,10/02/2026,Staf Diskominfo,",
            "3,Ujoh Bilang,,,Telkomsel,4G lemah,17/02/2026,Warga,",
            "4,Long Isun,,,Telkomsel,4G,04/02/2026,Petinggi,",
            "5,Long Isun,,,Telkomsel,Tidak ada sinyal,11/02/2026,Warga,",
            "6,Long Apari,,,Telkomsel,Tidak ada sinyal,06/02/2026,Petinggi,",
            "7,Long Apari,,,,Tidak ada sinyal,20/02/2026,Petinggi,",
            "8,Tiong Ohang,,,Telkomsel,4G,07/02/2026,Warga,sinyal di bukit",
            "9,Long Pahangai I,,,Telkomsel,5 bar,08/02/2026,Warga,",
            "10,Kampung Entah,,,Telkomsel,4G,08/02/2026,Warga,",
            "11,Long Bagun Ilir,,,Telkomsel,4G,09/02/2026,Warga,",
            "12,Long Bagun Ilir,,,XL,4G,16/02/2026,Guru SD,"]
    for k, r in enumerate(served0.itertuples(), start=13):
        for day in ("05/02/2026", "12/02/2026"):
            rows.append(f"{k},{r.village_kode},{r.lat},{r.lon},Telkomsel,Tidak ada sinyal,"
                        f"{day},Petinggi,")
    sheet = write_text(tmp_path / "laporan_sinyal_diskominfo.csv", "\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = import_layer(project, "reports", sheet)
        analyze_project(project)
    assert sorted(r.row for r in report.rejected) == [10, 11]  # '5 bar', unknown kampung
    loc1 = project.read_table("location_results").set_index("location_id")
    vil1 = project.read_table("village_results").set_index("kode")
    # the seat: consistent 4G on three days at its main settlement -> people served
    for kode in (UJOH_BILANG, LONG_BAGUN_ILIR):
        assert vil1.loc[kode, "people_served"] > vil0.loc[kode, "people_served"]
        assert vil0.loc[kode, "gap_class"] == "blank_spot"
        assert vil1.loc[kode, "gap_class"] in ("partial_4g", "served")
    # where the model said served, two days of no signal: unserved, listed as conflicts
    for r in served0.itertuples():
        assert (loc1.loc[r.location_id, "status"], loc1.loc[r.location_id, "evidence"]) == \
            ("unserved", "measured")
    conflicts = project.read_table("evidence_conflicts")
    assert set(served0["location_id"]) <= set(conflicts["location_id"])
    for kode in set(served0["village_kode"]):
        assert vil1.loc[kode, "people_served"] < vil0.loc[kode, "people_served"]
    # disagreeing reports and a lone report change nothing; no signal confirmed is no conflict
    for kode in (LONG_ISUN, TIONG_OHANG):
        assert vil1.loc[kode, "gap_class"] == vil0.loc[kode, "gap_class"]
        assert "reported" in set(loc1.loc[loc1["village_kode"] == kode, "evidence"])
    apari = loc1[loc1["village_kode"] == LONG_APARI]
    assert "measured" in set(apari["evidence"])
    assert not set(apari.index) & set(conflicts["location_id"])
    counts0 = {c: int((vil0["gap_class"] == c).sum()) for c in GAP_ORDER}
    counts1 = {c: int((vil1["gap_class"] == c).sum()) for c in GAP_ORDER}
    findings = [f for f in check_project(project) if f.kind.startswith("evidence")]
    with capsys.disabled():
        print(f"\nMahakam Ulu with {len(rows) - 1} field reports: gap classes {counts0} -> "
              f"{counts1}; people served {vil0['people_served'].sum():.0f} -> "
              f"{vil1['people_served'].sum():.0f}; evidence "
              f"{loc1['evidence'].value_counts().to_dict()}; {len(conflicts)} conflict(s); "
              f"check: {len(findings)} evidence finding(s)")


def test_new_report_locations_read_unknown_for_sources_sampled_only_at_old_ones():
    """A per-operator tower model is sampled at the analysed locations only: a location
    a report adds reads 'unknown' for it (not NaN, which the class columns cannot hold)."""
    from geo_p2dd.evidence import _stack

    table = pd.DataFrame({"status": ["served"], "signal:a": np.array([5], dtype=np.uint8),
                          "signal:op": np.array([4], dtype=np.uint8)})
    extra = pd.DataFrame({"status": ["unserved"], "signal:a": np.array([1], dtype=np.uint8)})
    out = _stack(table, extra)
    assert out["signal:op"].tolist() == [4, 0]
    assert out["signal:op"].dtype == np.uint8
    assert out["signal:a"].tolist() == [5, 1]
