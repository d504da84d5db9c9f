"""Acceptance tests on the real reference data in ../shared/data (skipped when absent).

Expected figures come from ../shared/data/README.md or are computed here from the
source files with plain pandas/pyarrow/shapely, never from geo_p2dd itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
import shapely
from conftest import mahakam_ulu_files, shared_data

from geo_p2dd.imports import init_project
from geo_p2dd.io.vector import RepairWarning, read_vector
from geo_p2dd.layers import villages_from_frame

pytestmark = pytest.mark.shared_data

MARGIN_DEG = 0.35  # towers this far outside the region are kept (they serve it)


@pytest.fixture(scope="module")
def mahakam_ulu(tmp_path_factory):
    files = mahakam_ulu_files()
    project, reports = init_project(tmp_path_factory.mktemp("real") / "mahakam-ulu",
                                    region="64.11", **files)
    return project, {r.kind: r for r in reports}, files


def test_boundaries(mahakam_ulu):
    project, reports, files = mahakam_ulu
    villages = project.read_layer("villages")
    desa = pyogrio.read_dataframe(files["villages"], layer="desa", read_geometry=False)
    assert len(villages) == 50
    assert sorted(villages["kode"]) == sorted(desa["kode"])
    assert len(project.read_layer("kecamatan")) == 5
    assert len(project.read_layer("kabupaten")) == 1
    assert villages["kecamatan_kode"].nunique() == 5
    assert villages["kecamatan"].notna().all()
    assert project.region_code == "64.11"
    assert "Mahakam Ulu" in project.config["project"]["region_name"]
    assert project.grid.crs == "EPSG:32650"  # README: UTM 50N for Mahakam Ulu
    seat = villages.set_index("kode").loc["64.11.01.2006"]  # Ujoh Bilang, regency seat
    assert "Ujoh Bilang" in seat["nama"]
    assert seat["kecamatan_kode"] == "64.11.01"
    assert villages.geometry.is_valid.all()


def test_census_population_is_joined(mahakam_ulu):
    project, reports, files = mahakam_ulu
    census = pd.read_csv(files["population"], dtype={"kode_kemendagri_2025": str})
    assert len(census) == 49
    notes = "\n".join(reports["population"].notes)
    assert "population joined for 49 of 50 villages" in notes
    assert f"(total {int(census['population_2010'].sum()):,})" in notes  # 24,994
    assert "no population for 1 village(s): 64.11.02.2011 Long Hubung Ulu" in notes
    villages = project.read_layer("villages").set_index("kode")
    assert np.isnan(villages.loc["64.11.02.2011", "population"])
    expected = census.set_index("kode_kemendagri_2025")["population_2010"]
    np.testing.assert_array_equal(villages.loc[expected.index, "population"], expected)
    assert int(villages["population"].sum()) == 24_994


def test_rasters_are_stored_unchanged(mahakam_ulu):
    project, reports, files = mahakam_ulu
    for name, source in (("population", files["population_raster"]), ("dem", files["dem"])):
        stored = project.raster_path(name)
        assert stored is not None and stored.parent.name == "rasters"
        with rasterio.open(stored) as out, rasterio.open(source) as src:
            assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert out.crs == src.crs and out.transform == src.transform
            assert out.nodata == src.nodata
            np.testing.assert_array_equal(out.read(1), src.read(1))
    info = project.info()
    assert set(info["rasters"]) == {"population", "dem"}
    assert info["rasters"]["population"]["source"]["file"] == files["population_raster"].name
    assert reports["dem"].rows == 27 * 26
    assert reports["population-raster"].rows == 595 * 598


def test_towers_are_clipped_to_the_region(mahakam_ulu):
    project, reports, files = mahakam_ulu
    cells = pd.read_csv(files["towers"])
    west, south, east, north = project.read_layer("villages").total_bounds
    inside_box = cells[cells["lon"].between(west, east) & cells["lat"].between(south, north)]
    # README: "only 3 cells fall inside Mahakam Ulu's bounding box"; against the villages'
    # own extent one of them (115.7753 E) lies 0.006 degrees outside
    assert 1 <= len(inside_box) <= 3
    near = cells[cells["lon"].between(west - MARGIN_DEG, east + MARGIN_DEG)
                 & cells["lat"].between(south - MARGIN_DEG, north + MARGIN_DEG)]
    # one site per operator and position
    positions = set(zip(near["net"], near["lon"].round(4), near["lat"].round(4), strict=True))
    towers = project.read_layer("sites")
    assert len(towers) == len(positions)
    report = reports["towers"]
    assert report.rows == len(cells)
    assert report.skipped == len(cells) - len(near)
    assert report.added == len(positions)
    assert set(towers["kind"]) == {"bts"} and set(towers["status"]) == {"installed"}
    x, y = towers.geometry.x, towers.geometry.y
    assert (x.between(west - MARGIN_DEG, east + MARGIN_DEG)
            & y.between(south - MARGIN_DEG, north + MARGIN_DEG)).all()
    for lon, lat in zip(inside_box["lon"], inside_box["lat"], strict=True):
        assert ((x - lon).abs().lt(1e-4) & (y - lat).abs().lt(1e-4)).any()
    assert project.source("sites")[0]["licence"].startswith("CC BY-SA 4.0")


# --------------------------------------------------------------------------- #
# the national GeoParquet
# --------------------------------------------------------------------------- #


@pytest.fixture
def national():
    return shared_data("boundaries", "indonesia_desa.parquet")


def _raw(path, prefix: str = "") -> tuple[list[str], set[str]]:
    """Codes below ``prefix`` and the invalid ones among them, read with pyarrow + shapely."""
    table = pq.read_table(path, columns=["kode", "geometry"])
    codes = table["kode"].to_numpy(zero_copy_only=False).astype(str)
    keep = np.char.startswith(codes, prefix)
    wkb = table["geometry"].to_numpy(zero_copy_only=False)[keep]
    valid = shapely.is_valid(shapely.from_wkb(wkb))
    return sorted(codes[keep]), set(codes[keep][~valid])


def test_national_file_regency(national, tmp_path):
    path = national
    kecamatan = shared_data("boundaries", "indonesia_kecamatan.parquet")
    expected, invalid = _raw(path, "64.11.")
    assert not invalid  # so no repair warning is expected here
    project, _ = init_project(tmp_path / "p", villages=path, region="64.11",
                              kecamatan=kecamatan)
    villages = project.read_layer("villages")
    assert len(villages) == 50
    assert sorted(villages["kode"]) == expected
    assert len(project.read_layer("kecamatan")) == 5
    assert villages["kecamatan"].notna().all()
    mu = pyogrio.read_dataframe(shared_data("boundaries", "mahakam_ulu.gpkg"), layer="desa",
                                read_geometry=False)
    assert sorted(mu["kode"]) == expected


def test_national_file_province(national, tmp_path):
    path = national
    expected, invalid = _raw(path, "64.")
    in_province = sorted(invalid)
    assert len(expected) == 1038  # README: 1,038 desa in province 64
    assert in_province, "the published file has invalid polygons in province 64"
    with pytest.warns(RepairWarning) as record:
        project, _ = init_project(tmp_path / "p", villages=path, region="64")
    messages = " ".join(str(w.message) for w in record)
    assert f"{len(in_province)} invalid polygon(s) repaired" in messages
    for kode in in_province:
        assert kode in messages
    villages = project.read_layer("villages")
    assert sorted(villages["kode"]) == expected
    assert villages.geometry.is_valid.all()
    kaltim = pyogrio.read_info(shared_data("boundaries", "kalimantan_timur.gpkg"), layer="desa")
    assert kaltim["features"] == 1038


def test_whole_nation(national):
    """All 83,246 desa/kelurahan; the 25 invalid polygons are repaired with a warning."""
    path = national
    codes, invalid = _raw(path)
    assert len(codes) == 83_246 and len(invalid) == 25  # README figures
    with pytest.warns(RepairWarning, match="25 invalid polygon") as record:
        gdf = read_vector(path)
        villages = villages_from_frame(gdf, file=str(path))
    assert len(villages) == 83_246
    assert villages["kode"].is_unique
    assert villages.geometry.is_valid.all()
    repaired = villages[villages["kode"].isin(invalid)]
    assert len(repaired) == 25 and (shapely.area(repaired.geometry.values) > 0).all()
    assert any("invalid polygon" in str(w.message) for w in record)


@pytest.mark.parametrize("codes_changed", [False, True], ids=["dotted", "undotted"])
def test_national_regency_with_undotted_codes(national, tmp_path, codes_changed):
    """The same regency from a GeoParquet whose codes were written without dots."""
    subset = read_vector(national, where_prefix=("kode", "64"))
    subset = subset[subset["kode"].str.startswith("64.1")].copy()
    if codes_changed:
        subset["kode"] = subset["kode"].str.replace(".", "", regex=False)
    file = tmp_path / "subset.parquet"
    subset.to_parquet(file)
    gdf = read_vector(file, where_prefix=("kode", "64.11"))
    if codes_changed:
        with pytest.warns(RepairWarning, match="without dots"):
            villages = villages_from_frame(gdf, file=str(file), region="64.11")
    else:
        villages = villages_from_frame(gdf, file=str(file), region="64.11")
    assert len(villages) == 50
    assert villages["kode"].str.match(r"^64\.11\.\d{2}\.\d{4}$").all()
    assert shapely.is_valid(villages.geometry.values).all()
