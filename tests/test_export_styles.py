"""GeoPackages open styled in QGIS: ``layer_styles`` (QML + SLD), ``gpkg_data_columns``,
and the OGC API's stylesheet links. Read back with sqlite3 and lxml."""

from __future__ import annotations

import sqlite3

import pytest
from lxml import etree

from geo_p2dd.columns import describe_column
from geo_p2dd.exports.catalogue import LAYERS
from geo_p2dd.exports.data import ExportData
from geo_p2dd.exports.files import export_layer
from geo_p2dd.exports.styles import SLD_MEDIA_TYPE, layer_style, qml, sld
from geo_p2dd.io.vector import read_vector
from geo_p2dd.schema import GAP_CLASSES, LOCATION_STATUS, SITE_KINDS, SITE_STATUS
from geo_p2dd.style import GAP_COLOURS, LOCATION_COLOURS, SITE_COLOURS

NS = {"sld": "http://www.opengis.net/sld", "se": "http://www.opengis.net/se",
      "ogc": "http://www.opengis.net/ogc"}
LAYER_STYLES_COLUMNS = ["id", "f_table_catalog", "f_table_schema", "f_table_name",
                        "f_geometry_column", "styleName", "styleQML", "styleSLD",
                        "useAsDefault", "description", "owner", "ui", "update_time"]


@pytest.fixture(scope="module")
def data(sample_project):
    return ExportData(sample_project)


@pytest.fixture(scope="module")
def gpkgs(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("styled")
    return {layer: export_layer(data, layer, out / f"{layer}.gpkg").path
            for layer in data.available()}


def _rules(sld_text: str) -> dict[tuple[tuple[str, str], ...], etree._Element]:
    """SLD rules by their filter's (property, literal) pairs."""
    root = etree.fromstring(sld_text.encode())
    out = {}
    for rule in root.iterfind(".//se:Rule", NS):
        pairs = tuple((eq.findtext("ogc:PropertyName", namespaces=NS),
                       eq.findtext("ogc:Literal", namespaces=NS))
                      for eq in rule.iterfind(".//ogc:PropertyIsEqualTo", NS))
        out[pairs] = rule
    return out


def test_layer_styles_table_follows_qgis_schema(gpkgs):
    for layer, path in gpkgs.items():
        con = sqlite3.connect(path)
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(layer_styles)")]
            rows = con.execute("SELECT f_table_name, f_geometry_column, styleName, "
                               "useAsDefault, styleQML, styleSLD, owner FROM layer_styles"
                               ).fetchall()
            geom = con.execute("SELECT column_name FROM gpkg_geometry_columns").fetchone()[0]
        finally:
            con.close()
        assert cols == LAYER_STYLES_COLUMNS
        assert len(rows) == 1
        table, geometry, name, default, qml_text, sld_text, owner = rows[0]
        assert (table, geometry, name, default) == (layer, geom, "default", 1)
        assert owner.startswith("geo_p2dd")
        assert sld_text == sld(layer) and qml_text.startswith(qml(layer).split("<aliases>")[0])
        root = etree.fromstring(qml_text.split("\n", 1)[1].encode())  # after the DOCTYPE
        aliases = {a.get("field"): a.get("name") for a in root.iterfind("aliases/alias")}
        con = sqlite3.connect(path)
        try:
            names = dict(con.execute("SELECT column_name, name FROM gpkg_data_columns"))
        finally:
            con.close()
        assert aliases == names  # the same aliases for QGIS versions that ignore the table


def test_villages_sld_has_one_rule_per_gap_class_in_the_map_colours(gpkgs):
    con = sqlite3.connect(gpkgs["villages"])
    try:
        text = con.execute("SELECT styleSLD FROM layer_styles").fetchone()[0]
    finally:
        con.close()
    root = etree.fromstring(text.encode())
    assert root.tag == "{http://www.opengis.net/sld}StyledLayerDescriptor"
    assert root.get("version") == "1.1.0"
    rules = _rules(text)
    assert set(rules) == {(("gap_class", c),) for c in GAP_CLASSES.ids}
    for c in GAP_CLASSES.ids:
        fill = rules[(("gap_class", c),)].find(
            ".//se:PolygonSymbolizer/se:Fill/se:SvgParameter[@name='fill']", NS)
        assert fill.text == GAP_COLOURS[c]


def test_sites_by_kind_and_status_and_locations_by_status():
    rules = _rules(sld("sites"))
    assert set(rules) == {(("kind", k), ("status", s)) for k in SITE_KINDS.ids
                          for s in SITE_STATUS.ids}
    for ((_, kind), (_, status)), rule in rules.items():
        assert rule.find(".//se:Mark/se:Fill/se:SvgParameter", NS).text == SITE_COLOURS[status]
        assert rule.findtext(".//se:TextSymbolizer/se:Label", namespaces=NS) == \
            kind[0].upper()
    # all locations show every status; unserved ones never the served colour
    all_rules = _rules(sld("locations"))
    assert set(all_rules) == {(("status", s),) for s in LOCATION_STATUS.ids}
    for (pair,), rule in all_rules.items():
        assert rule.find(".//se:Mark/se:Fill/se:SvgParameter", NS).text == \
            LOCATION_COLOURS[pair[1]]
    assert set(_rules(sld("locations_unserved"))) == {
        (("status", s),) for s in LOCATION_STATUS.ids if s != "served"}


def test_qml_rules_carry_the_style_colours():
    kind, rules = layer_style("villages")
    root = etree.fromstring(qml("villages").split("\n", 1)[1].encode())
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "RuleRenderer"
    filters = [r.get("filter") for r in renderer.iterfind("rules/rule")]
    assert filters == [f"\"gap_class\" = '{c}'" for c in GAP_CLASSES.ids]
    colours = [s.find("layer/Option/Option[@name='color']").get("value")
               for s in renderer.iterfind("symbols/symbol")]
    for c, value in zip(GAP_CLASSES.ids, colours, strict=True):
        hexa = GAP_COLOURS[c].lstrip("#")
        assert value.split(",")[:3] == [str(int(hexa[i:i + 2], 16)) for i in (0, 2, 4)]


def test_gpkg_data_columns_hold_both_languages_and_are_registered(gpkgs, data):
    con = sqlite3.connect(gpkgs["villages"])
    try:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT column_name, name, title, description FROM gpkg_data_columns "
            "WHERE table_name = 'villages'")}
        ext = con.execute("SELECT extension_name, definition FROM gpkg_extensions WHERE "
                          "table_name = 'gpkg_data_columns'").fetchall()
    finally:
        con.close()
    assert ext == [("gpkg_schema", "http://www.geopackage.org/spec121/#extension_schema")]
    columns = [c for c in data.layer("villages").columns if c != "geometry"]
    assert set(rows) == set(columns)
    en, id_ = describe_column("gap_class")
    alias, title, description = rows["gap_class"]
    assert (alias, title) == (id_, en) and id_ in description and en in description
    aliases = [r[0] for r in rows.values()]
    assert len(set(aliases)) == len(aliases)  # UNIQUE (table_name, name)


def test_gdal_reads_the_aliases_and_our_reader_ignores_layer_styles(gpkgs, tmp_path):
    import pyogrio

    layers = [str(n) for n, _ in pyogrio.list_layers(gpkgs["villages"])]
    assert layers == ["villages", "layer_styles"]  # GDAL lists QGIS's table; QGIS hides it
    frame = read_vector(gpkgs["villages"])  # one data layer: no "say which one"
    assert "gap_class" in frame


def test_ogc_api_links_and_serves_the_styles(sample_project, tmp_path):
    from web import create_app

    client = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                         "EXPORT_CACHE": str(tmp_path / "cache")}).test_client()
    for cid in ExportData(sample_project).available():
        doc = client.get(f"/ogcapi/collections/{cid}?f=json").get_json()
        assert doc["defaultStyle"] == "default"
        links = [link for link in doc["links"] if link["rel"] == "stylesheet"]
        sld_link = next(link for link in links if link["type"] == SLD_MEDIA_TYPE)
        r = client.get(sld_link["href"].split("localhost", 1)[-1])
        assert r.status_code == 200 and r.mimetype == "application/vnd.ogc.sld+xml"
        assert set(_rules(r.get_data(as_text=True))) == set(_rules(sld(cid)))
        qml_link = next(link for link in links if "qml" in link["type"])
        assert "RuleRenderer" in client.get(qml_link["href"].split("localhost", 1)[-1]).text
    assert client.get("/ogcapi/collections/villages/styles/night").status_code == 404
    r = client.get("/ogcapi/collections/villages/styles/default?f=mapbox")
    assert r.status_code == 400 and "mapbox" in r.get_json()["description"]
    api = client.get("/ogcapi/api").get_json()
    assert "/collections/villages/styles/{styleId}" in api["paths"]


def test_every_layer_has_a_style():
    for layer in LAYERS:
        kind, rules = layer_style(layer)
        assert rules and kind in ("fill", "marker")


QGIS_SCRIPT = r"""
import json, sys
from qgis.core import (QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings,
                       QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
path, layer, png = sys.argv[1:4]
lyr = QgsVectorLayer(f"{path}|layername={layer}", layer, "ogr")
renderer = lyr.renderer()
rules = [(r.filterExpression(), r.symbol().color().name())
         for r in renderer.rootRule().children()] if hasattr(renderer, "rootRule") else []
fields = lyr.fields()
alias = fields.field(fields.indexOf("gap_class")).alias()
ms = QgsMapSettings()
ms.setLayers([lyr])
ms.setDestinationCrs(lyr.crs())
ms.setExtent(lyr.extent())
ms.setOutputSize(QSize(400, 300))
ms.setBackgroundColor(QColor("white"))
job = QgsMapRendererSequentialJob(ms)
job.start()
job.waitForFinished()
img = job.renderedImage()
img.save(png)
colours = sorted({img.pixelColor(x, y).name() for x in range(0, 400, 4) for y in range(0, 300, 4)})
print(json.dumps({"valid": lyr.isValid(), "renderer": type(renderer).__name__,
                  "rules": rules, "alias": alias, "colours": colours}))
app.exitQgis()
"""


def _qgis_python() -> str | None:
    import shutil
    import subprocess

    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        return None
    ok = subprocess.run([python, "-c", "import qgis.core"], capture_output=True, timeout=60)
    return python if ok.returncode == 0 else None


def test_qgis_opens_the_geopackage_styled(gpkgs, tmp_path):
    """QGIS itself (when installed: apt-get install python3-qgis) loads the default style
    from layer_styles, shows the Indonesian alias, and draws the gap classes' colours."""
    import json
    import os
    import subprocess

    python = _qgis_python()
    if python is None:
        pytest.skip("QGIS (python3-qgis) is not installed")
    script = tmp_path / "render.py"
    script.write_text(QGIS_SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": "",
           "XDG_RUNTIME_DIR": str(tmp_path)}
    out = subprocess.run([python, str(script), str(gpkgs["villages"]), "villages",
                          str(tmp_path / "map.png")], capture_output=True, text=True,
                         timeout=180, env=env)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["valid"] and doc["renderer"] == "QgsRuleBasedRenderer"
    assert doc["rules"] == [[f"\"gap_class\" = '{c}'", GAP_COLOURS[c]]
                            for c in GAP_CLASSES.ids]
    assert doc["alias"] == describe_column("gap_class")[1]
    # fills are drawn at 85 % opacity on white: find each class present in the data
    present = _present_classes(gpkgs["villages"])
    drawn = {c for c in present if any(_close(GAP_COLOURS[c], got, 0.85)
                                       for got in doc["colours"])}
    assert drawn == present and present


def _present_classes(path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT DISTINCT gap_class FROM villages")}
    finally:
        con.close()


def _close(colour: str, got: str, alpha: float) -> bool:
    want = [int(colour[i:i + 2], 16) * alpha + 255 * (1 - alpha) for i in (1, 3, 5)]
    have = [int(got[i:i + 2], 16) for i in (1, 3, 5)]
    return all(abs(a - b) <= 3 for a, b in zip(want, have, strict=True))
