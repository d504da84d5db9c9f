"""Budgets of register records: done, under way, to be done, overdue — per OPD and year.

Each site may carry its budget (``budget_idr``), the amount realised
(``realised_idr``), the budget year (``budget_year``), the funding source and
the SIPD *kode sub kegiatan* (``sipd_code``). :func:`budget_totals` sums them
per agency (OPD) × category × year, the categories being the seed's words
("apa yang sudah dilakukan, apa yang belum, dan apa yang akan dilaksanakan"):

- ``sudah``: installed (also damaged or inactive: the work was done);
- ``sedang``: in progress;
- ``akan``: planned or proposed, for this year or later;
- ``belum``: planned for an earlier year than the current one, and not started.

The year of a record is its ``budget_year``, else its ``year``. Amounts are
whole rupiah; :func:`format_idr` writes them the Indonesian way.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from geo_p2dd.errors import InputError
from geo_p2dd.i18n import MISSING, N_, format_int, gettext

#: the categories, in the order they are shown
CATEGORIES = ("sudah", "sedang", "akan", "belum")
CATEGORY_LABELS: dict[str, str] = {
    "sudah": N_("Done (installed)"),
    "sedang": N_("In progress"),
    "akan": N_("To be done (planned, proposed)"),
    "belum": N_("Overdue (planned earlier, not started)"),
}
#: the register's budget columns, as :func:`budget_attributes` adds them
BUDGET_COLUMNS = ("budget_idr", "realised_idr", "budget_year", "sipd_code")
NO_AGENCY = N_("(no agency)")
_DONE = ("installed", "damaged", "inactive")
_AMOUNT_MAX = 1e15


def category(status: str | None, year: float | int | None, current_year: int) -> str | None:
    """The budget category of one record (None for a status outside the four).

    Examples
    --------
    >>> category("planned", 2023, 2025), category("planned", 2025, 2025)
    ('belum', 'akan')
    """
    if status in _DONE:
        return "sudah"
    if status == "in_progress":
        return "sedang"
    if status == "planned" and year is not None and not _missing(year) \
            and int(year) < current_year:
        return "belum"
    if status in ("planned", "proposed"):
        return "akan"
    return None


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def budget_totals(sites: pd.DataFrame | None, current_year: int | None = None) -> pd.DataFrame:
    """Budget and realised amounts per agency × category × year.

    Parameters
    ----------
    sites : DataFrame or None
        The register (``agency``, ``status``, ``year`` and the budget columns).
    current_year : int, optional
        The year that decides ``belum`` (default: this year).

    Returns
    -------
    DataFrame
        Columns ``agency`` ("" for none), ``category``, ``year`` (nullable Int64),
        ``sites``, ``budget_idr``, ``realised_idr`` (int64); sorted by agency,
        category order, year.
    """
    columns = ["agency", "category", "year", "sites", "budget_idr", "realised_idr"]
    if sites is None or len(sites) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    current_year = current_year or dt.date.today().year
    frame = pd.DataFrame(index=sites.index)
    frame["agency"] = sites.get("agency", pd.Series("", index=sites.index)).fillna("") \
        .astype(str).str.strip()
    years = pd.to_numeric(sites.get("budget_year"), errors="coerce") \
        if "budget_year" in sites else pd.Series(np.nan, index=sites.index)
    if "year" in sites:
        years = years.fillna(pd.to_numeric(sites["year"], errors="coerce"))
    frame["year"] = years.astype("Int64")
    frame["category"] = [category(s, None if pd.isna(y) else int(y), current_year)
                         for s, y in zip(sites["status"], frame["year"], strict=True)]
    for name in ("budget_idr", "realised_idr"):
        values = pd.to_numeric(sites[name], errors="coerce") if name in sites else \
            pd.Series(np.nan, index=sites.index)
        frame[name] = values.fillna(0).round().astype("int64")
    frame = frame[frame["category"].notna()]
    frame["sites"] = 1
    order = {c: i for i, c in enumerate(CATEGORIES)}
    totals = (frame.groupby(["agency", "category", "year"], dropna=False, sort=False)
              [["sites", "budget_idr", "realised_idr"]].sum().reset_index())
    totals["_order"] = totals["category"].map(order)
    totals = totals.sort_values(["agency", "_order", "year"], na_position="last")
    return totals.drop(columns="_order").reset_index(drop=True)[columns]


def budget_table(totals: pd.DataFrame, lang: str = "id") -> dict:
    """The totals as a table to print: one row per agency, a column per category.

    Returns
    -------
    dict
        ``headers`` (labels), ``rows`` (each ``{"agency", "cells", "total"}`` with
        formatted amounts; a cell shows the budget, and the realised amount when
        there is one) and ``total`` (the same for all agencies).
    """
    headers = [gettext("Agency (OPD)", lang)] + \
        [gettext(CATEGORY_LABELS[c], lang) for c in CATEGORIES] + [gettext("Total", lang)]
    rows = []
    if totals.empty or not (totals["budget_idr"].sum() or totals["realised_idr"].sum()):
        return {"headers": headers, "rows": [], "total": None, "note": ""}  # no amounts
    by = {} if totals.empty else {
        a: g.groupby("category")[["sites", "budget_idr", "realised_idr"]].sum()
        for a, g in totals.groupby("agency", sort=True)}

    def cells(table: pd.DataFrame) -> tuple[list[str], str]:
        out = []
        for c in CATEGORIES:
            if c in table.index:
                out.append(_cell(table.loc[c], lang))
            else:
                out.append(MISSING)
        return out, _cell(table.sum(), lang)

    for agency, table in by.items():
        shown, total = cells(table)
        rows.append({"agency": agency or gettext(NO_AGENCY, lang), "cells": shown,
                     "total": total})
    overall = None
    if by:
        all_ = totals.groupby("category")[["sites", "budget_idr", "realised_idr"]].sum()
        shown, total = cells(all_)
        overall = {"agency": gettext("All agencies", lang), "cells": shown, "total": total}
    return {"headers": headers, "rows": rows, "total": overall,
            "note": gettext("Amounts in rupiah: budget (realised) and number of sites.", lang)}


def _cell(values: pd.Series, lang: str) -> str:
    text = format_idr(values["budget_idr"], lang)
    if values["realised_idr"]:
        text += f" ({format_idr(values['realised_idr'], lang)})"
    return f"{text} · {format_int(values['sites'], lang)}"


def format_idr(value: float | int | None, lang: str = "id") -> str:
    """An amount in rupiah: ``Rp 1.500.000`` (Indonesian grouping; '–' when missing)."""
    if _missing(value):
        return MISSING
    return f"Rp {format_int(value, lang)}"


_RUPIAH = re.compile(r"^\s*(rp\.?|idr)\s*", re.IGNORECASE)


def parse_idr(value: object) -> int | None:
    """A rupiah amount from a cell: ``150000000``, ``Rp 150.000.000``, ``1.500.000,00``.

    Dots and commas followed by three digits group thousands (the Indonesian
    way, and the English one); a final comma or dot with one or two digits is
    the decimal part (rounded to whole rupiah).

    Raises
    ------
    ValueError
        Not an amount (or negative).
    """
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    else:
        text = _RUPIAH.sub("", str(value)).replace(" ", "").replace("\u00a0", "")
        text = re.sub(r",-$|\.-$", "", text)
        decimals = re.search(r"[.,](\d{1,2})$", text)
        whole, fraction = (text[:decimals.start()], decimals.group(1)) if decimals \
            else (text, "0")
        if not re.fullmatch(r"\d{1,3}([.,]\d{3})*|\d+", whole):
            raise ValueError(value)
        number = float(re.sub(r"[.,]", "", whole) + "." + fraction)
    if not math.isfinite(number) or number < 0 or number > _AMOUNT_MAX:
        raise ValueError(value)
    return int(round(number))


def budget_attributes(out: pd.DataFrame, points: pd.DataFrame, mapping: Mapping[str, str],
                      reject: Callable[[int, str | None, str], None]) -> None:
    """Add the budget columns of an imported sheet to ``out``, rejecting bad cells by row.

    Parameters
    ----------
    out : DataFrame
        The sites being built (one row per sheet row); gains :data:`BUDGET_COLUMNS`.
    points : DataFrame
        The sheet's rows.
    mapping : mapping
        Canonical column → the sheet's header.
    reject : callable
        ``reject(i, header, reason)`` rejects row ``i``.
    """
    from geo_p2dd.registry.validate import SIPD_CODE_RE, SIPD_EXAMPLE

    n = len(out)
    for name in ("budget_idr", "realised_idr"):
        values = [None] * n
        if name in mapping:
            for i, cell in enumerate(points[mapping[name]]):
                try:
                    values[i] = parse_idr(cell)
                except ValueError:
                    reject(i, mapping[name], f"{name} {cell!r} is not an amount in rupiah "
                           "(e.g. 150000000 or Rp 150.000.000)")
        out[name] = pd.array(values, dtype="Int64").astype("float64")
    years = [None] * n
    if "budget_year" in mapping:
        for i, cell in enumerate(points[mapping["budget_year"]]):
            if _missing(cell) or str(cell).strip() == "":
                continue
            try:
                year = float(str(cell).strip())
            except ValueError:
                year = math.nan
            if not (1990 <= year <= 2100 and year == int(year)):
                reject(i, mapping["budget_year"], f"budget_year {cell!r} is not a year between "
                       "1990 and 2100")
                continue
            years[i] = int(year)
    out["budget_year"] = pd.array(years, dtype="Int64").astype("float64")
    codes: list[str | None] = [None] * n
    if "sipd_code" in mapping:
        for i, cell in enumerate(points[mapping["sipd_code"]]):
            if _missing(cell) or str(cell).strip() == "":
                continue
            code = str(cell).strip()
            if not SIPD_CODE_RE.fullmatch(code):
                reject(i, mapping["sipd_code"], f"sipd_code {cell!r} is not a SIPD sub-activity "
                       f"code (kode sub kegiatan) shaped like {SIPD_EXAMPLE}")
                continue
            codes[i] = code
    out["sipd_code"] = codes
    if not n:
        return
    if "budget_idr" in mapping and "realised_idr" in mapping:
        for i in range(n):
            budget, realised = out["budget_idr"].iloc[i], out["realised_idr"].iloc[i]
            if not _missing(budget) and not _missing(realised) and realised > budget:
                reject(i, mapping["realised_idr"], f"realised_idr {realised:,.0f} is more than "
                       f"the budget {budget:,.0f}")


def check_amount(value: object, column: str) -> int | None:
    """:func:`parse_idr` raising an InputError that names ``column``."""
    try:
        return parse_idr(value)
    except ValueError:
        raise InputError("not an amount in rupiah", column=column,
                         expected="a whole number of rupiah, e.g. Rp 150.000.000",
                         found=repr(value)) from None
