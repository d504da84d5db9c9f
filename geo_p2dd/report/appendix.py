"""What the printed summary adds about evidence and checks: a footnote and an appendix.

:func:`summary_extra` gathers, for one region of an analysed project:

- ``evidence``: how many of the region's locations carry field evidence
  (measured, reported) and the first conflicts (where the reports overturned
  the model; the analysis' ``evidence_conflicts``), for the footnote under the
  headline figures and the appendix;
- ``checks``: the findings of :func:`geo_p2dd.check.check_project` (the whole
  project) counted by kind, and the first :data:`APPENDIX_ROWS` of them.

Kept short on purpose: the web page ``/periksa`` and ``geo-p2dd check`` list all.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from geo_p2dd.check import SEVERITIES, check_project
from geo_p2dd.codes import in_region
from geo_p2dd.project import Project

#: findings and conflicts the appendix lists one by one
APPENDIX_ROWS = 10


def evidence_summary(locations: pd.DataFrame | None, conflicts: pd.DataFrame | None,
                     region: str, n: int = APPENDIX_ROWS) -> dict:
    """Field evidence at the locations of ``region``.

    Returns
    -------
    dict
        ``locations`` (all in the region), ``measured``, ``reported``,
        ``reports`` (reports near measured locations, summed), ``conflicts``
        (count) and ``rows`` (the first ``n`` conflicts as dicts).
    """
    out = {"locations": 0, "measured": 0, "reported": 0, "reports": 0, "conflicts": 0,
           "rows": []}
    if locations is None or "evidence" not in locations.columns:
        return out
    here = locations[in_region(locations["village_kode"].astype(str), region)]
    measured = here["evidence"] == "measured"
    out.update(locations=len(here), measured=int(measured.sum()),
               reported=int((here["evidence"] == "reported").sum()),
               reports=int(here.loc[measured, "evidence_reports"].sum()))
    if conflicts is not None and len(conflicts):
        mine = conflicts[in_region(conflicts["village_kode"].astype(str), region)]
        out["conflicts"] = len(mine)
        out["rows"] = mine.head(n).to_dict("records")
    return out


def check_summary(project: Project, lang: str, n: int = APPENDIX_ROWS) -> dict:
    """The consistency findings of the project, counted by kind, and the first ``n``."""
    findings = check_project(project)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    counts = Counter((f.kind, f.severity) for f in findings)
    return {
        "total": len(findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "counts": [{"kind": k, "severity": s, "n": c} for (k, s), c in
                   sorted(counts.items(), key=lambda x: (order[x[0][1]], -x[1], x[0][0]))],
        "rows": [f.to_dict(lang) for f in findings[:n]],
    }


def summary_extra(project: Project, region: str, lang: str) -> dict:
    """``{"evidence": ..., "checks": ...}`` for :class:`geo_p2dd.summary.Summary`'s ``extra``."""
    locations = project.read_table("location_results", required=False)
    conflicts = project.read_table("evidence_conflicts", required=False)
    cfg = project.settings.evidence
    evidence = {**evidence_summary(locations, conflicts, region),
                "radius_m": cfg.evidence_radius_m, "min_reports": cfg.min_reports,
                "distinct": cfg.distinct}
    return {"evidence": evidence, "checks": check_summary(project, lang)}
