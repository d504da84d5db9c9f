"""Spreadsheet cells safe to open: no formula injection in CSV or XLSX exports.

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return) is run as a formula by Excel, LibreOffice and Google Sheets, so a site
named ``=HYPERLINK("http://x","x")`` in an agency sheet would become a live
link, or worse, in the partner's spreadsheet. Following the OWASP guidance on
CSV injection, such text is prefixed with a single quote, which spreadsheets
show as text and never evaluate.

Numbers stay numbers: only text cells are touched, and text that is a plain
number (``-0.5``, ``+62``, ``-1e3``) is left as it is, since it cannot be a
formula. Use :func:`safe_cell` for one value and :func:`neutralise_frame` for
every text column of a table, for every CSV the project writes. In XLSX there
is a better way, :func:`xlsx_cell`: the cell is written with an explicit string
type, so it shows the literal text and an exported register imports back
unchanged (no quote added).
"""

from __future__ import annotations

import re

import pandas as pd

#: first characters that make a spreadsheet read a cell as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet cell that is never evaluated as a formula.

    Parameters
    ----------
    value : object
        Any cell value.

    Returns
    -------
    object
        Text starting with one of :data:`FORMULA_STARTS` prefixed with ``'``;
        anything else (numbers, missing values, plain numbers written as text,
        other text) unchanged.

    Examples
    --------
    >>> safe_cell('=HYPERLINK("http://x","x")')
    '\\'=HYPERLINK("http://x","x")'
    >>> safe_cell(-0.5), safe_cell("-0.5"), safe_cell("Long Apari")
    (-0.5, '-0.5', 'Long Apari')
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell passed through :func:`safe_cell`.

    Numeric, boolean and date columns (and a GeoDataFrame's geometry) are kept
    as they are; only object and string columns are looked at, and only the
    cells that need it are changed.

    Parameters
    ----------
    frame : DataFrame
        The table about to be written.

    Returns
    -------
    DataFrame
        Same type, columns and dtypes as ``frame``.
    """
    out = frame.copy(deep=False)
    geometry = getattr(frame, "_geometry_column_name", None)
    for column in out.columns:
        if column == geometry:
            continue
        col = out[column]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
            continue
        text = col.astype("string")
        risky = text.str.startswith(FORMULA_STARTS).fillna(False) & ~text.str.fullmatch(
            _PLAIN_NUMBER.pattern).fillna(False)
        if risky.any():
            fixed = col.copy()
            fixed[risky.to_numpy(bool)] = col[risky.to_numpy(bool)].map(safe_cell)
            out[column] = fixed
    return out


def xlsx_cell(ws, value: object) -> object:
    """``value`` ready for ``ws.append``: text that looks like a formula stays text.

    openpyxl turns any string starting with ``=`` into a live formula. Text
    starting with one of :data:`FORMULA_STARTS` becomes a cell with an explicit
    string type instead; other values are returned as they are.

    Parameters
    ----------
    ws : openpyxl.worksheet.worksheet.Worksheet
        The sheet the value goes to.
    value : object
        Any cell value.
    """
    if not (isinstance(value, str) and value.startswith(FORMULA_STARTS)):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    return cell
