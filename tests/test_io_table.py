"""Tests for geo_p2dd.io.table: CSV/XLSX reading, numbers, coordinate columns, points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import REGION_BOUNDS, write_text

from geo_p2dd.errors import InputError
from geo_p2dd.io import shown_columns
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


# --- formulas and open workbooks (issue #12 item 9, #14) -----------------------------------

def _with_cached_value(path, formula: str, value: str) -> None:
    """Store a result for ``formula`` as Excel does (openpyxl writes formulas without one)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    text = parts[sheet].decode()
    assert f"<f>{formula}</f><v></v>" in text or f"<f>{formula}</f><v />" in text
    text = text.replace(f"<f>{formula}</f><v></v>", f"<f>{formula}</f><v>{value}</v>")
    text = text.replace(f"<f>{formula}</f><v />", f"<f>{formula}</f><v>{value}</v>")
    parts[sheet] = text.encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_formula_with_a_cached_value_gives_the_value(tmp_path):
    path = _xlsx(tmp_path / "f.xlsx", [["nama", "tahun"], ["Satu", "=2020+4"], ["Dua", 2025]])
    _with_cached_value(path, "2020+4", "2024")
    assert read_table(path)["tahun"].tolist() == ["2024", "2025"]


def test_formula_without_a_cached_value_is_refused(tmp_path):
    path = _xlsx(tmp_path / "f.xlsx", [["nama", "tahun"], ["Satu", 2025], ["Dua", "=2020+4"]])
    with pytest.raises(InputError) as info:
        read_table(path)
    e = info.value
    assert (e.file, e.row, e.column) == (str(path), 3, "tahun")
    assert "formula without a cached value" in str(e) and "B3" in str(e)


def _open_handles(path) -> int:
    import os

    fds = Path("/proc/self/fd")
    if not fds.exists():
        pytest.skip("needs /proc/self/fd to count open files")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            continue
    return count


def test_workbook_that_fails_to_load_is_closed(tmp_path):
    """A zip that is not a workbook: openpyxl fails half-way; the file must not stay open."""
    import zipfile

    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types>not a workbook</Types>")
    with pytest.raises(InputError) as info:
        read_table(path)
    assert str(path) in str(info.value)
    assert _open_handles(path) == 0


# --- what errors show of a file (issue #12 item 9) ------------------------------------------

SECRET = "root:x:0:0:root:/root:/bin/bash"


def test_symlink_to_a_file_outside_its_folder_is_refused_unread(tmp_path):
    outside = write_text(tmp_path / "elsewhere" / "passwd", SECRET + "\n" + SECRET + "\n")
    link = tmp_path / "inputs" / "sites.csv"
    link.parent.mkdir()
    link.symlink_to(outside)
    with pytest.raises(InputError) as info:
        read_table(link)
    text = str(info.value)
    assert "symbolic link to a file outside its folder" in text and SECRET not in text


def test_symlink_inside_its_folder_is_followed(tmp_path):
    real = write_text(tmp_path / "inputs" / "data" / "sites.csv", "nama,lon,lat\nSatu,1,2\n")
    link = tmp_path / "inputs" / "sites.csv"
    link.symlink_to(real)
    assert read_table(link)["nama"].tolist() == ["Satu"]


def test_a_first_line_that_is_no_header_is_not_echoed(tmp_path):
    path = write_text(tmp_path / "passwd.csv", SECRET + "\n" + SECRET + "\n")
    df = read_table(path)
    with pytest.raises(InputError) as info:
        points_from_table(df, file=str(path))
    text = str(info.value)
    assert SECRET not in text and "/bin/bash" not in text
    assert "1 heading(s) that do not look like column names (not shown)" in text


def test_headings_that_look_like_headings_are_shown():
    assert shown_columns(["Kapasitas (Mbps)", "Tinggi [m]", "nama lokasi"]) == \
        "Kapasitas (Mbps), Tinggi [m], nama lokasi"


@pytest.mark.parametrize("special", ["dir", "fifo"])
def test_special_files_are_refused(special, tmp_path):
    import os

    path = tmp_path / "x.csv"
    path.mkdir() if special == "dir" else os.mkfifo(path)
    with pytest.raises(InputError, match="not a regular file"):
        read_table(path)


def test_first_row_longer_than_the_header_is_refused(tmp_path):
    path = write_text(tmp_path / "t.csv", "kode,nama\n99.01.01.2001,x,y,z\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    assert info.value.row == 2 and "more fields than the header" in str(info.value)


def test_utf16_csv_with_bom_is_read(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("nama;bujur\nKampung Café;114,05\n".encode("utf-16"))
    assert read_table(path)["nama"].tolist() == ["Kampung Café"]


@pytest.mark.parametrize("raw", [b"\x81\x8d\x8f\x90\x9d,x\n1,2\n", b"a,b\n\x00\x00\x01,2\n"])
def test_bytes_that_are_not_text_are_refused(raw, tmp_path):
    """0x81 is neither UTF-8 nor Windows-1252; NUL bytes are binary."""
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    with pytest.raises(InputError, match="the file is not text") as info:
        read_table(path)
    assert "local variable" not in str(info.value)
