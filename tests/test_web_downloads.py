"""The downloads page and file downloads: sizes, filters, names, ETag/304, Range, gzip."""

from __future__ import annotations

import gzip
import json
import re
import urllib.request
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from geo_p2dd.exports.catalogue import LAYERS
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.formats import FORMATS
from web.formats import WIRE


@pytest.fixture(scope="module")
def app(sample_project, tmp_path_factory):
    from web import create_app

    return create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                       "EXPORT_CACHE": str(tmp_path_factory.mktemp("export-cache"))})


@pytest.fixture
def client(app):
    return app.test_client()


def fetch(client, url, **kwargs):
    """GET, read the whole body and close the response (files are streamed)."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def test_page_lists_layers_by_formats_with_sizes(client, sample_project):
    r = fetch(client, "/downloads/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "Lapisan kesenjangan untuk GIS" in html  # Indonesian by default
    for layer in LAYERS:
        assert f'id="layer-{layer}"' in html
        for fmt in FORMATS:
            assert f'/downloads/{layer}/{fmt}"' in html
    # exact sizes for a small project (files made once, then cached)
    sizes = re.findall(r'<span class="size">([\d.]+ (?:B|kB|MB))</span>', html)
    assert len(sizes) == len(LAYERS) * len(FORMATS)
    assert "≈" not in html
    assert "CC0" in html  # sources and licences
    assert "/ogcapi/" in html
    en = fetch(client, "/downloads/?lang=en").get_data(as_text=True)
    assert "Gap layers for GIS" in en and "Unserved locations" in en


def test_page_filters_carry_into_links(client):
    html = fetch(client, "/downloads/?region=99.01.02&class=blank_spot&status=planned"
                 ).get_data(as_text=True)
    assert "/downloads/villages/gpkg?region=99.01.02&amp;class=blank_spot" in html
    assert "/downloads/sites/gpkg?region=99.01.02&amp;status=planned" in html
    assert 'value="99.01.02" selected' in html
    bad = fetch(client, "/downloads/?bbox=1,2")
    assert bad.status_code == 400


def test_large_layers_show_estimated_sizes(app, sample_project):
    app.config["DOWNLOADS_PREPARE_MAX_FEATURES"] = 10
    try:
        html = fetch(app.test_client(), "/downloads/?min_score=1").get_data(as_text=True)
    finally:
        app.config.pop("DOWNLOADS_PREPARE_MAX_FEATURES")
    assert "≈" in html and "size estimate" in html


def test_download_name_headers_and_conditional_get(client, sample_project):
    data = ExportData(sample_project)
    date = data.analysis_date[:10]
    r = fetch(client, "/downloads/villages/gpkg?region=99.01.02")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/geopackage+sqlite3"
    assert f"filename=99.01.02_villages_{date}.gpkg" in r.headers["Content-Disposition"]
    assert r.headers["ETag"] and r.headers["Last-Modified"]
    assert r.headers["Accept-Ranges"] == "bytes"
    assert "metadata.json?region=99.01.02" in r.headers["Link"]
    assert int(r.headers["Content-Length"]) == len(r.data)

    etag = r.headers["ETag"]
    again = fetch(client, "/downloads/villages/gpkg?region=99.01.02",
                  headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    since = fetch(client, "/downloads/villages/gpkg?region=99.01.02",
                  headers={"If-Modified-Since": r.headers["Last-Modified"]})
    assert since.status_code == 304
    older = format_datetime(parsedate_to_datetime(r.headers["Last-Modified"]).replace(
        year=2000), usegmt=True)
    assert fetch(client, "/downloads/villages/gpkg?region=99.01.02",
                 headers={"If-Modified-Since": older}).status_code == 200
    # resume an interrupted download
    part = fetch(client, "/downloads/villages/gpkg?region=99.01.02",
                 headers={"Range": "bytes=100-199", "If-Range": etag})
    assert part.status_code == 206 and part.data == r.data[100:200]


@pytest.mark.parametrize("fmt, headers", [("fgb", {}), ("geojson", {}),
                                          ("csv", {"Accept-Encoding": "gzip"})])
def test_download_is_streamed_from_disk(app, fmt, headers):
    """The response is a file wrapper, also after the app's gzip hook: never bytes in
    memory (text formats are sent from a gzip copy made once)."""
    with app.test_request_context(f"/downloads/villages/{fmt}", headers=headers):
        response = app.full_dispatch_request()
        try:
            assert response.is_streamed and response.direct_passthrough
        finally:
            response.close()


def test_text_formats_are_sent_gzip_compressed(client, tmp_path):
    plain = fetch(client, "/downloads/villages/geojson")
    zipped = fetch(client, "/downloads/villages/geojson", headers={"Accept-Encoding": "gzip"})
    assert plain.headers.get("Content-Encoding") is None
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert len(zipped.data) < len(plain.data)
    assert gzip.decompress(zipped.data) == plain.data
    doc = json.loads(plain.data)
    assert doc["metadata"]["layer"] == "villages"
    assert len(doc["features"]) == doc["metadata"]["rows"] > 0
    # conditional GET works on the compressed variant too
    again = fetch(client, "/downloads/villages/geojson",
                  headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_downloads_and_opens(client, sample_project, tmp_path, fmt):
    r = fetch(client, f"/downloads/sites/{fmt}?status=installed")
    assert r.status_code == 200 and r.mimetype == WIRE[fmt].media_type
    name = re.search(r"filename=(\S+)", r.headers["Content-Disposition"])[1]
    assert name.endswith(FORMATS[fmt].extension) and "_sites-installed_" in name
    path = tmp_path / name
    path.write_bytes(r.data)
    if fmt == "parquet":
        got = gpd.read_parquet(path)
    elif fmt == "csv":
        got = pyogrio.read_dataframe(path, X_POSSIBLE_NAMES="lon", Y_POSSIBLE_NAMES="lat")
    else:  # a GeoPackage also holds QGIS's layer_styles: name the layer
        got = pyogrio.read_dataframe(path, layer="sites" if fmt == "gpkg" else None)
    sites = ExportData(sample_project).layer("sites")
    assert len(got) == (sites["status"] == "installed").sum() > 0


def test_metadata_and_readme(client, sample_project):
    meta = fetch(client, "/downloads/villages/metadata.json?class=blank_spot")
    assert meta.status_code == 200 and meta.mimetype == "application/json"
    doc = meta.get_json()
    assert doc["filters"] == {"gap_class": ["blank_spot"]}
    villages = ExportData(sample_project).layer("villages")
    assert doc["rows"] == (villages["gap_class"] == "blank_spot").sum() > 0
    assert doc["licences"]
    readme = fetch(client, "/downloads/sites/README.txt")
    assert readme.mimetype == "text/plain" and "Sources and licences" in readme.get_data(
        as_text=True)


@pytest.mark.parametrize("url, status", [
    ("/downloads/roads/gpkg", 404),
    ("/downloads/villages/dwg", 404),
    ("/downloads/villages/gpkg?class=nope", 400),
    ("/downloads/villages/gpkg?min_score=x", 400),
    ("/downloads/villages/gpkg?region=Mahakam", 400),
    ("/downloads/villages/gpkg?bbox=1,2,3,x", 400),
])
def test_bad_requests(client, url, status):
    r = fetch(client, url)
    assert r.status_code == status
    assert b"Traceback" not in r.data


def test_live_server_download_and_revalidate(sample_server):
    url = sample_server.url + "/downloads/aggregates/kmz"
    with urllib.request.urlopen(url) as resp:
        body = resp.read()
        etag = resp.headers["ETag"]
        assert resp.headers["Content-Type"] == "application/vnd.google-earth.kmz"
    assert body[:2] == b"PK"
    req = urllib.request.Request(url, headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    err.value.close()
    assert err.value.code == 304


@pytest.mark.browser
def test_downloads_page_and_ogc_html_in_chromium(sample_server, page):
    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.goto(sample_server.url + "/downloads/?lang=en")
    assert page.locator("table.downloads-table tbody tr").count() == len(LAYERS)
    page.screenshot(path=str(artifacts / "downloads.png"), full_page=True)
    page.goto(sample_server.url + "/ogcapi/collections/villages/items?f=html&limit=12")
    assert page.locator("table.data tbody tr").count() == 12
    page.click("a[rel=next]")
    assert "offset=12" in page.url
    page.screenshot(path=str(artifacts / "ogcapi_items.png"), full_page=True)
    assert page.console_errors == []


def test_every_export_format_has_a_media_type():
    assert set(WIRE) == set(FORMATS)
    assert all("/" in w.media_type for w in WIRE.values())


def test_if_match_multipart_range_and_method_not_allowed(client):
    url = "/downloads/villages/csv?region=99.01.02"
    whole = fetch(client, url)
    etag = whole.headers["ETag"]
    stale = fetch(client, url, headers={"If-Match": '"not-the-etag"'})
    assert stale.status_code == 412 and stale.data == b""
    assert fetch(client, url, headers={"If-Match": etag}).data == whole.data
    # several ranges: the whole file with 200 (a multipart answer is optional), not 416
    multi = fetch(client, url, headers={"Range": "bytes=0-9,20-29"})
    assert multi.status_code == 200 and multi.data == whole.data
    assert fetch(client, url, headers={"Range": "bytes=0-9"}).data == whole.data[:10]
    assert fetch(client, url, headers={"Range": "bytes=999999999-"}).status_code == 416
    for path in (url, "/downloads/"):
        refused = client.post(path)
        assert refused.status_code == 405
        assert set(refused.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


def test_unserved_and_all_locations_say_what_they_hold(client, sample_project):
    every = ExportData(sample_project).layer("locations")
    for layer, keep in (("locations_unserved", every["status"] != "served"),
                        ("locations", every["status"].notna())):
        r = fetch(client, f"/downloads/{layer}/geojson")
        assert r.status_code == 200
        assert f"_{layer}_" in r.headers["Content-Disposition"]
        doc = json.loads(r.data)
        assert len(doc["features"]) == int(keep.sum())
        ogc = fetch(client, f"/ogcapi/collections/{layer}?f=json").get_json()
        assert ogc["id"] == layer
    titles = {c["id"]: c["title"] for c in
              fetch(client, "/ogcapi/collections?lang=en").get_json()["collections"]}
    assert titles["locations_unserved"] == "Unserved locations"
    assert titles["locations"] == "Locations (all statuses)"


def test_downloads_and_collections_link_their_licences(client):
    cc0 = "https://creativecommons.org/publicdomain/zero/1.0/"
    r = fetch(client, "/downloads/villages/csv")
    assert f'<{cc0}>; rel="license"' in r.headers["Link"]
    assert 'rel="describedby"' in r.headers["Link"]
    header = r.get_data(as_text=True).splitlines()[0].split(",")
    assert header[-2:] == ["licence", "attribution"]
    for c in fetch(client, "/ogcapi/collections").get_json()["collections"]:
        hrefs = {link["href"] for link in c["links"] if link["rel"] == "license"}
        assert cc0 in hrefs and any("metadata.json" in h for h in hrefs), c["id"]


def test_downloads_take_a_cql2_filter(client, sample_project):
    import urllib.parse

    text = "no_4g_share >= 0.5 AND people_unserved > 0"
    q = urllib.parse.quote(text)
    r = fetch(client, f"/downloads/villages/geojson?filter={q}")
    assert r.status_code == 200 and "_villages-filtered_" in r.headers["Content-Disposition"]
    v = ExportData(sample_project).layer("villages")
    want = v[(v["no_4g_share"] >= 0.5) & (v["people_unserved"] > 0)]
    doc = json.loads(r.data)
    assert len(want) and sorted(f["properties"]["kode"] for f in doc["features"]) == \
        sorted(want["kode"])
    assert doc["metadata"]["filters"]["cql2"] == text
    page = fetch(client, f"/downloads/?filter={q}&lang=en").get_data(as_text=True)
    page = page.replace("&amp;", "&")
    assert f"/downloads/villages/gpkg?filter={urllib.parse.quote_plus(text)}" in page
    # sites have no such columns: listed unfiltered, and the page says so
    assert '/downloads/sites/gpkg"' in page and "Not filtered by: CQL2 filter" in page
    bad = fetch(client, "/downloads/villages/csv?filter=" + urllib.parse.quote("score >> 1"))
    assert bad.status_code == 400 and "position 8" in bad.get_data(as_text=True)
