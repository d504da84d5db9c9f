"""Tests for geo_p2dd.analysis on a tiny hand-computed project, plus the sample.

The tiny project ("Kabupaten Uji", 99.01) is built from files written here:

* a 10 x 10 raster of 1/64 degree cells (exact binary fractions, so cell edges
  are exact in floating point), north-west corner 114.0 E, 10/64 N;
  cell (r, c) is centred at (114 + (c + .5)/64, 10/64 - (r + .5)/64);
* five square villages: A, B, C, D are the 5 x 5 cell quadrants (NW, NE, SW, SE),
  E lies just east of B, outside every raster;
* three coverage rasters (two 4G operators and one 2G), a population raster,
  settlements and facilities with people, and four Starlink/Wi-Fi sites.

Every expected value below is derived by hand in the comments.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tomllib

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import tomli_w
from click.testing import CliRunner
from conftest import snapshot, write_text, write_tif

from geo_p2dd.analysis import GAP_ORDER, analyze_project, derive_settlements
from geo_p2dd.cli import main
from geo_p2dd.config import DEFAULTS
from geo_p2dd.errors import ConfigError
from geo_p2dd.imports import import_layer, init_project
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.project import RESULT_LAYERS, Project

CELL = 1 / 64
X0, Y0 = 114.0, 10 / 64
GEO = (CELL, 0, X0, 0, -CELL, Y0)

A, B, C, D, E = ("99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01.02.2002",
                 "99.01.02.2003")


def cell_box(r0, c0, r1, c1):
    """Polygon covering cells rows r0..r1-1, cols c0..c1-1."""
    return shapely.box(X0 + c0 * CELL, Y0 - r1 * CELL, X0 + c1 * CELL, Y0 - r0 * CELL)


def centre(r, c):
    return X0 + (c + 0.5) * CELL, Y0 - (r + 0.5) * CELL


# 4G, operator Telkomsel: class codes, 255 = nodata, 7 is not a class (-> unknown)
TSEL_4G = np.array(
    [[5, 5, 5, 5, 5, 0, 0, 0, 0, 7]]
    + [[5, 5, 5, 5, 5, 1, 1, 1, 1, 1]] * 4
    + [[2, 3, 4, 5, 1, 255, 255, 255, 255, 255]] * 2
    + [[2, 3, 4, 5, 1, 2, 2, 2, 2, 2]]
    + [[2, 3, 4, 5, 1, 1, 1, 1, 1, 1]] * 2, dtype=np.uint8)
# 4G, operator XL: unknown (0) everywhere except (5, 0) fair and (0, 5) poor
XL_4G = np.zeros((10, 10), np.uint8)
XL_4G[5, 0], XL_4G[0, 5] = 4, 3
# 2G, operator Telkomsel: fair at (3, 7), poor at (6, 4)
TSEL_2G = np.zeros((10, 10), np.uint8)
TSEL_2G[3, 7], TSEL_2G[6, 4] = 4, 3
# people per cell, -1 = nodata
POP = np.zeros((10, 10), np.float32)
POP[0:5, 0:5] = 1                      # A: 25 people
POP[0, 5] = 4                          # B: 4 in the poor cell,
POP[0, 6:10] = 10                      #    40 in unknown cells,
POP[1:5, 5:10] = 2                     #    2 per "none" cell ...
POP[1, 5] = POP[2, 5] = -1             #    ... but two cells are nodata: 18 x 2 = 36
POP[5:10, 0:5] = [1, 0, 0, 2, 3]       # C: per row 1 (marginal/fair), 0, 0, 2 (good), 3 (none)
POP[5:7, 5:10] = 10                    # D: 100 in unknown cells,
POP[7, 5:10] = 1                       #    5 in marginal cells, 0 in "none" cells

# Best-of the two 4G rasters, per village (25 cells each):
#   A: 25 good
#   B: (0,5) poor (XL); (0,6) (0,7) (0,8) unknown, (0,9) invalid -> unknown; 20 none
#   C: col 0: (5,0) fair (XL beats marginal), rows 6-9 marginal; col 1 poor; col 2 fair;
#      col 3 good; col 4 none  ->  none 5, marginal 4, poor 5, fair 6, good 5
#   D: rows 5-6 nodata -> unknown 10; row 7 marginal 5; rows 8-9 none 10
#   E: no cell at all
AREA = {  # unknown, none, marginal, poor, fair, good
    A: [0, 0, 0, 0, 0, 1],
    B: [4 / 25, 20 / 25, 0, 1 / 25, 0, 0],
    C: [0, 5 / 25, 4 / 25, 5 / 25, 6 / 25, 5 / 25],
    D: [10 / 25, 10 / 25, 5 / 25, 0, 0, 0],
}
# share of the *known* area below "poor" (none + marginal): unknown is not "no 4G"
AREA_NO_4G = {A: 0.0, B: 20 / 21, C: 9 / 25, D: 15 / 15}
# people: A 25 all good; B 4 poor + 40 unknown + 36 none -> 36 / (36 + 4) = 0.9;
# C 1 fair + 4 marginal + 10 good + 15 none -> (4 + 15) / 30; D 100 unknown, 5 marginal
POP_GRID = {A: 25.0, B: 80.0, C: 30.0, D: 105.0, E: 0.0}
POP_NO_4G = {A: 0.0, B: 0.9, C: 19 / 30, D: 1.0}

LOCATIONS_CSV = "location_id,kind,name,kode_desa,people,lon,lat\n" + "".join(
    f"{i},{k},{n},{v},{p},{x!r},{y!r}\n" for i, k, n, v, p, (x, y) in [
        ("a1", "settlement", "A1", A, 100, centre(2, 2)),        # good -> served
        ("a-sd", "school", "SD Alpha", A, "", centre(1, 1)),      # good -> served
        ("b1", "settlement", "B1", B, 50, centre(3, 7)),         # 4G none, 2G fair -> weak
        ("b2", "settlement", "B2", B, 30, centre(0, 8)),         # unknown -> unknown
        # B3 sits in B just across the border with A, 0.0015 deg (167 m) from the
        # Starlink in A whose default radius is 300 m; its cell (3, 5) is "none"
        ("b3", "settlement", "B3", B, 20, (114.079, 0.1)),
        ("b-pkm", "health", "Puskesmas Bravo", B, "", centre(2, 6)),  # none -> unserved
        ("b-pos", "health", "Posyandu Bravo", B, "", centre(0, 7)),   # unknown
        ("c1", "settlement", "C1", C, 40, centre(6, 4)),         # 4G none, 2G poor -> weak
        ("c2", "settlement", "C2", C, 60, centre(7, 0)),         # 4G marginal -> weak
        ("c-kk", "village_office", "Kantor Charlie", C, "", centre(5, 0)),  # XL fair
        ("d1", "settlement", "D1", D, 70, centre(8, 7)),         # none -> unserved
        ("d2", "settlement", "D2", D, 30, centre(7, 8)),         # marginal -> weak
        # on the edge between rows 6 (nodata) and 7 (marginal): reads row 7
        ("d-kk", "village_office", "Kantor Delta", D, "", (centre(0, 6)[0], Y0 - 7 * CELL)),
        ("e1", "settlement", "E1", E, 25, (X0 + 12.5 * CELL, centre(2, 0)[1])),  # no data
    ])
SITES_CSV = (
    "site_id,kind,name,status,kode_desa,radius_m,lon,lat\n"
    "st-a,Starlink,Starlink Alpha,terpasang,99.01.01.2001,,114.0775,0.1\n"
    # 0.0008125 deg (90 m) east of D1
    "st-d,Starlink,Starlink Delta,rencana,99.01.02.2002,,114.118,0.0234375\n"
    # 0.0008875 deg (99 m) east of E1
    "st-e,Starlink,Starlink Echo,proses,99.01.02.2003,,114.1962,0.1171875\n"
    # 0.0006875 deg (76 m) east of C2, but only proposed: never counts
    "wf-c,wifi,Wifi Charlie,usulan,99.01.02.2001,,114.0085,0.0390625\n")


def set_config(project: Project, **sections) -> Project:
    """Change sections of project.toml (like a user editing it) and reload."""
    path = project.path / "project.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return Project(project.path)


# weights with distance and remoteness off, so that scores are easy to derive by hand
HAND_WEIGHTS = {"unserved_people": 0.30, "unserved_facilities": 0.20, "no_4g_share": 0.15,
                "distance": 0.0, "remoteness": 0.0, "nothing_planned": 0.10}


def build_tiny_project(root) -> Project:
    """The tiny project described in the module docstring (not analysed)."""
    inputs = root / "inputs"
    inputs.mkdir(parents=True)
    villages = pd.DataFrame({"kode": [A, B, C, D, E],
                             "nama": ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]})
    geoms = [cell_box(0, 0, 5, 5), cell_box(0, 5, 5, 10), cell_box(5, 0, 10, 5),
             cell_box(5, 5, 10, 10), cell_box(0, 10, 5, 15)]
    gpkg = inputs / "batas.gpkg"
    import geopandas as gpd

    pyogrio.write_dataframe(gpd.GeoDataFrame(villages, geometry=geoms, crs="EPSG:4326"), gpkg,
                            layer="desa")
    kec = gpd.GeoDataFrame({"kode": ["99.01.01", "99.01.02"],
                            "nama": ["Kecamatan Satu", "Kecamatan Dua"]},
                           geometry=[cell_box(0, 0, 5, 10),
                                     shapely.union(cell_box(5, 0, 10, 10), geoms[4])],
                           crs="EPSG:4326")
    pyogrio.write_dataframe(kec, gpkg, layer="kecamatan")
    from affine import Affine

    t = Affine(*GEO)
    project, _ = init_project(
        root / "project", villages=gpkg,
        population_raster=write_tif(inputs / "pop.tif", POP, transform=t, nodata=-1.0),
        locations=write_text(inputs / "locations.csv", LOCATIONS_CSV),
        sites=write_text(inputs / "sites.csv", SITES_CSV))
    for name, array, operator, tech, nodata in (("tsel4g", TSEL_4G, "Telkomsel", "4G", 255),
                                                ("xl4g", XL_4G, "XL", "4G", None),
                                                ("tsel2g", TSEL_2G, "Telkomsel", "2G", None)):
        # the invalid class 7 becomes nodata at import, with a warning
        with pytest.warns(RepairWarning, match=r"1 cell\(s\) outside the plausible range") if \
                name == "tsel4g" else contextlib.nullcontext():
            import_layer(project, "coverage", write_tif(inputs / f"{name}.tif", array,
                                                        transform=t, nodata=nodata),
                         operator=operator, technology=tech, values="classes")
    return set_config(Project(project.path), weights=HAND_WEIGHTS)


@pytest.fixture(scope="session")
def tiny_built(tmp_path_factory):
    """The tiny project and its analysis result (built once per worker; read-only)."""
    root = tmp_path_factory.mktemp("tiny")
    project = build_tiny_project(root)
    return project, analyze_project(project)


@pytest.fixture
def tiny_copy(tiny_built, tmp_path):
    project, _ = tiny_built
    shutil.copytree(project.path, tmp_path / "project", symlinks=True)
    return Project(tmp_path / "project")


def by_kode(result) -> pd.DataFrame:
    return result.villages.set_index("kode")


def locs_by_name(result) -> pd.DataFrame:
    return result.locations.set_index("name")


# --------------------------------------------------------------------------- #
# Coverage per village: area and population shares
# --------------------------------------------------------------------------- #

def test_area_shares_per_class(tiny_built):
    v = by_kode(tiny_built[1])
    names = ["unknown", "none", "marginal", "poor", "fair", "good"]
    for kode, shares in AREA.items():
        got = [v.loc[kode, f"area_{n}"] for n in names]
        assert got == pytest.approx(shares), kode
        assert v.loc[kode, "area_no_4g"] == pytest.approx(AREA_NO_4G[kode]), kode
    # E lies outside every raster: no area figure at all (not "no signal")
    assert v.loc[E, [f"area_{n}" for n in names] + ["area_no_4g"]].isna().all()


def test_population_weighted_shares(tiny_built):
    v = by_kode(tiny_built[1])
    for kode, people in POP_GRID.items():
        assert v.loc[kode, "pop_grid"] == pytest.approx(people), kode
    for kode, share in POP_NO_4G.items():
        assert v.loc[kode, "pop_no_4g"] == pytest.approx(share), kode
    # nobody counted in a known class in E: unknown, not 0 % or 100 %
    assert np.isnan(v.loc[E, "pop_no_4g"])


# --------------------------------------------------------------------------- #
# Coverage at locations
# --------------------------------------------------------------------------- #

EXPECTED_LOCATIONS = {
    # name: best_4g, best_other, served_by_site, status, status_planned
    "A1": ("good", "unknown", "", "served", "served"),
    "SD Alpha": ("good", "unknown", "", "served", "served"),
    "B1": ("none", "fair", "", "weak", "weak"),
    "B2": ("unknown", "unknown", "", "unknown", "unknown"),
    "B3": ("none", "unknown", "st-a", "served", "served"),
    "Puskesmas Bravo": ("none", "unknown", "", "unserved", "unserved"),
    "Posyandu Bravo": ("unknown", "unknown", "", "unknown", "unknown"),
    "C1": ("none", "poor", "", "weak", "weak"),
    "C2": ("marginal", "unknown", "", "weak", "weak"),   # the proposed Wi-Fi never counts
    "Kantor Charlie": ("fair", "unknown", "", "served", "served"),
    "D1": ("none", "unknown", "", "unserved", "served"),  # planned Starlink Delta
    "D2": ("marginal", "unknown", "", "weak", "weak"),
    "Kantor Delta": ("marginal", "unknown", "", "weak", "weak"),  # edge -> row 7
    "E1": ("unknown", "unknown", "", "unknown", "served"),  # Starlink Echo in progress
    # the register's installed Starlink in A is a location of A (a public access point);
    # Delta's, Echo's and Charlie's sites stand within 250 m of an imported location
    "Starlink Alpha": ("good", "unknown", "st-a", "served", "served"),
}


def test_location_results(tiny_built):
    loc = locs_by_name(tiny_built[1])
    assert sorted(loc.index) == sorted(EXPECTED_LOCATIONS)
    got = {n: tuple(loc.loc[n, ["best_4g", "best_other", "served_by_site", "status",
                                "status_planned"]]) for n in EXPECTED_LOCATIONS}
    assert got == EXPECTED_LOCATIONS
    # lon/lat are the locations' own coordinates
    assert loc.loc["B3", "lon"] == 114.079 and loc.loc["B3", "lat"] == 0.1


def test_location_reasons(tiny_built):
    loc = locs_by_name(tiny_built[1])
    assert loc.loc["A1", "reason_en"] == "4G good (coverage_telkomsel_4g)"
    # the office's 4G comes from the second operator: best-of, source named
    assert loc.loc["Kantor Charlie", "reason_en"] == "4G fair (coverage_xl_4g)"
    assert loc.loc["B3", "reason_en"] == "within the service radius of site st-a; no usable 4G"
    assert loc.loc["B1", "reason_en"].startswith(
        "no usable 4G; 2G/3G fair; nearest installed site Starlink Starlink Alpha ")
    assert loc.loc["C2", "reason_en"].startswith("no usable 4G (best marginal); nearest "
                                                 "installed site Starlink Starlink Alpha ")
    assert loc.loc["B2", "reason_en"].startswith("4G signal unknown; nearest installed site")
    # D1 (114.1171875, 0.0234375) to Starlink Alpha (114.0775, 0.1):
    #   dx = 0.0396875 deg * 111.32 km = 4.418 km, dy = 0.0765625 deg * 110.57 km = 8.466 km
    #   -> 9.55 km (UTM scale at 2.9 deg from the central meridian adds ~0.1 %)
    reason = loc.loc["D1", "reason_en"]
    assert reason.startswith("no usable 4G; nearest installed site Starlink Starlink Alpha ")
    assert reason.endswith(" km")
    assert float(reason.split()[-2]) == pytest.approx(9.55, abs=0.06)
    assert loc.loc["D1", "nearest_site_km"] == pytest.approx(9.55, abs=0.02)


# --------------------------------------------------------------------------- #
# Village figures, gap classes, programme
# --------------------------------------------------------------------------- #

def test_village_people_and_facilities(tiny_built):
    v = by_kode(tiny_built[1])
    cols = ["settlements", "people_located", "people_served", "people_unserved",
            "people_unknown", "people_unserved_planned", "facilities", "facilities_unserved"]
    got = {k: [float(x) for x in v.loc[k, cols]] for k in (A, B, C, D, E)}
    assert got == {
        A: [1, 100, 100, 0, 0, 0, 1, 0],
        # B: B3 served (20), B1 weak (50) counts as unserved, B2 unknown (30) does not;
        # Puskesmas unserved, Posyandu unknown: unknown is not "unserved"
        B: [3, 100, 20, 50, 30, 50, 2, 1],
        C: [2, 100, 0, 100, 0, 100, 1, 0],
        # D: after the planned Starlink only D2 (30) stays unserved
        D: [2, 100, 0, 100, 0, 30, 1, 1],
        E: [1, 25, 0, 0, 25, 0, 0, 0],
    }
    assert v.loc[B, "health_unserved"] == 1
    assert v.loc[D, "village_office_unserved"] == 1
    assert v.loc[C, "village_office_unserved"] == 0
    # share of people without 4G among those whose 4G is known
    assert v["no_4g_share"].drop(E).to_dict() == {A: 0.0, B: 1.0, C: 1.0, D: 1.0}
    assert np.isnan(v.loc[E, "no_4g_share"])  # nothing known about 4G in E
    assert v.loc[B, "served_share"] == pytest.approx(0.2)
    assert v.loc[D, "served_share_planned"] == pytest.approx(0.7)
    assert v.loc[E, "served_share_planned"] == pytest.approx(1.0)
    # sites by status, counted in the village they stand in
    assert v.loc[A, "sites_installed"] == 1 and v.loc[A, "installed_starlink"] == 1
    assert v.loc[D, "sites_planned"] == 1 and v.loc[E, "sites_in_progress"] == 1
    assert v.loc[C, "sites_proposed"] == 1 and v.loc[C, "sites_installed"] == 0


def test_gap_classes_and_programme(tiny_built):
    v = by_kode(tiny_built[1])
    # A served (4G share 1 >= 0.9); B signal but not 4G (2G at B1: the Starlink in A
    # serving B3 is public access, not mobile coverage); C signal but not 4G (2G at C1);
    # D blank spot (only marginal 4G, no site); E no data at all
    assert v["gap_class"].to_dict() == {A: "served", B: "no_4g", C: "no_4g",
                                        D: "blank_spot", E: "unknown"}
    # after the pipeline: D's planned Starlink serves 70 of 100 people and E's in-progress
    # Starlink all of E, but neither brings a mobile signal: public access only
    assert v["gap_class_planned"].to_dict() == {A: "served", B: "no_4g", C: "no_4g",
                                                D: "public_access_only",
                                                E: "public_access_only"}
    # the proposed Wi-Fi in C (76 m from C2) adds no class: C has a 2G signal
    assert v["gap_class_proposed"].to_dict() == v["gap_class_planned"].to_dict()
    assert v.loc[C, "people_unserved_proposed"] == 40  # C2 (60) within the Wi-Fi's radius
    assert v["in_programme"].astype(bool).to_dict() == {A: False, B: False, C: False,
                                                        D: True, E: True}


def test_served_share_threshold_from_project_toml(tiny_copy):
    # B's served share is 20/100 = 0.2, all of it public access (the Starlink in A): at a
    # threshold of 0.2 B is still not "served", which is 4G for the people
    project = set_config(tiny_copy, thresholds={"served_share": 0.2})
    v = by_kode(analyze_project(project, write=False))
    assert v.loc[B, "served_share"] == pytest.approx(0.2)
    assert v.loc[B, "gap_class"] == "no_4g"
    assert v.loc[A, "gap_class"] == "served" and v.loc[D, "gap_class"] == "blank_spot"


def test_usable_class_from_project_toml(tiny_copy):
    # with "fair" as the lowest usable class, "poor" is no 4G: C's 2G (poor at C1) is no
    # longer usable signal -> blank spot; A (good) stays served; the office in C (fair)
    # stays served
    project = set_config(tiny_copy, thresholds={"usable_class": "fair"})
    result = analyze_project(project, write=False)
    v = by_kode(result)
    assert v.loc[C, "gap_class"] == "blank_spot" and v.loc[A, "gap_class"] == "served"
    assert locs_by_name(result).loc["Kantor Charlie", "status"] == "served"
    # area below "fair": C none 5 + marginal 4 + poor 5 of 25; B 21 of 21 known
    assert v.loc[C, "area_no_4g"] == pytest.approx(14 / 25)
    assert v.loc[B, "area_no_4g"] == pytest.approx(1.0)
    # people: nobody lives in C's poor cells (column 1), so still (4 + 15) / 30
    assert v.loc[C, "pop_no_4g"] == pytest.approx(19 / 30)


def test_usable_class_as_an_indonesian_label(tiny_copy):
    # "sedang" is the Indonesian label of "fair": read as fair (with a warning), not a
    # KeyError in the middle of the analysis
    with pytest.warns(RepairWarning, match="'sedang' read as 'fair'"):
        project = set_config(tiny_copy, thresholds={"usable_class": "sedang"})
    v = by_kode(analyze_project(project, write=False))
    assert v.loc[C, "gap_class"] == "blank_spot" and v.loc[A, "gap_class"] == "served"


def test_a_typo_in_project_toml_stops_before_the_analysis(tiny_copy):
    with pytest.raises(ConfigError, match=r"thresholds\.usable_clas: unknown key.*"
                                          r"Did you mean 'usable_class'\?"):
        set_config(tiny_copy, thresholds={"usable_clas": "fair"})


def test_the_analysis_records_the_effective_settings(tiny_copy):
    project = set_config(tiny_copy, propagation={"max_distance_m": 20000.0})
    analyze_project(project)
    recorded = Project(project.path).config["analysis"]["propagation"]
    assert recorded == DEFAULTS.to_dict()["propagation"] | {"max_distance_m": 20000.0}


def test_starlink_radius_default_from_project_toml(tiny_copy):
    # 100 m no longer reaches B3 (167 m away): B has 2G at B1 -> signal, not 4G
    project = set_config(tiny_copy, service_radius_m={"starlink": 100.0})
    result = analyze_project(project, write=False)
    assert locs_by_name(result).loc["B3", "status"] == "unserved"
    assert by_kode(result).loc[B, "gap_class"] == "no_4g"
    # ... while an explicit radius on the site wins over the default
    sites = project.read_layer("sites")
    sites.loc[sites["site_id"] == "st-a", "service_radius_m"] = 200.0
    with project.transaction() as tx:
        tx.write_layer("sites", sites)
    result = analyze_project(Project(project.path), write=False)
    assert locs_by_name(result).loc["B3", "served_by_site"] == "st-a"


def test_planned_site_alone_in_a_village_without_signal_data(tmp_path):
    """A village whose only data is a planned Starlink is 'unknown' now and has public
    access only later (a Starlink is not mobile coverage).

    No coverage raster and no tower: every location is "unknown" unless a site serves it.
    """
    import geopandas as gpd

    gpkg = tmp_path / "v.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"kode": [A, B], "nama": ["Alpha", "Bravo"]},
                                             geometry=[cell_box(0, 0, 5, 5),
                                                       cell_box(0, 5, 5, 10)],
                                             crs="EPSG:4326"), gpkg, layer="desa")
    locations = ("kind,name,kode_desa,people,lon,lat\n"
                 f"settlement,A1,{A},100,{centre(2, 2)[0]!r},{centre(2, 2)[1]!r}\n"
                 f"school,SD A,{A},,{centre(2, 3)[0]!r},{centre(2, 3)[1]!r}\n"
                 f"settlement,B1,{B},50,{centre(2, 7)[0]!r},{centre(2, 7)[1]!r}\n")
    x, y = centre(2, 2)
    sites = ("kind,name,status,kode_desa,lon,lat\n"
             f"Starlink,Starlink A,rencana,{A},{x + 0.001!r},{y!r}\n")
    project, _ = init_project(tmp_path / "p", villages=gpkg,
                              locations=write_text(tmp_path / "l.csv", locations),
                              sites=write_text(tmp_path / "s.csv", sites))
    v = by_kode(analyze_project(project, write=False))
    assert v.loc[A, "gap_class"] == "unknown"
    assert v.loc[A, "gap_class_planned"] == "public_access_only"
    assert bool(v.loc[A, "in_programme"]) and not bool(v.loc[B, "in_programme"])
    # nothing is known: no unserved people or facilities, no share without 4G
    assert v.loc[A, "people_unserved"] == 0 and v.loc[A, "facilities_unserved"] == 0
    assert v["no_4g_share"].isna().all()
    # A is in a programme, so "nothing planned" does not count for it; B scores for it
    assert v.loc[A, "f_nothing_planned"] == 0 and v.loc[B, "f_nothing_planned"] == 1


def test_installed_site_serving_only_a_facility(tmp_path):
    """An installed site serving the school (not the settlement) of a village without
    signal data gives it public access only (not 4G, not unknown); adding the pipeline
    must not make it worse."""
    import geopandas as gpd

    gpkg = tmp_path / "v.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"kode": [A], "nama": ["Alpha"]},
                                             geometry=[cell_box(0, 0, 5, 5)],
                                             crs="EPSG:4326"), gpkg, layer="desa")
    (sx, sy), (px, py) = centre(1, 1), centre(3, 3)
    locations = ("kind,name,kode_desa,people,lon,lat\n"
                 f"settlement,A1,{A},100,{px!r},{py!r}\n"
                 f"school,SD A,{A},,{sx!r},{sy!r}\n")
    sites = ("kind,name,status,kode_desa,sumber dana,lon,lat\n"
             f"Starlink,Starlink SD,terpasang,{A},Yayasan Peduli,{sx + 0.001!r},{sy!r}\n"
             f"Starlink,Starlink Usulan,usulan,{A},APBD,{sx + 0.002!r},{sy!r}\n")
    # the import repairs the unknown funding source (recorded as "other") and says so
    with pytest.warns(RepairWarning, match="Yayasan Peduli"):
        project, _ = init_project(tmp_path / "p", villages=gpkg,
                                  locations=write_text(tmp_path / "l.csv", locations),
                                  sites=write_text(tmp_path / "s.csv", sites))
    assert project.read_layer("sites").set_index("name").loc["Starlink SD", "funding"] == "other"
    v = by_kode(analyze_project(project, write=False))
    assert v.loc[A, "gap_class"] == "public_access_only"
    assert v.loc[A, "gap_class_planned"] == "public_access_only"
    assert v.loc[A, "people_public_access"] == 0 and v.loc[A, "locations_by_site"] == 1
    assert not bool(v.loc[A, "in_programme"])


@pytest.mark.parametrize(("status", "served"), [("terpasang", True), ("rusak", False),
                                                 ("tidak aktif", False)])
def test_damaged_or_inactive_site_serves_nobody_but_is_counted(tmp_path, status, served):
    import geopandas as gpd

    gpkg = tmp_path / "v.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"kode": [A], "nama": ["Alpha"]},
                                             geometry=[cell_box(0, 0, 5, 5)],
                                             crs="EPSG:4326"), gpkg, layer="desa")
    px, py = centre(3, 3)
    locations = f"kind,name,kode_desa,people,lon,lat\nsettlement,A1,{A},100,{px!r},{py!r}\n"
    sites = ("kind,name,status,kode_desa,lon,lat\n"
             f"Starlink,Starlink A1,{status},{A},{px + 0.0005!r},{py!r}\n")
    project, _ = init_project(tmp_path / "p", villages=gpkg,
                              locations=write_text(tmp_path / "l.csv", locations),
                              sites=write_text(tmp_path / "s.csv", sites))
    result = analyze_project(project, write=False)
    v = by_kode(result)
    assert bool(v.loc[A, "people_served"] == 100) is served
    kind = {"terpasang": "installed", "rusak": "damaged", "tidak aktif": "inactive"}[status]
    assert v.loc[A, f"sites_{kind}"] == 1  # in the register either way
    assert v.loc[A, "installed_starlink"] == int(served)


# --------------------------------------------------------------------------- #
# Scoring and ranking
# --------------------------------------------------------------------------- #

# normalised factors (distance and remoteness weigh 0 in HAND_WEIGHTS):
#   unserved people   A 0, B 50, C 100, D 100, E 0  -> /100
#   facilities        B 1, D 1                       -> /1
#   no 4G share       A 0, B 1, C 1, D 1, E unknown (0)
#   nothing planned   B 1, C 1 (A served; D and E in a programme)
# score = 100 * (0.30 f1 + 0.20 f2 + 0.15 f3 + 0.10 f6) / 0.75
#   B = (0.15 + 0.20 + 0.15 + 0.10) / 0.75 * 100 = 80
#   C = (0.30 + 0    + 0.15 + 0.10) / 0.75 * 100 = 73.33
#   D = (0.30 + 0.20 + 0.15 + 0   ) / 0.75 * 100 = 86.67
#   A = E = 0 (tie: equal unserved people, so by code: A before E)
SCORES = {A: 0.0, B: 80.0, C: 73.33, D: 86.67, E: 0.0}
RANKS = {D: 1, B: 2, C: 3, A: 4, E: 5}
RANKS_KEC = {B: 1, A: 2, D: 1, C: 2, E: 3}


def test_scores_and_ranks(tiny_built):
    v = by_kode(tiny_built[1])
    assert v["score"].to_dict() == pytest.approx(SCORES, abs=0.005)
    assert v["rank"].to_dict() == RANKS
    assert v["rank_kecamatan"].to_dict() == RANKS_KEC
    assert v["rank_kabupaten"].to_dict() == RANKS  # one kabupaten
    # B's contributions: 0.5 * 40 = 20, 26.67, 20, 13.33 -> 80
    assert v.loc[B, "c_unserved_people"] == pytest.approx(20.0)
    assert v.loc[B, "c_unserved_facilities"] == pytest.approx(26.67)
    assert v.loc[B, "c_no_4g_share"] == pytest.approx(20.0)
    assert v.loc[B, "c_nothing_planned"] == pytest.approx(13.33)
    assert v.loc[B, "c_distance"] == 0 and v.loc[B, "c_remoteness"] == 0


def test_factors_in_range_and_contributions_add_up(tiny_built):
    v = tiny_built[1].villages
    f_cols = [c for c in v.columns if c.startswith("f_")]
    c_cols = [c for c in v.columns if c.startswith("c_")]
    assert len(f_cols) == len(c_cols) == 6
    assert ((v[f_cols] >= 0) & (v[f_cols] <= 1)).all().all()
    # rounded to 0.01 each: the sum may differ from the score by a few hundredths
    np.testing.assert_allclose(v[c_cols].sum(axis=1), v["score"], atol=0.03)
    assert v["score"].between(0, 100).all()


def test_reasons_name_the_main_factors(tiny_built):
    v = by_kode(tiny_built[1])
    assert v.loc[B, "reasons_en"] == (
        "Unserved public facilities: 1 facilities (+26.7); Unserved people: 50 people "
        "(+20.0); Share of people without 4G: 100% (+20.0)")
    assert v.loc[B, "reasons_id"].startswith("Fasilitas publik belum terlayani: 1 fasilitas")
    assert v.loc[A, "reasons_en"] == "" and v.loc[E, "reasons_en"] == ""


def test_changing_a_weight_in_project_toml_changes_the_ranking(tiny_copy):
    only_people = {k: 0.0 for k in HAND_WEIGHTS} | {"unserved_people": 1.0}
    project = set_config(tiny_copy, weights=only_people)
    v = by_kode(analyze_project(project, write=False))
    # scores = unserved people: B 50, C 100, D 100; C and D tie on score and on
    # unserved people, so the code decides: C (…02.2001) before D (…02.2002)
    assert v["score"].to_dict() == {A: 0.0, B: 50.0, C: 100.0, D: 100.0, E: 0.0}
    assert v["rank"].to_dict() == {C: 1, D: 2, B: 3, A: 4, E: 5}
    assert v["rank_kecamatan"].to_dict() == {B: 1, A: 2, C: 1, D: 2, E: 3}
    # weights too: facilities only -> B and D tie (1 each), B has fewer unserved people
    project = set_config(tiny_copy, weights={k: 0.0 for k in HAND_WEIGHTS}
                         | {"unserved_facilities": 1.0})
    v = by_kode(analyze_project(project, write=False))
    assert v["rank"].to_dict() == {D: 1, B: 2, C: 3, A: 4, E: 5}


def test_ranks_within_each_kabupaten(tmp_path):
    """Two kabupaten (99.01 and 99.02): ranks restart in each, and each is summed."""
    import geopandas as gpd
    from affine import Affine

    f_, g_ = "99.02.01.2001", "99.02.01.2002"
    gpkg = tmp_path / "v.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame(
        {"kode": [A, B, f_, g_], "nama": ["Alpha", "Bravo", "Foxtrot", "Golf"]},
        geometry=[cell_box(0, 0, 5, 5), cell_box(0, 5, 5, 10), cell_box(5, 0, 10, 5),
                  cell_box(5, 5, 10, 10)], crs="EPSG:4326"), gpkg, layer="desa")
    rows = [("A1", A, 100, centre(2, 2)),   # good -> served
            ("B1", B, 50, centre(3, 7)),    # none -> unserved
            ("F1", f_, 40, centre(6, 4)),    # none -> unserved
            ("G1", g_, 70, centre(8, 7))]    # none -> unserved
    locations = "kind,name,kode_desa,people,lon,lat\n" + "".join(
        f"settlement,{n},{k},{p},{x!r},{y!r}\n" for n, k, p, (x, y) in rows)
    with pytest.warns(RepairWarning, match="outside the plausible range"):  # the class 7
        project, _ = init_project(
            tmp_path / "p", villages=gpkg, locations=write_text(tmp_path / "l.csv", locations),
            coverage=[write_tif(tmp_path / "c.tif", TSEL_4G, transform=Affine(*GEO),
                                nodata=255)])
    project = set_config(project, weights={k: 0.0 for k in HAND_WEIGHTS}
                         | {"unserved_people": 1.0})
    result = analyze_project(project, write=False)
    v = by_kode(result)
    # scores = unserved people / 70: A 0, B 71.43, f_ 57.14, g_ 100
    assert v["score"].to_dict() == pytest.approx({A: 0.0, B: 71.43, f_: 57.14, g_: 100.0},
                                                 abs=0.005)
    assert v["rank"].to_dict() == {g_: 1, B: 2, f_: 3, A: 4}
    assert v["rank_kabupaten"].to_dict() == {B: 1, A: 2, g_: 1, f_: 2}
    areas = result.areas.set_index(["level", "kode"])
    assert areas.loc[("kabupaten", "99.01"), "people_unserved"] == 50
    assert areas.loc[("kabupaten", "99.02"), "people_unserved"] == 110
    assert areas.loc[("provinsi", "99"), "people_unserved"] == 160


# --------------------------------------------------------------------------- #
# Aggregates
# --------------------------------------------------------------------------- #

def test_area_results(tiny_built):
    result = tiny_built[1]
    areas = result.areas.set_index(["level", "kode"])
    kec1 = areas.loc[("kecamatan", "99.01.01")]
    assert kec1["nama"] == "Kecamatan Satu"
    # B: the Starlink in A serving B3 is public access, not 4G: signal but not 4G (2G at B1)
    assert (kec1["villages"], kec1["n_served"], kec1["n_no_4g"], kec1["n_blank_spot"]) == (
        2, 1, 1, 0)
    assert (kec1["people"], kec1["people_unserved"], kec1["facilities"],
            kec1["facilities_unserved"], kec1["sites_installed"]) == (200, 50, 3, 1, 1)
    kec2 = areas.loc[("kecamatan", "99.01.02")]
    assert [kec2[f"n_{c}"] for c in GAP_ORDER] == [1, 0, 1, 0, 0, 1]
    # with the pipeline: D and E public access only (their Starlinks), C unchanged
    assert [kec2[f"n_{c}_planned"] for c in GAP_ORDER] == [0, 2, 1, 0, 0, 0]
    assert (kec2["people"], kec2["people_unserved"], kec2["people_unserved_planned"]) == (
        225, 200, 130)
    assert (kec2["n_in_programme"], kec2["sites_in_progress"], kec2["sites_planned"],
            kec2["sites_proposed"]) == (2, 1, 1, 1)
    # every level sums the villages exactly
    v = result.villages
    for level, code in (("kabupaten", "99.01"), ("provinsi", "99"), ("region", "99.01")):
        row = areas.loc[(level, code)]
        assert row["villages"] == len(v) == 5
        for c in GAP_ORDER:
            assert row[f"n_{c}"] == (v["gap_class"] == c).sum()
        for col, vcol in (("people", "people_located"), ("people_unserved", "people_unserved"),
                          ("people_unserved_planned", "people_unserved_planned"),
                          ("facilities_unserved", "facilities_unserved"),
                          ("sites_installed", "sites_installed")):
            assert row[col] == pytest.approx(v[vcol].sum())
    # and the kecamatan rows sum to the kabupaten row
    kec = result.areas[result.areas["level"] == "kecamatan"]
    kab = areas.loc[("kabupaten", "99.01")]
    for col in ("villages", "people_unserved", "facilities_unserved", "n_blank_spot"):
        assert kec[col].sum() == pytest.approx(kab[col])


def test_area_results_on_the_sample(sample_project):
    areas = sample_project.read_table("area_results")
    v = sample_project.read_table("village_results")
    kec = areas[areas["level"] == "kecamatan"].set_index("kode")
    sums = v.groupby("kecamatan_kode").agg(villages=("kode", "size"),
                                           people_unserved=("people_unserved", "sum"),
                                           facilities_unserved=("facilities_unserved", "sum"))
    assert kec["villages"].to_dict() == sums["villages"].to_dict()
    np.testing.assert_allclose(kec.loc[sums.index, "people_unserved"], sums["people_unserved"])
    assert kec["facilities_unserved"].to_dict() == sums["facilities_unserved"].to_dict()
    assert sorted(v["rank"]) == list(range(1, len(v) + 1))
    assert set(v["gap_class"]) <= set(GAP_ORDER)


# --------------------------------------------------------------------------- #
# Storage: tables in layers.gpkg, identical re-runs, atomic writes
# --------------------------------------------------------------------------- #

def test_results_are_stored_in_results_gpkg(tiny_built):
    project, result = tiny_built
    assert project.layer_path("village_results") == project.results_path
    assert [n for n, _ in pyogrio.list_layers(project.results_path)] == [
        "village_results", "location_results", "area_results", "evidence_conflicts"]
    assert not set(RESULT_LAYERS) & {n for n, _ in pyogrio.list_layers(project.layers_path)}
    stored = project.read_table("village_results")
    assert list(stored["kode"]) == list(result.villages["kode"])
    np.testing.assert_allclose(stored["score"], result.villages["score"])
    assert list(stored["gap_class"]) == list(result.villages["gap_class"])
    assert len(project.read_table("location_results")) == len(EXPECTED_LOCATIONS)
    assert len(project.read_table("area_results")) == len(result.areas)
    assert project.config["analysis"]["villages"] == 5
    assert project.config["analysis"]["weights"] == HAND_WEIGHTS


def test_an_analysis_does_not_copy_the_input_layers(tiny_copy):
    before = tiny_copy.layers_path.stat()
    generation, results = tiny_copy.generation, tiny_copy.results_path.stat()
    analyze_project(tiny_copy)
    after = Project(tiny_copy.path)
    assert after.generation != generation
    # the new generation's layers.gpkg is the previous one's file (a hard link), untouched
    assert after.layers_path.stat().st_ino == before.st_ino
    assert after.layers_path.stat().st_mtime_ns == before.st_mtime_ns
    assert after.results_path.stat().st_ino != results.st_ino


def _results_into_layers(project: Project) -> None:
    """Make ``project`` look analysed by an older version: results inside layers.gpkg."""
    gen = project.generation
    results = gen / "results.gpkg"
    layers = gen / "layers.gpkg"
    shutil.copyfile(layers, layers.with_suffix(".tmp"))  # unshare the hard link first
    os.replace(layers.with_suffix(".tmp"), layers)
    for name in RESULT_LAYERS:
        frame = pyogrio.read_dataframe(results, layer=name, read_geometry=False)
        pyogrio.write_dataframe(frame, layers, layer=name, driver="GPKG")
    results.unlink()
    (project.path / "results.gpkg").unlink()


def test_results_of_an_older_version_are_read_then_moved(tiny_copy):
    tables = ("village_results", "location_results", "area_results")
    expected = {t: tiny_copy.read_table(t) for t in tables}
    _results_into_layers(tiny_copy)
    old = Project(tiny_copy.path)
    assert not old.results_path.exists()
    assert old.layer_path("village_results") == old.layers_path
    for t in tables:  # read from layers.gpkg as before
        pd.testing.assert_frame_equal(old.read_table(t), expected[t])
    assert set(RESULT_LAYERS) <= set(old.layer_names())
    assert set(old.info()["layers"]) >= set(RESULT_LAYERS)
    analyze_project(old)  # moves them into results.gpkg
    new = Project(tiny_copy.path)
    assert new.results_path.exists() and (new.path / "results.gpkg").is_symlink()
    assert not set(RESULT_LAYERS) & {n for n, _ in pyogrio.list_layers(new.layers_path)}
    assert new.layer_names().count("village_results") == 1
    for t in tables:
        pd.testing.assert_frame_equal(new.read_table(t), expected[t])


def test_rerun_with_unchanged_inputs_gives_identical_tables(tiny_copy):
    tables = ("village_results", "location_results", "area_results")
    before = {t: tiny_copy.read_table(t) for t in tables}
    first = analyze_project(tiny_copy)
    second = analyze_project(Project(tiny_copy.path))
    for attr in ("villages", "locations", "areas"):
        pd.testing.assert_frame_equal(getattr(first, attr), getattr(second, attr))
    for t in tables:
        pd.testing.assert_frame_equal(tiny_copy.read_table(t), before[t])


def test_rerun_on_the_sample_gives_identical_tables(sample_copy):
    tables = ("village_results", "location_results", "area_results")
    before = {t: sample_copy.read_table(t) for t in tables}
    analyze_project(sample_copy)
    for t in tables:
        pd.testing.assert_frame_equal(Project(sample_copy.path).read_table(t), before[t])


def test_a_failure_while_writing_leaves_the_project_unchanged(tiny_copy, monkeypatch):
    from geo_p2dd.project import Transaction

    before = snapshot(tiny_copy.path)
    gpkg = tiny_copy.layers_path.read_bytes()
    original = Transaction.write_layer

    def failing(self, name, frame):
        if name == "area_results":  # village_results has been written by then
            raise OSError("disk full (simulated)")
        return original(self, name, frame)

    monkeypatch.setattr(Transaction, "write_layer", failing)
    with pytest.raises(OSError, match="simulated"):
        analyze_project(tiny_copy)
    assert tiny_copy.layers_path.read_bytes() == gpkg
    after = snapshot(tiny_copy.path)
    # only the label-grid cache may have been added
    assert {k: h for k, h in after.items() if not k.startswith("cache")} == \
        {k: h for k, h in before.items() if not k.startswith("cache")}


def test_a_failure_during_analysis_leaves_layers_gpkg_unchanged(tiny_copy, monkeypatch):
    from geo_p2dd import scoring

    gpkg = tiny_copy.layers_path.read_bytes()
    toml = (tiny_copy.path / "project.toml").read_bytes()

    def broken(*args, **kwargs):
        raise ValueError("broken scoring (simulated)")

    monkeypatch.setattr(scoring, "weighted_score", broken)
    with pytest.raises(ValueError, match="simulated"):
        analyze_project(tiny_copy)
    assert tiny_copy.layers_path.read_bytes() == gpkg
    assert (tiny_copy.path / "project.toml").read_bytes() == toml


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #

def test_analyze_json(tiny_copy):
    res = CliRunner().invoke(main, ["analyze", "--project", str(tiny_copy.path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"villages", "per_class", "per_class_planned", "per_class_proposed",
                         "in_programme", "people_unserved", "people_unserved_planned",
                         "people_unserved_proposed", "facilities_unserved", "area_level",
                         "per_area", "per_kecamatan", "timings_s"}
    assert data["villages"] == 5
    assert data["per_class"] == {"blank_spot": 1, "public_access_only": 0, "no_4g": 2,
                                 "partial_4g": 0, "served": 1, "unknown": 1}
    # the pipeline: D's planned and E's in-progress Starlink give them public access
    assert data["per_class_planned"] == {"blank_spot": 0, "public_access_only": 2,
                                         "no_4g": 2, "partial_4g": 0, "served": 1,
                                         "unknown": 0}
    assert data["in_programme"] == 2
    assert data["people_unserved"] == 250  # 50 + 100 + 100
    assert data["people_unserved_planned"] == 180  # D1's 70 served by the planned Starlink
    assert data["people_unserved_proposed"] == 120  # C2's 60 by the proposed Wi-Fi
    assert data["facilities_unserved"] == 2
    assert data["area_level"] == "kecamatan"  # one kabupaten
    assert [k["kode"] for k in data["per_kecamatan"]] == ["99.01.01", "99.01.02"]
    assert data["per_area"] == data["per_kecamatan"]
    kec2 = data["per_kecamatan"][1]
    assert kec2 == {"kode": "99.01.02", "nama": "Kecamatan Dua", "villages": 3,
                    "blank_spot": 1, "public_access_only": 0, "no_4g": 1, "partial_4g": 0,
                    "served": 0, "unknown": 1, "blank_spot_planned": 0,
                    "public_access_only_planned": 2, "no_4g_planned": 1,
                    "partial_4g_planned": 0, "served_planned": 0, "unknown_planned": 0,
                    "in_programme": 2, "people_unserved": 200, "people_unserved_planned": 130,
                    "facilities_unserved": 1}
    # and the tables are written
    assert Project(tiny_copy.path).has_layer("village_results")


def test_analyze_text_summary(tiny_copy):
    res = CliRunner().invoke(main, ["analyze", "--project", str(tiny_copy.path)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("kecamatan") and "Blank spot" in lines[0]
    assert any(line.startswith("99.01.02 Kecamatan Dua") for line in lines)
    # now vs the pipeline vs proposals, with the schema's class labels
    rows = {line[:24].strip(): line[24:].split() for line in lines}
    assert rows["Blank spot"] == ["1", "0", "0"]
    assert rows["Public access only"] == ["0", "2", "2"]
    assert rows["Signal, not 4G"] == ["2", "2", "2"]
    assert rows["people unserved"] == ["250", "180", "120"]
    assert "5 villages analysed; 2 in a programme" in res.stdout


def test_analyze_prints_per_kabupaten_or_province_for_larger_projects():
    from geo_p2dd.analysis import area_level

    def frame(*codes):
        return pd.DataFrame({"kode": list(codes)})

    assert area_level(frame("64.11.01.2001", "64.11.02.2001")) == "kecamatan"
    assert area_level(frame("64.11.01.2001", "64.02.01.2001")) == "kabupaten"
    assert area_level(frame("64.11.01.2001", "63.01.01.2001")) == "provinsi"


def test_analyze_without_a_project_is_a_readable_error(tmp_path):
    res = CliRunner().invoke(main, ["analyze", "--project", str(tmp_path / "nothing")])
    assert res.exit_code == 1
    assert "is not a geo_p2dd project" in res.stderr


# --------------------------------------------------------------------------- #
# Settlements derived from the population grid
# --------------------------------------------------------------------------- #

def test_derive_settlements_from_the_population_grid(tmp_path):
    import geopandas as gpd
    from affine import Affine

    pop = np.zeros((10, 10), np.float32)
    # village P spans pixel columns 0.3 .. 4.6 of rows 0..2: the centres of
    # columns 0..4 lie inside it. Cells (1, 4) 50 and (0, 0) 20 people; (2, 2) has 3,
    # fewer than min_people_per_cell (5). P has 140 inhabitants -> scale 140 / 70 = 2.
    pop[1, 4], pop[0, 0], pop[2, 2] = 50, 20, 3
    # village Q (rows 4..5, cols 0..3) has no cell with 5 people: its centre is used
    pop[4, 1] = 4
    # village R (rows 6..9, all columns): 12 cells of 10 people, at most 8 settlements
    pop[6, 0:10] = 10
    pop[7, 0:2] = 10
    path = write_tif(tmp_path / "pop.tif", pop, transform=Affine(*GEO), nodata=-1.0)
    villages = gpd.GeoDataFrame(
        {"kode": [A, B, C], "nama": ["P", "Q", "R"], "population": [140.0, 33.0, np.nan]},
        geometry=[shapely.box(X0 + 0.3 * CELL, Y0 - 3 * CELL, X0 + 4.6 * CELL, Y0),
                  cell_box(4, 0, 6, 4), cell_box(6, 0, 10, 10)], crs="EPSG:4326")
    # P alone: the population window is cut from P's bounds (pixel columns 0.3 .. 4.6),
    # and column 4, whose centre 4.5 lies in P, must be read
    out = derive_settlements(villages, path, DEFAULTS, np.array([True, False, False]))
    assert set(out["village_kode"]) == {A}
    p = out.reset_index(drop=True)
    assert list(p["location_id"]) == [f"derived-{A}-1", f"derived-{A}-2"]
    assert list(p["people"]) == [100.0, 40.0]
    assert [(g.x, g.y) for g in p.geometry] == [centre(1, 4), centre(0, 0)]
    assert list(p["name"]) == ["Permukiman P (perkiraan 1)", "Permukiman P (perkiraan 2)"]
    assert (p["source"] == "estimate").all()
    assert (p["position_note"] == "estimated from the population grid").all()
    assert (out["kind"] == "settlement").all()
    out = derive_settlements(villages, path, DEFAULTS, np.ones(3, dtype=bool))
    assert out[out["village_kode"] == A]["people"].tolist() == [100.0, 40.0]
    q = out[out["village_kode"] == B]
    assert len(q) == 1 and q["people"].iloc[0] == 33.0
    assert q["source"].iloc[0] == "estimate"
    assert q["position_note_id"].iloc[0] == ("diperkirakan di tengah kampung (tidak ada sel "
                                             "grid berpenduduk)")
    assert q.geometry.iloc[0].within(villages.geometry.iloc[1])
    r = out[out["village_kode"] == C]
    assert len(r) == DEFAULTS.settlements.max_per_village == 8
    assert (r["people"] == 10.0).all()  # population unknown: grid people as they are
