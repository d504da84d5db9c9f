"""Outlines simplified as a coverage: neighbours keep meeting, no gaps, no overlaps."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.geometry
from conftest import shared_data

from geo_p2dd import boundaries

ZOOMS = (6, 8, 10, 12, 14, 16)


def half_pixel(zoom: int) -> float:
    return 360.0 / (256.0 * 2 ** zoom) / 2


def jagged_grid(seed: int = 0, groups: int = 24, cells: int = 3000) -> np.ndarray:
    """Polygons tiling a 1°×1° square with jagged shared edges: fine Voronoi cells of
    random points, merged into ``groups`` regions by their nearest seed point."""
    rng = np.random.default_rng(seed)
    square = shapely.box(0, 0, 1, 1)
    points = shapely.multipoints(rng.random((cells, 2)))
    voronoi = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=square))
    voronoi = shapely.intersection(voronoi, square)
    seeds = rng.random((groups, 2))
    centres = shapely.get_coordinates(shapely.centroid(voronoi))
    owner = np.argmin(((centres[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
    return np.array([shapely.coverage_union_all(voronoi[owner == k]) for k in range(groups)
                     if (owner == k).any()], dtype=object)


def _limit(geoms) -> float:
    return 1e-9 * shapely.area(shapely.union_all(geoms))


def test_jagged_grid_is_a_coverage_and_independent_simplification_breaks_it():
    grid = jagged_grid()
    assert shapely.coverage_is_valid(grid)
    assert boundaries.coverage_defects(grid)["gaps"] < _limit(grid)
    alone = shapely.simplify(grid, 0.01, preserve_topology=True)
    defects = boundaries.coverage_defects(alone)
    assert defects["overlap"] > 1e-5 and defects["gaps"] > 1e-5  # what this module fixes


@pytest.mark.parametrize("zoom", ZOOMS)
def test_simplified_coverage_has_no_gaps_or_overlaps(zoom):
    grid = jagged_grid()
    simple = boundaries.simplify_coverage(grid, 4 * half_pixel(zoom))
    defects = boundaries.coverage_defects(simple)
    assert defects["overlap"] < _limit(grid) and defects["gaps"] < _limit(grid), defects
    # area kept: the union is the same square
    assert shapely.area(simple).sum() == pytest.approx(1.0, rel=1e-9)
    assert shapely.coverage_is_valid(simple)
    if zoom <= 10:
        assert shapely.get_num_coordinates(simple).sum() < \
            0.8 * shapely.get_num_coordinates(grid).sum()


def test_clean_coverage_removes_overlaps_and_slivers():
    a, b = shapely.box(0, 0, 1, 1), shapely.box(0.99995, 0, 2, 1)  # 5e-5 overlap strip
    c = shapely.box(2.00003, 0, 3, 1)  # a 3e-5 sliver of gap, closed by d and e
    d, e = shapely.box(0, 1, 3, 2), shapely.box(0, -1, 3, 0)
    assert boundaries.coverage_defects([a, b, c, d, e])["gaps"] == pytest.approx(3e-5)
    cleaned = boundaries.clean_coverage([a, b, c, d, e])
    assert shapely.coverage_is_valid(cleaned)
    assert boundaries.coverage_defects(cleaned) == {"overlap": pytest.approx(0, abs=1e-12),
                                                    "gaps": 0.0}
    assert shapely.area(shapely.union_all(cleaned)) == pytest.approx(9.0, abs=1e-9)
    assert boundaries.coverage_defects(boundaries.clean_coverage([a, b]))["overlap"] < 1e-12
    # a wide gap (the sea, a river) stays
    far = boundaries.clean_coverage([a, shapely.box(1.01, 0, 2, 1)])
    assert shapely.area(far).sum() == pytest.approx(1.99, rel=1e-9)


def test_valid_coverage_is_returned_as_is():
    grid = jagged_grid(groups=6, cells=300)
    assert all(shapely.equals_exact(boundaries.clean_coverage(grid), grid, tolerance=0))


def test_enclave_hole_is_no_gap():
    ring = shapely.box(0, 0, 3, 3).difference(shapely.box(1, 1, 2, 2))
    assert boundaries.coverage_defects([ring])["gaps"] == 0.0
    assert boundaries.coverage_defects([ring, shapely.box(1, 1, 2, 2)]) == \
        {"overlap": 0.0, "gaps": 0.0}
    assert boundaries.coverage_defects([shapely.box(0, 0, 1, 3), shapely.box(2, 0, 3, 3),
                                        shapely.box(1, 0, 2, 1), shapely.box(1, 2, 2, 3)]
                                       )["gaps"] == pytest.approx(1.0)


@pytest.mark.parametrize("layer", ["desa", "kecamatan"])
def test_real_mahakam_ulu_outlines_meet_at_every_zoom(layer):
    """Real village and kecamatan outlines: simplified as a coverage, neighbours meet at
    every zoom (no overlap, no gap beyond those in the data); each on its own, they do not."""
    path = shared_data("boundaries", "mahakam_ulu.gpkg")
    geoms = gpd.read_file(path, layer=layer).to_crs(4326).geometry.values
    cleaned = boundaries.clean_coverage(geoms)
    assert shapely.coverage_is_valid(cleaned)
    base = boundaries.coverage_defects(cleaned)
    limit = _limit(geoms)
    for zoom in ZOOMS:
        tolerance = half_pixel(zoom)
        simple = boundaries.simplify_coverage(cleaned, 2 * tolerance, clean=False)
        rounded = shapely.set_precision(simple, 1e-5, mode="pointwise")  # as sent
        for result in (simple, rounded):
            d = boundaries.coverage_defects(result)
            assert d["overlap"] < limit, (zoom, d)
            assert d["gaps"] < base["gaps"] + 2 * tolerance ** 2, (zoom, d, base)
    alone = boundaries.coverage_defects(shapely.simplify(geoms, half_pixel(8),
                                                         preserve_topology=True))
    assert alone["overlap"] > 100 * limit


def test_map_outlines_and_villages_are_sent_as_a_coverage(mahakam_ulu_project):
    """The map's kecamatan outlines and embedded villages (real Mahakam Ulu) meet without
    overlaps; the cleaned kecamatan coverage is kept in the project cache and reused."""
    from web import create_app
    from web.context import load_view

    app = create_app({"PROJECT": str(mahakam_ulu_project.path), "TESTING": True})
    with app.test_request_context("/"):
        _check_map_coverage(load_view(mahakam_ulu_project.path))


def _check_map_coverage(view) -> None:
    from web import mapdata

    tolerance = half_pixel(9)
    data = mapdata.area_geojson(view, "kecamatan", None, tolerance, "id")
    sent = np.array([shapely.geometry.shape(f["geometry"]) for f in data["features"]],
                    dtype=object)
    layer = view.project.read_layer("kecamatan")
    limit = _limit(layer.geometry.values)
    assert boundaries.coverage_defects(sent)["overlap"] < limit
    before = np.array(shapely.from_geojson(mapdata._geojson_strings(layer.geometry.values,
                                                                     tolerance)))
    assert boundaries.coverage_defects(before)["overlap"] > 100 * limit  # as it was
    stored = mapdata.coverage_cache_path(view, "kecamatan")
    assert stored.exists()
    stamp = stored.stat().st_mtime_ns
    again = mapdata.cleaned_level(dataclasses.replace(view, extra={}), "kecamatan", layer)
    assert stored.stat().st_mtime_ns == stamp  # read, not made again
    assert all(shapely.equals_exact(again, view.extra[("coverage", "kecamatan")], 0))
    frame = mapdata.region_villages(view, None)
    villages = mapdata.villages_geojson(frame, tolerance, "id",
                                        mapdata.region_coverage(view, frame))
    shapes = np.array([shapely.geometry.shape(f["geometry"]) for f in villages["features"]],
                      dtype=object)
    assert [f["id"] for f in villages["features"]] == list(frame["kode"])
    assert boundaries.coverage_defects(shapes)["overlap"] < _limit(frame.geometry.values)
