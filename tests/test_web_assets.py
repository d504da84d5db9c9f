"""Bundled, versioned assets and revalidated map pages (issue 13, satellite links)."""

from __future__ import annotations

import gzip
import re
from urllib.parse import urljoin

import pytest

from web import assets, create_app

TAGS = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="(/[^"]+)"')


@pytest.fixture(scope="module")
def client(sample_project):
    return create_app({"PROJECT": str(sample_project.path), "TESTING": True}).test_client()


@pytest.fixture(scope="module")
def unbundled(sample_project):
    return create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                       "BUNDLE_ASSETS": False}).test_client()


def _urls(html: str) -> list[str]:
    return [u for u in TAGS.findall(html) if not u.startswith("data:")]


def test_bundle_names_carry_a_hash_of_their_content(tmp_path):
    (tmp_path / "app.css").write_text("body { color: red }\n")
    (tmp_path / "map.js").write_text("var a = 1;\n")
    first = assets.build_bundles(tmp_path)
    assert re.fullmatch(r"app-[0-9a-f]{12}\.css", first["app.css"].filename)
    assert "map.css" not in first  # its vendor files are missing: not built
    (tmp_path / "map.js").write_text("var a = 2;\n")
    second = assets.build_bundles(tmp_path)
    assert second["app.css"].filename == first["app.css"].filename
    assert second["map.js"].filename != first["map.js"].filename
    assert gzip.decompress(second["map.js"].gzipped) == second["map.js"].body


def test_stylesheet_images_are_inlined_or_point_at_the_vendor_copy(tmp_path):
    (tmp_path / "vendor" / "x" / "images").mkdir(parents=True)
    (tmp_path / "vendor" / "x" / "small.svg").write_text("<svg/>")
    (tmp_path / "vendor" / "x" / "images" / "big.png").write_bytes(b"\0" * 5000)
    css = ".a{background:url('small.svg')} .b{background:url(images/big.png)} " \
          ".c{behavior:url(#default#VML)}"
    out = assets._css_urls(css, "vendor/x/style.css", tmp_path)
    assert 'url("data:image/svg+xml;base64,' in out
    assert 'url("../static/vendor/x/images/big.png")' in out
    assert "url(#default#VML)" in out


def test_map_page_loads_few_versioned_files(client):
    html = client.get("/").get_data(as_text=True)
    urls = _urls(html)
    assert all(u.startswith("/assets/") for u in urls), urls
    assert len(urls) <= 3  # one stylesheet, leaflet (+ fullscreen), our script
    assert "/static/vendor/" not in html
    assert re.search(r'<script src="/assets/map-[0-9a-f]{12}\.js" defer>', html)


def test_versioned_files_are_cached_as_immutable(client):
    html = client.get("/").get_data(as_text=True)
    for url in _urls(html):
        resp = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["Content-Encoding"] == "gzip"
        again = client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status_code == 304
    assert client.get("/assets/map-000000000000.js").status_code == 404


def test_bundled_stylesheet_images_are_served(client):
    html = client.get("/").get_data(as_text=True)
    css_url = next(u for u in _urls(html) if u.endswith(".css"))
    css = client.get(css_url).get_data(as_text=True)
    images = re.findall(r'url\("(\.\./static/[^"]+)"\)', css)
    assert images  # Leaflet's control images stay files
    for rel in images:
        url = urljoin(css_url, rel)
        assert url.startswith("/static/vendor/")
        with client.get(url) as resp:
            assert resp.status_code == 200, url
    assert "icon-fullscreen.svg" not in css  # small: inlined


def test_unbundled_switch_loads_the_separate_files(unbundled):
    html = unbundled.get("/").get_data(as_text=True)
    urls = _urls(html)
    assert "/static/vendor/leaflet/leaflet.js" in urls and "/static/map.js" in urls
    assert not any(u.startswith("/assets/") for u in urls)


def test_map_page_is_revalidated_not_sent_again(client, sample_project):
    first = client.get("/")
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get("/", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    # the stored page's policy (with its nonce) stays: a 304 must not bring a new one
    assert "Content-Security-Policy" not in again.headers
    assert client.get("/?lang=en", headers={"If-None-Match": tag}).status_code == 200
    kode = sample_project.read_table("village_results")["kode"].iloc[0]
    page = client.get(f"/village/{kode}")
    assert client.get(f"/village/{kode}", headers={
        "If-None-Match": page.headers["ETag"]}).status_code == 304


@pytest.mark.browser
def test_map_over_the_network_first_and_repeat_visit(sample_server, browser):
    """First visit: the page and three versioned files, immutable; repeat visit: those
    from the browser's cache, the page revalidated (no body), and the map still works
    (its scripts run under the kept policy)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "basemap", "value": "none", "url": sample_server.url}])
    entries = """() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).filter(e => !e.name.includes('/tiles/'))
        .map(e => ({url: e.name, sent: e.transferSize, size: e.decodedBodySize}))"""
    try:
        seen = []
        for _visit in range(2):
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("console", lambda m, errors=errors: errors.append(m.text)
                    if m.type == "error" else None)
            headers = {}
            page.on("response", lambda r, headers=headers: headers.__setitem__(
                r.url, r.headers))
            page.goto(sample_server.url + "/", wait_until="networkidle")
            page.wait_for_function("() => window.geoP2DD && window.geoP2DD.villagesReady")
            assert page.evaluate("() => Object.keys(window.geoP2DD.villages).length") > 0
            assert errors == []
            seen.append((page.evaluate(entries), headers))
            page.close()
        (first, first_headers), (repeat, _) = seen
        assert len(first) <= 4, [e["url"] for e in first]
        versioned = [e["url"] for e in first if "/assets/" in e["url"]]
        assert len(versioned) == 3
        for url in versioned:
            assert first_headers[url]["cache-control"] == \
                "public, max-age=31536000, immutable"
        assert len(repeat) == len(first)
        page_entry, *files = repeat
        assert all(e["sent"] == 0 for e in files), files  # from the cache, not asked
        assert page_entry["size"] > 10_000 and page_entry["sent"] < 2_000  # a 304
    finally:
        context.close()
