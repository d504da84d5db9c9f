"""A plan as a spreadsheet or a GeoPackage, labelled as a proposal, never as the register.

Both carry the label :data:`~geo_p2dd.planning.plan.PLAN_LABEL` ("rencana
usulan (bukan register)") on every site and the provenance (project, region,
analysis date and data version, solver, status, gap, the cost and planning
settings used). The XLSX is written with formula-safe cells
(:func:`geo_p2dd.io.cells.xlsx_cell`); both are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geo_p2dd.errors import InputError
from geo_p2dd.i18n import N_, gettext
from geo_p2dd.io.atomic import atomic_path
from geo_p2dd.io.cells import xlsx_cell
from geo_p2dd.planning.plan import PLAN_LABEL, Plan

#: columns of the sites table and their header msgids
COLUMNS = (
    ("rank", N_("Rank")), ("kind", N_("Technology")), ("village_kode", N_("Village code")),
    ("village", N_("Village")), ("lon", N_("Longitude")), ("lat", N_("Latitude")),
    ("source", N_("Candidate from")), ("people_new", N_("People newly served")),
    ("facilities_new", N_("Public facilities newly served")), ("cost_idr", N_("Cost (IDR)")),
    ("cost_per_person_idr", N_("Cost per person newly served (IDR)")),
    ("candidate_id", N_("Candidate")),
)
#: the GeoPackage layers
SITES_LAYER = "rencana_usulan"
PROVENANCE_LAYER = "provenance"


def write_plan(plan: Plan, path: str | Path, *, lang: str = "id") -> Path:
    """Write ``plan`` to ``path``: ``.xlsx`` or ``.gpkg`` by its extension."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".xlsx":
        write_xlsx(plan, path, lang=lang)
    elif ext == ".gpkg":
        write_gpkg(plan, path)
    else:
        raise InputError("a plan is written as XLSX or GeoPackage", file=str(path.name),
                         expected=".xlsx or .gpkg", found=ext or "no extension")
    return path


def _provenance_rows(plan: Plan) -> list[tuple[str, str]]:
    rows = []
    for key, value in plan.provenance.items():
        rows.append((key, value if isinstance(value, str) else json.dumps(value,
                                                                          ensure_ascii=False)))
    return rows


def write_xlsx(plan: Plan, path: str | Path, *, lang: str = "id") -> None:
    """The plan as a workbook: the ranked sites, the totals, villages changing class."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(gettext("Recommendations", lang))
    ws.append([xlsx_cell(ws, f"{gettext('Recommended sites', lang)} – {PLAN_LABEL}")])
    ws.append([])
    ws.append([xlsx_cell(ws, gettext(h, lang)) for _, h in COLUMNS] + [gettext("Label", lang)])
    for _, r in plan.sites.iterrows():
        ws.append([xlsx_cell(ws, None if pd.isna(r[c]) else r[c]) for c, _ in COLUMNS]
                  + [PLAN_LABEL])
    ws2 = wb.create_sheet(gettext("Totals", lang))
    ws2.append([xlsx_cell(ws2, PLAN_LABEL)])
    for key, value in plan.totals.items():
        ws2.append([key, xlsx_cell(ws2, value if isinstance(value, int | float | str) or
                                   value is None else json.dumps(value))])
    ws2.append(["objective", plan.solution.objective])
    ws2.append(["gap", plan.solution.gap])
    ws2.append(["greedy_objective", plan.greedy.objective])
    ws3 = wb.create_sheet(gettext("Villages changing class", lang))
    ws3.append([gettext("Village code", lang), gettext("Village", lang),
                gettext("Class now (with pipeline)", lang), gettext("Class with the plan", lang)])
    for ch in plan.changes:
        ws3.append([xlsx_cell(ws3, ch["kode"]), xlsx_cell(ws3, ch["nama"]), ch["from"],
                    ch["to"]])
    ws4 = wb.create_sheet(gettext("Provenance", lang))
    for key, value in _provenance_rows(plan):
        ws4.append([xlsx_cell(ws4, key), xlsx_cell(ws4, value)])
    with atomic_path(path) as tmp:
        wb.save(tmp)


def write_gpkg(plan: Plan, path: str | Path) -> None:
    """The plan as a GeoPackage: point layer ``rencana_usulan`` and table ``provenance``."""
    sites = plan.sites.copy()
    sites["label"] = PLAN_LABEL
    gdf = gpd.GeoDataFrame(sites, geometry=gpd.points_from_xy(sites["lon"], sites["lat"]),
                           crs="EPSG:4326")
    prov = pd.DataFrame(_provenance_rows(plan), columns=["key", "value"])
    with atomic_path(path) as tmp:
        # GDAL wants the .gpkg extension: write beside the temporary name, then take its place
        work = tmp.with_name(tmp.name + ".gpkg")
        try:
            pyogrio.write_dataframe(gdf, work, layer=SITES_LAYER, driver="GPKG")
            pyogrio.write_dataframe(prov, work, layer=PROVENANCE_LAYER, driver="GPKG",
                                    append=True)
            os.replace(work, tmp)
        finally:
            work.unlink(missing_ok=True)
