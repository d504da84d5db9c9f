"""web.ogcapi_core and web.ogcapi_openapi: OGC API resources without Flask (no app, no
request), and the one exception table of web.errors."""

from __future__ import annotations

import json

import pytest
from werkzeug.exceptions import MethodNotAllowed

from geo_p2dd.errors import InputError, NotFoundError, ProjectError
from geo_p2dd.exports.data import ExportData
from web import ogcapi_core as core
from web.errors import status_for
from web.ogcapi_openapi import openapi


def url(endpoint: str, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v is not None)
    return f"/{endpoint}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def data(sample_project):
    return ExportData(sample_project)


def test_items_page_and_reply_without_flask(data):
    page = core.items_page(data, "villages", {"limit": ["2"], "class": ["blank_spot"]}, url)
    status, headers, body = core.items_reply(page)
    doc = json.loads(body)
    assert status == 200 and headers["Content-Type"] == core.GEOJSON
    assert doc["numberReturned"] == len(doc["features"]) == min(2, page.matched)
    assert all(f["properties"]["gap_class"] == "blank_spot" for f in doc["features"])
    assert {link["rel"] for link in doc["links"]} >= {"self", "alternate", "collection"}


def test_feature_and_documents_without_flask(data):
    kode = str(data.layer("villages")["kode"].iloc[0])
    status, headers, body = core.feature_reply(core.feature(data, "villages", kode, url))
    assert status == 200 and json.loads(body)["id"] == kode
    assert headers["Content-Crs"] == f"<{core.CRS84}>"
    assert [c["id"] for c in core.collections_doc(data, url, "id")["collections"]] == \
        data.available()
    api = openapi(data, url)
    assert "/collections/villages/items" in api["paths"] and api["servers"][0]["url"]


@pytest.mark.parametrize("call, error", [
    (lambda d: core.items_page(d, "roads", {}, url), NotFoundError),
    (lambda d: core.items_page(d, "villages", {"limit": ["0"]}, url), InputError),
    (lambda d: core.items_page(d, "villages", {"colour": ["red"]}, url), InputError),
    (lambda d: core.feature(d, "villages", "00.00", url), NotFoundError),
    (lambda d: core.wants_html("xml", None), InputError),
])
def test_bad_input_raises_library_errors(data, call, error):
    with pytest.raises(error):
        call(data)


def test_one_exception_table():
    assert status_for(InputError("x")) == (400, "InvalidParameterValue")
    assert status_for(NotFoundError("x")) == (404, "NotFound")
    assert status_for(ProjectError("x")) == (503, "ServiceUnavailable")
    assert status_for(MethodNotAllowed(["GET"])) == (405, "MethodNotAllowed")
    assert status_for(RuntimeError("x")) == (500, "ServerError")
