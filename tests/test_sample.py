"""Tests for geo_p2dd.sample: the deterministic, clearly labelled sample regency."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from conftest import snapshot

from geo_p2dd.errors import ProjectError
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.project import Project
from geo_p2dd.sample import build_sample, build_sources
from geo_p2dd.schema import SITE_STATUS


def _build(directory):
    # some sample sites have no coordinates on purpose and are placed with a warning
    with pytest.warns(RepairWarning, match="without coordinates were placed"):
        return build_sample(directory)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("sample") / "a")


def test_same_seed_gives_the_same_bytes(sample, tmp_path):
    other = _build(tmp_path / "b")
    first, second = snapshot(sample.path), snapshot(other.path)
    # the register database records when each site was added: the same sites, not bytes
    for files in (first, second):
        for name in [n for n in files if n.startswith("register.sqlite")]:
            del files[name]
    pd.testing.assert_frame_equal(sample.read_layer("sites"), other.read_layer("sites"))
    assert sorted(first) == sorted(second)
    assert first == second
    assert {"project.toml", "layers.gpkg", "sources/README.txt"} <= set(first)
    generation = sample.generation.relative_to(sample.path)
    assert {f"{generation}/rasters/dem.tif", f"{generation}/rasters/population.tif"} <= set(first)


def test_another_seed_gives_another_regency(tmp_path):
    a = build_sources(tmp_path / "a", seed=1)
    b = build_sources(tmp_path / "b", seed=2)
    assert a["boundaries"].read_bytes() != b["boundaries"].read_bytes()


def test_build_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "12345")
    _build(tmp_path / "s")
    assert os.environ["SOURCE_DATE_EPOCH"] == "12345"


def test_failed_build_restores_the_environment(tmp_path, monkeypatch):
    import geo_p2dd.sample as sample_module

    def fail(*args, **kwargs):
        assert os.environ["SOURCE_DATE_EPOCH"] == sample_module.SAMPLE_EPOCH
        raise RuntimeError("simulated")

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setattr(sample_module, "init_project", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        build_sample(tmp_path / "s")
    assert "SOURCE_DATE_EPOCH" not in os.environ


def test_regency_size(sample):
    villages = sample.read_layer("villages")
    assert 40 <= len(villages) <= 60
    assert villages["kode"].is_unique
    assert 4 <= villages["kecamatan_kode"].nunique() <= 6
    assert len(sample.read_layer("kecamatan")) == villages["kecamatan_kode"].nunique()
    assert len(sample.read_layer("kabupaten")) == 1
    # province 99 is not assigned by Kemendagri
    assert villages["kode"].str.startswith("99.").all()
    assert sample.region_code.startswith("99.")
    assert villages["population"].notna().all() and (villages["population"] > 0).all()
    assert villages["kecamatan"].notna().all()


def test_sites_cover_every_status_and_several_agencies(sample):
    sites = sample.read_layer("sites")
    assert set(sites["status"]) == set(SITE_STATUS.ids)
    assert sites["agency"].replace("", pd.NA).dropna().nunique() >= 3
    assert {"starlink", "bts"} <= set(sites["kind"])
    assert sites["site_id"].is_unique
    assert sites["village_kode"].isin(set(sample.read_layer("villages")["kode"])).all()


def test_locations(sample):
    locations = sample.read_layer("locations")
    assert {"settlement", "school", "health", "village_office"} <= set(locations["kind"])
    villages = sample.read_layer("villages")
    # every village has at least one settlement
    settled = set(locations.loc[locations["kind"] == "settlement", "village_kode"])
    assert settled == set(villages["kode"])


def test_labelled_as_sample(sample):
    config = Project(sample.path).config
    assert config["project"]["sample"] is True
    assert sample.is_sample and sample.info()["sample"] is True
    assert "SAMPEL" in sample.name
    assert config["sources"], "every layer has a source"
    for key, entry in config["sources"].items():
        text = (entry["licence"] + " " + entry.get("note", "")).lower()
        assert "sample" in text or "fictitious" in text, key
        assert entry["file"].startswith("sources/"), key
    readme = (sample.path / "sources" / "README.txt").read_text(encoding="utf-8")
    assert "SAMPLE" in readme and "fictitious" in readme


def test_sample_refuses_an_existing_project(sample):
    before = snapshot(sample.path)
    with pytest.raises(ProjectError, match="already holds a project"):
        build_sample(sample.path, seed=1)  # another seed would write other sources
    assert snapshot(sample.path) == before
