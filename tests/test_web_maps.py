"""The map blueprint through Flask's test client: pages, data, tiles, errors, languages."""

from __future__ import annotations

import gzip
import io
import re

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


def test_coverage_tiles(client, sample_project):
    analysis = sample_project.config["analysis"]
    name = analysis["modelled"][0]["name"]
    towers = sample_project.read_layer("sites")
    tower = towers[(towers["kind"] == "bts") & (towers["status"] == "installed")].iloc[0]
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
