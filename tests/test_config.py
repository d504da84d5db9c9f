"""Tests for geo_p2dd.config: typed settings, every validation rule, one home for defaults."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import subprocess
import sys
import tomllib

import pytest
import tomli_w
from click.testing import CliRunner

from geo_p2dd import coverage, propagation, scoring
from geo_p2dd.cli import main
from geo_p2dd.config import (
    DEFAULT_SERVICE_RADIUS_M,
    DEFAULT_WEIGHTS,
    DEFAULTS,
    RADIUS_KINDS,
    THRESHOLD_CLASSES,
    Settings,
    default_config,
    describe,
    rsrp_thresholds,
    settings_from_dict,
    with_changes,
)
from geo_p2dd.errors import ConfigError, GeoP2DDError
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.project import CONFIG_NAME, DEFAULT_CONFIG, Project


def problems(raw: dict) -> list[str]:
    """The problem lines of ``raw`` (fails when it validates)."""
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw)
    return [str(p) for p in info.value.problems]


def only_problem(raw: dict) -> str:
    found = problems(raw)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- #
# defaults: defined once, equal everywhere
# --------------------------------------------------------------------------- #


def test_an_empty_file_gives_the_defaults():
    assert settings_from_dict({}) == DEFAULTS == Settings()


def test_project_default_config_is_derived_from_the_settings():
    assert DEFAULT_CONFIG == default_config()
    assert settings_from_dict(DEFAULT_CONFIG) == DEFAULTS
    assert DEFAULT_CONFIG["propagation"]["default_power_dbm"] == 58.0
    assert DEFAULT_CONFIG["propagation"]["default_height_m"] == 40.0
    assert DEFAULT_CONFIG["limits"] == {"max_raster_cells": 400_000_000,
                                        "dbm_range": [-150.0, -30.0]}
    default_config()["weights"]["distance"] = 9.0  # a fresh copy each time
    assert DEFAULT_CONFIG["weights"]["distance"] == 0.15


def test_propagation_defaults_are_the_config_defaults():
    params = inspect.signature(propagation.received_power_grid).parameters
    for f in dataclasses.fields(DEFAULTS.propagation):
        if f.name in params:
            assert params[f.name].default == getattr(DEFAULTS.propagation, f.name), f.name
    assert propagation.ENVIRONMENTS is __import__("geo_p2dd.config").config.ENVIRONMENTS


def test_lists_agree_across_modules():
    assert tuple(DEFAULT_WEIGHTS) == scoring.FACTORS
    assert coverage.RADIUS_KINDS == RADIUS_KINDS == tuple(DEFAULT_SERVICE_RADIUS_M)
    assert THRESHOLD_CLASSES == ("good", "fair", "poor", "marginal")
    assert math.isclose(sum(DEFAULT_WEIGHTS.values()), 1.0)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.thresholds.usable_class = "fair"
    with pytest.raises(TypeError):
        DEFAULTS.weights["distance"] = 1.0
    with pytest.raises(TypeError):
        DEFAULTS.service_radius_m["wifi"] = 1.0


def test_to_dict_round_trips_through_toml():
    settings = settings_from_dict({"thresholds": {"usable_class": "fair"},
                                   "weights": {"distance": 0.5},
                                   "project": {"seat_kode": "64.11.01.2001"}})
    text = tomli_w.dumps(settings.to_dict())
    assert settings_from_dict(tomllib.loads(text)) == settings
    assert "seat_kode" not in DEFAULTS.to_dict()["project"]  # unset optional values left out


# --------------------------------------------------------------------------- #
# values that are read
# --------------------------------------------------------------------------- #


def test_values_from_the_file_and_defaults_for_the_rest():
    s = settings_from_dict({"thresholds": {"rsrp_dbm": {"good": -80}, "served_share": 1},
                            "propagation": {"environment": "urban"},
                            "weights": {"distance": 0.5}})
    assert s.thresholds.rsrp_dbm.good == -80.0 and isinstance(s.thresholds.rsrp_dbm.good, float)
    assert s.thresholds.rsrp_dbm.fair == -95.0
    assert s.thresholds.served_share == 1.0
    assert s.propagation.environment == "urban"
    assert s.propagation.default_height_m == 40.0
    assert s.weights["distance"] == 0.5 and s.weights["remoteness"] == 0.10
    assert s.thresholds.usable_code == 3


def test_with_changes_checks_like_a_file():
    s = with_changes(DEFAULTS, propagation={"max_distance_m": 5000.0})
    assert s.propagation.max_distance_m == 5000.0 and s.propagation.mobile_height_m == 1.5
    with pytest.raises(ConfigError, match=r"propagation\.max_distance_m: is out of range"):
        with_changes(DEFAULTS, propagation={"max_distance_m": 0})


# --------------------------------------------------------------------------- #
# unknown keys: refused, with a suggestion
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(("raw", "key", "suggestion"), [
    ({"threshold": {}}, "threshold", "thresholds"),
    ({"thresholds": {"usable_clas": "poor"}}, "thresholds.usable_clas", "usable_class"),
    ({"thresholds": {"rsrp_dbm": {"god": -80.0}}}, "thresholds.rsrp_dbm.god", "good"),
    ({"weights": {"distanse": 0.2}}, "weights.distanse", "distance"),
    ({"service_radius_m": {"starlnk": 100.0}}, "service_radius_m.starlnk", "starlink"),
    ({"propagation": {"max_distance": 100.0}}, "propagation.max_distance", "max_distance_m"),
    ({"limits": {"max_raster_cell": 10}}, "limits.max_raster_cell", "max_raster_cells"),
])
def test_unknown_keys_are_refused_with_a_suggestion(raw, key, suggestion):
    text = only_problem(raw)
    assert text.startswith(f"{key}: unknown key; expected one of ")
    assert f"found {key.rsplit('.', 1)[-1]!r}" in text
    assert text.endswith(f"Did you mean {suggestion!r}?")


def test_unknown_key_without_a_close_match_has_no_suggestion():
    text = only_problem({"weights": {"beauty": 1.0}})
    assert "Did you mean" not in text
    assert "expected one of unserved_people, unserved_facilities, no_4g_share, distance, " \
           "remoteness, nothing_planned" in text


# --------------------------------------------------------------------------- #
# types and ranges
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(("raw", "start", "found"), [
    ({"thresholds": {"served_share": "90%"}}, "thresholds.served_share: must be a number",
     "'90%'"),
    ({"weights": {"distance": True}}, "weights.distance: must be a number", "true (a boolean)"),
    ({"propagation": {"mobile_height_m": math.nan}}, "propagation.mobile_height_m: must be a "
     "number", "nan"),
    ({"thresholds": {"rsrp_dbm": {"good": math.inf}}}, "thresholds.rsrp_dbm.good: must be a "
     "number", "inf"),
    ({"settlements": {"max_per_village": 8.0}}, "settlements.max_per_village: must be a whole "
     "number", "8.0"),
    ({"limits": {"max_raster_cells": "big"}}, "limits.max_raster_cells: must be a whole number",
     "'big'"),
    ({"project": {"name": 5}}, "project.name: must be text", "5"),
    ({"project": {"sample": "yes"}}, "project.sample: must be true or false", "'yes'"),
    ({"thresholds": 3}, "thresholds: must be a table", "3"),
    ({"grid": {"transform": [1, 2, 3]}}, "grid.transform: must be the six numbers", "[1, 2, 3]"),
])
def test_wrong_types_name_key_expected_and_found(raw, start, found):
    text = only_problem(raw)
    assert text.startswith(start)
    assert "; expected " in text
    assert text.endswith(f"found {found}")


@pytest.mark.parametrize(("section", "key", "bad", "expected", "good"), [
    ("thresholds", "served_share", 0.0, "a number > 0 and <= 1", 1.0),
    ("thresholds", "served_share", 1.5, "a number > 0 and <= 1", 0.01),
    ("service_radius_m", "starlink", 0.0, "a number > 0", 1.0),
    ("service_radius_m", "wifi", -5.0, "a number > 0", 50.0),
    ("weights", "distance", -0.1, "a number >= 0", 0.0),
    ("propagation", "mobile_height_m", 0.0, "a number > 0", 10.0),
    ("propagation", "max_distance_m", -1.0, "a number > 0", 1.0),
    ("propagation", "no_los_extra_loss_db", -3.0, "a number >= 0", 0.0),
    ("propagation", "default_height_m", 0, "a number > 0", 15),
    ("settlements", "min_people_per_cell", -1.0, "a number >= 0", 0.0),
    ("settlements", "max_per_village", 0, "an integer >= 1", 1),
    ("limits", "max_raster_cells", 0, "an integer >= 1", 1),
    ("grid", "resolution_m", 0.0, "a number > 0", 30.0),
])
def test_numbers_are_range_checked(section, key, bad, expected, good):
    text = only_problem({section: {key: bad}})
    assert text == f"{section}.{key}: is out of range; expected {expected}, found {bad!r}"
    settings_from_dict({section: {key: good}})  # the boundary side that is allowed


def test_weights_must_not_all_be_zero():
    text = only_problem({"weights": dict.fromkeys(DEFAULT_WEIGHTS, 0.0)})
    assert text.startswith("weights: the weights add up to 0; expected at least one weight > 0")
    settings_from_dict({"weights": dict.fromkeys(DEFAULT_WEIGHTS, 0.0) | {"distance": 1e-3}})


def test_thresholds_must_descend():
    text = only_problem({"thresholds": {"rsrp_dbm": {"fair": -80.0}}})
    assert text == ("thresholds.rsrp_dbm: thresholds must descend from the best class; "
                    "expected good > fair > poor > marginal, "
                    "found good=-85, fair=-80, poor=-105, marginal=-115")
    assert "descend" in only_problem({"thresholds": {"rsrp_dbm": {"poor": -95.0}}})  # equal


def test_thresholds_lie_in_the_dbm_range():
    text = only_problem({"thresholds": {"rsrp_dbm": {"marginal": -160.0}}})
    assert text == ("thresholds.rsrp_dbm.marginal: is outside limits.dbm_range; "
                    "expected -150 to -30 dBm, found -160.0")
    s = settings_from_dict({"thresholds": {"rsrp_dbm": {"marginal": -160.0}},
                            "limits": {"dbm_range": [-170, -20]}})
    assert s.limits.dbm_range == (-170.0, -20.0)


@pytest.mark.parametrize(("value", "message"), [
    ([-30.0, -150.0], "must be increasing; expected lowest < highest"),
    ([-150.0], "must be two numbers; expected [lowest, highest]"),
    ("-150..-30", "must be two numbers"),
])
def test_dbm_range(value, message):
    assert only_problem({"limits": {"dbm_range": value}}).startswith(
        f"limits.dbm_range: {message}")


# --------------------------------------------------------------------------- #
# choices: English ids, certain Indonesian labels repaired, the rest refused
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("value", ["good", "fair", "poor", "marginal"])
def test_usable_class_ids(value, recwarn):
    assert settings_from_dict({"thresholds": {"usable_class": value}}).thresholds.usable_class \
        == value
    assert not recwarn.list


@pytest.mark.parametrize(("value", "read_as"), [
    ("lemah", "poor"), ("Lemah", "poor"), ("sangat lemah", "marginal"), ("sedang", "fair"),
    ("baik", "good"), ("Poor", "poor")])
def test_usable_class_labels_are_repaired_with_a_warning(value, read_as):
    with pytest.warns(RepairWarning) as caught:
        s = settings_from_dict({"thresholds": {"usable_class": value}}, file="p/project.toml")
    assert s.thresholds.usable_class == read_as
    label = {"poor": "Lemah", "marginal": "Sangat lemah", "fair": "Sedang", "good": "Baik"}
    assert [str(w.message) for w in caught] == [
        f"p/project.toml: thresholds.usable_class = {value!r} read as {read_as!r} "
        f"({label[read_as]})"]


@pytest.mark.parametrize(("value", "hint"), [
    ("excellent", None), ("tidak ada sinyal", "means 'none'"), ("none", "means 'none'"),
    (3, None), ("", None)])
def test_usable_class_refused(value, hint):
    text = only_problem({"thresholds": {"usable_class": value}})
    assert text.startswith("thresholds.usable_class: is not a signal class with a threshold; "
                           "expected one of good, fair, poor, marginal, found ")
    assert f"found {value!r}" in text
    if hint:
        assert hint in text


def test_seat_kode_is_a_village_code():
    s = settings_from_dict({"project": {"seat_kode": "64.11.01.2006"}})
    assert s.project.seat_kode == "64.11.01.2006"
    assert settings_from_dict({"project": {"seat_kode": ""}}).project.seat_kode is None
    with pytest.warns(RepairWarning, match="'6411012006' read as '64.11.01.2006'"):
        s = settings_from_dict({"project": {"seat_kode": "6411012006"}})
    assert s.project.seat_kode == "64.11.01.2006"
    for bad in ("64.11", "Long Bagun", 64.11):
        assert only_problem({"project": {"seat_kode": bad}}) == (
            f"project.seat_kode: is not a village code; expected a code like "
            f'"64.11.01.2006", found {bad!r}')


def test_environment_is_a_choice_with_a_suggestion():
    assert only_problem({"propagation": {"environment": "opne"}}) == (
        "propagation.environment: is not allowed; expected one of urban, suburban, open, "
        "found 'opne'. Did you mean 'open'?")
    assert "Did you mean" not in only_problem({"propagation": {"environment": "jungle"}})


# --------------------------------------------------------------------------- #
# records written by the program: their shape
# --------------------------------------------------------------------------- #


def test_coverage_entries_and_rasters():
    ok = {"coverage": [{"name": "tsel", "file": "rasters/tsel.tif", "technology": "4G",
                        "values": "dbm", "operator": "Telkomsel"}],
          "rasters": {"dem": {"file": "rasters/dem.tif", "crs": "EPSG:4326"}},
          "sources": {"villages": {"file": "v.gpkg"}}, "analysis": {"villages": 3}}
    settings_from_dict(ok)
    found = problems({"coverage": [{"name": "tsel", "values": "dB", "technology": "LTE"}],
                      "rasters": {"dem": {"crs": "EPSG:4326"}}, "sources": []})
    assert found == [
        "coverage[0].file: is required; expected text, found 'nothing'",
        "coverage[0].values: is not allowed; expected one of dbm, classes, found 'dB'",
        "coverage[0].technology: is not allowed; expected one of 2G, 3G, 4G, 5G, found 'LTE'",
        "sources: must be a table; expected a [sources] table, found []",
        "rasters.dem.file: is required; expected text, found 'nothing'",
    ]


# --------------------------------------------------------------------------- #
# every problem at once, named with the file
# --------------------------------------------------------------------------- #


def test_all_problems_are_listed_with_the_file():
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"thresholds": {"usable_class": "excellent", "served_share": 2},
                            "weights": {"distanse": 0.2}}, file="/x/project.toml")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, GeoP2DDError)
    assert [p.key for p in err.problems] == ["thresholds.usable_class",
                                             "thresholds.served_share", "weights.distanse"]
    lines = str(err).splitlines()
    assert lines[0] == "/x/project.toml: 3 problems in the configuration:"
    assert lines[1:] == [f"  {p}" for p in err.problems]


def test_rsrp_thresholds_from_a_mapping():
    assert rsrp_thresholds(None) == DEFAULTS.thresholds.rsrp_dbm
    assert rsrp_thresholds({"good": -80}).good == -80.0
    with pytest.raises(ConfigError, match="unknown key"):
        rsrp_thresholds({"excellent": -70.0})


def test_describe_lists_the_effective_settings():
    lines = describe(settings_from_dict({"thresholds": {"usable_class": "fair"}}))
    assert 'thresholds.usable_class = "fair"' in lines
    assert "thresholds.rsrp_dbm.good = -85" in lines
    assert "propagation.default_power_dbm = 58" in lines
    assert "limits.dbm_range = [-150, -30]" in lines
    assert "limits.max_raster_cells = 400000000" in lines
    assert not any(line.startswith("grid.transform") for line in lines)


# --------------------------------------------------------------------------- #
# the project validates on loading
# --------------------------------------------------------------------------- #


def write_config(path, config: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_NAME).write_text(tomli_w.dumps(config), encoding="utf-8")


def test_project_with_a_bad_config_raises_config_error_naming_file_and_key(tmp_path):
    write_config(tmp_path, {"project": {"name": "X"},
                            "thresholds": {"usable_class": "excellent"}})
    with pytest.raises(ConfigError) as info:
        Project(tmp_path)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / CONFIG_NAME}: thresholds.usable_class: ")
    assert "one of good, fair, poor, marginal" in text


def test_project_settings_follow_the_file(tmp_path):
    write_config(tmp_path, {"thresholds": {"usable_class": "fair"},
                            "project": {"seat_kode": "99.01.01.2001"}})
    project = Project(tmp_path)
    assert project.settings.thresholds.usable_code == 4
    assert project.settings.project.seat_kode == "99.01.01.2001"
    assert project.config["thresholds"]["usable_class"] == "fair"  # the raw dict still works


def test_indonesian_usable_class_no_longer_breaks_a_project(tmp_path):
    write_config(tmp_path, {"thresholds": {"usable_class": "lemah"}})
    with pytest.warns(RepairWarning, match="'lemah' read as 'poor'"):
        project = Project(tmp_path)
    assert project.settings.thresholds.usable_code == 3


def test_the_sample_project_toml_validates(sample_project, recwarn):
    raw = tomllib.loads((sample_project.path / CONFIG_NAME).read_text(encoding="utf-8"))
    settings = settings_from_dict(raw)
    assert not recwarn.list
    assert settings.project.sample is True
    assert settings.grid.crs and settings.grid.width > 0
    assert dataclasses.replace(settings, project=DEFAULTS.project,
                               grid=DEFAULTS.grid) == DEFAULTS
    # the analysis records the settings it used, defaults included
    assert raw["analysis"]["propagation"] == DEFAULTS.to_dict()["propagation"]


# --------------------------------------------------------------------------- #
# geo-p2dd config check
# --------------------------------------------------------------------------- #


def test_config_check_ok_prints_the_effective_settings(sample_project):
    result = subprocess.run(
        [sys.executable, "-m", "geo_p2dd.cli", "config", "check", "--project",
         str(sample_project.path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok: {sample_project.path / CONFIG_NAME}"
    assert '  thresholds.usable_class = "poor"' in lines
    assert "  weights.distance = 0.15" in lines
    assert result.stderr == ""


def test_config_check_json(sample_project):
    result = CliRunner().invoke(main, ["config", "check", "--project", str(sample_project.path),
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert settings_from_dict(data["settings"]) == sample_project.settings


def test_config_check_lists_every_problem_and_exits_1(tmp_path):
    write_config(tmp_path, {"thresholds": {"usable_class": "excellent", "served_share": 0},
                            "weights": {"distanse": 0.2}})
    result = CliRunner().invoke(main, ["config", "check", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {tmp_path / CONFIG_NAME}: 3 problems in the configuration:"
    assert lines[1].startswith("  thresholds.usable_class: ")
    assert lines[2].startswith("  thresholds.served_share: is out of range")
    assert lines[3].endswith("Did you mean 'distance'?")


def test_config_check_reports_repairs_and_passes(tmp_path):
    write_config(tmp_path, {"thresholds": {"usable_class": "lemah"}})
    result = CliRunner().invoke(main, ["config", "check", "--project", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "repaired: " in result.stderr and "read as 'poor'" in result.stderr
    assert '  thresholds.usable_class = "poor"' in result.stdout.splitlines()


def test_config_check_outside_a_project(tmp_path):
    result = CliRunner().invoke(main, ["config", "check", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not a geo_p2dd project" in result.stderr
