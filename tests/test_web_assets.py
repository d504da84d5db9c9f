"""Bundled, versioned assets and revalidated map pages (issue 13, satellite links)."""

from __future__ import annotations

import gzip
import json
import re
from urllib.parse import urljoin

import pytest

from web import assets, compression, create_app
from web.security import _hash

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


def test_apps_of_one_process_build_the_bundles_once_until_a_file_changes(tmp_path):
    import os

    (tmp_path / "app.css").write_text("body { color: red }\n")
    (tmp_path / "map.js").write_text("var a = 1;\n")
    first = assets._built_bundles(tmp_path)
    assert assets._built_bundles(tmp_path) is first  # not built (and compressed) again
    (tmp_path / "map.js").write_text("var a = 22;\n")  # another size and time: rebuilt
    os.utime(tmp_path / "map.js", ns=(1, 1))
    second = assets._built_bundles(tmp_path)
    assert second is not first and second["map.js"].body.endswith(b"var a = 22;\n;\n")
    assert second["app.css"].filename == first["app.css"].filename


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
    # deferred, yet asked for at once, beside leaflet (not queued behind the stylesheet)
    assert re.search(r'<script src="/assets/map-[0-9a-f]{12}\.js" defer fetchpriority="high">',
                     html)


def test_bundles_are_sent_with_brotli_when_asked(client):
    brotli = pytest.importorskip("brotli", reason="the optional brotli package is not installed")
    html = client.get("/").get_data(as_text=True)
    for url in _urls(html):
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        resp = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
        assert resp.headers["Content-Encoding"] == "br", url
        assert brotli.decompress(resp.data) == plain.data
        gz = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert len(resp.data) < len(gz.data)


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


#: a navigation the browser makes when the visitor comes from outside the app (typed
#: address, bookmark, a link in an e-mail): Fetch Metadata request headers
FROM_OUTSIDE = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Site": "none"}


def test_map_page_from_outside_carries_its_bundles(client, sample_project):
    """One round trip on a satellite link: the page holds its styles and scripts (the
    scripts allowed by their hashes) and names the versioned files to fetch once loaded;
    a kampung's page too (a link shared in a message)."""
    kode = sample_project.read_table("village_results")["kode"].iloc[0]
    for page in ("/", f"/village/{kode}"):
        files = client.get(page, headers={**FROM_OUTSIDE, "Sec-Fetch-Site": "same-origin"})
        inline = client.get(page, headers={**FROM_OUTSIDE, "Sec-Fetch-Site": "cross-site"})
        html = inline.get_data(as_text=True)
        assert _urls(html) == [], page  # nothing to ask for before the map is drawn
        versioned = _urls(files.get_data(as_text=True))
        assert len(versioned) == 3, page
        prefetch = re.search(r'<script type="application/json" id="asset-prefetch">([^<]+)<',
                             html)
        assert sorted(json.loads(prefetch.group(1))) == sorted(versioned)
        for url in versioned:
            body = client.get(url).get_data(as_text=True)
            if url.endswith(".css"):  # its images from /static/ (the page is not in /assets/)
                assert body.replace('url("../static/', 'url("/static/') in html
            else:  # allowed by its hash (the page is the same bytes on every request)
                assert f"<script>{body}</script>" in html
                assert _hash(body) in inline.headers["Content-Security-Policy"]
        assert "../static/" not in html
        # one page either way: the same entity tag, so a kept copy of either is revalidated
        assert inline.headers["ETag"] == files.headers["ETag"]
        assert client.get(page, headers={"If-None-Match": inline.headers["ETag"]}
                          ).status_code == 304


def test_map_page_from_outside_is_sent_in_its_best_copy_after_the_first(client):
    """The page with its bundles is larger than other bodies given a best Brotli copy;
    being the same bytes each time, the next visitors get its best copy."""
    brotli = pytest.importorskip("brotli", reason="the optional brotli package is not installed")
    headers = {**FROM_OUTSIDE, "Accept-Encoding": "gzip, deflate, br, zstd"}
    first, second = client.get("/", headers=headers), client.get("/", headers=headers)
    plain = brotli.decompress(first.data)
    assert len(plain) > compression.BEST_MAX_BYTES
    compression._maker.submit(lambda: None).result()  # the best copy is made
    third = client.get("/", headers=headers)
    assert third.headers["Content-Encoding"] == "br"
    assert brotli.decompress(third.data) == brotli.decompress(second.data) == plain
    assert len(third.data) < 0.9 * len(first.data)
    assert third.headers["ETag"] == first.headers["ETag"]


def test_map_page_inside_the_app_or_unasked_references_the_files(client, sample_project):
    for headers in ({**FROM_OUTSIDE, "Sec-Fetch-Site": "same-origin"}, {},
                    {**FROM_OUTSIDE, "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}):
        html = client.get("/", headers=headers).get_data(as_text=True)
        assert len(_urls(html)) == 3 and "asset-prefetch" not in html, headers
    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                      "INLINE_ASSETS": False})
    html = app.test_client().get("/", headers=FROM_OUTSIDE).get_data(as_text=True)
    assert len(_urls(html)) == 3 and "asset-prefetch" not in html


def test_map_page_is_revalidated_not_sent_again(client, sample_project):
    first = client.get("/")
    tag = first.headers["ETag"]
    # kept by the browser (a repeat visit needs no round trip); map.js revalidates it
    assert first.headers["Cache-Control"] == "private, max-age=86400"
    assert "Cookie" in first.headers["Vary"]
    assert re.search(r'class="muted small data-version">Data: generasi \d+, versi register '
                     r'\d+; halaman dibuat [0-9-]+ [0-9:]+ UTC<', first.get_data(as_text=True))
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
    """First visit: the page alone (it carries its styles and scripts) until the map is
    drawn; once loaded, the three versioned files (immutable) and the page naming them,
    which replaces the kept copy. Repeat visit: that page and those files from the
    browser's cache (no round trip), the map still works (its scripts run under the kept
    policy) and the page is revalidated in the background (a 304, no body)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "basemap", "value": "none", "url": sample_server.url}])
    entries = """() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).filter(e => !e.name.includes('/tiles/'))
        .map(e => ({url: e.name, sent: e.transferSize, size: e.decodedBodySize,
                    kind: e.initiatorType, start: e.startTime}))"""
    try:
        seen = []
        for visit in range(2):
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("console", lambda m, errors=errors: errors.append(m.text)
                    if m.type == "error" else None)
            headers = {}
            page.on("response", lambda r, headers=headers: headers.__setitem__(
                r.url, r.headers))
            page.goto(sample_server.url + "/")
            page.wait_for_function("() => window.geoP2DD && window.geoP2DD.villagesReady")
            assert page.evaluate("() => Object.keys(window.geoP2DD.villages).length") > 0
            ready = page.evaluate("() => window.geoP2DD.villagesReady")
            if visit == 0:
                page.wait_for_function("() => window.geoP2DDAssets.kept")
            else:
                assert page.evaluate("() => window.geoP2DDAssets") is None  # the files' page
                page.wait_for_function("() => window.geoP2DD.fresh.checked")
                assert not page.evaluate("() => window.geoP2DD.fresh.newer")
            assert errors == []
            seen.append((page.evaluate(entries), headers, ready))
            page.close()
        (first, first_headers, ready), (repeat, _, _) = seen
        page_entry, *later = first
        assert page_entry["kind"] == "navigation" and page_entry["sent"] > 0
        versioned = [e["url"] for e in later if "/assets/" in e["url"]]
        assert len(versioned) == 3 and len(later) == 4, [e["url"] for e in later]
        # asked for once the page had loaded, not before the map was drawn
        assert all(e["start"] > ready for e in later)
        for url in versioned:
            assert first_headers[url]["cache-control"] == \
                "public, max-age=31536000, immutable"
        checks = [e for e in repeat if e["kind"] == "fetch"]
        repeat = [e for e in repeat if e["kind"] != "fetch"]
        page_entry, *files = repeat
        assert sorted(e["url"] for e in files) == sorted(versioned)
        assert all(e["sent"] == 0 for e in files), files  # from the cache, not asked
        assert page_entry["size"] > 10_000 and page_entry["sent"] == 0  # not asked either
        # the background check: the kept copy's tag (local), then a 304 without a body
        assert [e["url"] for e in checks] == [sample_server.url + "/"] * 2
        assert checks[-1]["sent"] < 2_000
    finally:
        context.close()


@pytest.mark.browser
def test_kept_map_page_says_when_the_data_changed(sample_copy, live_server_factory, browser):
    """A change to the project: the next visit shows the kept page at once and says the
    data changed; the visit after it shows the current page (refreshed in the background)."""
    server = live_server_factory(sample_copy.path)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "basemap", "value": "none", "url": server.url}])
    region_name = """() => document.querySelector(".side-head h1").textContent"""

    def visit():
        page = context.new_page()
        page.goto(server.url + "/")
        page.wait_for_function("() => window.geoP2DD && window.geoP2DD.villagesReady")
        # a first visit's page replaces its kept copy once loaded: let it finish
        page.wait_for_function("() => !window.geoP2DDAssets || window.geoP2DDAssets.kept")
        return page

    try:
        page = visit()
        old_name = page.evaluate(region_name)
        page.close()
        with sample_copy.transaction("rename the region") as tx:
            tx.config["project"]["region_name"] = "Kabupaten Baru"
        page = visit()
        assert page.evaluate(region_name) == old_name  # kept: shown without asking
        page.wait_for_function("() => window.geoP2DD.fresh.checked")
        assert page.evaluate("() => window.geoP2DD.fresh.newer")
        note = page.locator(".page-note")
        assert "datanya sudah berubah" in note.text_content()
        page.close()
        page = visit()
        assert page.evaluate(region_name) == "Kabupaten Baru"
        nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].transferSize")
        assert nav == 0  # the page the background check brought, from the browser's cache
        page.close()
    finally:
        context.close()
