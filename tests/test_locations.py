"""Tests for geo_p2dd.locations: where people are, best evidence first, and the one
main settlement of a kampung.

Hand-computed on small frames, then end to end on a tiny project built here
(0.01 degree cells from 114.0 E, 0.05 N, about 1.11 km), then on the real Mahakam
Ulu data with a messy agency register (tests/mahakam_register.py; skipped when
../shared/data is absent).

Distances: at the equator one hundredth of a degree of longitude is 1.113 km
(UTM zone 50's scale at 114 E adds ~0.01 %).
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import write_text, write_tif
from mahakam_register import INSTALLED, PIPELINE, write_register

from geo_p2dd.analysis import analyze_project
from geo_p2dd.config import DEFAULTS
from geo_p2dd.imports import import_layer, init_project
from geo_p2dd.locations import (
    build_locations,
    facility_kind,
    main_settlements,
    people_at_locations,
    register_locations,
    snap_estimates,
)
from geo_p2dd.project import Project
from geo_p2dd.schema import LOCATION_SOURCES

UTM = "EPSG:32650"
KM_PER_CENTIDEG = 1.11319  # 0.01 degree of longitude at the equator
A, B, C = "99.01.01.2001", "99.01.01.2002", "99.01.01.2003"


def points(rows, crs="EPSG:4326", **columns) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows)
    return gpd.GeoDataFrame(frame.drop(columns=["x", "y"]),
                            geometry=shapely.points(frame["x"], frame["y"]), crs=crs)


# --------------------------------------------------------------------------- #
# Register sites as locations
# --------------------------------------------------------------------------- #

def test_facility_kind_reads_the_sheets_words():
    assert facility_kind(None, "Starlink SD Negeri 001 Long Apari") == "school"
    assert facility_kind("", "VSAT Diskominfo Laham", "di Puskesmas Pembantu") == "health"
    assert facility_kind("Kantor Kampung Naha Aru") == "village_office"
    assert facility_kind("Balai Kampung", "di SD Negeri 2") == "village_office"  # first wins
    # whole words only: "Sdr." is not a school, "kampung" alone is not a facility
    assert facility_kind("Starlink Sdr. Lenjau", "Wi-Fi Kampung Lutan") is None


def test_register_sites_become_locations_of_their_kampung():
    imported = points([{"location_id": "sd-b", "kind": "school", "name": "SD B",
                        "village_kode": B, "people": np.nan, "x": 114.05, "y": 0.0}])
    sites = points([
        # at the school named by the row: a school location named after the site
        {"site_id": "s1", "kind": "starlink", "name": "Starlink SD Negeri 1 A",
         "status": "installed", "village_kode": A, "notes": "", "x": 114.0, "y": 0.0},
        # damaged, notes name the health post: still where people are
        {"site_id": "s2", "kind": "vsat", "name": "VSAT A", "status": "damaged",
         "village_kode": A, "notes": "di Puskesmas", "x": 114.01, "y": 0.0},
        # a second agency's Starlink at the very same position: one location
        {"site_id": "s3", "kind": "starlink", "name": "Starlink BAKTI A",
         "status": "installed", "village_kode": A, "notes": "", "x": 114.0, "y": 0.0},
        # a tower stands on a hill, not among the houses
        {"site_id": "t1", "kind": "bts", "name": "BTS A", "status": "installed",
         "village_kode": A, "notes": "", "x": 114.02, "y": 0.0},
        # 0.0015 deg = 167 m from B's imported school (< 250 m): that school already
        {"site_id": "w1", "kind": "wifi", "name": "Wi-Fi B", "status": "planned",
         "village_kode": B, "notes": "", "x": 114.0515, "y": 0.0},
        # 0.003 deg = 334 m from it: a public access point of its own
        {"site_id": "w2", "kind": "wifi", "name": "Wi-Fi B2", "status": "proposed",
         "village_kode": B, "notes": "", "x": 114.053, "y": 0.0},
    ])
    out = register_locations(sites, imported, UTM)
    assert out[["location_id", "kind", "name", "village_kode"]].values.tolist() == [
        ["site-s1", "school", "Starlink SD Negeri 1 A", A],
        ["site-s2", "health", "VSAT A", A],
        ["site-w2", "public_access", "Wi-Fi B2", B]]
    assert (out["source"] == "register").all() and out["people"].isna().all()
    assert set(out["source"]) <= set(LOCATION_SOURCES.ids)


# --------------------------------------------------------------------------- #
# Estimates move to the register sites of their kampung
# --------------------------------------------------------------------------- #

def _estimates(rows):
    return points([{"location_id": i, "kind": "settlement", "name": i, "village_kode": v,
                    "people": p, "source": "estimate",
                    "position_note": "estimated from the population grid",
                    "position_note_id": "diperkirakan dari grid penduduk", "x": x, "y": 0.0}
                   for i, v, p, x in rows])


def test_a_site_pulls_the_most_populated_estimate_within_snap_km():
    est = _estimates([("a1", A, 100.0, 114.000),    # the main settlement of A
                      ("a2", A, 50.0, 114.010),     # 1.11 km east of a1
                      ("b1", B, 80.0, 114.030)])
    # S: 1.5 deg-hundredths = 1.67 km east of a1, 0.56 km from a2: both within 2 km; the
    # most populated (a1) moves. B's estimate is 0.33 km from S but S is not B's site.
    sites = points([{"site_id": "s", "name": "Starlink A", "village_kode": A,
                     "x": 114.015, "y": 0.0}])
    out = snap_estimates(est, sites, UTM, snap_km=2.0).set_index("location_id")
    assert out.loc["a1"].geometry.equals(shapely.Point(114.015, 0.0))
    assert out.loc["a2"].geometry.equals(shapely.Point(114.010, 0.0))
    assert out.loc["b1"].geometry.equals(shapely.Point(114.030, 0.0))
    assert out.loc["a1", "position_note"] == \
        "estimated settlement moved 1.7 km to register site Starlink A"
    assert out.loc["a1", "position_note_id"] == \
        "permukiman perkiraan dipindahkan 1,7 km ke lokasi register Starlink A"
    assert out.loc["a2", "position_note"] == "estimated from the population grid"
    # beyond snap_km (1.67 km > 1.5 km) nothing moves: a1 stays, a2 (0.56 km) moves
    out = snap_estimates(est, sites, UTM, snap_km=1.5).set_index("location_id")
    assert out.loc["a1"].geometry.equals(shapely.Point(114.0, 0.0))
    assert out.loc["a2"].geometry.equals(shapely.Point(114.015, 0.0))


def test_each_estimate_moves_once_and_each_site_takes_one():
    est = _estimates([("a1", A, 100.0, 114.000), ("a2", A, 50.0, 114.010)])
    # S1 1.2 deg-hundredths east of a1 (1.34 km), S2 at 1.5 (1.67 km): a1 goes to the
    # nearer S1; S2 then takes a2 (0.56 km)
    sites = points([{"site_id": "s2", "name": "S2", "village_kode": A, "x": 114.015, "y": 0.0},
                    {"site_id": "s1", "name": "S1", "village_kode": A, "x": 114.012,
                     "y": 0.0}])
    out = snap_estimates(est, sites, UTM, snap_km=2.0).set_index("location_id")
    assert out.loc["a1"].geometry.equals(shapely.Point(114.012, 0.0))
    assert out.loc["a2"].geometry.equals(shapely.Point(114.015, 0.0))


def test_an_estimate_at_the_village_centre_moves_to_a_site_at_any_distance():
    # no populated grid cell: the village centre is no evidence of where people are; the
    # kampung's site 0.06 degree (6.7 km) away is better. A grid estimate would stay.
    est = _estimates([("a1", A, 483.0, 114.0), ("b1", B, 90.0, 114.1)])
    est.loc[0, ["position_note", "position_note_id"]] = [
        "estimated at the village centre (no populated grid cell)", "di tengah kampung"]
    sites = points([{"site_id": "s", "name": "S", "village_kode": A, "x": 114.06, "y": 0.0},
                    {"site_id": "t", "name": "T", "village_kode": B, "x": 114.16, "y": 0.0}])
    out = snap_estimates(est, sites, UTM, snap_km=2.0).set_index("location_id")
    assert out.loc["a1"].geometry.equals(shapely.Point(114.06, 0.0))
    assert out.loc["a1", "position_note"] == \
        "estimated settlement moved 6.7 km to register site S"
    assert out.loc["b1"].geometry.equals(shapely.Point(114.1, 0.0))


def test_imported_settlements_are_kept_and_no_estimate_is_made_for_their_kampung(tmp_path):
    villages = gpd.GeoDataFrame({"kode": [A], "nama": ["Alpha"], "population": [300.0]},
                                geometry=[shapely.box(114.0, -0.02, 114.05, 0.02)],
                                crs="EPSG:4326")
    imported = points([{"location_id": "a1", "kind": "settlement", "name": "Dusun 1",
                        "village_kode": A, "people": 100.0, "x": 114.01, "y": 0.0}])
    sites = points([{"site_id": "s", "kind": "starlink", "name": "Starlink A",
                     "status": "installed", "village_kode": A, "notes": "",
                     "x": 114.03, "y": 0.0}])
    locs = build_locations(villages, imported, sites, None, DEFAULTS, UTM)
    assert locs[["location_id", "kind", "source"]].values.tolist() == [
        ["a1", "settlement", "imported"], ["site-s", "public_access", "register"]]
    # the imported settlement does not move to the site 2.2 km away: it is no estimate
    assert locs.geometry.iloc[0].equals(shapely.Point(114.01, 0.0))


# --------------------------------------------------------------------------- #
# One main settlement
# --------------------------------------------------------------------------- #

def test_people_and_main_settlement():
    villages = pd.DataFrame({"kode": [A, B], "population": [300.0, np.nan]})
    locs = pd.DataFrame({
        "location_id": ["a1", "a2", "a-sd", "b1", "b2"],
        "kind": ["settlement", "settlement", "school", "settlement", "settlement"],
        "village_kode": [A, A, A, B, B],
        "people": [100.0, np.nan, np.nan, np.nan, np.nan]})
    people = people_at_locations(locs, villages)
    # a2 holds what the census leaves (300 - 100); the school holds nobody; B unknown
    assert people.iloc[:3].tolist()[:2] == [100.0, 200.0] and np.isnan(people.iloc[2])
    assert people.iloc[3:].isna().all()
    main = main_settlements(locs, people)
    # A: a2 (200 > 100, though its count is an estimate); B: a tie, the first
    assert main.to_dict() == {A: 1, B: 3}


# --------------------------------------------------------------------------- #
# End to end: import places rows at the main settlement the analysis measures from
# --------------------------------------------------------------------------- #

def _cell(r, c):
    return 114.0 + (c + 0.5) * 0.01, 0.05 - (r + 0.5) * 0.01


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three 5 x 5-cell kampung: A (cols 0-4), B (cols 5-9), C (cols 10-14), rows 0-4.

    People: A's densest cell (1, 1) 200, (3, 3) 50; B's (0, 9) 300 in its north-east
    corner, (4, 5) 20; C's (2, 12) 100. 4G: class "none" everywhere (a drive test found
    no signal). Register: A's Starlink 0.011 degree (1.22 km) east of A's densest cell;
    B's Starlink has no coordinates ("at the main settlement"); C has none.
    """
    tmp = tmp_path_factory.mktemp("locations")
    villages = gpd.GeoDataFrame(
        {"kode": [A, B, C], "nama": ["Alpha", "Bravo", "Charlie"]},
        geometry=[shapely.box(114.0, 0.0, 114.05, 0.05), shapely.box(114.05, 0.0, 114.1, 0.05),
                  shapely.box(114.1, 0.0, 114.15, 0.05)], crs="EPSG:4326")
    gpkg = tmp / "batas.gpkg"
    pyogrio.write_dataframe(villages, gpkg, layer="desa")
    pop = np.zeros((5, 15), np.float32)
    pop[1, 1], pop[3, 3], pop[0, 9], pop[4, 5], pop[2, 12] = 200, 50, 300, 20, 100
    from affine import Affine

    t = Affine(0.01, 0, 114.0, 0, -0.01, 0.05)
    x, y = _cell(1, 1)
    sites = ("nama lokasi;kampung;jenis;status;opd;lintang;bujur\n"
             f"Starlink Alpha;Alpha;Starlink;Terpasang;Diskominfo;{y!r};{x + 0.011!r}\n"
             "Starlink Bravo;Bravo;Starlink;Terpasang;Diskominfo;;\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the row placed at its main settlement is a repair
        project, _ = init_project(
            tmp / "p", villages=gpkg,
            population_raster=write_tif(tmp / "pop.tif", pop, transform=t, nodata=-1.0),
            sites=write_text(tmp / "sites.csv", sites))
    import_layer(project, "coverage", write_tif(tmp / "none.tif", np.ones((5, 15), np.uint8),
                                                transform=t),
                 operator="Telkomsel", technology="4G", values="classes")
    project = Project(project.path)
    return project, analyze_project(project), villages


def test_a_row_placed_at_the_main_settlement_is_0_km_from_it(tiny):
    project, result, villages = tiny
    site = project.read_layer("sites").set_index("name").loc["Starlink Bravo"]
    loc = result.locations.set_index("location_id")
    main = loc.loc[f"derived-{B}-1"]  # B's most populated estimate: cell (0, 9)
    assert (main["lon"], main["lat"]) == pytest.approx(_cell(0, 9))
    assert (site.geometry.x, site.geometry.y) == pytest.approx(_cell(0, 9))
    assert main["position_note"] == "estimated settlement at register site Starlink Bravo"
    v = result.villages.set_index("kode")
    assert v.loc[B, "dist_service_km"] == 0.0
    # the old anchor, B's representative point, is kilometres from the main settlement
    centre = villages.geometry.iloc[1].representative_point()
    far = gpd.GeoSeries([centre, shapely.Point(_cell(0, 9))], crs="EPSG:4326").to_crs(UTM)
    assert far.iloc[0].distance(far.iloc[1]) > 2000


def test_an_installed_site_near_the_estimate_serves_the_main_settlement(tiny):
    _, result, _ = tiny
    loc = result.locations.set_index("location_id")
    main = loc.loc[f"derived-{A}-1"]
    x, y = _cell(1, 1)
    assert (main["lon"], main["lat"]) == pytest.approx((x + 0.011, y))
    assert main["position_note"] == \
        "estimated settlement moved 1.2 km to register site Starlink Alpha"
    assert main["source"] == "estimate" and main["status"] == "served"
    assert loc.loc[f"derived-{A}-2", "status"] == "unserved"  # cell (3, 3), 2.5 km away
    v = result.villages.set_index("kode")
    # public access, not mobile coverage; never a blank spot; 0 km to the nearest service
    assert v["gap_class"].to_dict() == {A: "public_access_only", B: "public_access_only",
                                        C: "blank_spot"}
    assert v.loc[A, "people_public_access"] == 200 and v.loc[A, "people_4g"] == 0
    assert v.loc[A, "share_4g"] == 0.0
    assert v.loc[A, "dist_service_km"] == 0.0
    # a kampung with its own installed site is no kampung without a plan
    assert v.loc[A, "f_nothing_planned"] == 0 and v.loc[B, "f_nothing_planned"] == 0
    assert v.loc[C, "f_nothing_planned"] == 1
    for kode in (A, B):
        assert "Belum ada rencana" not in v.loc[kode, "reasons_id"]
    # the register's sites are locations (public access points) of their kampung
    assert loc.loc[loc["source"] == "register", "kind"].tolist() == ["public_access"] * 2
    # the printed summary keeps public access apart from 4G: A's 200 and B's 300
    from geo_p2dd.summary import headline

    h = headline(result.villages)
    assert (h["people_public_access"], h["people_4g"]) == (500, 0)
    assert h["classes"]["public_access_only"] == 2 and h["classes"]["blank_spot"] == 1


# --------------------------------------------------------------------------- #
# Real Mahakam Ulu with a messy agency register
# --------------------------------------------------------------------------- #

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from conftest import mahakam_ulu_files

    files = mahakam_ulu_files()
    tmp = tmp_path_factory.mktemp("real-register")
    register = tmp / "register_opd.csv"
    groups = write_register(register, files["villages"], files["population_raster"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the real data's repairs are tested elsewhere
        project, reports = init_project(tmp / "p", region="64.11", sites=register, **files)
    result = analyze_project(project)
    v = result.villages
    print("\nMahakam Ulu with the agency register: now", v["gap_class"].value_counts().to_dict(),
          "pipeline", v["gap_class_planned"].value_counts().to_dict(),
          "in programme", int(v["in_programme"].sum()))
    return project, {r.kind: r for r in reports}, result, groups


@pytest.mark.shared_data
def test_real_register_rows(real):
    _, reports, _, _ = real
    sites = reports["sites"]
    assert sites.added == 34
    assert sorted(r.reason.split(";")[0] for r in sites.rejected) == [
        "unknown site status <NA>", "unknown village 'Long Apari Baru'"]


@pytest.mark.shared_data
def test_real_no_kampung_with_an_installed_site_at_its_settlement_is_a_blank_spot(real):
    _, _, result, _ = real
    v = result.villages.set_index("kode")
    installed = sorted({row[0] for row in INSTALLED})
    assert len(installed) == 13
    got = v.loc[installed]
    assert (got["gap_class"] != "blank_spot").all(), got["gap_class"].to_dict()
    # every site stands within snap_km (2 km) of its kampung's densest cell: the main
    # settlement is at a site, 0 km from a service, and "no plan" is never said
    assert (got["dist_service_km"] == 0).all()
    assert not got["reasons_id"].str.contains("Belum ada rencana").any()
    assert (got["people_public_access"] > 0).all()
    loc = result.locations
    mains = loc[loc["location_id"].str.endswith("-1") & loc["village_kode"].isin(installed)]
    assert mains["position_note"].str.contains("register site").all()


@pytest.mark.shared_data
def test_real_every_kampung_its_pipeline_improves_is_in_programme(real):
    _, _, result, _ = real
    v = result.villages.set_index("kode")
    pipeline = sorted({row[0] for row in PIPELINE})
    assert len(pipeline) == 7
    got = v.loc[pipeline]
    # each pipeline site stands within 2 km of its kampung's densest cell, in a kampung
    # without an installed site: blank now, public access with the pipeline
    assert (got["gap_class"] == "blank_spot").all(), got["gap_class"].to_dict()
    assert (got["gap_class_planned"] == "public_access_only").all()
    assert got["in_programme"].all()
    assert (got["people_unserved_planned"] < got["people_unserved"]).all()
    # and nothing else is: no other kampung has a pipeline site
    assert v["in_programme"].sum() == len(pipeline)


# --------------------------------------------------------------------------- #
# One home for the class texts: README, map legend, printed summary, analyze
# --------------------------------------------------------------------------- #

def test_readme_legend_summary_and_analyze_say_the_same_classes(sample_project, tmp_path):
    from pathlib import Path

    from click.testing import CliRunner

    from geo_p2dd.cli import main
    from geo_p2dd.report.html import summary_html
    from geo_p2dd.schema import GAP_CLASSES, gap_definition
    from geo_p2dd.summary import build_summary
    from web import create_app

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for c in GAP_CLASSES.ids:
        assert (f"| `{c}` | {GAP_CLASSES.label(c, 'en')} | {GAP_CLASSES.label(c, 'id')} | "
                f"{gap_definition(c, 'en')} |") in readme, c
    # the printed summary's method section, in both languages
    for lang in ("id", "en"):
        html = summary_html(build_summary(sample_project, "99.01", lang=lang),
                            map_src="map.png")
        shown = [c for c in GAP_CLASSES.ids if f'<li data-class="{c}">' in html]
        assert {"blank_spot", "no_4g", "partial_4g", "served"} <= set(shown)
        for c in shown:
            assert (f"<strong>{GAP_CLASSES.label(c, lang)}</strong>: "
                    f"{gap_definition(c, lang)}</li>") in html
    # the map legend: every class (unknown when present) with its definition
    client = create_app({"PROJECT": str(sample_project.path), "TESTING": True}).test_client()
    for lang in ("id", "en"):
        page = client.get(f"/?lang={lang}").get_data(as_text=True)
        for c in GAP_CLASSES.ids:
            if c == "unknown" and f'data-class="{c}"' not in page:
                continue
            assert (f'<li data-class="{c}" title="{gap_definition(c, lang)}">') in page, c
            assert GAP_CLASSES.label(c, lang) in page
        assert 'name="view" value="pipeline"' in page
    # analyze prints the schema's (English) labels, now vs the pipeline
    copy = tmp_path / "sample"
    import shutil

    shutil.copytree(sample_project.path, copy, symlinks=True)
    out = CliRunner().invoke(main, ["analyze", "--project", str(copy)]).stdout
    for c in ("blank_spot", "no_4g", "partial_4g", "served"):
        assert any(line.startswith(GAP_CLASSES.label(c, "en")) for line in out.splitlines())


def test_an_area_without_signal_data_is_no_data_on_the_choropleth(sample_project):
    """Not "0-20 % blank spot": the share is among kampung with signal data, None
    (drawn in the no-data colour) when there is none."""
    import dataclasses

    from web import create_app, mapdata
    from web.context import _read_view

    view = _read_view(sample_project, ())
    areas = view.areas.copy()
    kec = areas.index[areas["level"] == "kecamatan"]
    first, second = kec[0], kec[1]
    n = int(areas.loc[first, "villages"])
    areas.loc[first, ["n_unknown", "n_blank_spot"]] = [n, 0]  # nothing known
    areas.loc[second, ["n_unknown", "n_blank_spot"]] = [1, 1]  # 1 blank of n - 1 known
    view = dataclasses.replace(view, areas=areas, extra={})
    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True})
    with app.test_request_context("/"):
        data = mapdata.area_geojson(view, "kecamatan", None, 0.001, "id")
    props = {f["properties"]["kode"]: f["properties"] for f in data["features"]}
    assert props[areas.loc[first, "kode"]]["blank_share"] is None
    m = int(areas.loc[second, "villages"])
    assert props[areas.loc[second, "kode"]]["blank_share"] == round(1 / (m - 1), 3)
    assert mapdata.share_colour(None) == mapdata.NO_DATA_COLOUR == "#bdbdbd"
    assert mapdata.NO_DATA_COLOUR not in dict(mapdata.SHARE_BINS).values()
