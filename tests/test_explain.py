"""Tests for geo_p2dd.explain and ``geo-p2dd explain`` on the tiny project of
test_analysis (hand-computed scores there) and on the sample."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_analysis import HAND_WEIGHTS, B, D, E, build_tiny_project

from geo_p2dd.analysis import analyze_project
from geo_p2dd.cli import main
from geo_p2dd.errors import NotFoundError
from geo_p2dd.explain import explain_village
from geo_p2dd.scoring import FACTORS, factor_label


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    project = build_tiny_project(tmp_path_factory.mktemp("explain"))
    analyze_project(project)
    return project


def factor_lines(text: str, lang: str = "en") -> dict[str, list[str]]:
    out = {}
    for line in text.splitlines():
        for f in FACTORS:
            label = factor_label(f, lang)
            if line.startswith(label) and line[len(label):len(label) + 1] == " ":
                out[f] = line[len(label):].split()
    return out


def test_explain_lists_every_factor_with_its_contribution(tiny):
    text = explain_village(tiny, B)
    lines = text.splitlines()
    assert lines[0] == f"{B} Bravo (kecamatan Kecamatan Satu)"
    # same class after the planned sites; A's Starlink reaching B3 is public access, not 4G
    assert lines[1] == "class: Signal, not 4G"
    # score 80 (see test_analysis), rank 2 of 5, 1 of 2 in Kecamatan Satu
    assert lines[2] == "score 80.0 / 100, rank 2 of 5 in the project, 1 of 2 in its kecamatan"
    rows = factor_lines(text)
    assert set(rows) == set(FACTORS)  # each factor, weighted 0 or not
    # value (normalised factor) and weight x value, hand-computed in test_analysis
    assert rows["unserved_people"] == ["0.50", "20.0"]
    assert rows["unserved_facilities"] == ["1.00", "26.7"]
    assert rows["no_4g_share"] == ["1.00", "20.0"]
    assert rows["nothing_planned"] == ["1.00", "13.3"]
    assert rows["distance"][1] == "0.0" and rows["remoteness"][1] == "0.0"
    assert HAND_WEIGHTS["distance"] == HAND_WEIGHTS["remoteness"] == 0
    # the contributions add up to the total printed below them
    total = next(line for line in lines if line.strip() == "80.0")
    assert total.strip() == "80.0"
    assert "why: Unserved public facilities: 1 facilities (+26.7)" in text
    assert "people at settlements 100, unserved 50" in text
    assert "public facilities unserved 1 of 2" in text
    # every location of the village with its status and reason
    assert "  [Served] Settlement B3: within the service radius of site st-a; no usable 4G" in text
    assert "  [Unknown] Settlement B2: 4G signal unknown;" in text


def test_explain_shows_the_class_after_planned_sites(tiny):
    text = explain_village(tiny, D)
    assert text.splitlines()[1] == "class: Blank spot -> Public access only after planned sites"
    assert "rank 1 of 5" in text
    assert "  [Unserved] Settlement D1: no usable 4G; nearest installed site Starlink" in text


def test_explain_in_indonesian(tiny):
    text = explain_village(tiny, E, lang="id")
    lines = text.splitlines()
    assert lines[1] == "kelas: Data sinyal belum ada -> Akses publik saja setelah site rencana"
    assert set(factor_lines(text, "id")) == set(FACTORS)
    assert "alasan: -" in text  # score 0: no reason
    assert lines[2].startswith("skor 0.0 / 100, peringkat ") and " dari 5 di proyek, " in lines[2]
    assert "penduduk di permukiman " in text and "fasilitas publik belum terlayani " in text
    assert "[Belum diketahui] Permukiman E1" in text


def test_explain_cli(tiny):
    res = CliRunner().invoke(main, ["explain", "--project", str(tiny.path), B])
    assert res.exit_code == 0, res.output
    assert set(factor_lines(res.stdout)) == set(FACTORS)
    # a code written without dots is understood
    res2 = CliRunner().invoke(main, ["explain", "--project", str(tiny.path), "9901012002"])
    assert res2.exit_code == 0 and res2.stdout == res.stdout
    res_id = CliRunner().invoke(main, ["explain", "--project", str(tiny.path), "--lang", "id",
                                       B])
    assert res_id.exit_code == 0 and "faktor" in res_id.stdout


@pytest.mark.parametrize("kode", ["99.01.09.9999", "not-a-code"])
def test_explain_unknown_code_is_a_readable_error(tiny, kode):
    res = CliRunner().invoke(main, ["explain", "--project", str(tiny.path), kode])
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.startswith(f"error: no village with code {kode} in ")
    assert "codes look like 99.01.01.2001" in res.stderr
    assert "Traceback" not in res.stderr
    with pytest.raises(NotFoundError):
        explain_village(tiny, kode)


def test_explain_before_analyze_says_what_to_do(tmp_path):
    project = build_tiny_project(tmp_path)
    res = CliRunner().invoke(main, ["explain", "--project", str(project.path), B])
    assert res.exit_code == 1
    assert "run 'geo-p2dd analyze --project" in res.stderr


def test_explain_sample_villages(sample_project):
    villages = sample_project.read_table("village_results")
    for kode in villages.sort_values("rank")["kode"].iloc[::6]:  # 8 villages, best to worst
        text = explain_village(sample_project, kode)
        rows = factor_lines(text)
        assert set(rows) == set(FACTORS), kode
        row = villages.set_index("kode").loc[kode]
        # the printed contributions are the stored ones and add up to the score
        for f, (value, contribution) in rows.items():
            assert float(contribution) == pytest.approx(row[f"c_{f}"], abs=0.051), (kode, f)
            assert float(value) == pytest.approx(row[f"f_{f}"], abs=0.0051), (kode, f)
        assert sum(float(c) for _, c in rows.values()) == pytest.approx(row["score"], abs=0.3)
