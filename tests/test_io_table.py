"""Tests for geo_p2dd.io.table: CSV/XLSX reading, numbers, coordinate columns, points."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import REGION_BOUNDS, write_text

from geo_p2dd.errors import InputError
from geo_p2dd.io.table import (
    find_coordinate_columns,
    parse_numbers,
    points_from_table,
    read_table,
)
from geo_p2dd.io.vector import RepairWarning


def _xlsx(path, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


# --------------------------------------------------------------------------- #
# read_table
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_csv_delimiters(sep, tmp_path):
    text = sep.join(["nama", "bujur", "lintang"]) + "\n"
    text += sep.join(["Satu", "114.05", "0.05"]) + "\n"
    text += sep.join(["Dua", "114.15", "0.06"]) + "\n"
    df = read_table(write_text(tmp_path / "t.csv", text))
    assert list(df.columns) == ["nama", "bujur", "lintang", "_row"]
    assert df["nama"].tolist() == ["Satu", "Dua"]
    assert df["bujur"].tolist() == ["114.05", "114.15"]  # text, parsed later
    assert df["_row"].tolist() == [2, 3]


def test_semicolon_csv_with_decimal_commas(tmp_path):
    text = "nama;bujur;lintang\nSatu;114,05;0,05\nDua, Hulu;114,15;0,06\nTiga;114,25;0,07\n"
    df = read_table(write_text(tmp_path / "t.csv", text))
    assert df["nama"].tolist() == ["Satu", "Dua, Hulu", "Tiga"]
    assert df["bujur"].tolist() == ["114,05", "114,15", "114,25"]


def test_row_numbers_are_sheet_rows(tmp_path):
    """Header is row 1; blank and empty rows still count, as a spreadsheet shows them."""
    text = "nama,lon,lat\nA,1,2\n\nB,3,4\n,,\nC,5,6\n"
    df = read_table(write_text(tmp_path / "t.csv", text))
    assert df["nama"].tolist() == ["A", "B", "C"]
    assert df["_row"].tolist() == [2, 4, 6]
    xlsx = _xlsx(tmp_path / "t.xlsx", [["nama", "lon", "lat"], ["A", 1, 2], [None, None, None],
                                       ["B", 3, 4]])
    assert read_table(xlsx)["_row"].tolist() == [2, 4]


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"),
                                               ("cp1252", b"")])
def test_csv_encodings(encoding, bom, tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(bom + "kode,nama\n99.01.01.2001,Kampung Café\n".encode(encoding))
    df = read_table(path)
    assert list(df.columns[:2]) == ["kode", "nama"]
    assert df["nama"].iloc[0] == "Kampung Café"


def test_xlsx_cells_as_text(tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", [["kode", "tahun", "bujur", "nama"],
                                       [9901012001, 2024, 114.05, "Satu"],
                                       ["99.01.01.2002", 2025.0, "114,15", None]])
    df = read_table(path)
    assert df["kode"].tolist() == ["9901012001", "99.01.01.2002"]
    assert df["tahun"].tolist() == ["2024", "2025"]
    assert df["bujur"].tolist() == ["114.05", "114,15"]
    assert df["nama"].iloc[0] == "Satu" and pd.isna(df["nama"].iloc[1])


def test_xlsx_sheets(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "catatan"
    wb.active.append(["x"])
    wb.active.append(["1"])
    ws = wb.create_sheet("sites")
    ws.append(["nama", "lon", "lat"])
    ws.append(["Satu", 114.05, 0.05])
    path = tmp_path / "t.xlsx"
    wb.save(path)
    assert read_table(path, sheet="sites")["nama"].tolist() == ["Satu"]
    assert list(read_table(path).columns) == ["x", "_row"]  # first sheet by default
    with pytest.raises(InputError) as info:
        read_table(path, sheet="lokasi")
    assert "lokasi" in str(info.value) and "catatan, sites" in str(info.value)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError) as info:
        read_table(path)
    assert str(path) in str(info.value) and "empty" in str(info.value)


@pytest.mark.parametrize("text", ["kode,nama,lon,lat\n", "kode,nama\n\n\n", "kode;nama\n;\n"])
def test_header_only_csv_is_refused(text, tmp_path):
    path = write_text(tmp_path / "header.csv", text)
    with pytest.raises(InputError) as info:
        read_table(path)
    assert str(path) in str(info.value)
    assert "header but no rows" in str(info.value)


def test_garbage_xlsx_is_refused(tmp_path):
    path = tmp_path / "sites.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    with pytest.raises(InputError) as info:
        read_table(path)
    assert str(path) in str(info.value) and "cannot read as a table" in str(info.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- #
# numbers and coordinate columns
# --------------------------------------------------------------------------- #


def test_parse_numbers():
    values = pd.Series(["114,05", "0.5", "", None, "abc", " 3 ", "1e3", "-0,5", "1,2,3"])
    numbers, bad, commas = parse_numbers(values)
    expected = [114.05, 0.5, np.nan, np.nan, np.nan, 3.0, 1000.0, -0.5, np.nan]
    np.testing.assert_allclose(numbers, expected)
    assert bad.tolist() == [False, False, False, False, True, False, False, False, True]
    assert commas == 2


@pytest.mark.parametrize("lon", ["lon", "lng", "long", "longitude", "x", "bujur", "Longitude",
                                 "X", "BUJUR"])
@pytest.mark.parametrize("lat", ["lat", "latitude", "y", "lintang", "Latitude", "LINTANG"])
def test_coordinate_column_names(lon, lat):
    assert find_coordinate_columns(["nama", lon, lat, "jenis"]) == (lon, lat)


def test_coordinate_columns_absent():
    assert find_coordinate_columns(["nama", "jenis"]) == (None, None)


def test_only_one_coordinate_column_is_refused():
    with pytest.raises(InputError) as info:
        find_coordinate_columns(["nama", "bujur"], file="t.csv")
    text = str(info.value)
    assert "t.csv" in text and "latitude" in text and "--lon and --lat" in text
    assert "nama, bujur" in text


def test_explicit_coordinate_column_must_exist():
    with pytest.raises(InputError) as info:
        find_coordinate_columns(["nama", "lon", "lat"], lon="timur", file="t.csv")
    assert "timur" in str(info.value) and "nama, lon, lat" in str(info.value)


# --------------------------------------------------------------------------- #
# points_from_table
# --------------------------------------------------------------------------- #


def _table(rows, columns=("nama", "bujur", "lintang")):
    df = pd.DataFrame(rows, columns=list(columns), dtype=object)
    df["_row"] = np.arange(len(df)) + 2
    return df


@pytest.mark.parametrize("lon", ["lon", "lng", "longitude", "x", "bujur"])
@pytest.mark.parametrize("lat", ["lat", "latitude", "y", "lintang"])
def test_xlsx_points_with_any_coordinate_names(lon, lat, tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", [["nama", lon, lat], ["Satu", 114.05, 0.05],
                                       ["Dua", 114.15, 0.06]])
    points, rejected = points_from_table(read_table(path), file=str(path),
                                         region_bounds=REGION_BOUNDS)
    assert rejected == []
    assert [(p.x, p.y) for p in points.geometry] == [(114.05, 0.05), (114.15, 0.06)]
    assert lon not in points.columns and lat not in points.columns
    assert points.crs.to_epsg() == 4326


def test_lon_lat_override(tmp_path):
    """Columns with other names are named with lon=/lat= (--lon/--lat); a stray "lat"
    column that is not a coordinate is then left alone."""
    path = _xlsx(tmp_path / "t.xlsx", [["nama", "koord_timur", "koord_utara", "lat"],
                                       ["Satu", 114.05, 0.05, "catatan"]])
    df = read_table(path)
    points, rejected = points_from_table(df, file=str(path), lon="koord_timur",
                                         lat="koord_utara", region_bounds=REGION_BOUNDS)
    assert rejected == []
    assert (points.geometry.x.iloc[0], points.geometry.y.iloc[0]) == (114.05, 0.05)
    assert points["lat"].iloc[0] == "catatan"


def test_decimal_commas_are_repaired(tmp_path):
    df = read_table(write_text(tmp_path / "t.csv",
                               "nama;bujur;lintang\nSatu;114,05;0,05\nDua;114.15;0.06\n"))
    with pytest.warns(RepairWarning, match="2 coordinate value.*decimal comma"):
        points, rejected = points_from_table(df, file="t.csv", region_bounds=REGION_BOUNDS)
    assert rejected == []
    assert [(p.x, p.y) for p in points.geometry] == [(114.05, 0.05), (114.15, 0.06)]


def test_swapped_coordinates_are_repaired_from_the_region():
    df = _table([["Satu", "114.05", "0.05"], ["Dua", "0.06", "114.15"]])
    with pytest.warns(RepairWarning, match=r"swapped in 1 row\(s\) \(rows 3\)"):
        points, rejected = points_from_table(df, file="t.csv", region_bounds=REGION_BOUNDS)
    assert rejected == []
    assert [(p.x, p.y) for p in points.geometry] == [(114.05, 0.05), (114.15, 0.06)]


def test_bad_rows_are_rejected_on_their_own():
    df = _table([
        ["Satu", "114.05", "0.05"],     # row 2: fine
        ["Dua", "abc", "0.05"],         # row 3: not a number
        ["Tiga", "120.0", "0.05"],      # row 4: 5.6 degrees east of the region
        ["Empat", "114.45", "0.05"],    # row 5: 0.05 outside, within the 0.1 tolerance
        ["Lima", "114.15", None],       # row 6: only one coordinate
        ["Enam", None, None],           # row 7: no coordinates: kept, empty geometry
    ])
    points, rejected = points_from_table(df, file="t.csv", region_bounds=REGION_BOUNDS)
    assert points["nama"].tolist() == ["Satu", "Empat", "Enam"]
    assert points["_row"].tolist() == [2, 5, 7]
    assert points.geometry.iloc[2] is None
    by_row = {r.row: r for r in rejected}
    assert sorted(by_row) == [3, 4, 6]
    assert by_row[3].column == "bujur" and "not a number" in by_row[3].reason
    assert "'abc'" in by_row[3].reason
    assert "outside the region" in by_row[4].reason and "120.00000" in by_row[4].reason
    assert by_row[6].column == "lintang" and "only one" in by_row[6].reason


def test_without_region_only_impossible_coordinates_are_rejected():
    df = _table([["Satu", "114.05", "0.05"], ["Dua", "500000", "10000"]])
    points, rejected = points_from_table(df, file="t.csv")
    assert points["nama"].tolist() == ["Satu"]
    assert [r.row for r in rejected] == [3]
    assert "not a longitude/latitude" in rejected[0].reason


def test_table_without_coordinates_is_refused():
    df = _table([["Satu", "a", "b"]], columns=("nama", "jenis", "status"))
    with pytest.raises(InputError) as info:
        points_from_table(df, file="t.csv")
    text = str(info.value)
    assert "t.csv" in text and "no coordinate columns" in text
    assert "nama, jenis, status" in text  # the columns found, without _row
    assert "_row" not in text
