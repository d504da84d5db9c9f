"""The "Rekomendasi" section of the printed summary (geo_p2dd.report.recommendations)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from markupsafe import escape

from geo_p2dd.i18n import format_int
from geo_p2dd.planning.plan import make_plan
from geo_p2dd.project import Project
from geo_p2dd.report.html import summary_html
from geo_p2dd.report.recommendations import cache_path, recommendations
from geo_p2dd.summary import build_summary

KAB = "99.01"


def _configure(project: Project, **planning) -> Project:
    with project.transaction("summary recommendations") as tx:
        tx.config["planning"] = {**tx.config.get("planning", {}), **planning}
    return Project(project.path)


def _section(html: str) -> str | None:
    m = re.search(r'<section class="recommendations".*?</section>', html, re.S)
    return m.group(0) if m else None


def _rows(section: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", section, re.S).group(1)
    out = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        out.append([" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells])
    return out


@pytest.fixture(scope="module")
def planned(sample_project, tmp_path_factory):
    """A copy of the sample with three recommended sites and the plan make_plan returns."""
    dst = tmp_path_factory.mktemp("rec") / "project"
    shutil.copytree(sample_project.path, dst, symlinks=True)
    project = _configure(Project(dst), summary_max_sites=3)
    return project, make_plan(project, region=KAB, max_sites=3)


def test_section_lists_exactly_the_sites_of_make_plan(planned):
    project, plan = planned
    s = build_summary(project, KAB)
    rec = s.extra["recommendations"]
    assert rec["status"] == "ok" and len(plan.sites) == 3
    html = summary_html(s, map_src="data:,", today="2026-11-30")
    section = _section(html)
    assert "Rekomendasi" in section and "Usulan model, bukan register." in section
    rows = _rows(section)
    assert len(rows) == len(plan.sites)
    for cells, (_, site) in zip(rows, plan.sites.iterrows(), strict=True):
        assert cells[0] == str(site["rank"])
        assert site["village_kode"] in cells[1] and (site["village"] or "") in cells[1]
        assert cells[3] == format_int(site["people_new"], "id")
        assert cells[4] == format_int(site["facilities_new"], "id")
        assert cells[5] == "Rp " + format_int(site["cost_idr"], "id")
    for r, (_, site) in zip(rec["rows"], plan.sites.iterrows(), strict=True):
        assert (r["candidate_id"], r["kind"], r["people_new"], r["cost_idr"]) == (
            site["candidate_id"], site["kind"], site["people_new"], site["cost_idr"])
    assert rec["totals"]["people_new"] == plan.totals["people_new"]
    assert rec["totals"]["cost_idr"] == plan.totals["cost_idr"]
    # how it was chosen, in one sentence, in Indonesian and in English
    assert "HiGHS" in rec["method"] and "dikunci" in rec["method"]
    en = build_summary(project, KAB, lang="en").extra["recommendations"]
    assert "model proposal, not the register" == en["label"]
    assert "locked in" in en["method"] and "optimality gap" in en["method"]


def test_a_repeat_reads_the_kept_figures_and_settings_change_the_key(planned):
    project, plan = planned
    recommendations(project, KAB, "kabupaten")
    path = cache_path(project, KAB)
    assert path.is_file()
    kept = json.loads(path.read_text())
    kept["rows"][0]["village"] = "Kampung Dari Cache"
    path.write_text(json.dumps(kept))
    again = recommendations(project, KAB, "kabupaten")
    assert again["rows"][0]["village"] == "Kampung Dari Cache"  # not planned again
    # another limit is another key: planned again, the old file replaced
    two = _configure(Project(project.path), summary_max_sites=2)
    rec = recommendations(two, KAB, "kabupaten")
    assert len(rec["rows"]) == 2 and rec["rows"][0]["village"] == plan.sites["village"].iloc[0]
    assert not path.exists() and cache_path(two, KAB).is_file()
    _configure(two, summary_max_sites=3)


def test_zero_sites_disables_the_section(sample_copy):
    project = _configure(sample_copy, summary_max_sites=0)
    kept = set(project.cache_dir().glob("**/recommendations_*"))  # other tests' summaries
    s = build_summary(project, KAB)
    assert s.extra["recommendations"]["status"] == "disabled"
    assert _section(summary_html(s, map_src="data:,")) is None
    assert set(project.cache_dir().glob("**/recommendations_*")) == kept  # nothing planned


def test_a_province_summary_says_per_kabupaten_without_planning(sample_copy):
    kept = set(sample_copy.cache_dir().glob("**/recommendations_*"))
    s = build_summary(sample_copy, "99")
    rec = s.extra["recommendations"]
    assert rec["status"] == "per_kabupaten" and "per kabupaten" in rec["message"]
    assert set(sample_copy.cache_dir().glob("**/recommendations_*")) == kept
    assert "per kabupaten" in _section(summary_html(s, map_src="data:,"))


def test_an_analysis_without_planning_columns_says_why_in_one_line(sample_copy):
    loc = sample_copy.read_table("location_results")
    with sample_copy.transaction("an older analysis", inputs=False) as tx:
        tx.write_layer("location_results", loc.drop(columns=["best_4g_planned"]))
    project = Project(sample_copy.path)
    s = build_summary(project, KAB)  # the summary itself does not fail
    rec = s.extra["recommendations"]
    assert rec["status"] == "failed"
    assert rec["message"].startswith("Tidak ada rekomendasi:") and "analyze" in rec["message"]
    assert "\n" not in rec["message"] and str(project.path) not in rec["message"]
    assert "analisis tersimpan dibuat sebelum perencanaan" in rec["message"]
    assert str(escape(rec["message"])) in summary_html(s, map_src="data:,")


def test_pdf_has_the_section(planned):
    from geo_p2dd.report.pdf import render_pdf

    project, plan = planned
    pdf = render_pdf(project, KAB, today="2026-11-30")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    assert "Rekomendasi" in text and "Usulan model, bukan register" in text
    assert plan.sites["village"].iloc[0] in text


def test_a_summary_budget_limits_the_recommendations(planned):
    from geo_p2dd.planning.costs import site_cost

    project, _ = planned
    budget = 3 * site_cost("starlink", project.settings.costs, 5)
    project = _configure(Project(project.path), summary_budget_idr=budget)
    try:
        rec = recommendations(project, KAB, "kabupaten")
        plan = make_plan(project, region=KAB, max_sites=3, budget=budget)
        assert [r["candidate_id"] for r in rec["rows"]] == list(plan.sites["candidate_id"])
        assert 0 < rec["totals"]["cost_idr"] <= budget
        assert "anggaran Rp " in rec["method"]
    finally:
        _configure(project, summary_budget_idr=0)
