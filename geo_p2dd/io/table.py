"""Reading tables (CSV, XLSX) and turning coordinate columns into points.

Row numbers in messages are the ones a spreadsheet shows: the header is row 1,
the first data row is row 2.
"""

from __future__ import annotations

import codecs
import csv
import re
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.errors import InputError, RowProblem
from geo_p2dd.io import input_file, shown_columns
from geo_p2dd.io.vector import STORAGE_CRS, repair
from geo_p2dd.schema import LAT_NAMES, LON_NAMES, normalise_header

TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}
ROW_COLUMN = "_row"


def read_table(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX file as text columns, with a ``_row`` column of sheet rows.

    CSV delimiters (comma, semicolon, tab) and encodings (UTF-8, with or without
    BOM, and Windows-1252) are detected.

    Raises
    ------
    InputError
        Empty or unreadable file, unknown sheet.
    """
    path = input_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            df = _read_xlsx(path, sheet)
        else:
            df = _read_csv(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read as a table ({exc})", file=str(path)) from exc
    df.columns = [str(c).strip() for c in df.columns]
    df = df.dropna(how="all")
    if len(df) == 0:
        raise InputError("the table has a header but no rows", file=str(path))
    df[ROW_COLUMN] = df.index.to_numpy() + 2
    return df.reset_index(drop=True)


CSV_ENCODINGS = ("utf-8-sig", "cp1252")  # tried in order; UTF-16 only with its BOM


def _decode(raw: bytes, path: Path) -> str:
    """The text of a CSV file: UTF-16 when it starts with its BOM, else UTF-8, else cp1252."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = CSV_ENCODINGS
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise InputError("the file is not text", file=str(path),
                     expected="a CSV file in UTF-8, UTF-16 (with BOM) or Windows-1252",
                     found="bytes that none of these encodings reads as text",
                     hint="save the sheet as CSV UTF-8 or as .xlsx")


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    text = _decode(raw, path)
    sample = text[:20000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    from io import StringIO

    df = pd.read_csv(StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                     na_values=[""], skipinitialspace=True,
                     skip_blank_lines=False)  # keep sheet row numbers after blank lines
    if not isinstance(df.index, pd.RangeIndex):
        # pandas reads the surplus leading fields of a longer first row as an index
        raise InputError("the first row has more fields than the header", file=str(path),
                         row=2, expected=f"{len(df.columns)} field(s) separated by "
                                         f"{delimiter!r}, as in the header",
                         found=f"{len(df.columns) + df.index.nlevels}")
    return df


def sheet_names(path: str | Path) -> list[str]:
    """Names of the sheets of a workbook (the file is closed again, whatever happens)."""
    with _workbook(Path(path), data_only=True) as wb:
        return list(wb.sheetnames)


@contextmanager
def _workbook(path: Path, *, data_only: bool):
    """An openpyxl workbook in read-only mode; the file is closed even when loading fails.

    openpyxl keeps its own handle open when it fails half-way through a workbook,
    so the file is opened here and handed over.
    """
    import openpyxl

    with open(path, "rb") as fh:
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=data_only)
        try:
            yield wb
        finally:
            wb.close()


def _sheet_rows(path: Path, sheet: str | None, *, data_only: bool) -> tuple[list[list], str]:
    with _workbook(path, data_only=data_only) as wb:
        names = wb.sheetnames
        if sheet is not None and sheet not in names:
            raise InputError(f"no sheet named {sheet!r}", file=str(path),
                             expected="one of " + ", ".join(names))
        ws = wb[sheet] if sheet else wb[names[0]]
        return [list(r) for r in ws.iter_rows(values_only=True)], ws.title


def _is_formula(value: object) -> bool:
    return (isinstance(value, str) and value.startswith("=")) or \
        type(value).__name__ in ("ArrayFormula", "DataTableFormula")


def _read_xlsx(path: Path, sheet: str | None) -> pd.DataFrame:
    """Read a sheet; a formula cell gives its cached result, or is refused without one.

    Formulas are found in a first pass that reads them as written; only when a
    sheet holds any is it read again for the results Excel stored (``data_only``).
    """
    rows, title = _sheet_rows(path, sheet, data_only=False)
    if not rows:
        raise InputError("the sheet is empty", file=str(path))
    header = _unique_headers([("" if h is None else str(h).strip()) for h in rows[0]])
    formulas = [(i, j) for i, r in enumerate(rows) for j, v in enumerate(r) if _is_formula(v)]
    if formulas:
        from openpyxl.utils import get_column_letter

        cached, _ = _sheet_rows(path, title, data_only=True)
        for i, j in formulas:
            value = cached[i][j] if i < len(cached) and j < len(cached[i]) else None
            if value is None:
                raise InputError(
                    "formula without a cached value", file=str(path), row=i + 1,
                    column=header[j] if i > 0 and j < len(header) and header[j] else
                    f"{get_column_letter(j + 1)}",
                    expected="a value, or a formula whose result the workbook stores",
                    found=f"cell {get_column_letter(j + 1)}{i + 1} holding a formula",
                    hint="open and save the workbook in Excel or LibreOffice so the results "
                         "are stored, or type the values")
            rows[i][j] = value
        header = _unique_headers([("" if h is None else str(h).strip()) for h in rows[0]])
    width = len(header)
    body = [[_cell_text(v) for v in r[:width]] + [None] * (width - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header)


def _unique_headers(header: list[str]) -> list[str]:
    """Repeated headers become name, name.1, name.2 (as pandas does for CSV)."""
    seen: dict[str, int] = {}
    out = []
    for h in header:
        n = seen.get(h, 0)
        out.append(h if n == 0 else f"{h}.{n}")
        seen[h] = n + 1
    return out


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) > 1e3:
        return str(int(value))
    return str(value)


_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Parse text as numbers, accepting decimal commas.

    Returns
    -------
    numbers : ndarray of float
        NaN where a value is missing or unparseable.
    bad : ndarray of bool
        True where a value is present but not a number.
    commas : int
        How many values used a decimal comma.
    """
    text = values.astype("string").str.strip().fillna("")
    commas = text.str.match(_DECIMAL_COMMA.pattern)
    fixed = text.where(~commas, text.str.replace(",", ".", regex=False))
    numbers = pd.to_numeric(fixed, errors="coerce").to_numpy(dtype=float)
    bad = (fixed != "").to_numpy() & np.isnan(numbers)
    return numbers, bad, int(commas.sum())


def find_coordinate_columns(
    columns: list[str], lon: str | None = None, lat: str | None = None, *, file: str = ""
) -> tuple[str | None, str | None]:
    """Find the longitude and latitude columns by their usual names.

    Returns (None, None) when the table has neither; raises when only one is found
    or an explicitly named column does not exist.
    """
    norm = {normalise_header(c): c for c in columns}
    for given in (lon, lat):
        if given is not None and given not in columns:
            raise InputError(f"no column named {given!r}", file=file,
                             expected="one of " + ", ".join(columns))
    lon = lon or next((norm[n] for n in LON_NAMES if n in norm), None)
    lat = lat or next((norm[n] for n in LAT_NAMES if n in norm), None)
    if (lon is None) != (lat is None):
        missing = "longitude" if lon is None else "latitude"
        raise InputError(
            f"found one coordinate column but no {missing} column", file=file,
            expected=f"columns such as {', '.join(LON_NAMES[:4])} and {', '.join(LAT_NAMES[:3])}",
            found=shown_columns(columns), hint="name them with --lon and --lat")
    return lon, lat


def points_from_table(
    df: pd.DataFrame,
    *,
    file: str,
    lon: str | None = None,
    lat: str | None = None,
    region_bounds: tuple[float, float, float, float] | None = None,
    tolerance_deg: float = 0.1,
) -> tuple[gpd.GeoDataFrame, list[RowProblem]]:
    """Turn a table with coordinate columns into points in EPSG:4326.

    Rows without coordinates keep an empty geometry (callers may place them);
    rows with unparseable coordinates, or outside ``region_bounds`` by more than
    ``tolerance_deg``, are rejected. Longitude/latitude given in swapped order is
    detected from the region and repaired with a warning.

    Returns
    -------
    points : GeoDataFrame
        The usable rows (``_row`` keeps their sheet row), coordinate columns removed.
    rejected : list of RowProblem
    """
    lon_col, lat_col = find_coordinate_columns(list(df.columns), lon, lat, file=file)
    if lon_col is None:
        raise InputError("the table has no coordinate columns", file=file,
                         expected="lon/lat (or longitude/latitude, bujur/lintang, x/y)",
                         found=shown_columns(c for c in df.columns if c != ROW_COLUMN),
                         hint="name them with --lon and --lat")
    x, bad_x, commas_x = parse_numbers(df[lon_col])
    y, bad_y, commas_y = parse_numbers(df[lat_col])
    if commas_x + commas_y:
        repair(f"{file}: {commas_x + commas_y} coordinate value(s) used a decimal comma and "
               "were read as decimals")
    rows = df[ROW_COLUMN].to_numpy()
    rejected: list[RowProblem] = []
    keep = np.ones(len(df), dtype=bool)
    for i in np.flatnonzero(bad_x | bad_y):
        col = lon_col if bad_x[i] else lat_col
        value = df[col].iloc[i]
        rejected.append(RowProblem(int(rows[i]), col, f"not a number: {value!r}"))
        keep[i] = False
    partial = np.isnan(x) ^ np.isnan(y)
    for i in np.flatnonzero(partial & keep):
        rejected.append(RowProblem(int(rows[i]), lon_col if np.isnan(x[i]) else lat_col,
                                   "only one of the two coordinates is given"))
        keep[i] = False
    if region_bounds is not None:
        west, south, east, north = region_bounds
        t = tolerance_deg

        def inside(a, b):
            return (a >= west - t) & (a <= east + t) & (b >= south - t) & (b <= north + t)

        present = ~np.isnan(x) & keep
        ok = inside(x, y)
        swapped = present & ~ok & inside(y, x)
        if swapped.any():
            x[swapped], y[swapped] = y[swapped].copy(), x[swapped].copy()
            shown = ", ".join(str(int(r)) for r in rows[swapped][:10])
            repair(f"{file}: longitude and latitude were swapped in {int(swapped.sum())} row(s) "
                   f"(rows {shown}); they were put back in order")
        outside = present & ~inside(x, y)
        for i in np.flatnonzero(outside):
            rejected.append(RowProblem(
                int(rows[i]), f"{lon_col}/{lat_col}",
                f"point ({x[i]:.5f}, {y[i]:.5f}) lies outside the region "
                f"({west:.3f}..{east:.3f} E, {south:.3f}..{north:.3f} N) by more than "
                f"{tolerance_deg} degrees"))
            keep[i] = False
    else:
        present = ~np.isnan(x) & keep
        wild = present & ((np.abs(x) > 180) | (np.abs(y) > 90))
        for i in np.flatnonzero(wild):
            rejected.append(RowProblem(int(rows[i]), f"{lon_col}/{lat_col}",
                                       f"({x[i]}, {y[i]}) is not a longitude/latitude"))
            keep[i] = False
    out = df.loc[keep].drop(columns=[lon_col, lat_col])
    geom = np.array(gpd.points_from_xy(x[keep], y[keep]), dtype=object)
    geom[np.isnan(x[keep])] = None  # no coordinates: callers may place the row
    return gpd.GeoDataFrame(out, geometry=geom, crs=STORAGE_CRS), rejected


def point_rows(
    frame: pd.DataFrame,
    *,
    file: str,
    lon: str | None = None,
    lat: str | None = None,
    region_bounds: tuple[float, float, float, float] | None = None,
    tolerance_deg: float = 0.1,
) -> tuple[gpd.GeoDataFrame, list[RowProblem]]:
    """The point rows of an import, from a point layer or a table with coordinates.

    A layer's rows that are not points are rejected; a table goes through
    :func:`points_from_table` (``lon``, ``lat``, ``region_bounds`` and
    ``tolerance_deg`` are for it).

    Returns
    -------
    points : GeoDataFrame
        The rows with a point or no geometry (``_row`` keeps their row in the file).
    rejected : list of RowProblem
    """
    if isinstance(frame, gpd.GeoDataFrame):
        is_point = np.isin(shapely.get_type_id(frame.geometry.values), (-1, 0))  # none, point
        rejected = [RowProblem(int(r), "geometry", "not a point")
                    for r in frame[ROW_COLUMN].to_numpy()[~is_point]]
        return frame[is_point], rejected
    return points_from_table(frame, file=file, lon=lon, lat=lat, region_bounds=region_bounds,
                             tolerance_deg=tolerance_deg)


class RowRejections:
    """The rows of one import rejected one by one, each with the first reason found.

    Call it as ``reject(i, column, reason)`` with ``i`` the position of the row in
    ``rows`` (the rows' numbers in the file); :attr:`ok` says which rows are still
    usable.

    Parameters
    ----------
    rows : array of int
        Each position's row number in the file.
    earlier : list of RowProblem
        Rows rejected before (e.g. by :func:`point_rows`), reported with the others.
    """

    def __init__(self, rows: np.ndarray, earlier: list[RowProblem] | None = None) -> None:
        self.rows = np.asarray(rows)
        self.ok = np.ones(len(self.rows), dtype=bool)
        self._earlier = list(earlier or [])
        self._reasons: dict[int, RowProblem] = {}

    def __call__(self, i: int, column: str | None, reason: str) -> None:
        if self.ok[i]:
            self._reasons[i] = RowProblem(int(self.rows[i]), column, reason)
            self.ok[i] = False

    @property
    def problems(self) -> list[RowProblem]:
        """Every rejected row, in the order of the file."""
        found = self._earlier + [self._reasons[i] for i in sorted(self._reasons)]
        return sorted(found, key=lambda r: r.row)

    def none_usable(self, noun: str, file: str) -> InputError:
        """The error for a file none of whose rows can be used (the first five reasons)."""
        problems = self.problems
        shown = "; ".join(str(r) for r in problems[:5])
        return InputError(f"no usable {noun} ({len(problems)} rejected: {shown})", file=file)
