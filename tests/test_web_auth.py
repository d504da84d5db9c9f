"""Sign-in, roles, CSRF, API tokens, the sign-in rate limit and `[web] public` (issue 10)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from geo_p2dd.cli import main
from geo_p2dd.registry import accounts, db
from geo_p2dd.registry.repository import create_site
from web import create_app
from web.auth import LoginLimiter

PASSWORD = "rahasia-123"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch):
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)


@pytest.fixture
def register(sample_copy):
    """The sample project's register with one user of each role (two agencies' editors)."""
    engine = db.open_database(sample_copy.path)
    accounts.add_user(engine, "admin", "admin", password=PASSWORD)
    accounts.add_user(engine, "ana", "editor", agency="Diskominfo", password=PASSWORD)
    accounts.add_user(engine, "budi", "editor", agency="Dinas Pendidikan", password=PASSWORD)
    accounts.add_user(engine, "rani", "reviewer", password=PASSWORD)
    accounts.add_user(engine, "vera", "viewer", password=PASSWORD)
    yield engine
    engine.dispose()


@pytest.fixture
def app(sample_copy, register):
    return create_app({"PROJECT": str(sample_copy.path), "TESTING": True})


def csrf_of(client, path: str = "/auth/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, name: str, password: str = PASSWORD, **extra):
    token = csrf_of(client)
    return client.post("/auth/login", data={"name": name, "password": password,
                                            "csrf_token": token, **extra}, **{})


def meta_csrf(client, path: str = "/register/") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def a_site(engine, agency: str, name: str = "SD Long Apari") -> tuple[dict, str]:
    return create_site(engine, {"kind": "starlink", "name": name, "status": "installed",
                                "lon": 114.05, "lat": 0.05, "agency": agency})


# --- sign-in -----------------------------------------------------------------------------

def test_sign_in_page_is_indonesian_first(app):
    client = app.test_client()
    text = client.get("/auth/login").get_data(as_text=True)
    assert "Masuk" in text and "Kata sandi" in text and "Nama pengguna" in text
    assert "Password" in client.get("/auth/login?lang=en").get_data(as_text=True)


def test_sign_in_sets_an_httponly_lax_session_cookie(app):
    client = app.test_client()
    response = sign_in(client, "ana")
    assert response.status_code == 302 and response.headers["Location"] == "/register/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/register/").get_data(as_text=True)
    assert "ana" in page and "Keluar" in page


def test_the_session_cookie_is_secure_over_https(app):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(
        "/auth/login", base_url="https://peta.example").get_data(as_text=True)).group(1)
    response = client.post("/auth/login", base_url="https://peta.example",
                           headers={"Referer": "https://peta.example/auth/login"},
                           data={"name": "ana", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_is_refused(app):
    client = app.test_client()
    response = sign_in(client, "ana", "salah-sekali")
    assert response.status_code == 401
    assert "Nama atau kata sandi salah" in response.get_data(as_text=True)
    assert client.get("/register/").status_code == 302  # still not signed in


def test_sign_in_is_rate_limited_per_name_and_address(app):
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "ana", "salah-sekali").status_code == 401
    blocked = sign_in(client, "ana")  # even the right password waits now
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    assert "Terlalu banyak" in blocked.get_data(as_text=True)
    # another address, and another name, are not blocked
    other = app.test_client()
    token = csrf_of(other)
    assert other.post("/auth/login", environ_base={"REMOTE_ADDR": "10.0.0.9"},
                      data={"name": "ana", "password": PASSWORD,
                            "csrf_token": token}).status_code == 302
    assert sign_in(app.test_client(), "budi").status_code == 302


def test_the_limiter_forgets_after_its_window():
    now = [1000.0]
    limiter = LoginLimiter(max_failures=2, window_s=60, clock=lambda: now[0])
    limiter.failed("Ana", "1.2.3.4")
    assert limiter.retry_after("ana", "1.2.3.4") == 0
    limiter.failed("ana", "1.2.3.4")
    assert limiter.retry_after("ANA", "1.2.3.4") == 60
    now[0] += 30
    assert limiter.retry_after("ana", "1.2.3.4") == 30
    now[0] += 31
    assert limiter.retry_after("ana", "1.2.3.4") == 0
    limiter.failed("ana", "1.2.3.4")
    limiter.failed("ana", "1.2.3.4")
    limiter.succeeded("ana", "1.2.3.4")
    assert limiter.retry_after("ana", "1.2.3.4") == 0


def test_one_address_trying_many_names_is_limited_too():
    limiter = LoginLimiter(max_failures=2, window_s=60, clock=lambda: 0.0, address_factor=3)
    for i in range(5):
        limiter.failed(f"name{i}", "1.2.3.4")
    assert limiter.retry_after("someone", "1.2.3.4") == 0
    limiter.failed("name5", "1.2.3.4")
    assert limiter.retry_after("someone", "1.2.3.4") == 60
    assert limiter.retry_after("someone", "5.6.7.8") == 0


def test_sign_in_only_redirects_to_this_site(app):
    for target, expected in (("/register/?status=planned", "/register/?status=planned"),
                             ("//evil.example/x", "/register/"),
                             ("https://evil.example/", "/register/")):
        response = sign_in(app.test_client(), "ana", next=target)
        assert response.headers["Location"] == expected


def test_sign_out_ends_the_session(app):
    client = app.test_client()
    sign_in(client, "ana")
    token = meta_csrf(client)
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/register/").status_code == 302


def test_a_disabled_user_is_signed_out_and_their_token_stops(app, register):
    client = app.test_client()
    sign_in(client, "ana")
    token = accounts.new_token(register, "ana")
    assert client.get("/register/").status_code == 200
    accounts.disable_user(register, "ana")
    assert client.get("/register/").status_code == 302
    api = app.test_client().get("/api/sites", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401 and "token" in api.get_json()["error"].lower()
    assert sign_in(app.test_client(), "ana").status_code == 401


# --- CSRF --------------------------------------------------------------------------------

def test_a_form_post_without_the_csrf_token_fails(app):
    client = app.test_client()
    response = client.post("/auth/login", data={"name": "ana", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/register/").status_code == 302  # not signed in
    sign_in(client, "ana")
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/register/").status_code == 200  # still signed in


def test_session_json_writes_need_the_csrf_header_token_writes_do_not(app, register):
    body = {"kind": "wifi", "name": "Wi-Fi balai", "status": "planned", "lon": 114.1,
            "lat": 0.1}
    client = app.test_client()
    sign_in(client, "ana")
    assert client.post("/api/sites", json=body).status_code == 400
    assert client.post("/api/sites", json=body,
                       headers={"X-CSRFToken": "forged"}).status_code == 400
    made = client.post("/api/sites", json=body, headers={"X-CSRFToken": meta_csrf(client)})
    assert made.status_code == 201
    history = client.get(made.headers["Location"] + "/history").get_json()
    assert (history[0]["user"], history[0]["source"]) == ("ana", "web")
    token = accounts.new_token(register, "ana")
    by_token = app.test_client().post("/api/sites", json={**body, "name": "Wi-Fi 2"},
                                      headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 201
    assert "Set-Cookie" not in by_token.headers  # a token request makes no session
    history = client.get(by_token.headers["Location"] + "/history").get_json()
    assert (history[0]["user"], history[0]["source"]) == ("ana", "api")


def test_unknown_urls_and_methods_stay_404_and_405(app):
    client = app.test_client()
    assert client.post("/").status_code == 405
    assert client.post("/nowhere").status_code == 404


# --- roles -------------------------------------------------------------------------------

def test_anonymous_api_is_401_and_pages_go_to_sign_in(app):
    client = app.test_client()
    response = client.get("/api/sites")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]
    page = client.get("/register/?status=planned")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/auth/login?next=")


@pytest.mark.parametrize("who", ["rani", "vera"])
def test_readers_read_but_may_not_write(app, register, who):
    site, tag = a_site(register, "Diskominfo")
    token = accounts.new_token(register, who)
    auth = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get(f"/api/sites/{site['id']}", headers=auth).status_code == 200
    refused = client.patch(f"/api/sites/{site['id']}", json={"status": "damaged"},
                           headers={**auth, "If-Match": tag})
    assert refused.status_code == 403
    assert "editor" in refused.get_json()["error"]
    assert client.post("/api/sites", json={"kind": "wifi", "name": "x", "status": "planned",
                                           "lon": 114, "lat": 0}, headers=auth).status_code == 403
    web = app.test_client()
    sign_in(web, who)
    assert web.get("/register/").status_code == 200
    assert web.get("/register/new").status_code == 403


def test_an_editor_changes_only_their_agencys_records(app, register):
    own, own_tag = a_site(register, "Diskominfo", "SD A")
    other, other_tag = a_site(register, "Dinas Pendidikan", "SD B")
    auth = {"Authorization": f"Bearer {accounts.new_token(register, 'ana')}"}
    client = app.test_client()
    refused = client.patch(f"/api/sites/{other['id']}", json={"status": "damaged"},
                           headers={**auth, "If-Match": other_tag})
    assert refused.status_code == 403
    message = refused.get_json()["error"]
    assert "Diskominfo" in message and "Dinas Pendidikan" in message
    assert client.delete(f"/api/sites/{other['id']}",
                         headers={**auth, "If-Match": other_tag}).status_code == 403
    # nor may they hand their own record to another agency, or create one for it
    moved = client.patch(f"/api/sites/{own['id']}", json={"agency": "Dinas Pendidikan"},
                         headers={**auth, "If-Match": own_tag})
    assert moved.status_code == 403
    assert client.post("/api/sites", headers=auth, json={
        "kind": "wifi", "name": "x", "status": "planned", "lon": 114, "lat": 0,
        "agency": "Dinas Pendidikan"}).status_code == 403
    ok = client.patch(f"/api/sites/{own['id']}", json={"status": "damaged"},
                      headers={**auth, "If-Match": own_tag})
    assert ok.status_code == 200
    # an editor's new record is their agency's without saying so
    made = client.post("/api/sites", headers=auth, json={
        "kind": "wifi", "name": "Wi-Fi", "status": "planned", "lon": 114, "lat": 0})
    assert made.get_json()["properties"]["agency"] == "Diskominfo"
    admin = {"Authorization": f"Bearer {accounts.new_token(register, 'admin')}"}
    assert client.patch(f"/api/sites/{other['id']}", json={"status": "damaged"},
                        headers={**admin, "If-Match": other_tag}).status_code == 200


def test_editors_see_edit_buttons_only_on_their_rows(app, register):
    own, _ = a_site(register, "Diskominfo", "SD A")
    other, _ = a_site(register, "Dinas Pendidikan", "SD B")
    client = app.test_client()
    sign_in(client, "ana")
    page = client.get("/register/?kind=starlink").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-id="([^"]+)">(.*?)</tr>', page, re.S))
    assert 'class="edit"' in rows[own["id"]]
    assert 'class="edit"' not in rows[other["id"]]
    assert client.get(f"/register/{other['id']}/edit").status_code == 403


# --- public or not -----------------------------------------------------------------------

def test_public_by_default(app):
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/downloads/").status_code == 200
    assert "Masuk" in client.get("/").get_data(as_text=True)


def test_a_private_project_needs_sign_in_for_maps_downloads_ogc_and_summaries(
        sample_copy, register):
    with sample_copy.transaction("private") as tx:
        tx.config.setdefault("web", {})["public"] = False
    app = create_app({"PROJECT": str(sample_copy.path), "TESTING": True})
    client = app.test_client()
    for path in ("/", "/downloads/", "/report/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/auth/login")
    assert client.get("/ogcapi/collections").status_code == 401
    assert client.get("/api/villages.geojson?bbox=0,0,1,1").status_code == 401
    assert client.get("/health").status_code == 200
    sign_in(client, "vera")
    for path in ("/", "/downloads/", "/ogcapi/collections"):
        assert client.get(path).status_code == 200, path
    with sample_copy.transaction("public again") as tx:
        tx.config["web"]["public"] = True
    assert app.test_client().get("/downloads/").status_code == 200  # the change is seen


def test_cached_map_pages_carry_each_visitors_own_links(app):
    signed = app.test_client()
    sign_in(signed, "ana")
    page = signed.get("/")
    mine = page.get_data(as_text=True)
    assert "Keluar" in mine and 'name="csrf-token"' in mine
    assert page.headers["Cache-Control"] == "private, no-cache"  # an edit is seen at once
    theirs = app.test_client().get("/")  # the same cached page, another visitor
    assert theirs.headers["Cache-Control"] == "private, max-age=86400"
    text = theirs.get_data(as_text=True)
    assert "ana" not in re.findall(r'class="who"[^>]*>([^<]*)', text)
    assert "signout" not in text and 'name="csrf-token"' not in text and "Masuk" in text
    assert "Set-Cookie" not in theirs.headers


# --- the command line --------------------------------------------------------------------

def test_user_commands(app, sample_copy):
    runner = CliRunner()
    project = ["--project", str(sample_copy.path)]
    added = runner.invoke(main, ["user", "add", *project, "dewi", "--role", "editor",
                                 "--agency", "Bappeda", "--password-stdin"],
                          input="kata-sandi-dewi\n")
    assert added.exit_code == 0, added.output
    assert "dewi" in added.output and "Bappeda" in added.output
    no_agency = runner.invoke(main, ["user", "add", *project, "eko", "--role", "editor"])
    assert no_agency.exit_code == 1 and "agency" in no_agency.output
    listed = runner.invoke(main, ["user", "list", *project])
    assert "dewi\teditor\tBappeda\tactive" in listed.output
    made = runner.invoke(main, ["user", "token", *project, "dewi"])
    assert made.exit_code == 0
    token = made.output.strip().splitlines()[-1]
    engine = db.open_database(sample_copy.path)
    with engine.connect() as conn:  # stored hashed only
        stored = conn.exec_driver_sql("SELECT token_sha256 FROM api_tokens").scalars().all()
    engine.dispose()
    assert token not in stored and accounts.token_digest(token) in stored
    auth = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/sites", headers=auth).status_code == 200
    assert sign_in(app.test_client(), "dewi", "kata-sandi-dewi").status_code == 302
    assert runner.invoke(main, ["user", "disable", *project, "dewi"]).exit_code == 0
    assert app.test_client().get("/api/sites", headers=auth).status_code == 401
    assert "dewi\teditor\tBappeda\tdisabled" in runner.invoke(
        main, ["user", "list", *project]).output
    unknown = runner.invoke(main, ["user", "disable", *project, "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output


# --- the register pages ------------------------------------------------------------------

def form_csrf(client, path: str) -> str:
    return csrf_of(client, path)


def inside(project, index: int) -> tuple[str, float, float]:
    village = project.read_layer("villages").iloc[index]
    point = village.geometry.representative_point()
    return village["kode"], point.x, point.y


def test_the_form_adds_a_site_with_the_kampung_from_its_point(app, sample_copy, register):
    kode, lon, lat = inside(sample_copy, 2)
    client = app.test_client()
    sign_in(client, "ana")
    form = client.get("/register/new").get_data(as_text=True)
    assert 'id="site-map"' in form and "vendor/leaflet/leaflet.js" in form
    response = client.post("/register/new", data={
        "csrf_token": form_csrf(client, "/register/new"), "kind": "wifi",
        "name": "Wi-Fi Balai", "status": "planned", "village_kode": "", "agency": "",
        "year": "2025", "lon": str(lon), "lat": str(lat)})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Wi-Fi Balai" in page and kode in page and "Diskominfo" in page
    from geo_p2dd.registry.repository import SiteFilter, list_sites

    [site] = [s for s in list_sites(register, SiteFilter(kind="wifi", village_kode=kode,
                                                          agency="Diskominfo"))
              if s["name"] == "Wi-Fi Balai"]
    assert site["status"] == "planned" and site["year"] == 2025


def test_a_point_outside_the_chosen_kampung_is_warned(app, sample_copy):
    _, lon, lat = inside(sample_copy, 2)
    other, _, _ = inside(sample_copy, 9)
    client = app.test_client()
    sign_in(client, "ana")
    response = client.post("/register/new", follow_redirects=True, data={
        "csrf_token": form_csrf(client, "/register/new"), "kind": "wifi", "name": "Wi-Fi X",
        "status": "planned", "village_kode": other, "lon": str(lon), "lat": str(lat)})
    assert response.status_code == 200
    assert "di luar kampung yang dipilih" in response.get_data(as_text=True)


def test_a_bad_form_value_is_named_and_nothing_is_stored(app, register):
    client = app.test_client()
    sign_in(client, "ana")
    response = client.post("/register/new", data={
        "csrf_token": form_csrf(client, "/register/new"), "kind": "wifi", "name": "Wi-Fi Y",
        "status": "planned", "sipd_code": "2.16.2", "lon": "114.1", "lat": "0.1"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "<strong>sipd_code</strong>" in text and 'class="invalid"' in text
    assert 'value="Wi-Fi Y"' in text  # what was typed is kept
    from geo_p2dd.registry.repository import list_sites

    assert "Wi-Fi Y" not in {s["name"] for s in list_sites(register)}


def test_an_edit_based_on_an_old_version_is_refused_not_overwriting(app, register):
    site, tag = a_site(register, "Diskominfo", "SD A")
    client = app.test_client()
    sign_in(client, "ana")
    token = form_csrf(client, f"/register/{site['id']}/edit")
    from geo_p2dd.registry.repository import get_site, patch_site

    patch_site(register, site["id"], {"notes": "dari lapangan"}, tag, user="budi")
    response = client.post(f"/register/{site['id']}/edit", data={
        "csrf_token": token, "etag": tag, "kind": "starlink", "name": "SD A baru",
        "status": "damaged", "lon": "114.05", "lat": "0.05", "agency": "Diskominfo"})
    assert response.status_code == 412
    assert "Orang lain mengubah" in response.get_data(as_text=True)
    now, _ = get_site(register, site["id"])
    assert (now["name"], now["notes"], now["status"]) == ("SD A", "dari lapangan", "installed")


def test_delete_from_the_site_page(app, register):
    site, tag = a_site(register, "Diskominfo", "SD A")
    client = app.test_client()
    sign_in(client, "ana")
    token = form_csrf(client, f"/register/{site['id']}/edit")
    response = client.post(f"/register/{site['id']}/delete",
                           data={"csrf_token": token, "etag": tag})
    assert response.status_code == 302
    assert f'data-id="{site["id"]}"' not in client.get("/register/").get_data(as_text=True)
    page = client.get(f"/register/{site['id']}").get_data(as_text=True)
    assert "telah dihapus" in page and "deleted_at" in page


def test_register_filters_and_pages(app, sample_copy, monkeypatch):
    from web import register_pages

    monkeypatch.setattr(register_pages, "PAGE_SIZE", 10)
    layer = sample_copy.read_layer("sites")
    client = app.test_client()
    sign_in(client, "vera")
    first = client.get("/register/").get_data(as_text=True)
    assert first.count("<tr data-id=") == 10
    pages = -(-len(layer) // 10)
    assert f"Halaman 1 dari {pages}" in first and 'rel="next"' in first
    assert 'class="edit"' not in first  # a viewer edits nothing
    kecamatan = layer["village_kode"].dropna().iloc[0][:8]
    filtered = client.get(f"/register/?kecamatan={kecamatan}&status=installed")
    expected = layer[layer["village_kode"].fillna("").str.startswith(kecamatan + ".")
                     & (layer["status"] == "installed")]
    assert filtered.get_data(as_text=True).count("<tr data-id=") == min(10, len(expected))


def test_the_session_key_is_made_once_in_the_project(sample_copy):
    from web.auth import SECRET_FILE, project_secret

    key = project_secret(sample_copy.path)
    assert len(key) >= 40 and project_secret(sample_copy.path) == key
    assert (sample_copy.path / SECRET_FILE).stat().st_mode & 0o077 == 0
    # a project the server cannot write to still serves (a key for this process)
    app = create_app({"PROJECT": str(sample_copy.path / "nowhere"), "TESTING": True})
    assert app.config["SECRET_KEY"] and app.config["SECRET_KEY"] != key


def test_a_kept_map_page_is_not_revalidated_across_sign_in_and_out(app):
    """Map pages answer 304 to a browser that kept them; the copy kept while signed out
    has no user links or CSRF token, so signing in (or out) must give a fresh page."""
    client = app.test_client()
    anonymous = client.get("/")
    tag = anonymous.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": tag}).status_code == 304
    sign_in(client, "ana")
    fresh = client.get("/", headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and 'name="csrf-token"' in fresh.get_data(as_text=True)
    mine = fresh.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": mine}).status_code == 304
    client.post("/auth/logout", data={"csrf_token": meta_csrf(client, "/register/")})
    after = client.get("/", headers={"If-None-Match": mine})
    assert after.status_code == 200 and 'name="csrf-token"' not in after.get_data(as_text=True)
