"""Field reports: stored once by their phone-made UUID, reviewed; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from pg import pg_cluster, pg_url, register_engine  # noqa: F401 - the fixtures

from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.registry import db
from geo_p2dd.registry.field_reports import (
    list_reports,
    reject_report,
    store_report,
    verify_report,
)


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


@pytest.fixture
def engine(register_engine):  # noqa: F811 - the fixture of tests/pg.py
    """An empty, migrated register on SQLite or a real PostgreSQL (tests/pg.py)."""
    return register_engine


def report(**extra) -> dict:
    return {"id": str(uuid.uuid4()), "village_kode": "6411012001", "lon": 114.05, "lat": 0.05,
            "operator": "Telkomsel", "technology": "lte",
            "observed_at": "2026-11-20T08:30:00+08:00",
            "note": "sinyal hilang di dermaga", **extra}


def test_a_report_is_stored_with_its_fields_normalised(engine):
    stored, created = store_report(engine, report(), "budi")
    assert created
    assert stored["village_kode"] == "64.11.01.2001"
    assert stored["technology"] == "4G"
    assert stored["status"] == "submitted"
    assert stored["reporter"] == "budi"
    assert stored["observed_at"] == "2026-11-20T00:30:00+00:00"
    assert stored["reviewed_by"] is None


def test_a_report_sent_twice_is_stored_once_and_unchanged(engine):
    first = report()
    stored, created = store_report(engine, first, "budi")
    again, created_again = store_report(engine, {**first, "note": "changed"}, "budi")
    assert created and not created_again
    assert again == stored
    assert len(list_reports(engine)) == 1


@pytest.mark.parametrize(("field", "value"), [
    ("id", "not-a-uuid"), ("lon", "x"), ("lat", 95), ("technology", "6G"),
    ("observed_at", "kemarin"), ("observed_at", "2999-01-01"), ("village_kode", "64.11"),
    ("note", "x" * 3000),
])
def test_a_bad_field_is_named(engine, field, value):
    with pytest.raises(InputError) as err:
        store_report(engine, report(**{field: value}), "budi")
    assert err.value.column == field
    assert list_reports(engine) == []


def test_reviewers_verify_and_reject(engine):
    a, _ = store_report(engine, report(), "budi")
    b, _ = store_report(engine, report(technology="none", observed_at="2026-11-21"), "sari")
    verified = verify_report(engine, a["id"], "rina")
    assert verified["status"] == "verified" and verified["reviewed_by"] == "rina"
    assert verified["reviewed_at"] is not None
    assert reject_report(engine, b["id"], "rina")["status"] == "rejected"
    assert [r["id"] for r in list_reports(engine, status="verified")] == [a["id"]]
    assert [r["id"] for r in list_reports(engine, reporter="sari")] == [b["id"]]
    assert [r["id"] for r in list_reports(engine)] == [b["id"], a["id"]]
    with pytest.raises(NotFoundError):
        verify_report(engine, str(uuid.uuid4()), "rina")
    with pytest.raises(InputError):
        list_reports(engine, status="lost")


# --- the API (token auth, Flask test client) ------------------------------------------------

@pytest.fixture
def web(sample_copy):
    """The sample project's app with tokens of an admin, an editor, a reviewer and a viewer."""
    from geo_p2dd.registry import accounts, store
    from web import create_app

    engine = db.open_database(sample_copy.path)
    tokens = {}
    for name, role in (("admin", "admin"), ("ana", "editor"), ("rina", "reviewer"),
                       ("vera", "viewer")):
        accounts.add_user(engine, name, role, agency="Diskominfo")
        tokens[name] = {"Authorization": f"Bearer {accounts.new_token(engine, name)}"}
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    yield app.test_client(), tokens
    for opened in (app.extensions.get("geo_p2dd.register"), engine):
        if opened is not None:
            opened.dispose()
    store.dispose_engines()


def test_api_stores_a_report_once_and_reviewers_review_it(web):
    client, tokens = web
    body = report()
    first = client.post("/api/reports", json=body, headers=tokens["ana"])
    assert first.status_code == 201, first.get_json()
    assert first.headers["Location"].endswith(f"/api/reports/{body['id']}")
    assert first.get_json()["reporter"] == "ana"
    again = client.post("/api/reports", json=body, headers=tokens["ana"])
    assert again.status_code == 200 and again.get_json() == first.get_json()
    listed = client.get("/api/reports", headers=tokens["vera"]).get_json()["reports"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert client.post(f"/api/reports/{body['id']}/verify",
                       headers=tokens["ana"]).status_code == 403
    verified = client.post(f"/api/reports/{body['id']}/verify", headers=tokens["rina"])
    assert verified.status_code == 200
    assert verified.get_json()["status"] == "verified"
    assert verified.get_json()["reviewed_by"] == "rina"
    rejected = client.post(f"/api/reports/{body['id']}/reject", headers=tokens["admin"])
    assert rejected.get_json()["status"] == "rejected"
    assert client.get("/api/reports?status=verified",
                      headers=tokens["vera"]).get_json()["reports"] == []


def test_api_refuses_viewers_strangers_and_bad_fields(web):
    client, tokens = web
    assert client.post("/api/reports", json=report(), headers=tokens["vera"]).status_code == 403
    assert client.post("/api/reports", json=report()).status_code == 401
    assert client.get("/api/reports").status_code == 401
    bad = client.post("/api/reports", json=report(lat="utara"), headers=tokens["rina"])
    assert bad.status_code == 400
    assert bad.get_json()["field"] == "lat"
    assert client.post(f"/api/reports/{uuid.uuid4()}/reject",
                       headers=tokens["rina"]).status_code == 404


def test_the_form_is_indonesian_and_its_service_worker_may_control_the_root(web):
    client, tokens = web
    page = client.get("/lapor", headers=tokens["ana"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Laporan lapangan" in html and "Kirim laporan" in html
    assert 'value="' in html.split('id="r-village"')[1]  # the kampung are offered
    assert "unpkg" not in html and "cdn" not in html.lower()
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["Service-Worker-Allowed"] == "/"
    assert "/lapor" in sw.get_data(as_text=True)
    assert client.get("/lapor").status_code in (302, 401)  # signed out: sign in first


def test_the_service_worker_may_fetch_this_site_and_keeps_only_the_form(web):
    client, tokens = web
    sw = client.get("/sw.js")
    policy = sw.headers["Content-Security-Policy"]
    # a worker obeys its script's policy: 'none' for fetches made its install fail
    assert "connect-src 'self'" in policy and "default-src 'none'" in policy
    body = sw.get_data(as_text=True)
    assert "__GEO_P2DD_OFFLINE__" not in body
    offline = json.loads(body.split("const OFFLINE = ", 1)[1].split(";\n", 1)[0])
    assert offline["page"] == "/lapor" and offline["villages"] == "/lapor/villages.geojson"
    assert offline["logout"] == "/auth/logout"
    assert "/static/field.js" in offline["assets"]
    assert not [u for u in offline["assets"] if u.startswith(("/api/", "/auth/", "/lapor"))]
    for url in offline["assets"]:  # each one exists (cache.addAll fails on any 404)
        got = client.get(url)
        got.close()
        assert got.status_code == 200, url
    assert offline["cache"].startswith("geo-p2dd-field-")
    # a deployed field.js (same URL, new content) makes a new worker with a new cache
    script = Path(web_static_folder()) / "field.js"
    kept = script.stat()
    try:
        os.utime(script, ns=(kept.st_atime_ns, kept.st_mtime_ns + 10**9))
        renewed = client.get("/sw.js").get_data(as_text=True)
    finally:
        os.utime(script, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert offline["cache"] not in renewed and "geo-p2dd-field-" in renewed


def web_static_folder() -> str:
    import web

    return str(Path(web.__file__).parent / "static")


def test_the_outlines_and_a_fresh_token_are_for_signed_in_users(web, sample_copy):
    client, tokens = web
    assert client.get("/lapor/villages.geojson").status_code == 401  # a script asks: no redirect
    assert client.get("/lapor/token").status_code == 401
    outlines = client.get("/lapor/villages.geojson", headers=tokens["vera"])
    assert outlines.status_code == 200
    features = outlines.get_json()["features"]
    assert sorted(f["id"] for f in features) == sorted(sample_copy.read_layer("villages")["kode"])
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    fresh = client.get("/lapor/token", headers=tokens["ana"])
    assert fresh.headers["Cache-Control"] == "no-store" and fresh.get_json()["csrf_token"]
    assert fresh.get_json()["user"] == "ana"


def test_signing_out_clears_the_phone(web):
    client, _ = web
    page = client.get("/auth/login")
    token = page.get_data(as_text=True).split('name="csrf_token" value="', 1)[1].split('"')[0]
    out = client.post("/auth/logout", data={"csrf_token": token})
    assert out.status_code == 302
    assert out.headers["Clear-Site-Data"] == '"cache", "storage"'


@pytest.mark.parametrize("status", ["verified", "submitted", "rejected"])
def test_verified_field_reports_overturn_the_model_on_the_next_analysis(sample_copy, status):
    """Two days of "Tidak ada sinyal" sent from phones at a place the model calls 4G:
    verified, they overturn it; waiting for review or rejected, they do not."""
    import warnings

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.check import check_project
    from geo_p2dd.project import Project
    from geo_p2dd.registry import store
    from geo_p2dd.registry.field_reports import review_report

    before = sample_copy.read_layer("location_results")
    served = before[(before["status"] == "served") & (before["kind"] == "settlement")
                    & (before["served_by_site"].fillna("") == "")]
    target = served.iloc[0]
    engine = store.engine_for(sample_copy.path)
    for day in ("2026-03-05", "2026-03-06"):
        stored, _ = store_report(engine, report(
            village_kode=target["village_kode"], lon=target["lon"], lat=target["lat"],
            technology="Tidak ada sinyal", observed_at=day), "ana")
        if status != "submitted":
            review_report(engine, stored["id"], status, "rina")
    # a verified report changes what the analysis weighs: its results are out of date
    assert Project(sample_copy.path).analysis_stale is (status == "verified")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyze_project(sample_copy)
    row = sample_copy.read_layer("location_results").set_index("location_id") \
        .loc[target["location_id"]]
    findings = {(f.kind, f.id) for f in check_project(sample_copy)}
    overturned = ("evidence_overturns_model", target["location_id"]) in findings
    if status == "verified":
        assert (row["evidence"], row["status"], row["best_4g"]) == ("measured", "unserved",
                                                                    "none")
        assert overturned  # geo-p2dd check says so too
    else:
        assert not overturned
        assert (row["evidence"], row["status"]) == ("modelled", "served")
    assert not Project(sample_copy.path).analysis_stale
    # rejected after all: stale again, and the next analysis follows the model
    if status == "verified":
        for stored in list_reports(engine):
            review_report(engine, stored["id"], "rejected", "admin")
        assert Project(sample_copy.path).analysis_stale
    store.dispose_engines()


def test_the_reports_read_are_the_imported_and_the_verified_once(sample_copy, tmp_path):
    """One reader: imported rows and verified register reports, with their origin; a
    register report also imported from a sheet (same id) counts once."""
    import warnings

    from geo_p2dd.imports import import_layer
    from geo_p2dd.registry import store
    from geo_p2dd.reports_layer import read_reports

    assert read_reports(sample_copy) is None  # nothing imported, nothing verified
    engine = store.engine_for(sample_copy.path)
    village = sample_copy.read_layer("villages").iloc[3]
    point = village.geometry.representative_point()
    ids = []
    for day in ("2026-03-05", "2026-03-06", "2026-03-07"):
        stored, _ = store_report(engine, report(village_kode=None, lon=point.x, lat=point.y,
                                                technology="2G", observed_at=day), "ana")
        ids.append(stored["id"])
    verify_report(engine, ids[0], "rina")
    verify_report(engine, ids[1], "rina")
    reject_report(engine, ids[2], "rina")
    sheet = tmp_path / "laporan.csv"
    sheet.write_text("report_id,kampung,lintang,bujur,jaringan,tanggal\n"
                     f"{ids[1]},{village['kode']},{point.y},{point.x},2G,06/03/2026\n"
                     f",{village['kode']},{point.y},{point.x},4G,07/03/2026\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_layer(sample_copy, "reports", sheet)
    layer = read_reports(sample_copy)
    assert len(layer) == 3 and layer["report_id"].is_unique
    assert layer.set_index("report_id")["origin"].to_dict() == {
        ids[1]: "import", ids[0]: "register",
        **{r: "import" for r in layer["report_id"] if r not in ids}}
    mine = layer.set_index("report_id").loc[ids[0]]
    assert mine["village_kode"] == village["kode"]  # from its point
    assert (mine["technology"], mine["source"], mine["reported_at"]) == \
        ("2G", "reported", "2026-03-05T00:00:00")
    assert mine["class_4g"] > 0 and mine["class_other"] > 0
    store.dispose_engines()


def test_reviewers_verify_and_reject_on_the_review_page(web, sample_copy):
    client, tokens = web
    waiting, other = report(note="di dermaga"), report(note="di sekolah")
    for body in (waiting, other):
        assert client.post("/api/reports", json=body, headers=tokens["ana"]).status_code == 201
    assert client.get("/lapor/tinjau", headers=tokens["ana"]).status_code == 403
    assert client.get("/lapor/tinjau").status_code in (302, 401)
    page = client.get("/lapor/tinjau", headers=tokens["rina"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Tinjau laporan lapangan" in html
    assert "di dermaga" in html and "di sekolah" in html and "Verifikasi" in html
    assert "64.11.01.2001" in html  # a kampung not of the project: its code
    done = client.post(f"/lapor/tinjau/{waiting['id']}/verify", headers=tokens["rina"])
    assert done.status_code == 302 and done.headers["Location"].endswith("/lapor/tinjau")
    assert client.post(f"/lapor/tinjau/{other['id']}/reject",
                       headers=tokens["admin"]).status_code == 302
    reviewed = {r["id"]: (r["status"], r["reviewed_by"]) for r in client.get(
        "/api/reports", headers=tokens["vera"]).get_json()["reports"]}
    assert reviewed == {waiting["id"]: ("verified", "rina"), other["id"]: ("rejected", "admin")}
    left = client.get("/lapor/tinjau", headers=tokens["rina"]).get_data(as_text=True)
    assert "di dermaga" not in left and "Tidak ada laporan." in left
    verified = client.get("/lapor/tinjau?status=verified",
                          headers=tokens["rina"]).get_data(as_text=True)
    assert "di dermaga" in verified and f"/lapor/tinjau/{waiting['id']}/reject" in verified
    assert f"/lapor/tinjau/{waiting['id']}/verify" not in verified
    assert client.post(f"/lapor/tinjau/{waiting['id']}/verify",
                       headers=tokens["ana"]).status_code == 403
    form = client.get("/lapor", headers=tokens["rina"]).get_data(as_text=True)
    assert 'id="field-review-link"' in form
    assert 'id="field-review-link"' not in client.get(
        "/lapor", headers=tokens["ana"]).get_data(as_text=True)


def test_a_review_form_needs_the_sessions_csrf_token(web, sample_copy):
    from geo_p2dd.registry import accounts

    client, tokens = web
    body = report()
    client.post("/api/reports", json=body, headers=tokens["ana"])
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "rosa", "reviewer", password="rahasia-123")
    engine.dispose()
    login = client.get("/auth/login").get_data(as_text=True)
    token = login.split('name="csrf_token" value="', 1)[1].split('"')[0]
    signed = client.post("/auth/login", data={"name": "rosa", "password": "rahasia-123",
                                              "csrf_token": token})
    assert signed.status_code == 302
    url = f"/lapor/tinjau/{body['id']}/verify"
    assert client.post(url).status_code == 400  # no token: refused, nothing changed
    page = client.get("/lapor/tinjau").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"')[0]
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    assert client.get(f"/api/reports/{body['id']}").get_json()["status"] == "verified"


# --- the outlines of one kabupaten ------------------------------------------------------------

def test_kabupaten_choices_and_the_region_chosen():
    import pandas as pd

    from geo_p2dd.errors import InputError
    from web.field_reports import chosen_region, kabupaten_choices

    villages = pd.DataFrame({"kode": ["64.11.01.2001", "64.11.02.2001", "64.02.01.2001",
                                      "11.01.01.2001"],
                             "kabupaten": ["Mahakam Ulu", None, None, None]})
    areas = pd.DataFrame({"level": ["kabupaten", "kecamatan"], "kode": ["64.02", "64.11.01"],
                          "nama": ["Kutai Barat", "Long Apari"]})
    choices = kabupaten_choices(villages, areas)
    assert choices == [("11.01", "11.01"), ("64.02", "Kutai Barat"),
                       ("64.11", "Mahakam Ulu")]  # by name; the code when none is known
    assert chosen_region("6411", choices) == "64.11"
    assert chosen_region("", choices) is None  # several: none until one is chosen
    assert chosen_region(None, choices[2:]) == "64.11"  # the only one
    with pytest.raises(InputError) as bad:
        chosen_region("64.03", choices)
    assert bad.value.column == "region" and "64.03" in str(bad.value)


def _two_kabupaten(project) -> list[str]:
    """Move the sample's second half of kampung into a kabupaten 99.02; their codes."""
    villages = project.read_layer("villages")
    moved = villages["kode"].iloc[len(villages) // 2:]
    villages.loc[moved.index, "kode"] = "99.02" + moved.str.slice(5)
    with project.transaction("two kabupaten") as tx:
        tx.write_layer("villages", villages)
    return sorted(villages.loc[moved.index, "kode"])


def test_outlines_are_those_of_the_chosen_kabupaten(web, sample_copy):
    client, tokens = web
    every = sorted(sample_copy.read_layer("villages")["kode"])
    one = client.get("/lapor/villages.geojson?region=99.01", headers=tokens["vera"])
    assert sorted(f["id"] for f in one.get_json()["features"]) == every  # the only one
    again = client.get("/lapor/villages.geojson?region=99.01",
                       headers={**tokens["vera"], "If-None-Match": one.headers["ETag"]})
    assert again.status_code == 304  # the same data version: the phone keeps its copy
    bad = client.get("/lapor/villages.geojson?region=64.11", headers=tokens["vera"])
    assert bad.status_code == 400 and "region" in bad.get_data(as_text=True)
    assert "r-region" not in client.get("/lapor", headers=tokens["ana"]).get_data(as_text=True)

    moved = _two_kabupaten(sample_copy)
    none = client.get("/lapor/villages.geojson", headers=tokens["vera"]).get_json()
    assert none["features"] == [] and none["choose_region"] is True
    second = client.get("/lapor/villages.geojson?region=99.02", headers=tokens["vera"])
    assert sorted(f["id"] for f in second.get_json()["features"]) == moved
    assert second.headers["ETag"] != one.headers["ETag"]
    first = client.get("/lapor/villages.geojson?region=99.01", headers=tokens["vera"])
    assert sorted(f["id"] for f in first.get_json()["features"]) == sorted(set(every) - set(
        "99.01" + k[5:] for k in moved))
    assert first.headers["ETag"] != one.headers["ETag"]  # a new data version
    html = client.get("/lapor", headers=tokens["ana"]).get_data(as_text=True)
    assert 'id="r-region"' in html and '<option value="99.02">' in html
    kampung = html.split('id="r-village"')[1].split("</select>")[0]
    assert 'data-from-map="1"' in kampung and "99.01.01" not in kampung  # from the map


def test_the_service_worker_keeps_the_chosen_kabupatens_outlines(web):
    client, _ = web

    def offline(url):
        body = client.get(url).get_data(as_text=True)
        return json.loads(body.split("const OFFLINE = ", 1)[1].split(";\n", 1)[0])

    plain, chosen = offline("/sw.js"), offline("/sw.js?region=9902")
    assert plain["villages"] == "/lapor/villages.geojson"
    assert chosen["villages"] == "/lapor/villages.geojson?region=99.02"
    assert chosen["cache"] != plain["cache"]  # another kabupaten: another worker and cache
    assert client.get("/sw.js?region=../x").status_code == 400
