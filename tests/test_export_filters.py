"""The filters telco analysts asked for (issue 15): ``ops_4g`` and near an operator's tower,
as library filters, CLI options, download and OGC API parameters, and through GDAL's OAPIF."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS, Transformer

from geo_p2dd.analysis import analyze_project
from geo_p2dd.cli import main
from geo_p2dd.errors import InputError
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.query import Filters
from geo_p2dd.imports import import_layer
from tests.conftest import write_text, write_tif


@pytest.fixture(scope="module")
def data(sample_project):
    return ExportData(sample_project)


@pytest.fixture(scope="module")
def client(sample_project, tmp_path_factory):
    from web import create_app

    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                      "EXPORT_CACHE": str(tmp_path_factory.mktemp("cache"))})
    return app.test_client()


def get(client, url):
    """A response read whole and closed (a file response holds its file open until then)."""
    r = client.get(url)
    r.get_data()
    r.close()
    return r


def towers_of(data: ExportData, operator: str):
    s = data.layer("sites")
    return s[(s["kind"] == "bts") & (s["status"] == "installed") & (s["operator"] == operator)]


def true_km(geoms, towers) -> np.ndarray:
    """Shortest true distance (km) of each geometry to the towers: in an azimuthal
    equidistant projection centred on each tower, distances from the centre are exact
    (polygon edges densified to 50 m so that their straight lines stay true)."""
    best = np.full(len(geoms), np.inf)
    dense = shapely.segmentize(np.asarray(geoms, dtype=object), 0.0005)
    for t in towers.geometry:
        aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={t.y} +lon_0={t.x} +datum=WGS84 +units=m")
        to = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        there = shapely.transform(dense, lambda xy, to=to: np.column_stack(
            to.transform(xy[:, 0], xy[:, 1])))
        best = np.minimum(best, shapely.distance(there, shapely.points(0.0, 0.0)) / 1000.0)
    return best


@pytest.mark.parametrize("layer", ["locations", "villages", "sites"])
@pytest.mark.parametrize("km", [3.0, 12.5])
def test_near_operator_keeps_what_lies_within_the_distance(data, layer, km):
    towers = towers_of(data, "Telkomsel")
    assert len(towers) == 3
    frame = data.layer(layer)
    got = data.select(layer, Filters.parse(near_operator="Telkomsel", within_km=km))
    dist = true_km(frame.geometry.values, towers)
    # a feature within 0.1 % of the limit may fall either way (the filter's scale error)
    clear = np.abs(dist - km) > km * 1e-3
    want = set(frame.index[clear & (dist <= km)])
    assert want, "the sample has features near Telkomsel's towers"
    assert set(got.index) & set(frame.index[clear]) == want
    assert len(got) < len(frame)
    # the operator's code is the same filter; another operator gives another answer
    same = data.select(layer, Filters.parse(near_operator="tsel", within_km=str(km)))
    assert list(same.index) == list(got.index)
    isat = data.select(layer, Filters.parse(near_operator="Indosat", within_km=km))
    dist_isat = true_km(frame.geometry.values, towers_of(data, "Indosat"))
    assert set(isat.index) == set(frame.index[dist_isat <= km])


def test_near_operator_of_an_operator_without_towers_keeps_nothing(data):
    assert len(data.select("locations", Filters.parse(near_operator="Smartfren",
                                                      within_km=50))) == 0
    # not a filter of the aggregates: ignored there, and said so
    f = Filters.parse(near_operator="XL", within_km=5)
    applies = f.applies_to("aggregates")
    assert (applies["near_operator"], applies["within_km"]) == (False, False)
    assert f.for_layer("aggregates").near_operator is None


@pytest.mark.parametrize(("kwargs", "column"), [
    ({"near_operator": "Telkomsel"}, "within_km"),
    ({"within_km": "5"}, "near_operator"),
    ({"near_operator": "Telkomsel", "within_km": "lima"}, "within_km"),
    ({"near_operator": "Telkomsel", "within_km": "0"}, "within_km"),
    ({"near_operator": "Telkomsel", "within_km": "501"}, "within_km"),
])
def test_bad_near_operator_filters_name_the_parameter(kwargs, column):
    with pytest.raises(InputError) as err:
        Filters.parse(**kwargs)
    assert err.value.column == column


def test_cli_export_near_operator(sample_project, data, tmp_path):
    out = tmp_path / "near.csv"
    r = CliRunner().invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                                  "locations_unserved", "--near-operator", "Telkomsel",
                                  "--within-km", "12.5", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    import json

    import pandas as pd

    rows = pd.read_csv(out)
    want = data.select("locations_unserved", Filters.parse(near_operator="Telkomsel",
                                                           within_km=12.5))
    assert json.loads(r.output)["rows"] == len(want) == len(rows) > 0
    assert sorted(rows["location_id"]) == sorted(want["location_id"])
    r = CliRunner().invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                                  "villages", "--near-operator", "Telkomsel", "--out",
                                  str(tmp_path / "x.gpkg")])
    assert r.exit_code != 0 and "within_km" in r.output


def test_ogc_api_and_downloads_take_near_operator(client, data):
    want = data.select("locations", Filters.parse(near_operator="Telkomsel", within_km=12.5))
    r = get(client, "/ogcapi/collections/locations/items?near_operator=Telkomsel&within_km=12.5"
                   "&limit=1000&f=json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["numberMatched"] == len(want) > 0
    assert sorted(f["properties"]["location_id"] for f in doc["features"]) == \
        sorted(want["location_id"])
    bad = get(client, "/ogcapi/collections/locations/items?near_operator=Telkomsel&f=json")
    assert bad.status_code == 400 and "within_km" in bad.get_data(as_text=True)
    # the aggregates take no such parameter
    agg = get(client, "/ogcapi/collections/aggregates/items?near_operator=tsel&within_km=5"
                     "&f=json")
    assert agg.status_code == 400
    api = get(client, "/ogcapi/api").get_json()["paths"]["/collections/locations/items"]
    names = {p.get("name") for p in api["get"]["parameters"]}
    assert {"near_operator", "within_km"} <= names
    # a download of the same
    r = get(client, "/downloads/locations/csv?near_operator=Telkomsel&within_km=12.5")
    assert r.status_code == 200
    assert "near-tsel-12.5km" in r.headers["Content-Disposition"]
    lines = r.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 1 + len(want)


# --------------------------------------------------------------------------------------- #
# ops_4g: kampung where only one operator has 4G, through GDAL's OAPIF driver
# --------------------------------------------------------------------------------------- #

V = ["99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01.02.2002"]


@pytest.fixture(scope="module")
def two_operators(tmp_path_factory, _boundaries_bytes):
    """The four test villages with Telkomsel 4G over the west half and XL 4G over the
    first village only: 2, 1, 0, 0 operators with 4G."""
    from affine import Affine

    from geo_p2dd.imports import init_project

    root = tmp_path_factory.mktemp("ops")
    gpkg = root / "b.gpkg"
    gpkg.write_bytes(_boundaries_bytes)
    project, _ = init_project(root / "project", villages=gpkg)
    csv = "location_id,kind,name,kode_desa,people,lon,lat\n" + "".join(
        f"s{i},settlement,S{i},{v},100,{114.05 + 0.1 * i!r},0.05\n" for i, v in enumerate(V))
    import_layer(project, "locations", write_text(root / "loc.csv", csv))
    t = Affine(0.01, 0, 114.0, 0, -0.01, 0.1)
    tsel = np.full((10, 40), -120.0, dtype=np.float32)
    tsel[:, :20] = -80.0
    xl = np.full((10, 40), 1, dtype=np.uint8)
    xl[:, :10] = 5
    import_layer(project, "coverage", write_tif(root / "tsel.tif", tsel, transform=t),
                 operator="Telkomsel")
    import_layer(project, "coverage", write_tif(root / "xl.tif", xl, transform=t),
                 operator="XL", values="classes")
    analyze_project(project)
    return project


def test_only_one_operator_with_4g_through_gdal_oapif(two_operators, live_server_factory):
    v = ExportData(two_operators).layer("villages").set_index("kode")
    assert list(v.loc[V, "ops_4g"]) == [2, 1, 0, 0]
    server = live_server_factory(two_operators.path)
    url = "OAPIF:" + server.url + "/ogcapi"
    got = pyogrio.read_dataframe(url, layer="villages", use_arrow=True, where="ops_4g = 1")
    assert list(got["kode"]) == [V[1]]
    got = pyogrio.read_dataframe(url, layer="villages", use_arrow=True,
                                 where="ops_4g >= 1 AND kecamatan_kode = '99.01.01'")
    assert sorted(got["kode"]) == V[:2]
    # and with the OGC API's own equality parameter
    from urllib.request import urlopen

    with urlopen(server.url + "/ogcapi/collections/villages/items?ops_4g=0&f=json") as r:
        import json

        doc = json.load(r)
    assert sorted(f["properties"]["kode"] for f in doc["features"]) == V[2:]
