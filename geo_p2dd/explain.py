"""A village's gap explained in words (``geo-p2dd explain``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo_p2dd.errors import NotFoundError
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
    en = lang == "en"
    n = int(len(project.read_table("village_results")))
    kec_n = int((project.read_table("village_results")["kecamatan_kode"]
                 == row["kecamatan_kode"]).sum())
    lines = [
        f"{row['kode']} {row['nama']} ({'kecamatan' if en else 'Kecamatan'} {row['kecamatan']})",
        f"{'class' if en else 'kelas'}: {GAP_CLASSES.label(row['gap_class'], lang)}"
        + (f" -> {GAP_CLASSES.label(row['gap_class_planned'], lang)} "
           f"{'after planned sites' if en else 'setelah site rencana'}"
           if row["gap_class_planned"] != row["gap_class"] else ""),
        f"{'score' if en else 'skor'} {row['score']:.1f} / 100, rank {int(row['rank'])} of {n} "
        f"{'in the project' if en else 'di proyek'}, {int(row['rank_kecamatan'])} of {kec_n} "
        f"{'in its kecamatan' if en else 'di kecamatan'}",
        "",
        f"{'factor':<34}{'value':>10}{'weight x value':>18}" if en else
        f"{'faktor':<34}{'nilai':>10}{'bobot x nilai':>18}",
    ]
    for f in FACTORS:
        if f"c_{f}" not in row.index or pd.isna(row[f"c_{f}"]):
            lines.append(f"{factor_label(f, lang):<34}{'n/a':>10}{'':>18}")
            continue
        lines.append(f"{factor_label(f, lang):<34}{row[f'f_{f}']:>10.2f}"
                     f"{row[f'c_{f}']:>18.1f}")
    lines.append(f"{'':<34}{'':>10}{row['score']:>18.1f}")
    lines.append("")
    reasons = row["reasons_en" if en else "reasons_id"]
    lines.append(("why: " if en else "alasan: ") + (reasons or "-"))
    facts = [
        f"people at settlements {row['people_located']:.0f}, unserved "
        f"{row['people_unserved']:.0f}" if en else
        f"penduduk di permukiman {row['people_located']:.0f}, belum terlayani "
        f"{row['people_unserved']:.0f}",
        f"public facilities unserved {int(row['facilities_unserved'])} of "
        f"{int(row['facilities'])}" if en else
        f"fasilitas publik belum terlayani {int(row['facilities_unserved'])} dari "
        f"{int(row['facilities'])}",
    ]
    if np.isfinite(row.get("dist_service_km", np.nan)):
        facts.append(f"farthest settlement to an installed site or tower: "
                     f"{row['dist_service_km']:.1f} km")
    lines += facts
    locs = project.read_table("location_results", required=False)
    if locs is not None:
        mine = locs[locs["village_kode"] == row["kode"]]
        lines.append("")
        for r in mine.itertuples():
            lines.append(f"  [{LOCATION_STATUS.label(r.status, lang)}] "
                         f"{LOCATION_KINDS.label(r.kind, lang)} {r.name}: "
                         f"{r.reason_en if en or 'reason_id' not in mine else r.reason_id}")
    return "\n".join(lines)
