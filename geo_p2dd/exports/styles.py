"""Default layer styles for GIS tools: QGIS QML and OGC SLD 1.1 (Symbology Encoding 1.1).

The same map as the web: villages filled by gap class, locations by status,
sites coloured by status with the status's shape and the kind's letter (B for
BTS, S for Starlink...), in the colours of :mod:`geo_p2dd.style`; aggregates as
outlines (kabupaten thicker). GeoPackages carry both in QGIS's ``layer_styles``
table (see :mod:`geo_p2dd.exports.writers`); the OGC API serves the SLD.

Everything here is a pure function of the layer name: :func:`layer_style`
gives the rules, :func:`qml` and :func:`sld` write them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from geo_p2dd.errors import NotFoundError
from geo_p2dd.exports.catalogue import get_layer
from geo_p2dd.schema import GAP_CLASSES, LOCATION_STATUS, SITE_KINDS, SITE_STATUS
from geo_p2dd.style import GAP_COLOURS, LOCATION_COLOURS, SITE_COLOURS, SITE_MARKERS

#: the name of the default style (``layer_styles.styleName``, the OGC API style id)
STYLE_NAME = "default"
#: ``layer_styles.description``
DESCRIPTION = ("Peta kesenjangan geo_p2dd (warna peta web) / geo_p2dd gap map (the web map's "
               "colours)")
SLD_MEDIA_TYPE = "application/vnd.ogc.sld+xml;version=1.1"
QML_MEDIA_TYPE = "application/vnd.qgis.qml+xml"
OUTLINE = "#4d4d4d"
#: matplotlib marker of :data:`geo_p2dd.style.SITE_MARKERS` -> (QGIS name, SLD name, rotation)
_SHAPES = {"o": ("circle", "circle", 0), "^": ("triangle", "triangle", 0),
           "s": ("square", "square", 0), "D": ("diamond", "square", 45),
           "X": ("cross2", "x", 0), "P": ("cross", "cross", 0)}
_PT_TO_MM = 25.4 / 72
_PT_TO_PX = 96 / 72


@dataclass(frozen=True)
class Rule:
    """One legend entry: which features (``column = value`` pairs) and how they look."""

    name: str
    label_id: str
    label_en: str
    where: tuple[tuple[str, str], ...]
    fill: str
    stroke: str = OUTLINE
    stroke_width_mm: float = 0.26
    shape: str | None = None  # a key of _SHAPES for points; None for polygons
    size_pt: float = 6.0
    letter: str = ""

    def label(self) -> str:
        return self.label_id if self.label_id == self.label_en else \
            f"{self.label_id} / {self.label_en}"


def site_letter(kind: str) -> str:
    """The letter a site's kind shows on the map (as the web map: B, S, V, W, F)."""
    return kind[:1].upper()


def layer_style(layer: str) -> tuple[str, list[Rule]]:
    """The geometry kind (``fill`` or ``marker``) and the rules of ``layer``'s default style."""
    info = get_layer(layer)
    if layer == "villages":
        return "fill", [Rule(c, GAP_CLASSES.label(c, "id"), GAP_CLASSES.label(c, "en"),
                             (("gap_class", c),), GAP_COLOURS[c]) for c in GAP_CLASSES.ids]
    if layer in ("locations", "locations_unserved"):
        statuses = [s for s in LOCATION_STATUS.ids
                    if layer == "locations" or s != "served"]
        return "marker", [Rule(s, LOCATION_STATUS.label(s, "id"), LOCATION_STATUS.label(s, "en"),
                               (("status", s),), LOCATION_COLOURS[s], stroke="#ffffff",
                               stroke_width_mm=0.2, shape="o", size_pt=5.0)
                          for s in statuses]
    if layer == "sites":
        rules = []
        for s in SITE_STATUS.ids:
            shape, size = SITE_MARKERS[s]
            for k in SITE_KINDS.ids:
                rules.append(Rule(
                    f"{k}_{s}", f"{SITE_KINDS.label(k, 'id')} – {SITE_STATUS.label(s, 'id')}",
                    f"{SITE_KINDS.label(k, 'en')} – {SITE_STATUS.label(s, 'en')}",
                    (("kind", k), ("status", s)), SITE_COLOURS[s], stroke="#ffffff",
                    stroke_width_mm=0.2, shape=shape, size_pt=size * 1.6,
                    letter=site_letter(k)))
        return "marker", rules
    if layer == "aggregates":
        return "fill", [Rule(lv, lv.capitalize(), lv.capitalize(), (("level", lv),), "",
                             stroke="#252525", stroke_width_mm=w)
                        for lv, w in (("kecamatan", 0.4), ("kabupaten", 0.9))]
    raise NotFoundError(f"no style for layer {info.name!r}")  # pragma: no cover


# ------------------------------------------------------------------------------------------ #
# QGIS QML
# ------------------------------------------------------------------------------------------ #

def _rgba(colour: str, alpha: int = 255) -> str:
    if not colour:
        return "0,0,0,0"
    c = colour.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha}"


def _options(props: dict[str, str]) -> str:
    inner = "".join(f'<Option type="QString" name={quoteattr(k)} value={quoteattr(str(v))}/>'
                    for k, v in props.items())
    return f'<Option type="Map">{inner}</Option>'


def _qml_symbol(kind: str, rule: Rule, key: str) -> str:
    if kind == "fill":
        layers = [("SimpleFill", {
            "color": _rgba(rule.fill, 217) if rule.fill else "0,0,0,0",
            "style": "solid" if rule.fill else "no", "outline_color": _rgba(rule.stroke),
            "outline_style": "solid", "outline_width": f"{rule.stroke_width_mm:g}",
            "outline_width_unit": "MM", "joinstyle": "bevel"})]
    else:
        name = _SHAPES[rule.shape or "o"][0]
        layers = [("SimpleMarker", {
            "name": name, "color": _rgba(rule.fill), "outline_color": _rgba(rule.stroke),
            "outline_style": "solid", "outline_width": f"{rule.stroke_width_mm:g}",
            "outline_width_unit": "MM", "size": f"{rule.size_pt * _PT_TO_MM:.2f}",
            "size_unit": "MM", "angle": "0"})]
        if rule.letter:
            layers.append(("FontMarker", {
                "chr": rule.letter, "font": "Sans Serif", "font_style": "Bold",
                "color": "255,255,255,255", "outline_color": "0,0,0,0",
                "outline_width": "0", "size": f"{rule.size_pt * _PT_TO_MM * 0.6:.2f}",
                "size_unit": "MM", "angle": "0", "offset": "0,0"}))
    parts = "".join(f'<layer class="{cls}" enabled="1" locked="0" pass="0">{_options(p)}'
                    "</layer>" for cls, p in layers)
    return (f'<symbol type="{kind}" name="{key}" alpha="1" clip_to_extent="1" '
            f'force_rhr="0">{parts}</symbol>')


def _expression(where: tuple[tuple[str, str], ...]) -> str:
    return " AND ".join(f"\"{c}\" = '{v}'" for c, v in where)


def qml(layer: str, aliases: Mapping[str, str] | None = None) -> str:
    """The default style of ``layer`` as a QGIS QML document (rule-based renderer).

    ``aliases`` (column -> alias, in the file's column order) become QGIS field aliases:
    QGIS 3.22 with GDAL 3.6 does not read them from ``gpkg_data_columns``, but always
    from the style.
    """
    kind, rules = layer_style(layer)
    alias_xml = "".join(f"<alias field={quoteattr(c)} index=\"{i}\" name={quoteattr(a)}/>"
                        for i, (c, a) in enumerate((aliases or {}).items()))
    rule_xml = "".join(
        f'<rule key="{r.name}" symbol="{i}" label={quoteattr(r.label())} '
        f"filter={quoteattr(_expression(r.where))}/>" for i, r in enumerate(rules))
    symbols = "".join(_qml_symbol(kind, r, str(i)) for i, r in enumerate(rules))
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            '<qgis version="3.22.0" styleCategories="Symbology|Fields">'
            '<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" '
            'forceraster="0">'
            f'<rules key="root">{rule_xml}</rules><symbols>{symbols}</symbols>'
            "</renderer-v2><blendMode>0</blendMode><featureBlendMode>0</featureBlendMode>"
            f"<layerOpacity>1</layerOpacity><aliases>{alias_xml}</aliases></qgis>\n")


# ------------------------------------------------------------------------------------------ #
# OGC SLD 1.1 / SE 1.1
# ------------------------------------------------------------------------------------------ #

SLD_NS = ('xmlns="http://www.opengis.net/sld" xmlns:se="http://www.opengis.net/se" '
          'xmlns:ogc="http://www.opengis.net/ogc" xmlns:xlink="http://www.w3.org/1999/xlink" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xsi:schemaLocation="http://www.opengis.net/sld '
          'http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"')


def _css(name: str, value: str) -> str:
    return f'<se:SvgParameter name="{name}">{escape(value)}</se:SvgParameter>'


def _sld_filter(where: tuple[tuple[str, str], ...]) -> str:
    parts = [f"<ogc:PropertyIsEqualTo><ogc:PropertyName>{escape(c)}</ogc:PropertyName>"
             f"<ogc:Literal>{escape(v)}</ogc:Literal></ogc:PropertyIsEqualTo>"
             for c, v in where]
    body = parts[0] if len(parts) == 1 else "<ogc:And>" + "".join(parts) + "</ogc:And>"
    return f"<ogc:Filter>{body}</ogc:Filter>"


def _sld_symbolizers(kind: str, rule: Rule) -> str:
    stroke = (f"<se:Stroke>{_css('stroke', rule.stroke)}"
              f"{_css('stroke-width', f'{rule.stroke_width_mm * 3.78:.2f}')}</se:Stroke>")
    if kind == "fill":
        fill = (f"<se:Fill>{_css('fill', rule.fill)}{_css('fill-opacity', '0.85')}</se:Fill>"
                if rule.fill else "")
        return f"<se:PolygonSymbolizer>{fill}{stroke}</se:PolygonSymbolizer>"
    _, well_known, rotation = _SHAPES[rule.shape or "o"]
    size = f"{rule.size_pt * _PT_TO_PX:.1f}"
    out = ("<se:PointSymbolizer><se:Graphic><se:Mark>"
           f"<se:WellKnownName>{well_known}</se:WellKnownName>"
           f"<se:Fill>{_css('fill', rule.fill)}</se:Fill>{stroke}</se:Mark>"
           f"<se:Size>{size}</se:Size>"
           + (f"<se:Rotation>{rotation}</se:Rotation>" if rotation else "")
           + "</se:Graphic></se:PointSymbolizer>")
    if rule.letter:
        out += ("<se:TextSymbolizer><se:Label>" + escape(rule.letter) + "</se:Label>"
                f"<se:Font>{_css('font-family', 'Sans-Serif')}{_css('font-weight', 'bold')}"
                f"{_css('font-size', f'{rule.size_pt * _PT_TO_PX * 0.6:.1f}')}</se:Font>"
                "<se:LabelPlacement><se:PointPlacement><se:AnchorPoint>"
                "<se:AnchorPointX>0.5</se:AnchorPointX><se:AnchorPointY>0.5</se:AnchorPointY>"
                "</se:AnchorPoint></se:PointPlacement></se:LabelPlacement>"
                f"<se:Fill>{_css('fill', '#ffffff')}</se:Fill></se:TextSymbolizer>")
    return out


def sld(layer: str, title: str | None = None) -> str:
    """The default style of ``layer`` as an SLD 1.1 document (Symbology Encoding 1.1)."""
    kind, rules = layer_style(layer)
    info = get_layer(layer)
    body = "".join(
        f"<se:Rule><se:Name>{escape(r.name)}</se:Name><se:Description>"
        f"<se:Title>{escape(r.label())}</se:Title></se:Description>"
        f"{_sld_filter(r.where)}{_sld_symbolizers(kind, r)}</se:Rule>" for r in rules)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<StyledLayerDescriptor version="1.1.0" {SLD_NS}>'
            f"<NamedLayer><se:Name>{escape(layer)}</se:Name><UserStyle>"
            f"<se:Name>{STYLE_NAME}</se:Name><se:Description><se:Title>"
            f"{escape(title or info.title_id + ' / ' + info.title_en)}</se:Title>"
            "</se:Description>"
            f"<se:FeatureTypeStyle>{body}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
            "</StyledLayerDescriptor>\n")
