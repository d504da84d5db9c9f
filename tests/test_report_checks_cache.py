"""The checks appendix of the printed summary is kept per data version (issue 13: a
province summary of the national project in seconds)."""

from __future__ import annotations

import json

from geo_p2dd.check import check_project
from geo_p2dd.report import appendix


def test_check_summary_is_kept_per_data_version(sample_copy):
    project = sample_copy
    # the copy may hold files kept by earlier tests on the shared sample: start empty
    for old in (project.path / "cache").glob("checks-*.json"):
        old.unlink()
    appendix._KEPT.clear()
    first = appendix.check_summary(project, "id")
    assert first["total"] == len(check_project(project))
    kept = list((project.path / "cache").glob("checks-*.json"))
    assert len(kept) == 1
    # the next process (memory empty) reads the kept file: mark it to see that it does
    appendix._KEPT.clear()
    marked = {**first, "total": -1}
    kept[0].write_text(json.dumps(marked), encoding="utf-8")
    assert appendix.check_summary(project, "id")["total"] == -1
    assert appendix.check_summary(project, "en") == json.loads(json.dumps(
        appendix._check_summary(project, "en", appendix.APPENDIX_ROWS)))
    # a change to the project is a new data version: checked again
    with project.transaction("settings") as tx:
        tx.config["locations"] = {"snap_km": 5.0}
    changed = type(project)(project.path)
    assert appendix.check_summary(changed, "id")["total"] == len(check_project(changed))
    # what callers do with their copy does not change the kept one
    fresh = appendix.check_summary(changed, "id")
    mine = appendix.check_summary(changed, "id")
    mine["counts"].append({"kind": "x"})
    assert appendix.check_summary(changed, "id") == fresh
