"""The sites layer as the P2DD infrastructure register, exported as XLSX.

The workbook has a summary sheet ("Ringkasan": sites per agency (OPD) and year
and status, with totals), a budget sheet ("Anggaran": budget and realised
amounts per OPD × sudah/sedang/akan/belum × year, see :mod:`geo_p2dd.budget`)
and one sheet per status (Terpasang, Proses, Rencana,
Usulan). Headers are Indonesian by default and every status sheet carries all
the register's columns, the stable ``ID`` and the coordinates, so an agency can
edit a sheet and import it back with
``geo-p2dd import --project DIR sites register.xlsx --layer Terpasang``: rows
are updated by their ID, never duplicated.

Import of agency spreadsheets lives in :mod:`geo_p2dd.imports`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from geo_p2dd.i18n import N_, gettext
from geo_p2dd.io.atomic import atomic_path
from geo_p2dd.io.cells import xlsx_cell
from geo_p2dd.project import Project, now_iso
from geo_p2dd.schema import FUNDING, SITE_KINDS, SITE_STATUS
from geo_p2dd.style import STATUS_ORDER
from geo_p2dd.summary import NO_AGENCY, in_region, phase_label

# canonical column, header (an English msgid; the Indonesian headers are ones the importer
# recognises, see geo_p2dd.schema.SITES), width (characters)
COLUMNS = (
    ("site_id", N_("ID"), 34),
    ("kind", N_("Kind"), 14),
    ("name", N_("Name"), 30),
    ("village_kode", N_("Village code"), 15),
    ("village", N_("Village"), 20),
    ("kecamatan", N_("Kecamatan"), 16),
    ("status", N_("Status"), 11),
    ("agency", N_("Agency"), 20),
    ("funding", N_("Funding"), 14),
    ("year", N_("Year"), 7),
    ("capacity_mbps", N_("Capacity Mbps"), 10),
    ("lat", N_("Latitude"), 11),
    ("lon", N_("Longitude"), 11),
    ("notes", N_("Notes"), 30),
    ("operator", N_("Operator"), 14),
    ("technology", N_("Technology"), 10),
    ("service_radius_m", N_("Service radius m"), 9),
    ("height_m", N_("Height m"), 9),
    ("frequency_mhz", N_("Frequency MHz"), 10),
    ("power_dbm", N_("Power dBm"), 9),
    ("budget_idr", N_("Budget IDR"), 16),
    ("realised_idr", N_("Realised IDR"), 16),
    ("budget_year", N_("Budget year"), 9),
    ("sipd_code", N_("SIPD code"), 20),
)
NUMERIC = {"year", "capacity_mbps", "lat", "lon", "service_radius_m", "height_m",
           "frequency_mhz", "power_dbm", "budget_idr", "realised_idr", "budget_year"}
#: whole rupiah, grouped in thousands
AMOUNTS = ("budget_idr", "realised_idr")
SHEET_BUDGET = N_("Budget")
SHEET_SUMMARY = N_("Summary")
TEXT = {
    "title": N_("Connectivity infrastructure register"),
    "made": N_("Made"),
    "sample": N_("SAMPLE: fictitious data, not a real place"),
    "agency": N_("Agency"),
    "year": N_("Year"),
    "total": N_("Total"),
    "no_year": N_("(year not given)"),
    "outside": N_("sites outside the region's villages (e.g. towers across the border)"),
}


def _t(key: str, lang: str) -> str:
    return gettext(TEXT[key], lang)


def register_table(project: Project, *, region: str | None = None, sites=None,
                   villages=None) -> pd.DataFrame:
    """The register as a plain table with canonical column names (see :data:`COLUMNS`).

    Every site of the layer (or those whose village lies in ``region``), with
    the village and kecamatan names joined and the coordinates as ``lon``/``lat``;
    ordered by status, kecamatan, village and name.
    """
    if sites is None:
        sites = project.read_layer("sites", required=False)
    if villages is None:
        villages = project.read_layer("villages", columns=["kode", "nama", "kecamatan"])
    names = [c for c, *_ in COLUMNS]
    if sites is None or len(sites) == 0:
        return pd.DataFrame(columns=names)
    if region is not None:
        sites = sites[in_region(sites["village_kode"], region).to_numpy()]
    v = pd.DataFrame(villages.drop(columns="geometry", errors="ignore")).set_index("kode")
    t = pd.DataFrame(sites.drop(columns="geometry"))
    t["village"] = t["village_kode"].map(v["nama"])
    t["kecamatan"] = t["village_kode"].map(v["kecamatan"]) if "kecamatan" in v.columns else None
    geom = sites.geometry
    empty = geom.isna() | geom.is_empty
    t["lon"] = np.where(empty, np.nan, geom.x.where(~empty))
    t["lat"] = np.where(empty, np.nan, geom.y.where(~empty))
    for c in names:
        if c not in t.columns:
            t[c] = np.nan if c in NUMERIC else None
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    t["_o"] = t["status"].map(order).fillna(len(order))
    t = t.sort_values(["_o", "village_kode", "name", "site_id"], na_position="last",
                      kind="mergesort")
    return t[names].reset_index(drop=True)


def summary_by_agency_year(table: pd.DataFrame, lang: str = "id") -> pd.DataFrame:
    """Sites per agency and year (rows) and status (columns), with a total row."""
    blank = gettext(NO_AGENCY, lang)
    agency = table["agency"].astype("string").str.strip().fillna("").replace("", blank)
    year = pd.to_numeric(table["year"], errors="coerce")
    key = pd.DataFrame({"agency": agency, "year": year.fillna(-1).astype(int),
                        "status": table["status"]})
    out = pd.crosstab([key["agency"], key["year"]], key["status"]).reindex(
        columns=list(STATUS_ORDER), fill_value=0)
    out["total"] = out.sum(axis=1)
    out = out.reset_index()
    totals = out.groupby("agency")["total"].transform("sum")
    out = out.assign(_t=totals).sort_values(["_t", "agency", "year"],
                                            ascending=[False, True, True], kind="mergesort")
    return out.drop(columns="_t").reset_index(drop=True)


def _cell(column: str, value, lang: str):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if column == "kind":
        return SITE_KINDS.label(value, lang)
    if column == "status":
        return SITE_STATUS.label(value, lang)
    if column == "funding":
        return FUNDING.label(value, lang)
    if column == "year":
        return int(value)
    if column in NUMERIC:
        v = float(value)
        return int(v) if v.is_integer() and column not in ("lat", "lon") else v
    text = str(value)
    return text if text != "" else None


def _row(ws, values: list, *, font=None, fill=None, formats: dict[int, str] | None = None,
         ) -> list:
    """One row for a write-only sheet: styled cells where asked, formula-like text as text."""
    from openpyxl.cell import Cell, WriteOnlyCell

    out = []
    for i, value in enumerate(values):
        cell = xlsx_cell(ws, value)
        styled = font is not None or fill is not None or (
            formats is not None and i in formats and value is not None)
        if styled:
            if not isinstance(cell, Cell):
                cell = WriteOnlyCell(ws, value=value)
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
            if formats is not None and i in formats:
                cell.number_format = formats[i]
        out.append(cell)
    return out


def write_register(project: Project, target: str | Path | IO[bytes], *, lang: str = "id",
                   region: str | None = None, sites=None, villages=None) -> dict[str, int]:
    """Write the register workbook to ``target`` (a path or a binary file).

    The workbook is written row by row (openpyxl's write-only mode), so memory
    grows with the register table, not with the number of spreadsheet cells: a
    register of 740,000 sites took 6 GB the other way.

    Returns the number of sites written per status (the status sheets' rows).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.dimensions import RowDimension

    table = register_table(project, region=region, sites=sites, villages=villages)
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="D9E2EC")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(gettext(SHEET_SUMMARY, lang))

    # -- summary sheet ------------------------------------------------------------------------
    region_name = project.config["project"].get("region_name") or project.name
    where = f"{region_name} ({project.region_code})" if project.region_code else region_name
    if region is not None and region != project.region_code:
        where += f" – {region}"
    rows = [_row(ws, [f"{_t('title', lang)} – {where}"], font=Font(bold=True, size=13)),
            _row(ws, [f"{_t('made', lang)}: {now_iso()[:10]} (geo_p2dd, {project.name})"])]
    if project.is_sample:
        rows.append(_row(ws, [_t("sample", lang)], font=Font(bold=True, color="B2182B")))
    rows.append([])
    header = [_t("agency", lang), _t("year", lang),
              *[f"{phase_label(s, lang)} ({SITE_STATUS.label(s, lang)})"
                if phase_label(s, lang).lower() != SITE_STATUS.label(s, lang).lower()
                else SITE_STATUS.label(s, lang) for s in STATUS_ORDER],
              _t("total", lang)]
    head_cells = _row(ws, header, font=bold, fill=head_fill)
    for cell in head_cells:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    rows.append(head_cells)
    head_row = len(rows)
    summary = summary_by_agency_year(table, lang) if len(table) else pd.DataFrame(
        columns=["agency", "year", *STATUS_ORDER, "total"])
    for r in summary.itertuples(index=False):
        year = None if r.year < 0 else int(r.year)
        rows.append(_row(ws, [r.agency, year if year is not None else _t("no_year", lang),
                              *[int(getattr(r, s)) for s in STATUS_ORDER], int(r.total)]))
    counts = {s: int((table["status"] == s).sum()) for s in STATUS_ORDER}
    rows.append(_row(ws, [_t("total", lang), None, *[counts[s] for s in STATUS_ORDER],
                          int(sum(counts.values()))], font=bold))
    outside = int(table["village_kode"].isna().sum()) if len(table) else 0
    if outside:
        rows += [[], _row(ws, [f"{outside} {_t('outside', lang)}"])]
    ws.freeze_panes = f"A{head_row + 1}"
    for i, width in enumerate((28, 16, 22, 22, 22, 12, 10), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.row_dimensions[head_row] = RowDimension(ws, index=head_row, ht=30)
    for row in rows:
        ws.append(row)

    _budget_sheet(wb, table, lang)

    # -- one sheet per status -----------------------------------------------------------------
    headers = [gettext(header, lang) for _, header, _ in COLUMNS]
    names = [c for c, *_ in COLUMNS]
    coordinates = {i: "0.000000" for i, c in enumerate(names) if c in ("lat", "lon")}
    coordinates.update({i: "#,##0" for i, c in enumerate(names) if c in AMOUNTS})
    for status in STATUS_ORDER:
        sheet = wb.create_sheet(SITE_STATUS.label(status, lang))
        for i, (_, _, width) in enumerate(COLUMNS, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = width
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{counts[status] + 1}"
        sheet.append(_row(sheet, headers, font=bold, fill=head_fill))
        part = table[table["status"] == status]
        for rec in zip(*(part[c] for c in names), strict=True):
            sheet.append(_row(sheet, [_cell(c, v, lang) for c, v in zip(names, rec,
                                                                         strict=True)],
                              formats=coordinates))
    wb.properties.title = _t("title", lang)
    wb.properties.creator = "geo_p2dd"
    if isinstance(target, str | Path):
        with atomic_path(target) as tmp:
            wb.save(tmp)
    else:
        wb.save(target)
    return counts


def _budget_sheet(wb, table: pd.DataFrame, lang: str) -> None:
    """The budget sheet: amounts per OPD × category × year, and the total per category."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    from geo_p2dd.budget import CATEGORIES, CATEGORY_LABELS, budget_totals

    bold = Font(bold=True)
    ws = wb.create_sheet(gettext(SHEET_BUDGET, lang))
    for i, width in enumerate((28, 34, 9, 8, 20, 20), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    amounts = {4: "#,##0", 5: "#,##0"}
    ws.append(_row(ws, [gettext(h, lang) for h in ("Agency (OPD)", "Category", "Year", "Sites",
                                                  "Budget IDR", "Realised IDR")],
                   font=bold, fill=PatternFill("solid", fgColor="D9E2EC")))
    totals = budget_totals(table if len(table) else None)
    for r in totals.itertuples(index=False):
        ws.append(_row(ws, [r.agency or gettext(NO_AGENCY, lang),
                            gettext(CATEGORY_LABELS[r.category], lang),
                            None if pd.isna(r.year) else int(r.year), int(r.sites),
                            int(r.budget_idr), int(r.realised_idr)], formats=amounts))
    by = totals.groupby("category")[["sites", "budget_idr", "realised_idr"]].sum() \
        if len(totals) else None
    for c in CATEGORIES:
        if by is not None and c in by.index:
            ws.append(_row(ws, [_t("total", lang), gettext(CATEGORY_LABELS[c], lang), None,
                                int(by.loc[c, "sites"]), int(by.loc[c, "budget_idr"]),
                                int(by.loc[c, "realised_idr"])], font=bold, formats=amounts))


def register_xlsx(project: Project, *, lang: str = "id", region: str | None = None,
                  sites=None, villages=None) -> bytes:
    """The register workbook as bytes (for downloads)."""
    buf = io.BytesIO()
    write_register(project, buf, lang=lang, region=region, sites=sites, villages=villages)
    return buf.getvalue()
