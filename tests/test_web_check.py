"""The consistency checks page (/periksa): the CLI's findings, Indonesian first, JSON alike."""

from __future__ import annotations

import json

from click.testing import CliRunner

from geo_p2dd.check import check_project
from geo_p2dd.cli import main
from web import create_app


def _client(project):
    return create_app({"PROJECT": str(project.path), "TESTING": True}).test_client()


def test_json_matches_the_command_line(sample_project):
    client = _client(sample_project)
    page = client.get("/periksa?f=json")
    assert page.status_code == 200 and page.mimetype == "application/json"
    cli = CliRunner().invoke(main, ["check", "--project", str(sample_project.path), "--json"])
    assert cli.exit_code == 0, cli.output
    assert page.get_json() == json.loads(cli.output)
    english = client.get("/check?f=json&lang=en").get_json()
    assert english == json.loads(CliRunner().invoke(
        main, ["check", "--project", str(sample_project.path), "--json", "--lang", "en"]).output)


def test_page_counts_by_kind_and_lists_findings_in_indonesian(sample_project):
    findings = check_project(sample_project)
    assert findings  # the sample has estimated settlements at least
    html = _client(sample_project).get("/periksa").get_data(as_text=True)
    assert "Pemeriksaan konsistensi" in html
    warnings = sum(f.severity == "warning" for f in findings)
    assert f"{len(findings)} temuan: {warnings} peringatan" in html
    assert findings[0].message("id") in html
    assert html.count('<tr class="severity-') >= len({f.kind for f in findings}) + \
        min(len(findings), 500)
    english = _client(sample_project).get("/periksa?lang=en").get_data(as_text=True)
    assert "Consistency checks" in english and findings[0].message("en") in english


def test_kind_filter_and_link_from_the_summaries(sample_project):
    findings = check_project(sample_project)
    kind = findings[-1].kind
    client = _client(sample_project)
    data = client.get(f"/periksa?f=json&kind={kind}").get_json()
    assert {f["kind"] for f in data["findings"]} == {kind}
    assert len(data["findings"]) == sum(f.kind == kind for f in findings)
    index = client.get("/report/").get_data(as_text=True)
    assert 'href="/periksa"' in index


def test_no_server_path_in_the_page(sample_project):
    html = _client(sample_project).get("/periksa").get_data(as_text=True)
    assert str(sample_project.path) not in html


def test_browser_shows_the_findings(sample_server, page):
    page.goto(sample_server.url + "/periksa")
    page.wait_for_load_state("networkidle")
    assert page.is_visible("#check-kinds")
    rows = page.locator("#check-findings tbody tr").count()
    assert rows > 0
    page.click("#check-kinds tbody tr:first-child a")
    page.wait_for_load_state("networkidle")
    kinds = set(page.locator("#check-findings tbody tr").evaluate_all(
        "rs => rs.map(r => r.dataset.kind)"))
    assert len(kinds) == 1
    assert page.console_errors == []


def test_map_legend_explains_the_measured_ring(sample_project):
    html = _client(sample_project).get("/").get_data(as_text=True)
    assert 'id="legend-measured"' in html and "lingkaran: sinyal diukur di lapangan" in html
    english = _client(sample_project).get("/?lang=en").get_data(as_text=True)
    assert "ring: signal measured in the field" in english
