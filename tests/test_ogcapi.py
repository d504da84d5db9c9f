"""OGC API - Features: documents, paging, filters, errors, and GDAL's OAPIF driver as client.

GDAL reads from a live server started by the test in this process. pyogrio's
plain reader holds the GIL while GDAL downloads pages, which would stall the
in-process server, so the OAPIF reads use ``use_arrow=True`` (the Arrow stream
releases the GIL); a QGIS or ogr2ogr client in another process needs no such care.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import CRS

from geo_p2dd.exports.catalogue import LAYERS
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.query import Filters
from geo_p2dd.schema import GAP_CLASSES

CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"


@pytest.fixture(scope="module")
def client(sample_project, tmp_path_factory):
    from web import create_app

    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                      "EXPORT_CACHE": str(tmp_path_factory.mktemp("cache"))})
    return app.test_client()


@pytest.fixture(scope="module")
def data(sample_project):
    return ExportData(sample_project)


def get(client, url, **kwargs):
    r = client.get(url, **kwargs)
    r.get_data()
    r.close()
    return r


def rels(doc) -> dict[str, dict]:
    return {(link["rel"], link.get("type")): link for link in doc["links"]}


# --------------------------------------------------------------------------------------- #
# Documents
# --------------------------------------------------------------------------------------- #

def test_landing_conformance_and_api(client):
    landing = get(client, "/ogcapi/")
    assert landing.status_code == 200 and landing.mimetype == "application/json"
    links = rels(landing.get_json())
    for rel, mime in (("self", "application/json"), ("alternate", "text/html"),
                      ("service-desc", "application/vnd.oai.openapi+json;version=3.0"),
                      ("conformance", "application/json"), ("data", "application/json")):
        assert (rel, mime) in links, rel
    assert get(client, "/ogcapi").status_code == 200  # no redirect for the bare prefix

    conf = get(client, "/ogcapi/conformance").get_json()["conformsTo"]
    assert {CONF + c for c in ("core", "geojson", "oas30", "html")} <= set(conf)

    api = get(client, "/ogcapi/api")
    assert api.mimetype == "application/vnd.oai.openapi+json"
    doc = api.get_json()
    assert doc["openapi"].startswith("3.0")
    for cid in LAYERS:
        items = doc["paths"][f"/collections/{cid}/items"]["get"]
        names = {p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in items["parameters"]}
        assert {"bbox", "limit", "offset", "f"} <= names
        assert set(LAYERS[cid].queryables) <= names
        assert f"/collections/{cid}/items/{{featureId}}" in doc["paths"]
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit["maximum"] == 10_000 and limit["default"] == 10
    # every $ref resolves
    text = json.dumps(doc)
    for ref in set(__import__("re").findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]


def test_collections_with_extent(client, data):
    doc = get(client, "/ogcapi/collections").get_json()
    assert [c["id"] for c in doc["collections"]] == list(LAYERS)
    for c in doc["collections"]:
        frame = data.layer(c["id"])
        bbox = c["extent"]["spatial"]["bbox"][0]
        assert np.allclose(bbox, frame.total_bounds, atol=1e-5)
        assert c["extent"]["spatial"]["crs"].endswith("CRS84")
        assert c["itemType"] == "feature"
        links = rels(c)
        assert ("items", "application/geo+json") in links
        assert ("describedby", "application/schema+json") in links
        assert ("license", "application/json") in links
    one = get(client, "/ogcapi/collections/sites").get_json()
    assert one["id"] == "sites" and "CC0" in one["attribution"]


def test_items_paging_links_and_counts(client, data):
    r = get(client, "/ogcapi/collections/villages/items?limit=20&offset=20")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/geo+json")
    assert r.headers["Content-Crs"].strip("<>").endswith("CRS84")
    doc = json.loads(r.data)
    total = len(data.layer("villages"))
    assert 40 < total < 60
    assert doc["type"] == "FeatureCollection"
    assert doc["numberMatched"] == total and doc["numberReturned"] == 20
    links = {link["rel"]: link["href"] for link in doc["links"]}
    assert {"self", "alternate", "next", "prev", "collection"} <= set(links)
    assert "offset=40" in links["next"] and "limit=20" in links["next"]
    assert "offset=" not in links["prev"]  # back to the first page
    kodes = [f["id"] for f in doc["features"]]
    assert kodes == list(data.layer("villages")["kode"].iloc[20:40])
    last = json.loads(get(client, "/ogcapi/collections/villages/items?limit=20&offset=40").data)
    assert last["numberReturned"] == total - 40
    assert "next" not in {x["rel"] for x in last["links"]}
    beyond = json.loads(get(client, "/ogcapi/collections/villages/items?offset=500").data)
    assert beyond["numberReturned"] == 0 and beyond["features"] == []


def test_items_filters(client, data):
    villages = data.layer("villages")
    url = "/ogcapi/collections/villages/items?limit=100&kecamatan_kode=99.01.02&class=blank_spot"
    doc = json.loads(get(client, url).data)
    want = villages[(villages["kecamatan_kode"] == "99.01.02") &
                    (villages["gap_class"] == "blank_spot")]
    assert sorted(f["id"] for f in doc["features"]) == sorted(want["kode"])
    assert all(f["properties"]["gap_class"] == "blank_spot" for f in doc["features"])
    # the same filter under the column's own name, and booleans
    doc2 = json.loads(get(client, url.replace("class=", "gap_class=")).data)
    assert doc2["numberMatched"] == doc["numberMatched"]
    prog = json.loads(get(client, "/ogcapi/collections/villages/items?in_programme=true&"
                                  "limit=100").data)
    assert prog["numberMatched"] == int(villages["in_programme"].sum())
    # bbox, region, min_score; repeat a parameter for alternatives
    w, s, e, n = villages.total_bounds
    box = f"{w},{s},{(w + e) / 2},{n}"
    inbox = json.loads(get(client, f"/ogcapi/collections/villages/items?bbox={box}&limit=100"
                           ).data)
    hits = villages[villages.intersects(shapely.box(w, s, (w + e) / 2, n))]
    assert sorted(f["id"] for f in inbox["features"]) == sorted(hits["kode"])
    sites = json.loads(get(client, "/ogcapi/collections/sites/items?status=planned&"
                                   "status=proposed&region=99.01.01&limit=100").data)
    assert {f["properties"]["status"] for f in sites["features"]} <= {"planned", "proposed"}
    assert all(f["properties"]["village_kode"].startswith("99.01.01.")
               for f in sites["features"])
    top = json.loads(get(client, "/ogcapi/collections/villages/items?min_score=60").data)
    assert top["numberMatched"] == int((villages["score"] >= 60).sum())
    # next links keep every filter
    nxt = next(x["href"] for x in json.loads(get(
        client, "/ogcapi/collections/villages/items?limit=2&class=blank_spot").data)["links"]
        if x["rel"] == "next")
    assert "class=blank_spot" in nxt and "offset=2" in nxt


def test_single_item(client, data):
    r = get(client, "/ogcapi/collections/villages/items/99.01.01.2001")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    f = json.loads(r.data)
    assert f["type"] == "Feature" and f["id"] == "99.01.01.2001"
    assert f["geometry"]["type"] == "MultiPolygon"
    assert f["properties"]["gap_class"] in GAP_CLASSES.ids
    assert {"self", "collection"} <= {x["rel"] for x in f["links"]}
    site_id = data.layer("sites")["site_id"].iloc[0]
    assert get(client, f"/ogcapi/collections/sites/items/{site_id}").status_code == 200


@pytest.mark.parametrize("url", [
    "/ogcapi/?f=html", "/ogcapi/conformance?f=html", "/ogcapi/api?f=html",
    "/ogcapi/collections?f=html", "/ogcapi/collections/villages?f=html",
    "/ogcapi/collections/villages/items?f=html&limit=5",
    "/ogcapi/collections/villages/items/99.01.01.2001?f=html",
    "/ogcapi/collections/aggregates/items?f=html",
])
def test_html(client, url):
    r = get(client, url)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert b"<!doctype html>" in r.data and b"cdn" not in r.data.lower()


def test_browsers_get_html_clients_get_json(client):
    html = get(client, "/ogcapi/collections", headers={"Accept": "text/html,*/*;q=0.8"})
    assert html.mimetype == "text/html"
    assert get(client, "/ogcapi/collections", headers={"Accept": "*/*"}).mimetype == \
        "application/json"


@pytest.mark.parametrize("url, status", [
    ("/ogcapi/collections/roads", 404),
    ("/ogcapi/collections/roads/items", 404),
    ("/ogcapi/collections/villages/items/99.99.99.9999", 404),
    ("/ogcapi/nothing/here", 404),
    ("/ogcapi/collections/villages/items?bbox=1,2,3", 400),
    ("/ogcapi/collections/villages/items?bbox=a,b,c,d", 400),
    ("/ogcapi/collections/villages/items?bbox=115,1,114,0", 400),
    ("/ogcapi/collections/villages/items?bbox=0,-91,1,0", 400),
    ("/ogcapi/collections/villages/items?limit=10001", 400),
    ("/ogcapi/collections/villages/items?limit=0", 400),
    ("/ogcapi/collections/villages/items?limit=ten", 400),
    ("/ogcapi/collections/villages/items?offset=-5", 400),
    ("/ogcapi/collections/villages/items?f=xml", 400),
    ("/ogcapi/collections/villages/items?colour=red", 400),
    ("/ogcapi/collections/villages/items?class=purple", 400),
    ("/ogcapi/collections/villages/items?min_score=abc", 400),
    ("/ogcapi/collections/villages/items?in_programme=maybe", 400),
    ("/ogcapi/collections/villages/items?region=Mahakam", 400),
    ("/ogcapi/collections/villages/items?bbox-crs=EPSG:3857&bbox=0,0,1,1", 400),
    ("/ogcapi/collections/sites/items?year=soon", 400),
    ("/ogcapi/collections/sites/items?min_score=3", 400),
    ("/ogcapi/collections?limit=3", 400),
])
def test_bad_requests_answer_ogc_exceptions(client, url, status):
    r = get(client, url)
    assert r.status_code == status
    assert r.mimetype == "application/json"
    doc = r.get_json()
    assert isinstance(doc["code"], str) and doc["description"]
    assert "Traceback" not in doc["description"]


def test_post_is_refused_as_json(client):
    r = client.post("/ogcapi/collections/villages/items")
    r.close()
    assert r.status_code == 405 and r.mimetype == "application/json"


# --------------------------------------------------------------------------------------- #
# A real client nobody here wrote: GDAL's OAPIF driver against a live server
# --------------------------------------------------------------------------------------- #

def oapif(server) -> str:
    return "OAPIF:" + server.url + "/ogcapi"


def test_gdal_reads_every_collection(sample_server, data):
    url = oapif(sample_server)
    layers = dict(pyogrio.list_layers(url))
    assert set(layers) == set(LAYERS)
    for cid in LAYERS:
        expected = data.layer(cid)
        got = pyogrio.read_dataframe(url, layer=cid, use_arrow=True)
        assert len(got) == len(expected), cid
        assert CRS(got.crs).equals(CRS("EPSG:4326"), ignore_axis_order=True)
        key = LAYERS[cid].id_column
        assert sorted(got[key]) == sorted(expected[key])
        # columns and types from the JSON Schema (describedby)
        assert set(expected.columns.drop("geometry")) <= set(got.columns)
        merged = expected.set_index(key).loc[got[key]]
        for col in expected.columns.drop(["geometry", key]):
            a, b = got[col].to_numpy(), merged[col].to_numpy()
            if expected[col].dtype.kind == "f":
                assert np.allclose(a.astype(float), b.astype(float), equal_nan=True), col
            else:
                assert [None if v is None or v != v else str(v) for v in a] == \
                    [None if v is None or v is __import__("pandas").NA or v != v else str(v)
                     for v in b], col
        assert np.allclose(got.total_bounds, expected.total_bounds, atol=1e-6)


def test_gdal_bbox_and_attribute_filters(sample_server, data):
    url = oapif(sample_server)
    villages = data.layer("villages")
    w, s, e, n = villages.total_bounds
    box = (w, s, (w + e) / 2, n)
    got = pyogrio.read_dataframe(url, layer="villages", use_arrow=True, bbox=box,
                                 where="gap_class = 'blank_spot' AND kecamatan_kode = '99.01.02'")
    want = villages[(villages["gap_class"] == "blank_spot") &
                    (villages["kecamatan_kode"] == "99.01.02") &
                    villages.intersects(shapely.box(*box))]
    assert len(want) and sorted(got["kode"]) == sorted(want["kode"])
    sites = pyogrio.read_dataframe(url, layer="sites", use_arrow=True,
                                   where="status = 'installed' AND year = 2024")
    want = data.layer("sites")
    want = want[(want["status"] == "installed") & (want["year"] == 2024)]
    assert sorted(sites["site_id"]) == sorted(want["site_id"])


# --------------------------------------------------------------------------------------- #
# Paging past 10,000 features
# --------------------------------------------------------------------------------------- #

N = 101  # 101 x 101 = 10,201 villages


@pytest.fixture(scope="module")
def big_project(tmp_path_factory):
    """10,201 tiny square villages in two kabupaten, imported and analysed (~10 s)."""
    import geopandas as gpd

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    root = tmp_path_factory.mktemp("big")
    ix, iy = np.meshgrid(np.arange(N), np.arange(N))
    ix, iy = ix.ravel(), iy.ravel()
    d = 0.001
    squares = shapely.box(114 + ix * d, iy * d, 114 + ix * d + 0.9 * d, iy * d + 0.9 * d)
    i = np.arange(N * N)
    codes = [f"99.{1 + k // 5100:02d}.{1 + (k % 5100) // 100:02d}.{2001 + k % 100}" for k in i]
    frame = gpd.GeoDataFrame({"kode": codes, "nama": [f"Desa {k}" for k in i]},
                             geometry=squares, crs="EPSG:4326")
    src = root / "grid.gpkg"
    pyogrio.write_dataframe(frame, src, layer="desa")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project, _ = init_project(root / "project", villages=src)
    analyze_project(project)
    return project


def test_paging_past_10000_features(big_project, live_server_factory):
    server = live_server_factory(big_project.path)
    total = N * N
    # GDAL follows the next links to the end (pages of 10,000: the last starts at 10,000)
    got = pyogrio.read_dataframe(oapif(server), layer="villages", use_arrow=True,
                                 columns=["kode", "gap_class"], PAGE_SIZE="10000")
    assert len(got) == total and got["kode"].nunique() == total
    assert set(got["gap_class"]) == {"unknown"}  # no signal data in this project
    # with an attribute filter and a bbox, still paging on the server
    sub = pyogrio.read_dataframe(oapif(server), layer="villages", use_arrow=True,
                                 columns=["kode"], where="kabupaten_kode = '99.02'",
                                 bbox=(114.0, 0.0, 114.0505, 0.101))
    want = ExportData(big_project).select("villages", Filters(
        bbox=(114.0, 0.0, 114.0505, 0.101), equals=(("kabupaten_kode", ("99.02",)),)))
    assert 1000 < len(want) < total // 2
    assert sorted(sub["kode"]) == sorted(want["kode"])
    # plain JSON paging: next links from the first page to beyond 10,000
    url = server.url + "/ogcapi/collections/villages/items?limit=5000"
    seen, pages = [], 0
    while url:
        with urllib.request.urlopen(url) as resp:
            doc = json.load(resp)
        assert doc["numberMatched"] == total
        seen += [f["id"] for f in doc["features"]]
        url = next((x["href"] for x in doc["links"] if x["rel"] == "next"), None)
        pages += 1
    assert pages == 3 and len(set(seen)) == total
    with urllib.request.urlopen(server.url + "/ogcapi/collections/villages/items?"
                                "offset=10200&limit=10000") as resp:
        last = json.load(resp)
    assert last["numberReturned"] == 1 and last["features"][0]["id"] == seen[-1]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.url + "/ogcapi/collections/villages/items?limit=10001")
    err.value.close()
    assert err.value.code == 400


@pytest.mark.parametrize("path", ["/ogcapi/?f=json", "/ogcapi/collections?f=json",
                                  "/ogcapi/collections/villages/items?f=json&limit=1",
                                  "/ogcapi/api"])
def test_links_never_copy_an_untrusted_host(client, path):
    doc = get(client, path, headers={"Host": "evil.example.com"}).get_data(as_text=True)
    assert "evil.example.com" not in doc
    assert '"/ogcapi' in doc  # links relative to the site root instead
    local = get(client, path, headers={"Host": "127.0.0.1:8000"}).get_data(as_text=True)
    assert "http://127.0.0.1:8000/ogcapi" in local


def test_links_use_the_configured_server_name(sample_project, tmp_path):
    from web import create_app

    for config, base in (({"PUBLIC_URL": "https://p2dd.example.go.id/"},
                          "https://p2dd.example.go.id/ogcapi/"),
                         ({"TRUSTED_HOSTS": ["gis.example.go.id"]},
                          "http://gis.example.go.id/ogcapi/")):
        app = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                          "EXPORT_CACHE": str(tmp_path), **config})
        c = app.test_client()
        doc = get(c, "/ogcapi/?f=json", headers={"Host": "gis.example.go.id"}).json
        assert all(link["href"].startswith(base) for link in doc["links"])
        evil = get(c, "/ogcapi/?f=html", headers={"Host": "evil.example.com"})
        if "TRUSTED_HOSTS" in config:  # Flask itself refuses other hosts
            assert evil.status_code == 400
        else:
            assert evil.status_code == 200 and base in evil.get_data(as_text=True)
            assert "http://evil.example.com" not in evil.get_data(as_text=True)


def test_method_not_allowed_names_the_allowed_methods(client):
    r = client.post("/ogcapi/collections")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert r.is_json and r.json["description"]


# --------------------------------------------------------------------------------------- #
# Part 3: CQL2 text filters, queryables and sortby
# --------------------------------------------------------------------------------------- #

def test_cql2_filter_and_sortby(client, data):
    villages = data.layer("villages")
    kec = villages["kecamatan_kode"].iloc[0]
    q = urllib.parse.urlencode({"filter": f"no_4g_share >= 0.5 AND kecamatan_kode = '{kec}'",
                                "filter-lang": "cql2-text", "sortby": "-score,nama",
                                "limit": 100})
    doc = json.loads(get(client, f"/ogcapi/collections/villages/items?{q}").data)
    want = villages[(villages["no_4g_share"] >= 0.5) & (villages["kecamatan_kode"] == kec)]
    want = want.sort_values(["score", "nama"], ascending=[False, True], kind="mergesort")
    assert len(want) and doc["numberMatched"] == len(want)
    assert [f["id"] for f in doc["features"]] == list(want["kode"])
    # IN, OR, NOT and parentheses; the next link keeps the filter and the order
    text = "gap_class IN ('blank_spot', 'no_4g') AND NOT (score < 30 OR people_unserved = 0)"
    q = urllib.parse.urlencode({"filter": text, "sortby": "rank", "limit": 2})
    doc = json.loads(get(client, f"/ogcapi/collections/villages/items?{q}").data)
    want = villages[villages["gap_class"].isin(["blank_spot", "no_4g"]) &
                    ~((villages["score"] < 30) | (villages["people_unserved"] == 0))]
    assert doc["numberMatched"] == len(want) > 2
    assert [f["id"] for f in doc["features"]] == list(want.sort_values("rank")["kode"][:2])
    nxt = next(x["href"] for x in doc["links"] if x["rel"] == "next")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)["filter"] == [text]
    # other collections, any of their columns
    sites = json.loads(get(client, "/ogcapi/collections/sites/items?limit=100&filter=" +
                           urllib.parse.quote("year >= 2024 AND kind <> 'bts'")).data)
    s = data.layer("sites")
    assert sites["numberMatched"] == int(((s["year"] >= 2024) & (s["kind"] != "bts")).sum())


@pytest.mark.parametrize("query, token", [
    ("filter=score >> 3", "'>' at position 8"),
    ("filter=score = 'high'", "'high' at position 9"),
    ("filter=colour = 'red'", "'colour' at position 1"),
    ("filter=(score > 3", "end of the filter"),
    ("filter=score > 3&filter-lang=cql2-json", "cql2-json"),
    ("sortby=-colour", "-colour"),
])
def test_bad_filters_answer_400_naming_the_token(client, query, token):
    r = get(client, "/ogcapi/collections/villages/items?" + query.replace(" ", "%20"))
    assert r.status_code == 400 and r.mimetype == "application/json"
    assert token in r.get_json()["description"]


def test_conformance_queryables_and_openapi_advertise_filtering(client, data):
    conf = set(get(client, "/ogcapi/conformance").get_json()["conformsTo"])
    assert {"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
            "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
            "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text"} <= conf
    for cid in LAYERS:
        doc = get(client, f"/ogcapi/collections/{cid}/queryables").get_json()
        assert set(doc["properties"]) == set(data.layer(cid).columns.drop("geometry"))
    items = get(client, "/ogcapi/api").get_json()["paths"]["/collections/villages/items"]
    names = {p["$ref"].rsplit("/", 1)[-1] for p in items["get"]["parameters"] if "$ref" in p}
    assert {"filter", "filter-lang", "sortby"} <= names


def test_gdal_reads_with_a_cql2_capable_server(sample_server, data):
    """Advertising Part 3 breaks nothing for GDAL: a where clause the simple ``?col=value``
    parameters cannot express is still read right (GDAL 3.12 filtered this one itself)."""
    url = oapif(sample_server)
    got = pyogrio.read_dataframe(url, layer="villages", use_arrow=True,
                                 where="score >= 50 OR gap_class IN ('no_4g')")
    v = data.layer("villages")
    want = v[(v["score"] >= 50) | (v["gap_class"] == "no_4g")]
    assert len(want) and sorted(got["kode"]) == sorted(want["kode"])
