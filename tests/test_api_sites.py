"""The register's JSON API through the web app, on SQLite and on a real PostgreSQL + PostGIS."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pg import pg_cluster, pg_url  # noqa: F401 - the PostgreSQL fixtures
from sqlalchemy import text

from geo_p2dd.registry import accounts, db, store
from web import create_app

TABLES = "history, api_tokens, users, sites, registry_meta"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


class Api:
    """The app, its register and API tokens of an admin and of a Diskominfo editor."""

    def __init__(self, app, engine, project):
        self.app = app
        self.engine = engine
        self.project = project
        accounts.add_user(engine, "admin", "admin")
        accounts.add_user(engine, "ana", "editor", agency="Diskominfo")
        self.admin = {"Authorization": f"Bearer {accounts.new_token(engine, 'admin')}"}
        self.ana = {"Authorization": f"Bearer {accounts.new_token(engine, 'ana')}"}
        self.client = app.test_client()


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request, sample_copy, monkeypatch):
    """The sample project's register: its own SQLite file, or (as a project that grew
    to a server) PostgreSQL named by ``GEO_P2DD_DATABASE_URL`` for the library and app."""
    if request.param == "sqlite":
        monkeypatch.delenv(db.URL_VARIABLE, raising=False)
        engine = db.open_database(sample_copy.path)
    else:
        url = request.getfixturevalue("pg_url")
        engine = db.open_database(url=url)
        with db.write_transaction(engine) as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        monkeypatch.setenv(db.URL_VARIABLE, url)
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    yield Api(app, engine, sample_copy)
    for opened in (app.extensions.get("geo_p2dd.register"), engine):
        if opened is not None:
            opened.dispose()
    store.dispose_engines()  # the library's engines of this test's database


def feature(name: str = "SD Long Apari", **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.05, 0.05]},
            "properties": {"kind": "starlink", "name": name, "status": "installed",
                           "agency": "Diskominfo", "funding": "APBD", "year": 2024,
                           "village_kode": "99.01.01.2001", **props}}


def test_crud_with_etags_and_history(api):
    c = api.client
    made = c.post("/api/sites", json=feature(budget_idr=150_000_000,
                                             sipd_code="2.16.02.2.02.0001"),
                  headers=api.ana)
    assert made.status_code == 201, made.get_json()
    location, tag = made.headers["Location"], made.headers["ETag"]
    site_id = made.get_json()["id"]
    assert location == f"/api/sites/{site_id}"
    props = made.get_json()["properties"]
    assert (props["kind"], props["funding"], props["budget_idr"]) == ("starlink", "apbd",
                                                                     150_000_000)
    got = c.get(location, headers=api.ana)
    assert got.status_code == 200 and got.headers["ETag"] == tag
    assert got.mimetype == "application/geo+json"
    assert got.get_json()["geometry"] == {"type": "Point", "coordinates": [114.05, 0.05]}
    assert c.get(location, headers={**api.ana, "If-None-Match": tag}).status_code == 304

    missing = c.patch(location, json={"status": "damaged"}, headers=api.ana)
    assert missing.status_code == 428
    changed = c.patch(location, json={"status": "damaged", "notes": "kena petir"},
                      headers={**api.ana, "If-Match": tag})
    assert changed.status_code == 200
    new_tag = changed.headers["ETag"]
    assert new_tag != tag and changed.get_json()["properties"]["status"] == "damaged"
    stale = c.patch(location, json={"status": "installed"},
                    headers={**api.ana, "If-Match": tag})
    assert stale.status_code == 412 and stale.get_json()["error"]
    assert c.get(location, headers=api.ana).get_json()["properties"]["status"] == "damaged"

    assert c.delete(location, headers=api.ana).status_code == 428
    assert c.delete(location, headers={**api.ana, "If-Match": tag}).status_code == 412
    assert c.delete(location, headers={**api.ana, "If-Match": new_tag}).status_code == 204
    assert c.get(location, headers=api.ana).status_code == 404

    history = c.get(location + "/history", headers=api.ana).get_json()
    assert [h["source"] for h in history] == ["api", "api", "api"]
    assert {h["user"] for h in history} == {"ana"}
    assert history[1]["changes"] == {"status": ["installed", "damaged"],
                                     "notes": [None, "kena petir"]}
    assert "deleted_at" in history[2]["changes"]


def test_a_status_change_carries_its_own_date_and_note(api):
    import datetime as dt

    c = api.client
    made = c.post("/api/sites", json=feature(status="planned"), headers=api.ana)
    location, tag = made.headers["Location"], made.headers["ETag"]
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    for bad, field in ((future, "status_date"), ("31-12-2025", "status_date"),
                       ("2026-02-30", "status_date")):
        refused = c.patch(location, json={"status": "installed", "status_date": bad},
                          headers={**api.ana, "If-Match": tag})
        assert refused.status_code == 400 and refused.get_json()["field"] == field, bad
    long = c.patch(location, json={"status": "installed", "status_note": "x" * 2001},
                   headers={**api.ana, "If-Match": tag})
    assert long.status_code == 400 and long.get_json()["field"] == "status_note"
    alone = c.patch(location, json={"notes": "x", "status_date": "2025-01-02"},
                    headers={**api.ana, "If-Match": tag})
    assert alone.status_code == 400 and alone.get_json()["field"] == "status"
    assert c.get(location, headers=api.ana).headers["ETag"] == tag  # nothing applied
    done = c.patch(location, json={"status": "installed", "status_date": "2025-08-17",
                                   "status_note": "BAST ditandatangani"},
                   headers={**api.ana, "If-Match": tag})
    assert done.status_code == 200, done.get_json()
    last = c.get(location + "/history", headers=api.ana).get_json()[-1]
    assert last["changes"] == {"status": ["planned", "installed"]}
    assert (last["status_date"], last["status_note"]) == ("2025-08-17", "BAST ditandatangani")


def test_properties_with_lon_lat_are_accepted_too(api):
    made = api.client.post("/api/sites", headers=api.admin, json={
        "kind": "bts", "name": "BTS Long Pahangai", "status": "planned", "lon": "114,2",
        "lat": 0.2, "agency": "Kominfo RI"})
    assert made.status_code == 201
    assert made.get_json()["geometry"]["coordinates"] == [114.2, 0.2]


@pytest.mark.parametrize(("body", "field"), [
    (feature(status="selesai-ish"), "status"),
    (feature(sipd_code="2.16.2.02"), "sipd_code"),
    (feature(year=1800), "year"),
    (feature(budget_idr="banyak"), "budget_idr"),
    (feature(village_kode="desa"), "village_kode"),
    ({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
      "properties": {"kind": "bts", "name": "x", "status": "planned"}}, "geometry"),
    ({"kind": "bts", "status": "planned", "lon": 114, "lat": 0}, "name"),
    ({"kind": "bts", "name": "x", "status": "planned", "lon": 114, "lat": 0,
      "version": 9, "speed": 3}, "speed"),
])
def test_a_bad_value_is_400_naming_the_field(api, body, field):
    response = api.client.post("/api/sites", json=body, headers=api.admin)
    assert response.status_code == 400
    error = response.get_json()
    assert error["field"] == field and field in error["error"]
    assert api.client.get("/api/sites?kind=bts", headers=api.admin).get_json()[
        "numberMatched"] == _count(api, "bts")


def _count(api, kind: str) -> int:
    from geo_p2dd.registry.repository import SiteFilter, count_sites

    return count_sites(api.engine, SiteFilter(kind=kind))


def test_a_body_that_is_not_json_is_400(api):
    response = api.client.post("/api/sites", data="kind=bts", headers={
        **api.admin, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and response.get_json()["field"] == "body"


def test_a_taken_id_is_409(api):
    body = feature(id="site-1")
    assert api.client.post("/api/sites", json=body, headers=api.admin).status_code == 201
    assert api.client.post("/api/sites", json=body, headers=api.admin).status_code == 409


def test_list_filters_and_paging(api):
    c = api.client
    for i in range(5):
        c.post("/api/sites", headers=api.admin, json=feature(
            f"Wi-Fi {i}", kind="wifi" if i else "bts", status="planned" if i % 2 else "installed",
            agency="Uji Satu" if i < 3 else "Uji Dua", year=2023 + i % 2,
            village_kode="99.01.02.2003" if i == 4 else "99.01.01.2001"))

    def names(query: str) -> list[str]:
        """Our five sites among those the filter returns (the sample has more)."""
        got = c.get(f"/api/sites?{query}&limit=1000", headers=api.ana)
        assert got.status_code == 200, got.get_json()
        return sorted(n for f in got.get_json()["features"]
                      if (n := f["properties"]["name"]).startswith("Wi-Fi "))

    assert names("") == [f"Wi-Fi {i}" for i in range(5)]
    assert names("agency=Uji Dua") == ["Wi-Fi 3", "Wi-Fi 4"]
    assert names("status=rencana") == ["Wi-Fi 1", "Wi-Fi 3"]  # an Indonesian spelling
    assert names("kind=bts") == ["Wi-Fi 0"]
    assert names("year=2024") == ["Wi-Fi 1", "Wi-Fi 3"]
    assert names("village_kode=99.01.02") == ["Wi-Fi 4"]  # a kecamatan code
    page = c.get("/api/sites?agency=Uji Satu&limit=2&offset=0", headers=api.ana).get_json()
    assert (page["numberMatched"], page["numberReturned"]) == (3, 2)
    assert page["links"][0]["href"] == "/api/sites?agency=Uji+Satu&limit=2&offset=2"
    last = c.get(page["links"][0]["href"], headers=api.ana).get_json()
    assert last["numberReturned"] == 1 and last["links"] == []
    bad = c.get("/api/sites?limit=5000", headers=api.ana)
    assert bad.status_code == 400 and bad.get_json()["field"] == "limit"
    bad = c.get("/api/sites?status=selesai-ish", headers=api.ana)
    assert bad.status_code == 400 and bad.get_json()["field"] == "status"


def test_the_sites_layer_moved_in_on_first_use(api):
    layer = api.project.read_layer("sites")
    listed = api.client.get("/api/sites?limit=1000", headers=api.ana).get_json()
    assert listed["numberMatched"] == len(layer)
    assert {f["id"] for f in listed["features"]} == set(layer["site_id"])


def test_twenty_clients_patching_with_one_etag_one_wins(api):
    made = api.client.post("/api/sites", json=feature(), headers=api.admin)
    location, tag = made.headers["Location"], made.headers["ETag"]
    start = threading.Barrier(20)

    def client(i: int) -> int:
        own = api.app.test_client()
        start.wait()
        return own.patch(location, json={"notes": f"client {i}"},
                         headers={**api.ana, "If-Match": tag}).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(client, range(20)))
    assert sorted(statuses) == [200] + [412] * 19
    history = api.client.get(location + "/history", headers=api.ana).get_json()
    assert len(history) == 2  # the creation and the one change that won


def test_fifty_concurrent_creates_through_the_web_make_fifty_sites(api):
    def client(i: int) -> int:
        return api.app.test_client().post("/api/sites", json=feature(f"SD {i}"),
                                          headers=api.ana).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(client, range(50)))
    assert statuses == [201] * 50
    assert _count(api, "starlink") >= 50


def test_openapi_document_describes_every_route(api):
    doc = api.client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/sites", "/sites/{site_id}", "/sites/{site_id}/history",
                                 "/imports", "/imports/{import_id}",
                                 "/imports/{import_id}/commit",
                                 "/imports/{import_id}/verify"}
    schemas = doc["components"]["schemas"]
    assert schemas["Verdict"]["properties"]["decision"]["enum"] == ["verified", "rejected"]
    assert {"status_date", "status_note"} <= set(schemas["StatusChange"]["properties"])
    assert doc["paths"]["/imports/{import_id}/commit"]["post"]["responses"].keys() >= {
        "200", "404", "409"}
    assert doc["paths"]["/imports"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(doc["paths"]["/imports"]) == {"get", "post"}
    assert set(doc["paths"]["/sites/{site_id}"]) >= {"get", "patch", "delete"}
    props = doc["components"]["schemas"]["Properties"]["properties"]
    assert props["status"]["enum"][0] == "installed" and "sipd_code" in props
    assert doc["paths"]["/sites/{site_id}"]["patch"]["responses"].keys() >= {
        "200", "412", "428", "403"}
    # every $ref points at something the document holds
    import json
    import re

    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(doc))):
        node = doc
        for part in ref.split("/"):
            node = node[part]


def test_error_bodies_hold_no_traceback_or_server_path(api):
    c = api.client
    responses = [
        c.get("/api/sites/nowhere", headers=api.admin),
        c.patch("/api/sites/nowhere", json={"status": "x"},
                headers={**api.admin, "If-Match": '"nowhere-1"'}),
        c.post("/api/sites", data=b"\xff{", headers={**api.admin,
                                                      "Content-Type": "application/json"}),
        c.get("/api/sites?year=abc", headers=api.admin),
        c.get("/api/sites", headers={"Authorization": "Bearer not-a-token"}),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500
        body = response.get_data(as_text=True)
        assert "Traceback" not in body and str(api.project.path) not in body
        assert "/tmp" not in body and response.get_json()["error"]
