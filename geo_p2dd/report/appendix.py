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

import copy
import hashlib
import json
from collections import Counter

import pandas as pd

from geo_p2dd import __version__
from geo_p2dd.check import SEVERITIES, check_project
from geo_p2dd.codes import in_region
from geo_p2dd.io.atomic import atomic_write_text
from geo_p2dd.project import CACHE_DIR, CONFIG_NAME, LAYERS_NAME, Project

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
    """The consistency findings of the project, counted by kind, and the first ``n``.

    Kept per data version (:func:`_data_version`: the project's generation and files,
    its register's version, this code), in memory and as JSON in the project's cache
    folder: checking a national project (83,246 kampung) takes seconds, and every
    summary of each of its regions lists the same findings.
    """
    key = _data_version(project) + (lang, n)
    kept = _KEPT.get(key)
    if kept is None:
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:20]
        path = project.path / CACHE_DIR / f"checks-{name}.json"
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = json.loads(json.dumps(_check_summary(project, lang, n)))  # as read back
            try:
                path.parent.mkdir(exist_ok=True)
                atomic_write_text(path, json.dumps(kept, ensure_ascii=False), fsync=False)
                old = sorted(path.parent.glob("checks-*.json"),
                             key=lambda p: p.stat().st_mtime, reverse=True)[_KEEP:]
                for stale in old:  # earlier data versions
                    stale.unlink(missing_ok=True)
            except OSError:  # a read-only project (or a file another process removed)
                pass
        while len(_KEPT) >= _KEEP:
            _KEPT.pop(next(iter(_KEPT)))
        _KEPT[key] = kept
    return copy.deepcopy(kept)


#: check summaries kept in this process, by data version (oldest dropped first)
_KEPT: dict[tuple, dict] = {}
_KEEP = 16
#: bump when the findings of the same data change (new checks, other texts)
CHECKS_VERSION = 1


def _data_version(project: Project) -> tuple:
    """What the findings depend on: the generation the project object reads (its files'
    times for a flat project), its register's version and this code's version."""
    stamps = tuple(f.stat().st_mtime_ns if f.exists() else 0
                   for f in (project.file(CONFIG_NAME), project.file(LAYERS_NAME)))
    return (str((project.generation or project.path).resolve()), stamps,
            project.register_version, __version__, CHECKS_VERSION)


def _check_summary(project: Project, lang: str, n: int) -> dict:
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
