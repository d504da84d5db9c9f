"""The map with a very large register: sites are grouped, the page stays small (issue 12)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from web import create_app


def _many_sites(project, n: int) -> None:
    villages = project.read_layer("villages")
    rng = np.random.default_rng(3)
    pick = rng.integers(0, len(villages), n)
    inside = villages.geometry.representative_point().to_numpy()[pick]
    statuses = np.array(["installed", "in_progress", "planned", "proposed"])[
        rng.integers(0, 4, n)]
    sites = gpd.GeoDataFrame(
        {"site_id": [f"s{i}" for i in range(n)], "kind": "starlink",
         "name": [f"Starlink {i}" for i in range(n)], "status": statuses,
         "village_kode": villages["kode"].to_numpy()[pick],
         "village": villages["nama"].to_numpy()[pick], "agency": "Diskominfo",
         "funding": "apbd", "year": 2024, "operator": None},
        geometry=shapely.points(shapely.get_x(inside), shapely.get_y(inside)),
        crs="EPSG:4326")
    with project.transaction("many sites") as tx:
        tx.write_layer("sites", sites)


def test_a_register_of_many_sites_is_grouped_on_the_map(sample_copy):
    from web.context import load_view
    from web.mapdata import MAX_EMBEDDED_SITES, sites_geojson

    villages = sample_copy.read_layer("villages")
    n = MAX_EMBEDDED_SITES + 500
    _many_sites(sample_copy, n)
    app = create_app({"PROJECT": str(sample_copy.path)})
    with app.test_request_context("/"):
        view = load_view(sample_copy.path)
        data = sites_geojson(view, None, "id")
    assert data["grouped"] is True
    assert len(data["features"]) <= len(villages)  # one marker per village at most
    # every site is counted once across the groups
    assert sum(f["properties"]["count"] for f in data["features"]) == n
    assert all("titik di" in f["properties"]["name"] for f in data["features"])
    page = app.test_client().get("/").get_data()
    assert len(page) < 1_500_000  # the whole map page, with every village


def test_a_small_register_is_shown_site_by_site(sample_project):
    from web.context import load_view
    from web.mapdata import sites_geojson

    app = create_app({"PROJECT": str(sample_project.path)})
    with app.test_request_context("/"):
        view = load_view(sample_project.path)
        data = sites_geojson(view, None, "id")
    assert "grouped" not in data
    assert len(data["features"]) == len(sample_project.read_layer("sites"))
