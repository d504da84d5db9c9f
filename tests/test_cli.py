"""Tests for geo_p2dd.cli: help texts, exit codes, error paragraphs, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SITES_HEADER, SITES_ROWS, write_text

from geo_p2dd.cli import main
from geo_p2dd.project import Project

COMMANDS = sorted(main.commands)


@pytest.fixture
def runner():
    return CliRunner()


def _ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _bad_input(result):
    """Exit 1 with one "error: ..." paragraph on stderr and no traceback."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # handled
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().endswith(errors[0])  # the error is the last paragraph
    return errors[0]


@pytest.fixture
def cli_project(runner, tmp_path, boundaries_gpkg):
    path = tmp_path / "proj"
    _ok(runner.invoke(main, ["init", str(path), "--villages", str(boundaries_gpkg)]))
    return path


# --------------------------------------------------------------------------- #
# help
# --------------------------------------------------------------------------- #


def test_every_command_is_listed():
    assert {"init", "import", "info", "sample", "serve"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]],
                         ids=["main", *COMMANDS])
def test_help_has_an_example(runner, command):
    result = _ok(runner.invoke(main, [*command, "--help"]))
    assert "Example" in result.output
    assert "geo-p2dd" in result.output.split("Example", 1)[1]


def test_short_help_option(runner):
    assert "Example" in _ok(runner.invoke(main, ["info", "-h"])).output


def test_version(runner):
    assert "version" in _ok(runner.invoke(main, ["--version"])).output


# --------------------------------------------------------------------------- #
# success
# --------------------------------------------------------------------------- #


def test_init_prints_reports(runner, tmp_path, boundaries_gpkg):
    result = _ok(runner.invoke(main, ["init", str(tmp_path / "p"), "--villages",
                                      str(boundaries_gpkg), "--name", "Uji CLI"]))
    assert f"villages: {boundaries_gpkg}: 4 row(s)" in result.stdout
    assert "project 'Uji CLI' created" in result.stdout
    assert Project(tmp_path / "p").name == "Uji CLI"


def test_info_text(runner, cli_project):
    result = _ok(runner.invoke(main, ["info", "--project", str(cli_project)]))
    assert "Kabupaten Uji - region 99.01" in result.stdout
    assert "EPSG:32650" in result.stdout
    assert "villages: 4 rows MultiPolygon" in result.stdout
    assert "(unknown," in result.stdout  # licence shown


def test_info_json(runner, cli_project):
    result = _ok(runner.invoke(main, ["info", "--project", str(cli_project), "--json"]))
    data = json.loads(result.stdout)
    assert data["region_code"] == "99.01"
    assert data["layers"]["villages"]["rows"] == 4
    assert data["layers"]["kecamatan"]["rows"] == 2
    assert data == json.loads(json.dumps(Project(cli_project).info(), default=str))


def test_project_from_environment(runner, cli_project, tmp_path):
    result = _ok(runner.invoke(main, ["info", "--json"],
                               env={"GEO_P2DD_PROJECT": str(cli_project)}))
    assert json.loads(result.stdout)["path"] == str(cli_project)
    # --project wins over the environment
    other = tmp_path / "nowhere"
    result = runner.invoke(main, ["info", "--project", str(other)],
                           env={"GEO_P2DD_PROJECT": str(cli_project)})
    assert "nowhere" in _bad_input(result)


def test_project_defaults_to_current_directory(runner, cli_project, monkeypatch):
    monkeypatch.delenv("GEO_P2DD_PROJECT", raising=False)
    monkeypatch.chdir(cli_project)
    result = _ok(runner.invoke(main, ["info", "--json"]))
    assert json.loads(result.stdout)["path"] == "."
    assert json.loads(result.stdout)["layers"]["villages"]["rows"] == 4


def test_import_sites_json_and_reimport(runner, cli_project, sites_csv):
    args = ["import", "--project", str(cli_project), "sites", str(sites_csv), "--json",
            "--licence", "CC BY 4.0"]
    first = json.loads(_ok(runner.invoke(main, args)).stdout)
    assert (first["added"], first["updated"], first["unchanged"]) == (4, 0, 0)
    again = json.loads(_ok(runner.invoke(main, args)).stdout)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 4)
    assert Project(cli_project).source("sites")[0]["licence"] == "CC BY 4.0"


def test_import_reports_rejected_rows(runner, cli_project, tmp_path):
    path = write_text(tmp_path / "s.csv", SITES_HEADER + SITES_ROWS[0] +
                      "Rusak,Starlink,hilang,99.01.01.2001,,,,114.05,0.05\n")
    result = _ok(runner.invoke(main, ["import", "--project", str(cli_project), "sites",
                                      str(path)]))
    assert "1 added" in result.stdout and "1 rejected" in result.stdout
    assert "rejected row 3 column 'status'" in result.stdout


def test_repairs_are_reported(runner, cli_project, tmp_path):
    path = write_text(tmp_path / "s.csv", "nama;jenis;status;bujur;lintang\n"
                      "Satu;Starlink;terpasang;114,05;0,05\n")
    result = _ok(runner.invoke(main, ["import", "--project", str(cli_project), "sites",
                                      str(path)]))
    assert "repaired: " in result.stderr and "decimal comma" in result.stderr


def test_sample_command(runner, tmp_path):
    target = tmp_path / "sample"
    Project.create(target, name="an old sample", sample=True)
    result = runner.invoke(main, ["sample", str(target)])
    assert "--force" in _bad_input(result)
    assert Project(target).name == "an old sample"
    result = _ok(runner.invoke(main, ["sample", str(target), "--force"]))
    assert "fictitious" in result.stdout
    assert Project(target).is_sample


# --------------------------------------------------------------------------- #
# bad input: exit 1, one paragraph
# --------------------------------------------------------------------------- #


def test_import_villages_from_a_table(runner, cli_project, sites_csv):
    error = _bad_input(runner.invoke(main, ["import", "--project", str(cli_project),
                                            "villages", str(sites_csv)]))
    assert str(sites_csv) in error and "no geometries" in error


def test_import_without_usable_rows(runner, cli_project, tmp_path):
    path = write_text(tmp_path / "s.csv", SITES_HEADER +
                      "Rusak,Starlink,hilang,99.01.01.2001,,,,114.05,0.05\n")
    error = _bad_input(runner.invoke(main, ["import", "--project", str(cli_project), "sites",
                                            str(path)]))
    assert "no usable row" in error and "row 2" in error


def test_init_with_garbage_leaves_nothing(runner, tmp_path):
    garbage = tmp_path / "desa.gpkg"
    garbage.write_bytes(b"\x00garbage" * 64)
    target = tmp_path / "p"
    error = _bad_input(runner.invoke(main, ["init", str(target), "--villages", str(garbage)]))
    assert str(garbage) in error and "cannot open" in error
    assert not target.exists()


def test_init_on_existing_project(runner, cli_project, boundaries_gpkg):
    error = _bad_input(runner.invoke(main, ["init", str(cli_project), "--villages",
                                            str(boundaries_gpkg)]))
    assert "already holds a project" in error


def test_info_on_a_directory_without_project(runner, tmp_path):
    error = _bad_input(runner.invoke(main, ["info", "--project", str(tmp_path)]))
    assert "not a geo_p2dd project" in error and "geo-p2dd init" in error


def test_import_garbage_raster(runner, cli_project, tmp_path):
    garbage = tmp_path / "dem.tif"
    garbage.write_bytes(b"II*\x00" + b"\x01" * 100)
    error = _bad_input(runner.invoke(main, ["import", "--project", str(cli_project), "dem",
                                            str(garbage)]))
    assert str(garbage) in error


def test_debug_shows_the_exception(runner, tmp_path):
    result = runner.invoke(main, ["--debug", "info", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ProjectError"


# --------------------------------------------------------------------------- #
# usage errors: exit 2
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "args",
    [
        ["nonsense"],
        ["info", "--bogus"],
        ["import", "--project", "{p}", "antenna", "{f}"],
        ["import", "--project", "{p}", "sites"],
        ["import", "--project", "{p}", "sites", "{missing}"],
        ["import", "--project", "{p}", "coverage", "{f}", "--technology", "6G"],
        ["init", "{new}"],
    ],
    ids=["command", "option", "kind", "no-path", "missing-file", "choice", "no-villages"],
)
def test_usage_errors(runner, cli_project, sites_csv, tmp_path, args):
    values = {"p": str(cli_project), "f": str(sites_csv), "missing": str(tmp_path / "x.csv"),
              "new": str(tmp_path / "new")}
    result = runner.invoke(main, [a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- #
# the installed console script
# --------------------------------------------------------------------------- #


def _script() -> Path:
    script = Path(sys.executable).parent / "geo-p2dd"
    if not script.exists():
        pytest.skip(f"console script {script} is not installed")
    return script


def test_console_script_exit_codes(cli_project, sites_csv):
    script = _script()
    bad = subprocess.run([script, "import", "--project", str(cli_project), "villages",
                          str(sites_csv)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0  # one paragraph
    usage = subprocess.run([script, "info", "--bogus"], capture_output=True, text=True,
                           timeout=120)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
