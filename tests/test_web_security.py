"""Security headers, method errors and unavailable projects (web/security.py, web/errors.py)."""

from __future__ import annotations

import re
import shutil

import pytest

from web import create_app
from web.errors import without_paths
from web.security import INLINE_HANDLERS, NONCE_PLACEHOLDER, _hash
from web.tiles import lonlat_to_tile


@pytest.fixture(scope="module")
def client(sample_project):
    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True})
    return app.test_client()


def _policy(resp) -> dict[str, list[str]]:
    out = {}
    for part in resp.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _tile_url(project) -> str:
    name = project.config["analysis"]["modelled"][0]["name"]
    sites = project.read_layer("sites")
    tower = sites[sites["kind"] == "bts"].iloc[0]
    x, y = lonlat_to_tile(tower.geometry.x, tower.geometry.y, 11)
    return f"/tiles/{name}/11/{x}/{y}.png"


def test_headers_on_every_kind_of_response(client, sample_project):
    villages = sample_project.read_layer("villages")
    bbox = ",".join(str(v) for v in villages.total_bounds)
    kode = villages["kode"].iloc[0]
    urls = {"/": "text/html", f"/village/{kode}": "text/html", "/nope": "text/html",
            "/health": "application/json",
            f"/api/villages.geojson?bbox={bbox}&zoom=11": "application/geo+json",
            "/static/app.css": "text/css", "/static/map.js": "text/javascript",
            _tile_url(sample_project): "image/png"}
    for url, mimetype in urls.items():
        resp = client.get(url)
        resp.close()
        assert resp.mimetype == mimetype, url
        assert resp.headers["X-Content-Type-Options"] == "nosniff", url
        assert resp.headers["X-Frame-Options"] == "DENY", url
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", url
        policy = _policy(resp)
        assert policy["frame-ancestors"] == ["'none'"], url
        if mimetype != "text/html":
            assert policy["default-src"] == ["'none'"], url


def _inline_scripts(html: str) -> list[tuple[str, str]]:
    """(attributes, text) of the page's inline scripts (not data blocks)."""
    return re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>(.*?)</script>",
                      html, re.S)


def test_pages_allow_only_their_own_scripts_by_a_fresh_nonce(client):
    url = "/report/"
    nonces = set()
    for _ in range(2):
        resp = client.get(url)
        policy = _policy(resp)
        html = resp.get_data(as_text=True)
        assert NONCE_PLACEHOLDER not in html
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
        nonce = [v for v in policy["script-src"] if v.startswith("'nonce-")]
        assert len(nonce) == 1, url
        nonce = nonce[0][len("'nonce-"):-1]
        nonces.add(nonce)
        inline = [attrs for attrs, _text in _inline_scripts(html)]
        assert inline, url
        assert all(f'nonce="{nonce}"' in attrs for attrs in inline), (url, inline)
        assert " on" not in " ".join(re.findall(r"<[a-z]+\s[^>]*\bon[a-z]+=", html))
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert len(nonces) == 2, "a nonce is used once"


def test_kept_map_pages_allow_exactly_their_own_scripts_by_hash(client, sample_project):
    """The map pages are the same bytes on every request (their best compressed copy can
    be kept): no nonce, the policy names the hash of each inline script and nothing else."""
    kode = sample_project.read_layer("villages")["kode"].iloc[0]
    handlers = {_hash(h) for h in INLINE_HANDLERS}
    for url in ("/", f"/village/{kode}"):
        first, again = client.get(url), client.get(url)
        assert first.data == again.data, url
        html = first.get_data(as_text=True)
        policy = _policy(first)
        assert "nonce" not in first.headers["Content-Security-Policy"]
        assert "nonce=" not in html and NONCE_PLACEHOLDER not in html
        scripts = _inline_scripts(html)
        assert len(scripts) >= 3, url
        hashes = {_hash(text) for _attrs, text in scripts}
        assert set(policy["script-src"]) == {"'self'", "'unsafe-hashes'"} | handlers | hashes
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]


def test_gzipped_pages_carry_the_nonce_too(client):
    import gzip

    resp = client.get("/report/", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    html = gzip.decompress(resp.data).decode()
    nonce = re.search(r"'nonce-([^']+)'", resp.headers["Content-Security-Policy"]).group(1)
    assert f'nonce="{nonce}"' in html and NONCE_PLACEHOLDER not in html


def test_basemap_hosts_only_when_a_basemap_is_chosen(client):
    client.set_cookie("basemap", "none")
    offline = _policy(client.get("/"))["img-src"]
    client.set_cookie("basemap", "osm")
    online = _policy(client.get("/"))["img-src"]
    client.delete_cookie("basemap")
    assert offline == ["'self'", "data:"]
    assert "https://tile.openstreetmap.org" in online
    assert "https://*.basemaps.cartocdn.com" in online
    assert "https:" not in online


def test_method_not_allowed_says_what_is(client):
    for path in ("/", "/health", "/api/villages.geojson"):
        resp = client.post(path)
        assert resp.status_code == 405, path
        allowed = {m.strip() for m in resp.headers["Allow"].split(",")}
        assert "GET" in allowed and "POST" not in allowed, path


@pytest.mark.parametrize("damage", ["garbage", "missing", "no_villages"])
def test_broken_layers_file_is_503_without_server_paths(sample_project, tmp_path, damage):
    import pyogrio

    path = tmp_path / "srv" / "proyek"
    shutil.copytree(sample_project.path, path)
    gpkg = path / "layers.gpkg"
    if damage == "garbage":
        gpkg.write_bytes(b"not a geopackage\n" * 200)
    elif damage == "missing":
        gpkg.unlink()
    else:  # a valid GeoPackage that lost its villages layer
        keep = pyogrio.read_dataframe(gpkg, layer="kecamatan")
        gpkg.unlink()
        pyogrio.write_dataframe(keep, gpkg, layer="kecamatan", driver="GPKG")
    client = create_app({"PROJECT": str(path), "TESTING": True}).test_client()
    for url, json in (("/", False), ("/health", False), ("/api/villages.geojson?bbox=1,2,3,4",
                                                         True)):
        resp = client.get(url)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 503, (url, text[:300])
        assert str(tmp_path) not in text and "/srv/" not in text, text
        assert "Data proyek tidak dapat dibaca" in text
        assert "Traceback" not in text
        if json:
            assert "layers.gpkg" in resp.get_json()["detail"]
    en = client.get("/?lang=en").get_data(as_text=True)
    assert "data cannot be read right now" in en


@pytest.mark.parametrize("damage", ["bad_toml", "no_project"])
def test_library_errors_lose_the_project_path(sample_project, tmp_path, damage):
    """The library's ProjectError names the project directory; users see its name."""
    from geo_p2dd.errors import ProjectError
    from geo_p2dd.project import Project

    path = tmp_path / "srv" / "proyek"
    shutil.copytree(sample_project.path, path)
    if damage == "bad_toml":
        (path / "project.toml").write_text("[project\nname = 'x'", encoding="utf-8")
    else:
        (path / "project.toml").unlink()
    with pytest.raises(ProjectError, match=str(path)):
        Project(path)  # the library message does hold the path
    client = create_app({"PROJECT": str(path), "TESTING": True}).test_client()
    for url in ("/", "/health", "/api/villages.geojson?bbox=1,2,3,4", "/downloads/"):
        resp = client.get(url, headers={"Accept": "application/json"})
        text = resp.get_data(as_text=True)
        assert resp.status_code == 503, (url, text[:300])
        assert str(tmp_path) not in text and "/srv/" not in text, (url, text)
        assert "proyek" in resp.get_json()["detail"], url


def test_without_paths():
    msg = ("the project /srv/geo/mahulu has no sites layer; import one with 'geo-p2dd "
           "import --project /srv/geo/mahulu sites FILE'; see /var/log/geo/app.log or "
           "C:\\data\\x\\batas.gpkg, http://example.org/a/b and 1/2")
    out = without_paths(msg, "/srv/geo/mahulu", "Mahakam Ulu")
    assert out == ("the project Mahakam Ulu has no sites layer; import one with 'geo-p2dd "
                   "import --project Mahakam Ulu sites FILE'; see app.log or batas.gpkg, "
                   "http://example.org/a/b and 1/2")
    # GDAL's virtual file systems: the path inside is removed too
    assert without_paths("cannot open '/vsizip//tmp/geo_p2dd_upload_ab/x.zip': bad",
                         "/srv/geo/mahulu", "M") == "cannot open 'x.zip': bad"


# --- serve: limits and timeouts of the real server (issue 12.5) ----------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float, headers: dict | None = None):
    import urllib.request

    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


@pytest.fixture(scope="module")
def served(sample_project, tmp_path_factory):
    """``geo-p2dd serve`` in a subprocess (short channel timeout, small body limit)."""
    import os
    import subprocess
    import sys
    import time

    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    out = open(log, "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "geo_p2dd.cli", "serve", "--project", str(sample_project.path),
         "--port", str(port), "--threads", "4", "--channel-timeout", "3",
         "--max-request-body", "1000", "--trusted-proxy", "127.0.0.1",
         "--public-url", "https://peta.example.id"],
        stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(url + "/health", 2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out.close()
                pytest.fail(f"serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield url, port
    proc.terminate()
    proc.wait(10)
    out.close()


def _idle_sockets(port: int, n: int) -> list:
    """``n`` connections that never finish a request (half of them send half a request)."""
    import socket

    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    return socks


def _health_time(url: str) -> float:
    import time

    t0 = time.monotonic()
    try:
        status, _ = _get(url + "/health", 2)
    except OSError:
        return float("inf")
    return time.monotonic() - t0 if status == 200 else float("inf")


def test_health_answers_past_120_idle_sockets(served):
    url, port = served
    socks = _idle_sockets(port, 120)
    try:
        assert _health_time(url) < 2
    finally:
        for s in socks:
            s.close()


def test_waitress_defaults_would_lock_out(sample_project, live_server_factory):
    """The control: waitress's own connection limit (100) does not answer past 120 sockets."""
    server = live_server_factory(sample_project.path)
    socks = _idle_sockets(server.port, 120)
    try:
        assert _health_time(server.url) == float("inf")
    finally:
        for s in socks:
            s.close()


def test_idle_connections_are_closed_after_the_channel_timeout(served):
    import socket
    import time

    _, port = served
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    try:
        assert s.recv(1) == b""  # the server hung up
    finally:
        s.close()
    assert time.monotonic() - t0 < 8  # 3 s timeout + a 1 s cleanup tick, with slack


def test_request_body_limit(served):
    import http.client

    _, port = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/health", body=b"x" * 5000,
                 headers={"Content-Type": "application/octet-stream"})
    assert conn.getresponse().status == 413
    conn.close()


def test_behind_a_proxy_links_use_the_public_url_not_the_host_header(served):
    import json

    url, _ = served
    _, body = _get(url + "/ogcapi?f=json", 5, {"X-Forwarded-Proto": "https",
                                               "X-Forwarded-Host": "evil.example.com"})
    links = [link["href"] for link in json.loads(body)["links"]]
    assert links and all(h.startswith("https://peta.example.id/") for h in links), links


def test_server_options_defaults():
    from geo_p2dd.cli import server_options

    opts = server_options()
    assert opts["connection_limit"] > 120 and opts["channel_timeout"] <= 60
    assert opts["asyncore_use_poll"] is True
    assert "trusted_proxy" not in opts
    assert server_options(trusted_proxy="10.0.0.1")["clear_untrusted_proxy_headers"] is True


def test_inline_event_handlers_are_allowed_by_hash(client, sample_project):
    """Every inline on*="..." handler any page keeps is in its policy by hash."""
    import base64
    import hashlib
    import html as html_lib

    region = sample_project.region_code
    urls = {"/", f"/report/{region}", "/report/", "/downloads/", "/ogcapi/"}
    found = 0
    for url in sorted(urls):
        resp = client.get(url)
        if resp.mimetype != "text/html":
            continue
        script_src = _policy(resp)["script-src"]
        for code in re.findall(r'\son[a-z]+="([^"]*)"', resp.get_data(as_text=True)):
            code = html_lib.unescape(code)
            digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in script_src, (url, code)
            found += 1
    assert found, "the summary's print button is the handler this test looks at"
