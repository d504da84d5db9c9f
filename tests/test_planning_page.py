"""The Planning page (/rencana) and the API it uses: rename, compare, a plan saved as a
scenario, and a plan's sites proposed to the register (usulan) by editors and admins only."""

from __future__ import annotations

import time

import pytest

from geo_p2dd.analysis import analyze_project
from geo_p2dd.project import Project
from geo_p2dd.registry import accounts, db
from geo_p2dd.registry import repository as repo


@pytest.fixture
def web_app(sample_copy, monkeypatch):
    from web import create_app

    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    engine = db.open_database(sample_copy.path)
    yield app, engine
    engine.dispose()


def _client(app, engine, name: str, role: str = "viewer", agency: str | None = None):
    accounts.add_user(engine, name, role, agency=agency, password="kata-sandi-123")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {accounts.new_token(engine, name)}"
    return client


def _finished(client, body: dict) -> tuple[str, dict]:
    job = client.post("/api/plans", json=body).get_json()["id"]
    deadline = time.monotonic() + 120
    while True:
        doc = client.get(f"/api/plans/{job}").get_json()
        if doc["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert doc["status"] == "done", doc
    return job, doc["plan"]


def test_the_page_needs_sign_in_and_speaks_indonesian(web_app):
    app, engine = web_app
    r = app.test_client().get("/rencana")
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]
    andi = _client(app, engine, "andi")
    r = andi.get("/rencana")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for text in ("Rencana", "Sekarang → skenario", "Penduduk baru terlayani",
                 "Bandingkan skenario", "Jalankan rencana", "Simpan sebagai skenario"):
        assert text in html, text
    assert 'id="planning-map"' in html and "planning.js" in html
    # a viewer sees why there is no "propose" button
    assert 'id="plan-propose"' not in html and "Hanya editor" in html
    english = andi.get("/rencana?lang=en").get_data(as_text=True)
    assert "Now → scenario" in english and "Run the plan" in english
    editor = _client(app, engine, "eka", "editor", agency="Diskominfo")
    assert 'id="plan-propose"' in editor.get("/rencana").get_data(as_text=True)


def test_rename_and_compare(web_app, sample_copy):
    app, engine = web_app
    andi, budi = _client(app, engine, "andi"), _client(app, engine, "budi")
    a = andi.post("/api/scenarios", json={"name": "Satu"}).get_json()["id"]
    b = andi.post("/api/scenarios", json={"name": "Dua"}).get_json()["id"]
    assert andi.patch(f"/api/scenarios/{a}", json={"name": "Satu Starlink"}
                      ).get_json()["name"] == "Satu Starlink"
    assert andi.patch(f"/api/scenarios/{a}", json={"name": "  "}).status_code == 400
    assert budi.patch(f"/api/scenarios/{a}", json={"name": "Punya Budi"}).status_code == 403
    loc = sample_copy.read_table("location_results")
    target = loc[(loc["status_planned"] != "served") & (loc["kind"] == "settlement")
                 & (loc["people"] > 0)].iloc[0]
    andi.post(f"/api/scenarios/{a}/sites",
              json={"kind": "starlink", "lon": float(target["lon"]), "lat": float(target["lat"])})
    rows = andi.get(f"/api/scenarios/compare?ids={a},{b}").get_json()["scenarios"]
    assert [r["name"] for r in rows] == ["Satu Starlink", "Dua"]
    assert rows[0]["people_newly_served"] > 0 and rows[1]["people_newly_served"] == 0
    assert rows[0]["cost_per_person_idr"] == round(rows[0]["cost_idr"]
                                                   / rows[0]["people_newly_served"])
    assert {"facilities_newly_served", "villages_changing_class"} <= set(rows[0])
    assert andi.get("/api/scenarios/compare?ids=x").status_code == 400


def test_a_plan_saved_as_a_scenario(web_app):
    app, engine = web_app
    andi = _client(app, engine, "andi")
    job, plan = _finished(andi, {"max_sites": 2, "technologies": "starlink,wifi"})
    assert {"rank", "village", "cost_per_person_idr"} <= set(plan["sites"][0])
    first = plan["sites"][0]["candidate_id"]
    r = andi.post(f"/api/plans/{job}/scenario", json={"name": "Dari rencana",
                                                      "candidate_ids": [first]})
    assert r.status_code == 201
    got = andi.get(f"/api/scenarios/{r.get_json()['id']}").get_json()
    assert got["name"] == "Dari rencana" and len(got["sites"]) == 1
    assert got["summary"]["people_newly_served"] == pytest.approx(
        plan["sites"][0]["people_new"], abs=0.05)
    assert andi.post(f"/api/plans/{job}/scenario",
                     json={"candidate_ids": ["nope"]}).status_code == 400


def test_propose_adds_usulan_sites_counted_in_proposals_never_now(web_app, sample_copy):
    app, engine = web_app
    viewer = _client(app, engine, "vina")
    job, plan = _finished(viewer, {"max_sites": 2, "technologies": "starlink,wifi"})
    ids = [s["candidate_id"] for s in plan["sites"]]
    r = viewer.post(f"/api/plans/{job}/propose", json={"candidate_ids": ids})
    assert r.status_code == 403 and "viewer" in r.get_json()["error"]
    before = Project(sample_copy.path).read_table("location_results").set_index("location_id")

    editor = _client(app, engine, "eka", "editor", agency="Diskominfo")
    # another user's plan is theirs: neither seen, saved nor proposed by someone else
    assert editor.get(f"/api/plans/{job}").status_code == 403
    assert editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": ids}
                       ).status_code == 403
    assert editor.post(f"/api/plans/{job}/scenario", json={}).status_code == 403
    job, plan = _finished(editor, {"max_sites": 2, "technologies": "starlink,wifi"})
    ids = [s["candidate_id"] for s in plan["sites"]]
    assert editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": ["x"]}
                       ).status_code == 400
    r = editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": ids})
    assert r.status_code == 201, r.get_json()
    made = r.get_json()["site_ids"]
    assert len(made) == 2
    for site_id in made:
        site, _etag = repo.get_site(engine, site_id)
        assert site["status"] == "proposed" and site["agency"] == "Diskominfo"
        first = repo.history(engine, site_id)[0]  # oldest first: the creation
        assert first["source"] == "plan" and first["user"] == "eka"
    # proposed once: a second call (a double click) adds nothing
    again = editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": ids})
    assert again.status_code == 409
    status = editor.get(f"/api/plans/{job}")
    assert status.status_code == 200
    assert status.get_json()["proposed"] == dict(zip(map(str, ids), made, strict=True))
    assert repo.count_sites(engine) == len(repo.list_sites(engine))
    assert sum(s["status"] == "proposed" and s["id"] in made
               for s in repo.list_sites(engine)) == 2
    assert not [s for s in repo.list_sites(engine) if s["id"].endswith("-2")
                and s["id"][:-2] in made]

    # the next analysis counts them in the proposals view, never in "now"
    fresh = Project(sample_copy.path)
    analyze_project(fresh)
    after = Project(sample_copy.path).read_table("location_results").set_index("location_id")
    after = after.loc[before.index]
    assert (after["status"] == before["status"]).all()
    assert (after["status_planned"] == before["status_planned"]).all()
    gained = (after["status_proposed"] == "served") & (before["status_proposed"] != "served")
    assert gained.sum() > 0
    vil = fresh.read_table("village_results")
    assert vil["people_unserved_proposed"].sum() < vil["people_unserved_planned"].sum() or \
        (vil["gap_class_proposed"] != vil["gap_class_planned"]).any()


def test_a_region_has_its_own_whatif_and_page(web_app, sample_copy):
    """``?region=`` plans one kabupaten/kecamatan of a large project with its own baseline."""
    app, engine = web_app
    andi = _client(app, engine, "andi")
    vil = sample_copy.read_table("village_results")
    region = vil["kode"].iloc[0][:8]  # a kecamatan of the sample
    inside = vil["kode"].str.startswith(region)
    assert 0 < inside.sum() < len(vil)
    loc = sample_copy.read_table("location_results")
    target = loc[(loc["status_planned"] != "served") & (loc["kind"] == "settlement")
                 & loc["village_kode"].str.startswith(region)].iloc[0]
    sid = andi.post("/api/scenarios", json={"name": "Satu kecamatan"}).get_json()["id"]
    site = {"kind": "starlink", "lon": float(target["lon"]), "lat": float(target["lat"])}
    r = andi.post(f"/api/scenarios/{sid}/sites?region={region}", json=site)
    assert r.status_code == 201
    regional = r.get_json()
    assert set(regional["villages"]) == set(vil.loc[inside, "kode"])
    whole = andi.get(f"/api/scenarios/{sid}").get_json()["summary"]
    assert set(whole["villages"]) == set(vil["kode"])
    assert regional["people_newly_served"] == pytest.approx(whole["people_newly_served"])
    assert andi.get(f"/api/scenarios/{sid}?region=77").status_code == 404
    html = andi.get(f"/rencana?region={region}").get_data(as_text=True)
    assert f'data-region="{region}"' in html
    # a project of several kabupaten offers them (a national project plans one at a time)
    from web.planning_page import _kabupaten

    villages = sample_copy.read_layer("villages")
    assert _kabupaten(villages) == []  # the sample is one kabupaten
    two = villages.assign(kode=[("88.02" if i % 2 else "88.01") + k[5:]
                                for i, k in enumerate(villages["kode"])])
    assert [c for c, _ in _kabupaten(two)] == ["88.01", "88.02"]
    assert andi.get("/rencana?region=77").status_code == 404


def test_a_plans_sites_may_be_proposed_in_parts_each_once(web_app):
    app, engine = web_app
    editor = _client(app, engine, "eka", "editor", agency="Diskominfo")
    job, plan = _finished(editor, {"max_sites": 2, "technologies": "starlink,wifi"})
    first, second = (s["candidate_id"] for s in plan["sites"])
    assert editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": [first]}
                       ).status_code == 201
    assert editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": [second]}
                       ).status_code == 201
    again = editor.post(f"/api/plans/{job}/propose", json={"candidate_ids": [second, first]})
    assert again.status_code == 409
    assert len([s for s in repo.list_sites(engine) if s["status"] == "proposed"
                and s["agency"] == "Diskominfo" and "rencana" in (s.get("notes") or "")]) == 2
