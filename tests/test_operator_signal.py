"""Signal per operator at locations and villages: dBm, class, evidence, ops_4g (issue 15)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from geo_p2dd.analysis import analyze_project
from geo_p2dd.columns import describe_column
from geo_p2dd.config import DEFAULTS
from geo_p2dd.coverage import operator_code, source_keys
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.query import Filters
from geo_p2dd.imports import import_layer
from geo_p2dd.schema import CODE_TO_SIGNAL
from geo_p2dd.signal import rsrp_class
from tests.conftest import write_text, write_tif

# the four villages of the `project` fixture: 114.0..114.4 E, 0.0..0.1 N (0.1 deg squares)
V1, V2, V3, V4 = "99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01.02.2002"
# one settlement per village (and a school in V1), each in a 0.01 deg cell of the rasters
POINTS = {"s1": (V1, "settlement", 114.055, 0.055), "sd1": (V1, "school", 114.015, 0.085),
          "s2": (V2, "settlement", 114.155, 0.045), "s3": (V3, "settlement", 114.255, 0.035),
          "s4": (V4, "settlement", 114.355, 0.025)}
T = Affine(0.01, 0, 114.0, 0, -0.01, 0.1)  # 40 x 10 cells over the four villages


def _dbm_raster() -> np.ndarray:
    """Telkomsel RSRP: strong in the west, fading east, nodata in the last village."""
    cols = np.arange(40, dtype=np.float32)
    dbm = np.tile(-70.0 - 1.37 * cols, (10, 1)).astype(np.float32)
    dbm += np.arange(10, dtype=np.float32)[:, None] * -0.31  # distinct values per cell
    dbm[:, 30:] = -9999.0
    return dbm


def _xl_classes() -> np.ndarray:
    """XL 4G classes: good in V1 and V3, none elsewhere."""
    cls = np.full((10, 40), 1, dtype=np.uint8)
    cls[:, 0:10] = 5
    cls[:, 20:30] = 4
    return cls


@pytest.fixture
def operators_project(project, tmp_path):
    csv = "location_id,kind,name,kode_desa,people,lon,lat\n" + "".join(
        f"{i},{k},{i.upper()},{v},{'' if k != 'settlement' else 100},{x!r},{y!r}\n"
        for i, (v, k, x, y) in POINTS.items())
    import_layer(project, "locations", write_text(tmp_path / "in" / "loc.csv", csv))
    tsel = write_tif(tmp_path / "in" / "tsel.tif", _dbm_raster(), transform=T, nodata=-9999.0)
    import_layer(project, "coverage", tsel, operator="Telkomsel", technology="4G")
    xl = write_tif(tmp_path / "in" / "xl.tif", _xl_classes(), transform=T)
    import_layer(project, "coverage", xl, operator="XL Axiata", technology="4G",
                 values="classes")
    return project, tsel


def test_locations_carry_dbm_class_and_evidence_per_operator(operators_project):
    project, tsel = operators_project
    result = analyze_project(project)
    loc = result.locations.set_index("location_id")
    # the oracle: GDAL reading the input file at each point (not our window read)
    with rasterio.open(tsel) as src:
        raw = np.array([v[0] for v in src.sample([(x, y) for _, _, x, y in POINTS.values()])])
    expected = np.where(raw == -9999.0, np.nan, np.round(raw.astype(float), 1))
    got = loc.loc[list(POINTS), "dbm_tsel4g"].to_numpy(float)
    np.testing.assert_allclose(got, expected, equal_nan=True)
    assert np.isnan(got[-1]) and not np.isnan(got[:-1]).any()
    # the class is the dBm value's class; the classes-only source has no dBm column
    classes = rsrp_class(raw.astype(np.float32), DEFAULTS.thresholds.rsrp_dbm)
    classes[raw == -9999.0] = 0
    assert list(loc.loc[list(POINTS), "cls_tsel4g"]) == [CODE_TO_SIGNAL[int(c)]
                                                         for c in classes]
    assert list(loc.loc[["s1", "s2", "s3", "s4"], "cls_xl4g"]) == ["good", "none", "fair",
                                                                   "none"]
    assert "dbm_xl4g" not in loc.columns
    assert set(loc["ev_tsel4g"]) == {"reported"} and set(loc["ev_xl4g"]) == {"reported"}
    # names: short enough for a Shapefile field and documented in both languages
    for c in ("dbm_tsel4g", "cls_tsel4g", "ev_tsel4g", "cls_xl4g"):
        assert len(c) <= 10
        en, id_ = describe_column(c)
        assert en and id_, c
    assert "Telkomsel" in describe_column("dbm_tsel4g")[0]


def test_villages_count_operators_with_4g_and_filter_them(operators_project):
    project, _ = operators_project
    result = analyze_project(project)
    v = result.villages.set_index("kode")
    # V1: Telkomsel (about -77 dBm, good) and XL good; V2: Telkomsel about -91 dBm (fair)
    # only; V3: Telkomsel about -105 dBm (marginal, not usable) and XL fair; V4: nothing
    assert list(v.loc[[V1, V2, V3, V4], "ops_4g"]) == [2, 1, 1, 0]
    assert v.loc[V1, "dbm_tsel4g"] == pytest.approx(
        result.locations.set_index("location_id").loc["s1", "dbm_tsel4g"])
    assert np.isnan(v.loc[V4, "dbm_tsel4g"])
    assert list(v.loc[[V1, V2, V3, V4], "cls_xl4g"]) == ["good", "none", "fair", "none"]
    # "kampung where only one operator has 4G", as a download/OGC query would ask it
    data = ExportData(project)
    only_one = data.select("villages", Filters(cql2="ops_4g = 1"))
    assert sorted(only_one["kode"]) == [V2, V3]


def test_without_operator_sources_ops_4g_is_null_not_zero(project):
    """No coverage map and no tower naming an operator: ops_4g is unknown (null), never
    "no operator" (0)."""
    result = analyze_project(project, write=False)
    assert result.villages["ops_4g"].isna().all()


def test_the_sample_models_its_operator_and_the_dbm_agrees_with_the_class(sample_project):
    """The sample's installed 4G towers are all Telkomsel's: ops_4g is 1 where their model
    gives usable 4G at a settlement, else 0; the model's dBm agrees with its class."""
    result = analyze_project(sample_project, write=False)
    loc = result.locations
    usable = loc["cls_mtsel4"].isin(["poor", "fair", "good"]) & (loc["kind"] == "settlement")
    want = usable.groupby(loc["village_kode"]).any().astype(int)
    got = result.villages.set_index("kode")["ops_4g"].reindex(want.index)
    assert (got == want).all() and set(want) == {0, 1}
    assert (loc["cls_mtsel4"] == loc["cls_mod4g"]).all()  # one operator: the same model
    loc = result.locations
    assert {"dbm_mod4g", "cls_mod4g", "ev_mod4g"} <= set(loc.columns)
    assert set(loc["ev_mod4g"]) == {"modelled"}
    reached = loc["dbm_mod4g"].notna()
    assert reached.any()
    again = rsrp_class(loc.loc[reached, "dbm_mod4g"].to_numpy(np.float32),
                       sample_project.settings.thresholds.rsrp_dbm)
    again[again == 0] = 1  # the model calls "no signal" what is below the weakest class
    # rounding to 0.1 dBm may move a value across a threshold: allow none of that here
    assert [CODE_TO_SIGNAL[int(c)] for c in again] == list(loc.loc[reached, "cls_mod4g"])


def test_source_keys_are_short_and_unique():
    from geo_p2dd.coverage import Source

    def src(name, operator, tech, modelled=False):
        return Source(name, operator, tech, np.zeros((1, 1), np.uint8), T, "EPSG:4326",
                      modelled=modelled)

    keys = source_keys([src("a", "Telkomsel", "4G"), src("b", "Telkomsel", "2G"),
                        src("c", "Indosat Ooredoo", "4G"), src("d", "Indosat (IM3)", "4G"),
                        src("e", "Operator Baru", "5G"), src("m", "", "4G", True)])
    assert keys == {"a": "tsel4g", "b": "tsel2g", "c": "isat4g", "d": "isat42",
                    "e": "oper5g", "m": "mod4g"}
    assert all(len(f"dbm_{k}") <= 10 for k in keys.values())
    assert operator_code("XL (Axis)") == "xl" and operator_code("") == "any"
    assert pd.Series(list(keys.values())).is_unique


def test_each_operators_towers_are_modelled_on_their_own(sample_copy, tmp_path):
    """An XL tower added beside an unserved settlement of the sample (whose installed 4G
    towers are Telkomsel's): each operator's model, and their best is the model of all."""
    loc0 = sample_copy.read_table("location_results")
    target = loc0[(loc0["kind"] == "settlement") & (loc0["status"] == "unserved")].iloc[0]
    csv = ("nama lokasi,jenis,status,kode_desa,OPD,sumber dana,tahun,bujur,lintang,operator,"
           f"teknologi\nBTS XL Uji,BTS,terpasang,{target['village_kode']},XL,CSR,2025,"
           f"{float(target['lon']) + 0.004!r},{float(target['lat'])!r},XL Axiata,4G\n")
    import_layer(sample_copy, "sites", write_text(tmp_path / "xl_site.csv", csv))
    result = analyze_project(sample_copy, write=False)
    loc = result.locations.set_index("location_id")
    assert {"dbm_mtsel4", "cls_mtsel4", "ev_mtsel4", "dbm_mxl4", "cls_mxl4"} <= set(loc.columns)
    assert set(loc["ev_mxl4"]) == {"modelled"}
    here = loc.loc[target["location_id"]]
    assert here["dbm_mxl4"] > -85 and here["cls_mxl4"] == "good"  # 440 m from the mast
    assert here["status"] == "served"
    # the best server of all towers is the best of each operator's best server
    both = loc[["dbm_mtsel4", "dbm_mxl4"]].max(axis=1)
    np.testing.assert_allclose(both.to_numpy(float), loc["dbm_mod4g"].to_numpy(float),
                               equal_nan=True)
    # ops_4g recounted from the locations' own columns
    usable = sample_copy.settings.thresholds.usable_class
    order = list(CODE_TO_SIGNAL.values())
    ok = {c: loc[f"cls_{c}"].map(order.index) >= order.index(usable)
          for c in ("mtsel4", "mxl4")}
    settle = loc[loc["kind"] == "settlement"]
    want = sum(ok[c].loc[settle.index].groupby(settle["village_kode"]).any().astype(int)
               for c in ok)
    got = result.villages.set_index("kode")["ops_4g"]
    assert (got.reindex(want.index).astype(int) == want).all()
    assert got.loc[target["village_kode"]] >= 1
    assert describe_column("dbm_mxl4")[0].startswith("Signal (RSRP, dBm, 0.1) from XL Axiata's")
