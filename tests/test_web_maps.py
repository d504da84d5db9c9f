"""The map blueprint through Flask's test client: pages, data, tiles, errors, languages."""

from __future__ import annotations

import gzip
import io
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from web import create_app
from web.tiles import lonlat_to_tile

CDN = re.compile(r"(cdn\.jsdelivr|unpkg\.com|cdnjs\.cloudflare|code\.jquery\.com|bootstrapcdn|"
                 r"fonts\.googleapis|netdna\.)", re.I)


@pytest.fixture(scope="module")
def client(sample_project):
    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True})
    return app.test_client()


def _pages(client, sample_project):
    results = sample_project.read_table("village_results")
    kode = results["kode"].iloc[0]
    paths = ["/", "/?lang=en", f"/village/{kode}", f"/village/{kode}?lang=en", "/nope"]
    # every parameterless GET page the app registers, whatever blueprint adds it
    for rule in client.application.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(
                ("/static", "/api/", "/tiles")):
            paths.append(rule.rule)
    return sorted(set(paths))


def test_no_page_names_a_cdn_or_loads_outside_scripts(client, sample_project):
    for path in _pages(client, sample_project):
        resp = client.get(path)
        if not resp.mimetype.startswith("text/html"):
            continue
        html = resp.get_data(as_text=True)
        assert not CDN.search(html), f"{path} names a CDN"
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html)
        assert external == [], f"{path} loads {external}"


def test_vendor_assets_are_served(client):
    html = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        with client.get(url) as resp:
            assert resp.status_code == 200, url


def test_main_map_lists_every_village_ranked(client, sample_project):
    results = sample_project.read_table("village_results").sort_values("rank")
    html = client.get("/").get_data(as_text=True)
    rows = re.findall(r'<tr data-kode="([^"]+)"', html)
    assert rows == list(results["kode"])


def test_indonesian_number_format_and_english_switch(client, sample_project):
    results = sample_project.read_table("village_results")
    big = results[results["people_unserved"] >= 1000].iloc[0]
    n = int(round(big["people_unserved"]))
    html_id = client.get(f"/village/{big['kode']}?lang=id").get_data(as_text=True)
    assert f"{n:,}".replace(",", ".") in html_id
    assert "Penduduk belum terlayani" in html_id
    html_en = client.get(f"/village/{big['kode']}?lang=en").get_data(as_text=True)
    assert f"{n:,}" in html_en
    assert "People unserved" in html_en


def test_unknown_village_is_a_friendly_404(client):
    resp = client.get("/village/99.99.99.9999")
    assert resp.status_code == 404
    text = resp.get_data(as_text=True)
    assert "99.99.99.9999" in text and "Traceback" not in text


def test_gzip_when_accepted(client):
    plain = client.get("/")
    packed = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    # folium names its elements at random, and each response has its own script nonce
    ids = re.compile(rb'_[0-9a-f]{32}|nonce="[^"]+"')

    assert ids.sub(b"", gzip.decompress(packed.data)) == ids.sub(b"", plain.data)
    assert len(packed.data) < len(plain.data) / 3


def test_brotli_when_accepted_and_a_repeated_body_gets_its_best_copy(client):
    """Chromium asks for "gzip, deflate, br, zstd": pages come in Brotli; a body asked
    for again (the same JSON) is then sent in its smaller best copy, made once."""
    import brotli
    from werkzeug.http import parse_accept_header

    from web import compression

    plain = client.get("/")
    packed = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert packed.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in packed.headers["Vary"]
    ids = re.compile(rb'_[0-9a-f]{32}|nonce="[^"]+"')
    assert ids.sub(b"", brotli.decompress(packed.data)) == ids.sub(b"", plain.data)
    gz = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert len(packed.data) < len(gz.data)

    body = (b'{"type": "FeatureCollection", "features": [' + b", ".join(
        b'{"id": %d, "kelas": "blank_spot", "nama": "Kampung %d"}' % (i, i * 7919 % 1000)
        for i in range(3000)) + b"]}")
    accepted = parse_accept_header("gzip, deflate, br")
    first, enc = compression.encode(body, accepted)
    second, _ = compression.encode(body, accepted)  # asked again: its best copy is made
    compression._maker.submit(lambda: None).result()  # the maker has finished
    third, _ = compression.encode(body, accepted)
    assert enc == "br" and first == second
    assert len(third) < len(first)
    assert brotli.decompress(first) == brotli.decompress(third) == body
    only_gzip = compression.encode(body, parse_accept_header("gzip"))
    assert only_gzip[1] == "gzip" and gzip.decompress(only_gzip[0]) == body
    assert compression.encode(body, parse_accept_header("identity")) is None


def test_coverage_tiles(client, sample_project):
    analysis = sample_project.config["analysis"]
    name = analysis["modelled"][0]["name"]
    towers = sample_project.read_layer("sites")
    tower = towers[(towers["kind"] == "bts") & (towers["status"] == "installed")
                   & (towers["technology"] == "4G")].iloc[0]  # the modelled layer is 4G
    x, y = lonlat_to_tile(tower.geometry.x, tower.geometry.y, 11)
    resp = client.get(f"/tiles/{name}/11/{x}/{y}.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    img = Image.open(io.BytesIO(resp.data))
    assert img.size == (256, 256)
    alpha = img.getchannel("A")
    assert alpha.getextrema()[1] > 0, "the tile over an installed tower shows signal"
    far = client.get(f"/tiles/{name}/11/0/0.png")
    assert Image.open(io.BytesIO(far.data)).getchannel("A").getextrema() == (0, 0)
    assert client.get("/tiles/nothing/11/0/0.png").status_code == 404
    assert client.get(f"/tiles/{name}/3/99/0.png").status_code == 404


def test_bbox_api(client, sample_project):
    villages = sample_project.read_layer("villages")
    west, south, east, north = villages.total_bounds
    resp = client.get(f"/api/villages.geojson?bbox={west},{south},{east},{north}&zoom=11")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    assert len(resp.get_json()["features"]) == len(villages)
    bad = client.get("/api/villages.geojson?bbox=1,2,3")
    assert bad.status_code == 400 and "bbox" in bad.get_json()["description"]


def test_every_ui_string_has_an_indonesian_translation():
    """msgids used by the app's code and templates all appear in web/translations/id."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[1] / "web"
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    used = {m[2] if isinstance(m[2], str) else m[2][0]
            for m in extract_from_dir(str(root), method_map=method_map,
                                      keywords={"_": None, "gettext": None})}
    have = set()
    for po in (root / "translations" / "id").glob("*.po"):
        with open(po, "rb") as fh:
            have |= {m.id for m in read_po(fh) if m.id and m.string}
    missing = sorted(u for u in used if u and u not in have)
    assert missing == [], f"untranslated: {missing[:10]}"


FOLIUM_ID = re.compile(r"_[0-9a-f]{32}")


def _ids(client, url: str) -> set[str]:
    return set(FOLIUM_ID.findall(client.get(url).get_data(as_text=True)))


def test_pages_are_rendered_once_per_data_version(sample_copy):
    """Map and village pages come from the page cache until the project's files change."""
    import os

    client = create_app({"PROJECT": str(sample_copy.path), "TESTING": True}).test_client()
    kode = sample_copy.read_table("village_results")["kode"].iloc[0]
    for url in ("/?lang=id", f"/village/{kode}?lang=id"):
        first = _ids(client, url)
        assert first and _ids(client, url) == first, f"{url} was rendered again"
        assert _ids(client, url.replace("=id", "=en")).isdisjoint(first), "languages share"
        client.set_cookie("basemap", "none")
        assert _ids(client, url).isdisjoint(first), "basemaps share a page"
        client.delete_cookie("basemap")
    config = sample_copy.path / "project.toml"
    stat = config.stat()
    before = _ids(client, "/")
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _ids(client, "/").isdisjoint(before), "a changed project must be rendered anew"


def test_bbox_features_are_made_once_per_zoom_band_and_language(client, sample_project):
    from web import mapdata
    from web.context import load_view

    villages = sample_project.read_layer("villages")
    w, s, e, n = villages.total_bounds
    view = load_view(sample_project.path)
    url = "/api/villages.geojson?bbox={},{},{},{}&zoom={}&lang=id"
    a = client.get(url.format(w, s, e, n, 11))
    band = view.extra["village_bands"][12]  # zoom 11 shows the band of zoom 12
    props = view.extra["village_props"]["id"].copy()
    assert all(p is not None for p in props)
    b = client.get(url.format(w - 0.01, s - 0.01, e + 0.01, n + 0.01, 11))
    assert a.data == b.data and view.extra["village_bands"][12] is band, "made again"
    assert (view.extra["village_props"]["id"] == props).all()
    one = villages.geometry.iloc[0].representative_point()
    c = client.get(url.format(one.x, one.y, one.x, one.y, 11)).get_json()["features"]
    assert 0 < len(c) < len(villages)
    assert c == [f for f in a.get_json()["features"] if f["id"] in {x["id"] for x in c}]
    assert client.get(url.format(w, s, e, n, 12)).data == a.data  # same band
    client.get(url.format(w, s, e, n, 12.5))
    assert set(view.extra["village_bands"]) == {12, 14}
    kec = villages["kode"].iloc[0].rsplit(".", 1)[0]
    only = client.get(url.format(w, s, e, n, 11) + f"&region={kec}").get_json()["features"]
    assert only and {f["id"] for f in only} == {k for k in villages["kode"]
                                                  if k.startswith(kec + ".")}
    # each geometry is the village simplified by half a pixel at zoom 12, rounded to ~1 m
    expected = mapdata._geojson_strings(villages.geometry.values, mapdata.band_tolerance(12))
    by_kode = dict(zip(villages["kode"], expected, strict=True))
    assert all(f["geometry"] == json.loads(by_kode[f["id"]]) for f in a.get_json()["features"])


def test_zoom_bands_are_kept_in_the_project_cache(sample_copy):
    from web import mapdata
    from web.context import load_view

    client = create_app({"PROJECT": str(sample_copy.path), "TESTING": True}).test_client()
    villages = sample_copy.read_layer("villages")
    w, s, e, n = villages.total_bounds
    url = f"/api/villages.geojson?bbox={w},{s},{e},{n}&zoom=10"
    first = client.get(url).data
    view = load_view(sample_copy.path)
    (path,) = sample_copy.cache_dir().glob("villagegeoms-*-z10.bin")
    assert path == mapdata.band_cache_path(view, 10)
    made = view.extra["village_bands"][10]
    made_text, made_offsets = made.data(), np.array(made.offsets)
    del made
    view.extra.clear()  # a new process: the band comes from the file, not simplified again
    loaded = mapdata._load_band(path, len(villages))
    assert loaded.data() == made_text and (loaded.offsets == made_offsets).all()
    assert mapdata._load_band(path, len(villages) + 1) is None  # not for these villages
    del loaded
    assert client.get(url).data == first
    assert view.extra["village_bands"][10].data() == made_text
    view.extra.clear()
    damaged = path.with_name("damaged.tmp")  # replaced, as every cache write is (a file
    damaged.write_bytes(b"damaged")          # shrunk in place under a memory map would fault)
    os.replace(damaged, path)
    assert client.get(url).data == first  # an unreadable file is built again and replaced
    assert mapdata._load_band(path, len(villages)).data() == made_text
    # another data version of the villages gets another file
    with sample_copy.transaction("touch") as tx:  # an input change: a new data version
        tx.config["project"]["region_name"] = "Sampel Lain"
    assert mapdata.band_cache_path(load_view(sample_copy.path), 10) != path


def test_large_project_builds_a_band_in_the_background(sample_copy, monkeypatch):
    from web import mapdata
    from web.context import load_view

    monkeypatch.setattr(mapdata, "SYNC_BAND_VILLAGES", 0)  # treat the sample as large
    client = create_app({"PROJECT": str(sample_copy.path), "TESTING": True}).test_client()
    villages = sample_copy.read_layer("villages")
    w, s, e, n = villages.total_bounds
    url = f"/api/villages.geojson?bbox={w},{s},{e},{n}&zoom=14"
    first = client.get(url)  # served at once from the villages it shows
    assert first.status_code == 200 and len(first.get_json()["features"]) == len(villages)
    for thread in list(mapdata._building.values()):
        thread.join(60)
    view = load_view(sample_copy.path)
    assert 14 in view.extra["village_bands"]
    assert json.loads(client.get(url).data) == first.get_json()  # the same once built
    for thread in list(mapdata._building.values()):  # properties of every village, stored
        thread.join(60)
    (props,) = sample_copy.cache_dir().glob("villageprops-*-id.bin")
    assert props == mapdata.props_cache_path(view, "id")
    view.extra.clear()  # a new process: geometry and properties from the project cache
    assert json.loads(client.get(url).data) == first.get_json()
    assert isinstance(view.extra["village_props"]["id"], mapdata.BandTexts)


def test_page_cache_is_bounded_and_renders_once():
    import threading

    from web.context import PageCache

    cache = PageCache(max_bytes=100)
    for key in "abc":
        cache.get(key, lambda k=key: k * 40)
    assert len(cache) == 2 and cache.size == 80  # "a" dropped, least recently used
    calls = []
    barrier = threading.Barrier(8)

    def make():
        calls.append(1)
        return "x" * 10

    def worker():
        barrier.wait()
        cache.get("d", make)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1, "concurrent first requests render the page once"


def test_tile_cache_is_bounded_in_bytes(sample_project, monkeypatch):
    from web import tiles

    path = sample_project.path / sample_project.config["analysis"]["modelled"][0]["file"]
    monkeypatch.setattr(tiles, "_cache", tiles.OrderedDict())
    monkeypatch.setattr(tiles, "_cache_size", 0)
    monkeypatch.setattr(tiles, "CACHE_BYTES", 3000)
    sites = sample_project.read_layer("sites")
    for p in sites.geometry.iloc[:6]:
        tiles.render_tile(path, 12, *tiles.lonlat_to_tile(p.x, p.y, 12))
        assert tiles._cache_size <= 3000
        assert tiles._cache_size == sum(len(v) for v in tiles._cache.values())
