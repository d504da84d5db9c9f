"""A village's gap explained in words (``geo-p2dd explain``)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from geo_p2dd.errors import NotFoundError
from geo_p2dd.i18n import gettext
from geo_p2dd.layers import normalise_code
from geo_p2dd.project import Project
from geo_p2dd.schema import GAP_CLASSES, LOCATION_KINDS, LOCATION_STATUS
from geo_p2dd.scoring import FACTORS, factor_label


def village_result(project: Project, kode: str) -> pd.Series:
    """The stored analysis row of a village (raises NotFoundError)."""
    table = project.read_table("village_results")
    code = normalise_code(kode)
    hit = table[table["kode"] == code]
    if hit.empty:
        raise NotFoundError(f"no village with code {code} in {project.path}; codes look like "
                            f"{table['kode'].iloc[0]}")
    return hit.iloc[0]


def explain_village(project: Project, kode: str, lang: str = "en") -> str:
    """Text explaining the village's class, score, rank and per-factor contributions."""
    row = village_result(project, kode)
    t = functools.partial(gettext, lang=lang)
    table = project.read_table("village_results")
    n = int(len(table))
    kec_n = int((table["kecamatan_kode"] == row["kecamatan_kode"]).sum())
    cls = GAP_CLASSES.label(row["gap_class"], lang)
    if row["gap_class_planned"] != row["gap_class"]:
        cls = t("%(now)s -> %(then)s after planned sites", now=cls,
                then=GAP_CLASSES.label(row["gap_class_planned"], lang))
    lines = [
        t("%(kode)s %(nama)s (kecamatan %(kecamatan)s)", kode=row["kode"], nama=row["nama"],
          kecamatan=row["kecamatan"]),
        t("class: %(cls)s", cls=cls),
        t("score %(score)s / 100, rank %(rank)s of %(n)s in the project, %(rank_kec)s of "
          "%(n_kec)s in its kecamatan", score=f"{row['score']:.1f}", rank=int(row["rank"]),
          n=n, rank_kec=int(row["rank_kecamatan"]), n_kec=kec_n),
        "",
        f"{t('factor'):<34}{t('value'):>10}{t('weight x value'):>18}",
    ]
    for f in FACTORS:
        if f"c_{f}" not in row.index or pd.isna(row[f"c_{f}"]):
            lines.append(f"{factor_label(f, lang):<34}{'n/a':>10}{'':>18}")
            continue
        lines.append(f"{factor_label(f, lang):<34}{row[f'f_{f}']:>10.2f}"
                     f"{row[f'c_{f}']:>18.1f}")
    lines.append(f"{'':<34}{'':>10}{row['score']:>18.1f}")
    lines.append("")
    reasons = row["reasons_en" if lang == "en" else "reasons_id"]  # stored by the analysis
    lines.append(t("why: %(reasons)s", reasons=reasons or "-"))
    lines.append(t("people at settlements %(people)s, unserved %(unserved)s",
                   people=f"{row['people_located']:.0f}",
                   unserved=f"{row['people_unserved']:.0f}"))
    lines.append(t("public facilities unserved %(n)s of %(total)s",
                   n=int(row["facilities_unserved"]), total=int(row["facilities"])))
    if np.isfinite(row.get("dist_service_km", np.nan)):
        lines.append(t("main settlement to the nearest service: %(km)s km",
                       km=f"{row['dist_service_km']:.1f}"))
    locs = project.read_table("location_results", required=False)
    if locs is not None:
        mine = locs[locs["village_kode"] == row["kode"]]
        reason = "reason_id" if lang != "en" and "reason_id" in mine else "reason_en"
        lines.append("")
        for r in mine.itertuples():
            lines.append(f"  [{LOCATION_STATUS.label(r.status, lang)}] "
                         f"{LOCATION_KINDS.label(r.kind, lang)} {r.name}: "
                         f"{getattr(r, reason)}")
    return "\n".join(lines)
