"""Tests for geo_p2dd.layers: canonical villages, areas, population, sites, locations."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import KABUPATEN_NAME, KECAMATAN_NAMES, area_frames

from geo_p2dd.codes import in_region
from geo_p2dd.errors import InputError
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.layers import (
    areas_from_frame,
    assign_villages,
    is_opencellid,
    merge_points,
    normalise_code,
    parent_code,
    points_from_input,
    population_from_table,
    reconcile_site_ids,
    site_id,
    stable_id,
    towers_from_opencellid,
    village_anchor_points,
    villages_from_frame,
)
from geo_p2dd.schema import LOCATIONS, SITES

# --------------------------------------------------------------------------- #
# codes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("6411012006", "64.11.01.2006"),
        (" 6411012006 ", "64.11.01.2006"),
        ("641101", "64.11.01"),
        ("6411", "64.11"),
        ("64.11.01.2006", "64.11.01.2006"),
        (6411012006, "64.11.01.2006"),
        (6411012006.0, "64.11.01.2006"),  # read from a float (REAL) column
        ("6411012006.0", "64.11.01.2006"),
        ("641101.0", "64.11.01"),
        ("64", "64"),
        ("ABC", "ABC"),
    ],
)
def test_normalise_code(raw, expected):
    assert normalise_code(raw) == expected


def test_code_matches_and_parents():
    codes = pd.Series(["64.11.01.2006", "64.11.02.2011", "64.110.1", "64.1", "64.11"])
    assert in_region(codes, "64.11").tolist() == [True, True, False, False, True]
    assert in_region(codes, "6411").tolist() == [True, True, False, False, True]
    assert in_region(codes, "64.11.01").tolist() == [True, False, False, False, False]
    assert parent_code("64.11.01.2006", 3) == "64.11.01"
    assert parent_code("64.11.01.2006", 2) == "64.11"
    assert parent_code("64.11", 2) is None


# --------------------------------------------------------------------------- #
# villages
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("kode", "nama"),
    [("kode", "nama"), ("KODE_DESA", "NAMA_DESA"), ("kd_desa", "nm_desa"),
     ("Kode Kampung", "Nama Kampung"), ("kode_kemendagri_2025", "nama_kemendagri_2025")],
)
def test_village_header_synonyms(kode, nama, villages_gdf):
    gdf = villages_gdf.rename(columns={"kode": kode, "nama": nama})
    villages = villages_from_frame(gdf, file="v.gpkg")
    assert villages["kode"].tolist() == villages_gdf["kode"].tolist()
    assert villages["nama"].tolist() == villages_gdf["nama"].tolist()


def test_village_columns_and_derived_codes(villages_gdf):
    villages = villages_from_frame(villages_gdf, file="v.gpkg")
    # the columns the README lists for the villages layer
    assert set(villages.columns) == {"kode", "nama", "kecamatan_kode", "kecamatan",
                                     "kabupaten_kode", "kabupaten", "population", "geometry"}
    assert villages["kecamatan_kode"].tolist() == ["99.01.01", "99.01.01", "99.01.02",
                                                   "99.01.02"]
    assert set(villages["kabupaten_kode"]) == {"99.01"}
    assert villages["kecamatan"].isna().all()  # no names given anywhere
    assert villages["population"].isna().all()
    assert villages.crs.to_epsg() == 4326


def test_area_names_are_joined(villages_gdf):
    kec, kab = area_frames(villages_gdf)
    villages = villages_from_frame(villages_gdf, file="v.gpkg", kecamatan=kec, kabupaten=kab)
    assert villages["kecamatan"].tolist() == [KECAMATAN_NAMES[k]
                                              for k in villages["kecamatan_kode"]]
    assert set(villages["kabupaten"]) == {KABUPATEN_NAME}


def test_names_from_village_columns(villages_gdf):
    gdf = villages_gdf.assign(nama_kec=["Hulu", "Hulu", "Hilir", "Hilir"])
    villages = villages_from_frame(gdf, file="v.gpkg")
    assert villages["kecamatan"].tolist() == ["Hulu", "Hulu", "Hilir", "Hilir"]


def test_population_column(villages_gdf):
    gdf = villages_gdf.assign(penduduk=["1000", "250", None, "17"])
    villages = villages_from_frame(gdf, file="v.gpkg")
    np.testing.assert_array_equal(villages["population"], [1000, 250, np.nan, 17])


def test_population_not_a_number_is_refused(villages_gdf):
    gdf = villages_gdf.assign(penduduk=["1000", "banyak", "3", "4"])
    with pytest.raises(InputError) as info:
        villages_from_frame(gdf, file="v.gpkg")
    e = info.value
    assert (e.file, e.row, e.column) == ("v.gpkg", 2, "penduduk")
    assert "'banyak'" in str(e)


def test_missing_required_columns_lists_what_was_found(villages_gdf):
    gdf = villages_gdf.rename(columns={"kode": "id_wilayah", "nama": "label"})
    with pytest.raises(InputError) as info:
        villages_from_frame(gdf, file="v.gpkg")
    text = str(info.value)
    assert "v.gpkg" in text
    assert "kode, nama" in text  # what is missing
    assert "column 'kode'" in text
    assert "KODE_DESA".lower() in text.lower() and "kd_desa" in text  # what is expected
    assert "found columns id_wilayah, label" in text


def test_duplicate_codes_are_refused(villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[2, "kode"] = "99.01.01.2001"
    with pytest.raises(InputError) as info:
        villages_from_frame(gdf, file="v.gpkg")
    e = info.value
    assert e.file == "v.gpkg" and e.column == "kode"
    text = str(e)
    assert "duplicate village code 99.01.01.2001" in text
    assert "features 1, 3" in text
    assert "expected each code once" in text


def test_duplicates_after_repair_are_refused(villages_gdf):
    """Two spellings of one code are the same village twice."""
    gdf = villages_gdf.copy()
    gdf.loc[1, "kode"] = "9901012001"
    with pytest.raises(InputError, match="duplicate village code 99.01.01.2001"), \
            pytest.warns(RepairWarning, match="without dots"):
        villages_from_frame(gdf, file="v.gpkg")


def test_code_repairs_warn(villages_gdf):
    gdf = villages_gdf.copy()
    gdf["kode"] = ["99.01.01.2001 ", "9901012002", " 9901022001", "99.01.02.2002"]
    with pytest.warns(RepairWarning) as record:
        villages = villages_from_frame(gdf, file="v.gpkg")
    messages = [str(w.message) for w in record]
    assert any("removed spaces around 2 code(s)" in m for m in messages)
    assert any("2 code(s) in column 'kode' written without dots" in m for m in messages)
    assert villages["kode"].tolist() == villages_gdf["kode"].tolist()


def test_codes_from_a_float_column(villages_gdf):
    gdf = villages_gdf.copy()
    gdf["kode"] = [9901012001.0, 9901012002.0, 9901022001.0, 9901022002.0]
    with pytest.warns(RepairWarning, match="4 code.*without dots"):
        villages = villages_from_frame(gdf, file="v.gpkg")
    assert villages["kode"].tolist() == villages_gdf["kode"].tolist()
    assert villages["kecamatan_kode"].tolist()[-1] == "99.01.02"


def test_empty_code_is_refused(villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[3, "kode"] = None
    with pytest.raises(InputError) as info:
        villages_from_frame(gdf, file="v.gpkg")
    assert (info.value.row, info.value.column, info.value.found) == (4, "kode", "nothing")


def test_codes_not_in_kemendagri_form_warn(villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[0, "kode"] = "DESA-1"
    with pytest.warns(RepairWarning, match="not in Kemendagri form"):
        villages = villages_from_frame(gdf, file="v.gpkg")
    row = villages.set_index("kode").loc["DESA-1"]
    assert pd.isna(row["kecamatan_kode"]) and pd.isna(row["kabupaten_kode"])


def test_region_filter(villages_gdf):
    villages = villages_from_frame(villages_gdf, file="v.gpkg", region="99.01.02")
    assert villages["kode"].tolist() == ["99.01.02.2001", "99.01.02.2002"]
    with pytest.raises(InputError) as info:
        villages_from_frame(villages_gdf, file="v.gpkg", region="64.11")
    assert "64.11" in str(info.value) and "99.01.01.2001" in str(info.value)


def test_invalid_polygon_is_repaired(villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[1, "geometry"] = shapely.Polygon([(114.1, 0), (114.2, 0.1), (114.2, 0), (114.1, 0.1)])
    with pytest.warns(RepairWarning, match="99.01.01.2002"):
        villages = villages_from_frame(gdf, file="v.gpkg")
    assert villages.geometry.is_valid.all()


def test_output_sorted_by_code(villages_gdf):
    villages = villages_from_frame(villages_gdf.iloc[::-1], file="v.gpkg")
    assert villages["kode"].tolist() == sorted(villages_gdf["kode"])
    assert villages.index.tolist() == [0, 1, 2, 3]


# --------------------------------------------------------------------------- #
# areas and population
# --------------------------------------------------------------------------- #


def test_areas_region_keeps_ancestors_and_descendants(villages_gdf):
    kec, kab = area_frames(villages_gdf)
    other = gpd.GeoDataFrame({"kode": ["99.02.01", "99"], "nama": ["Lain", "Provinsi"]},
                             geometry=[shapely.box(0, 0, 1, 1), shapely.box(0, 0, 2, 2)],
                             crs="EPSG:4326")
    frame = pd.concat([kec, kab, other], ignore_index=True)
    areas = areas_from_frame(frame, file="a.gpkg", region="99.01")
    assert areas["kode"].tolist() == ["99", "99.01", "99.01.01", "99.01.02"]


def test_population_table_with_thousands_and_decimal_separators():
    df = pd.DataFrame({"kode_desa": ["99.01.01.2001", "9901012002", "99.01.02.2001"],
                       "jumlah_penduduk": ["1.234", "987", "12,5"], "_row": [2, 3, 4]})
    with pytest.warns(RepairWarning, match="without dots"):
        pop = population_from_table(df, file="p.csv")
    assert pop.to_dict() == {"99.01.01.2001": 1234.0, "99.01.01.2002": 987.0,
                             "99.01.02.2001": 12.5}


def test_population_table_refusals():
    df = pd.DataFrame({"kode": ["99.01.01.2001"], "x": ["1"], "_row": [2]})
    with pytest.raises(InputError) as info:
        population_from_table(df, file="p.csv")
    assert "missing population" in str(info.value) and "found columns kode, x" in str(info.value)
    df = pd.DataFrame({"kode": ["99.01.01.2001", "99.01.01.2001"], "penduduk": ["1", "2"],
                       "_row": [2, 3]})
    with pytest.raises(InputError, match="99.01.01.2001 appears more than once"):
        population_from_table(df, file="p.csv")
    df = pd.DataFrame({"kode": ["99.01.01.2001", "99.01.01.2002"], "penduduk": ["1", "dua"],
                       "_row": [2, 3]})
    with pytest.raises(InputError) as info:
        population_from_table(df, file="p.csv")
    assert (info.value.row, info.value.column) == (3, "penduduk")


# --------------------------------------------------------------------------- #
# villages of points
# --------------------------------------------------------------------------- #


@pytest.fixture
def villages(villages_gdf):
    return villages_from_frame(villages_gdf, file="v.gpkg")


def test_assign_villages(villages):
    points = gpd.GeoSeries([
        shapely.Point(114.05, 0.05),    # inside 99.01.01.2001
        shapely.Point(114.1, 0.05),     # on the border of 2001 and 2002: the smallest code
        shapely.Point(114.45, 0.05),    # 0.05 east of the last village: nearest within 0.1
        shapely.Point(115.0, 0.05),     # far away
        None,
    ], crs="EPSG:4326")
    assert assign_villages(points, villages).tolist() == [
        "99.01.01.2001", "99.01.01.2001", "99.01.02.2002", None, None]
    # the same whatever order the villages come in
    shuffled = villages.iloc[[3, 1, 2, 0]].reset_index(drop=True)
    assert assign_villages(points, shuffled)[1] == "99.01.01.2001"
    assert assign_villages(points, villages, tolerance_deg=0)[2] is None


def test_anchor_points(villages):
    anchors = village_anchor_points(villages, None)
    for kode, geom in zip(villages["kode"], villages.geometry, strict=True):
        assert geom.contains(anchors[kode])
    settlements = gpd.GeoDataFrame(
        {"kind": ["settlement", "settlement", "school"], "people": [10, 300, 5000],
         "village_kode": ["99.01.01.2001"] * 3},
        geometry=[shapely.Point(114.01, 0.01), shapely.Point(114.02, 0.02),
                  shapely.Point(114.03, 0.03)], crs="EPSG:4326")
    anchors = village_anchor_points(villages, settlements)
    assert anchors["99.01.01.2001"].equals(shapely.Point(114.02, 0.02))  # most people


# --------------------------------------------------------------------------- #
# sites and locations
# --------------------------------------------------------------------------- #


def _sites(rows, columns=("nama", "jenis", "status", "kode_desa", "OPD", "sumber dana",
                          "tahun", "bujur", "lintang")):
    df = pd.DataFrame(rows, columns=list(columns), dtype=object)
    df["_row"] = np.arange(len(df)) + 2
    return df


def test_sites_statuses_kinds_and_ids(villages):
    df = _sites([
        ["Starlink Satu", "Starlink", "terpasang", "99.01.01.2001", "Diskominfo", "APBD", "2024",
         "114.05", "0.05"],
        ["Starlink Dua", "starlink", "Proses", "99.01.01.2002", "Diskominfo", "APBD", "2025",
         "114.15", "0.05"],
        ["BTS Tiga", "BTS", "rencana", "99.01.02.2001", "BAKTI", "APBN/BAKTI", "2026", "114.25",
         "0.05"],
        ["Wifi Empat", "wifi kampung", "usulan", "99.01.02.2002", "Dinas Pendidikan",
         "Dana Desa", "2027", "114.35", "0.05"],
    ])
    result = points_from_input(df, SITES, file="s.csv", villages=villages)
    sites = result.layer
    assert result.rejected == []
    assert sites["status"].tolist() == ["installed", "in_progress", "planned", "proposed"]
    assert sites["kind"].tolist() == ["starlink", "starlink", "bts", "wifi"]
    assert sites["funding"].tolist() == ["apbd", "apbd", "apbn", "dana_desa"]
    assert sites["agency"].tolist() == ["Diskominfo", "Diskominfo", "BAKTI", "Dinas Pendidikan"]
    assert sites["year"].tolist() == [2024, 2025, 2026, 2027]
    # ids: kind (not repeated by the name), slug of the name, agency, village code
    assert sites["site_id"].tolist() == [
        "starlink-satu--diskominfo-99.01.01.2001", "starlink-dua--diskominfo-99.01.01.2002",
        "bts-tiga--bakti-99.01.02.2001", "wifi-empat--dinas-pendidikan-99.01.02.2002"]
    assert list(sites.columns)[0] == "site_id"
    assert (sites.geometry.geom_type == "Point").all()


def test_site_rows_rejected_with_reasons(villages):
    df = _sites([
        ["Satu", "Starlink", "terpasang", "99.01.01.2001", "", "", "2024", "114.05", "0.05"],
        ["Unknown code", "Starlink", "terpasang", "99.01.09.2009", "", "", "", "114.05", "0.06"],
        ["Bad status", "Starlink", "hilang", "", "", "", "", "114.05", "0.07"],
        ["Bad kind", "Balon udara", "terpasang", "", "", "", "", "114.05", "0.07"],
        ["", "Starlink", "terpasang", "", "", "", "", "114.05", "0.07"],
        ["Bad year", "Starlink", "terpasang", "", "", "", "1850", "114.05", "0.08"],
        ["Nowhere", "Starlink", "terpasang", "", "", "", "", None, None],
        ["Satu", "Starlink", "terpasang", "99.01.01.2001", "", "", "", "114.06", "0.05"],
    ])
    result = points_from_input(df, SITES, file="s.csv", villages=villages)
    assert result.layer["name"].tolist() == ["Satu"]
    reasons = {r.row: (r.column, r.reason) for r in result.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert reasons[3] == ("kode_desa", "unknown village code '99.01.09.2009'")
    assert reasons[4][0] == "status" and "unknown site status 'hilang'" in reasons[4][1]
    assert "Terpasang" in reasons[4][1]  # the accepted values are listed
    assert reasons[5][0] == "jenis" and "unknown site kind 'Balon udara'" in reasons[5][1]
    assert reasons[6] == ("nama", "no name")
    assert reasons[7][0] == "tahun" and "1850" in reasons[7][1]
    assert "no coordinates and no village" in reasons[8][1]
    assert reasons[9][0] is None  # the file has no id column: the id was derived
    assert reasons[9][1] == ("same site_id as row 2 (starlink-satu-99.01.01.2001): the same "
                             "site twice; fields that differ: tahun '2024' vs (empty); "
                             "position 114.05000,0.05000 vs 114.06000,0.05000")


def test_damaged_and_inactive_statuses_and_village_fund(villages):
    df = _sites([
        ["Satu", "Starlink", "Rusak", "99.01.01.2001", "Diskominfo", "Dana Desa", "2022",
         "114.05", "0.05"],
        ["Dua", "Starlink", "tidak aktif", "99.01.01.2002", "Diskominfo", "APBKam", "2021",
         "114.15", "0.05"],
        ["Tiga", "VSAT", "mati", "99.01.02.2001", "BAKTI", "APBN", "2019", "114.25", "0.05"],
    ])
    result = points_from_input(df, SITES, file="s.csv", villages=villages)
    assert result.layer["status"].tolist() == ["damaged", "inactive", "inactive"]
    assert result.layer["funding"].tolist() == ["dana_desa", "dana_desa", "apbn"]


def test_two_agencies_in_one_kampung_are_two_sites(villages):
    df = _sites([
        ["Starlink Naha Aru", "Starlink", "terpasang", "99.01.01.2001", "Diskominfo", "APBD",
         "2024", "114.05", "0.05"],
        ["Starlink Naha Aru", "Starlink", "terpasang", "99.01.01.2001", "Dinas Pendidikan",
         "APBD", "2024", "114.05", "0.05"],
    ])
    result = points_from_input(df, SITES, file="s.csv", villages=villages)
    assert result.rejected == []
    assert result.layer["site_id"].tolist() == [
        "starlink-naha-aru--diskominfo-99.01.01.2001",
        "starlink-naha-aru--dinas-pendidikan-99.01.01.2001"]


def test_the_same_site_twice_names_the_earlier_row_and_the_differences(villages):
    df = _sites([
        ["Starlink Satu", "Starlink", "terpasang", "99.01.01.2001", "Diskominfo", "APBD", "2024",
         "114.05", "0.05"],
        ["Starlink Satu", "Starlink", "rencana", "99.01.01.2001", "Diskominfo", "APBD", "2026",
         "114.05", "0.05"],
        ["Starlink Satu", "Starlink", "terpasang", "99.01.01.2001", "Diskominfo", "APBD", "2024",
         "114.05", "0.05"],
    ])
    result = points_from_input(df, SITES, file="s.csv", villages=villages)
    assert [(r.row, r.reason) for r in result.rejected] == [
        (3, "same site_id as row 2 (starlink-satu--diskominfo-99.01.01.2001): the same site "
            "twice; fields that differ: status 'installed' vs 'planned'; tahun '2024' vs '2026'"),
        (4, "same site_id as row 2 (starlink-satu--diskominfo-99.01.01.2001): the same site "
            "twice; no field differs")]


def test_site_id_does_not_repeat_the_kind():
    assert site_id("starlink", "Starlink Naha Aru", "64.11.01.2006") == \
        "starlink-naha-aru-64.11.01.2006"
    assert site_id("wifi", "Wi-Fi Kampung Long Pahangai", "64.11.03.2001", "Diskominfo") == \
        "wifi-kampung-long-pahangai--diskominfo-64.11.03.2001"
    assert site_id("fiber", "Serat Optik Ujoh Bilang", "64.11.01.2006") == \
        "fiber-ujoh-bilang-64.11.01.2006"
    assert site_id("bts", "BTS", "64.11.01.2006") == "bts-64.11.01.2006"
    # a word that only resembles the kind stays
    assert site_id("bts", "Menara Telkomsel", "64.11.01.2006") == \
        "bts-menara-telkomsel-64.11.01.2006"
    # the agency cannot be confused with the end of a name
    assert site_id("starlink", "Naha Aru Diskominfo", "64.11.01.2006") != \
        site_id("starlink", "Naha Aru", "64.11.01.2006", "Diskominfo")


def test_reconcile_recognises_old_ids_and_agency_less_rows(villages):
    df = _sites([["Starlink Satu", "Starlink", "terpasang", "99.01.01.2001", "Diskominfo",
                  "APBD", "2024", "114.05", "0.05"],
                 ["Starlink Dua", "Starlink", "rusak", "99.01.01.2002", "", "", "",
                  "114.15", "0.05"]])
    recorded = points_from_input(df, SITES, file="s.csv", villages=villages).layer
    recorded["site_id"] = ["starlink-starlink-satu-99.01.01.2001", "ST-2"]  # old, given
    sheet = _sites([["Starlink Satu", "Starlink", "rusak", "99.01.01.2001", "", "", "",
                     "114.05", "0.05"],
                    ["Starlink Dua", "Starlink", "rusak", "99.01.01.2002", "", "", "",
                     "114.15", "0.05"]])
    new = points_from_input(sheet, SITES, file="s.csv", villages=villages).layer
    existing, new = reconcile_site_ids(recorded, new)
    assert existing["site_id"].tolist() == ["starlink-satu--diskominfo-99.01.01.2001", "ST-2"]
    # the agency-less row takes the recorded id; a given id is never matched by name
    assert new["site_id"].tolist() == ["starlink-satu--diskominfo-99.01.01.2001",
                                       "starlink-dua-99.01.01.2002"]


def test_unknown_funding_is_recorded_as_other(villages):
    df = _sites([["Satu", "Starlink", "terpasang", "", "Diskominfo", "Hibah Luar Negeri X", "",
                  "114.05", "0.05"]])
    with pytest.warns(RepairWarning, match="'Hibah Luar Negeri X' not recognised"):
        result = points_from_input(df, SITES, file="s.csv", villages=villages)
    assert result.layer["funding"].tolist() == ["other"]


def test_no_usable_row_raises(villages):
    df = _sites([["Satu", "Starlink", "hilang", "", "", "", "", "114.05", "0.05"],
                 ["Dua", "Starlink", "terpasang", "", "", "", "", "130", "0.05"]])
    with pytest.raises(InputError) as info:
        points_from_input(df, SITES, file="s.csv", villages=villages)
    text = str(info.value)
    assert "s.csv" in text and "no usable row (2 rejected" in text
    assert "row 2" in text and "row 3" in text


def test_site_without_coordinates_placed_by_village_name(villages):
    df = _sites([["Starlink Tiga", "Starlink", "usulan", "Tiga", "", "", "", None, None]],
                columns=("nama", "jenis", "status", "kampung", "OPD", "sumber dana", "tahun",
                         "bujur", "lintang"))
    with pytest.warns(RepairWarning, match=r"1 row\(s\) without coordinates were placed"):
        result = points_from_input(df, SITES, file="s.csv", villages=villages)
    site = result.layer.iloc[0]
    assert site["village_kode"] == "99.01.02.2001"
    tiga = villages.set_index("kode").geometry["99.01.02.2001"]
    assert tiga.contains(site.geometry)


def test_location_without_coordinates_is_rejected(villages):
    df = pd.DataFrame({"jenis": ["sekolah", "puskesmas"], "nama": ["SD 1", "Pustu"],
                       "kampung": ["Satu", "Dua"], "bujur": ["114.05", None],
                       "lintang": ["0.05", None], "penduduk": ["", ""], "_row": [2, 3]})
    result = points_from_input(df, LOCATIONS, file="l.csv", villages=villages)
    assert result.layer["kind"].tolist() == ["school"]
    assert result.layer["village_kode"].tolist() == ["99.01.01.2001"]
    assert [(r.row, r.reason) for r in result.rejected] == [(3, "a location needs coordinates")]
    assert result.layer["location_id"].tolist() == ["school-sd-1-99.01.01.2001"]


def test_village_from_position_when_not_given(villages):
    df = pd.DataFrame({"jenis": ["dusun"], "nama": ["Dusun A"], "lon": ["114.25"],
                       "lat": ["0.05"], "_row": [2]})
    result = points_from_input(df, LOCATIONS, file="l.csv", villages=villages)
    assert result.layer["village_kode"].tolist() == ["99.01.02.2001"]


def test_point_layer_input(villages):
    gdf = gpd.GeoDataFrame(
        {"jenis": ["Starlink", "BTS"], "nama": ["Satu", "Tower"], "status": ["aktif", "rencana"]},
        geometry=[shapely.Point(114.05, 0.05), shapely.box(114.2, 0, 114.3, 0.1)],
        crs="EPSG:4326")
    result = points_from_input(gdf, SITES, file="s.geojson", villages=villages)
    assert result.layer["name"].tolist() == ["Satu"]
    assert result.layer["status"].tolist() == ["installed"]
    assert [(r.row, r.column, r.reason) for r in result.rejected] == [(2, "geometry",
                                                                       "not a point")]


def test_stable_id():
    assert stable_id("starlink", "SD Negeri 001 Long Apari!", "64.11.04.2001") == \
        "starlink-sd-negeri-001-long-apari-64.11.04.2001"
    assert stable_id("bts", "Menara", None) == "bts-menara-x"


# --------------------------------------------------------------------------- #
# merging
# --------------------------------------------------------------------------- #


def _points(ids, statuses):
    return gpd.GeoDataFrame({"site_id": ids, "status": statuses, "year": [2024.0] * len(ids)},
                            geometry=[shapely.Point(114 + i / 100, 0.05)
                                      for i in range(len(ids))], crs="EPSG:4326")


def test_merge_points_counts():
    old = _points(["a", "b", "c"], ["installed", "planned", "planned"])
    new = _points(["a", "b", "d"], ["installed", "in_progress", "proposed"])
    merged, counts = merge_points(old, new, "site_id")
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 1)
    assert merged["site_id"].tolist() == ["a", "b", "c", "d"]
    assert merged.set_index("site_id")["status"].to_dict() == {
        "a": "installed", "b": "in_progress", "c": "planned", "d": "proposed"}
    merged2, counts2 = merge_points(merged, new, "site_id")
    assert (counts2.added, counts2.updated, counts2.unchanged) == (0, 0, 3)
    assert len(merged2) == 4


def test_merge_into_nothing():
    new = _points(["a", "b"], ["installed", "planned"])
    merged, counts = merge_points(None, new, "site_id")
    assert (counts.added, counts.updated, counts.unchanged) == (2, 0, 0)


def test_moved_point_is_an_update():
    old = _points(["a"], ["installed"])
    new = old.copy()
    new.geometry = [shapely.Point(114.3, 0.05)]
    _, counts = merge_points(old, new, "site_id")
    assert counts.updated == 1


# --------------------------------------------------------------------------- #
# OpenCelliD towers
# --------------------------------------------------------------------------- #


def test_towers_from_opencellid(villages):
    df = pd.DataFrame({
        "radio": ["GSM", "LTE", "UMTS", "LTE", "GSM"],
        "mcc": ["510"] * 5,
        "net": ["10", "10", "1", "10", "10"],
        "area": ["1"] * 5,
        "cell": ["11", "12", "13", "14", "15"],
        "lon": ["114.05", "114.05", "114.25", "114.6", "120.0"],
        "lat": ["0.05", "0.05", "0.05", "0.05", "0.05"],
        "range": ["1000", "3000", "", "500", "100"],
        "_row": [2, 3, 4, 5, 6],
    })
    assert is_opencellid(list(df.columns))
    result = towers_from_opencellid(df, file="cells.csv", villages=villages)
    towers = result.layer.set_index("site_id")
    # 114.05: two Telkomsel cells at one position -> one site, best technology 4G
    # 114.25: Indosat 3G; 114.6: 0.2 east of the region, within the 0.35 margin
    # 120.0: far away, skipped (not rejected)
    assert len(towers) == 3
    assert result.skipped == 1 and result.rejected == []
    first = towers.loc["ocid-510-10-114.05-0.05"]
    assert first["technology"] == "4G" and first["operator"] == "Telkomsel"
    assert first["service_radius_m"] == 3000.0
    assert first["village_kode"] == "99.01.01.2001"
    assert first["frequency_mhz"] == 1800.0
    second = towers.loc["ocid-510-1-114.25-0.05"]
    assert second["technology"] == "3G" and second["operator"] == "Indosat"
    assert second["village_kode"] == "99.01.02.2001"
    assert pd.isna(towers.loc["ocid-510-10-114.6-0.05", "village_kode"])
    assert set(towers["kind"]) == {"bts"} and set(towers["status"]) == {"installed"}


def test_population_thousands_separators_are_not_decimals():
    """Head counts written 1,250 or 12.345 (either locale) are whole numbers."""
    import pandas as pd

    from geo_p2dd.layers import population_from_table

    df = pd.DataFrame({"kode": ["64.11.01.2001", "64.11.01.2002", "64.11.01.2003"],
                       "penduduk": ["1,250", "12.345", "1.234.567"], "_row": [2, 3, 4]})
    got = population_from_table(df, file="p.csv")
    assert got.to_dict() == {"64.11.01.2001": 1250.0, "64.11.01.2002": 12345.0,
                             "64.11.01.2003": 1234567.0}


# --------------------------------------------------------------------------- #
# boundary levels (issue #12 item 7)
# --------------------------------------------------------------------------- #


def test_duplicate_area_codes_are_refused_with_the_features(villages_gdf):
    kec, _ = area_frames(villages_gdf)
    frame = pd.concat([kec, kec.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError) as info:
        areas_from_frame(frame, file="k.gpkg", level="kecamatan")
    text = str(info.value)
    assert "duplicate kecamatan code 99.01.01 (features 1, 3)" in text
    assert info.value.column == "kode" and info.value.file == "k.gpkg"


@pytest.mark.parametrize(("level", "which", "looks"), [
    ("kecamatan", "villages", "villages"), ("kabupaten", "kecamatan", "kecamatan"),
    ("kecamatan", "kabupaten", "kabupaten")])
def test_area_codes_of_another_level_are_refused(level, which, looks, villages_gdf):
    kec, kab = area_frames(villages_gdf)
    frame = {"villages": villages_gdf, "kecamatan": kec, "kabupaten": kab}[which]
    with pytest.raises(InputError) as info:
        areas_from_frame(frame, file="a.gpkg", level=level)
    e = info.value
    assert f"are not {level} codes (features 1" in str(e)
    assert e.row == 1 and e.found == frame["kode"].iloc[0]
    assert f"import it as {looks}" in str(e)


def test_area_codes_not_in_kemendagri_form_are_refused(villages_gdf):
    kec, _ = area_frames(villages_gdf)
    kec.loc[1, "kode"] = "KEC-2"
    with pytest.raises(InputError, match=r"1 code\(s\) are not kecamatan codes \(features 2\)"):
        areas_from_frame(kec, file="a.gpkg", level="kecamatan")


def test_kecamatan_codes_imported_as_villages_are_refused(villages_gdf):
    kec, _ = area_frames(villages_gdf)
    with pytest.raises(InputError, match="are not village codes.*import it as kecamatan"):
        villages_from_frame(kec, file="k.gpkg")


def test_areas_without_a_code_in_the_region_are_refused(villages_gdf):
    kec, _ = area_frames(villages_gdf)
    with pytest.raises(InputError, match="no kecamatan code lies in region 64.11"):
        areas_from_frame(kec, file="k.gpkg", region="64.11", level="kecamatan")


@pytest.mark.parametrize("given", ["99.01.02.2002", "9901022002", "Empat"])
def test_kampung_column_may_hold_a_code_or_a_name(given, villages):
    """A sheet whose kampung column holds codes: codes are accepted there, names still work."""
    df = _sites([["Wifi", "wifi", "rencana", given, None, None]],
                columns=("nama", "jenis", "status", "kampung", "bujur", "lintang"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RepairWarning)  # placed at the settlement
        result = points_from_input(df, SITES, file="s.csv", villages=villages)
    assert result.rejected == []
    assert result.layer["village_kode"].tolist() == ["99.01.02.2002"]
