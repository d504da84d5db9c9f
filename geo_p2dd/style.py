"""How classes and statuses look, in one place: the web map, the static map and the summary.

Gap classes use a colour-blind-safe diverging palette (ColorBrewer RdBu); the two
"no 4G" classes are also hatched on printed maps so they stay apart on a
black-and-white printer. Sites are coloured by status (ColorBrewer PRGn; sites out
of service orange when damaged, grey when inactive) and drawn with one shape per
status, the same shape as the glyph the printed tables use. The orders are the
schema's vocabularies (:mod:`geo_p2dd.schema`), the only lists of classes and statuses.
"""

from __future__ import annotations

from geo_p2dd.schema import GAP_CLASSES, LOCATION_STATUS, SITE_STATUS

#: gap classes, worst first (the order of :data:`geo_p2dd.schema.GAP_CLASSES`)
GAP_ORDER: tuple[str, ...] = GAP_CLASSES.ids
#: site statuses, done first (the order of :data:`geo_p2dd.schema.SITE_STATUS`)
STATUS_ORDER: tuple[str, ...] = SITE_STATUS.ids

#: public access only (purple, PuOr) stands apart from the mobile classes' red-blue scale
GAP_COLOURS = {"blank_spot": "#b2182b", "public_access_only": "#8073ac", "no_4g": "#f4a582",
               "partial_4g": "#92c5de", "served": "#2166ac", "unknown": "#bdbdbd"}
#: matplotlib hatches of the printed map (None: plain fill)
GAP_HATCH = {"blank_spot": "////", "public_access_only": "xx", "no_4g": "....",
             "partial_4g": None, "served": None, "unknown": None}
LOCATION_COLOURS = {"unserved": "#b2182b", "weak": "#f4a582", "served": "#2166ac",
                    "unknown": "#969696"}
SITE_COLOURS = {"installed": "#1b7837", "in_progress": "#5aae61", "planned": "#9970ab",
                "proposed": "#762a83", "damaged": "#d95f02", "inactive": "#737373"}
#: matplotlib marker and size (points) of each status on the printed map
SITE_MARKERS = {"installed": ("o", 6.5), "in_progress": ("^", 7.5), "planned": ("s", 6.0),
                "proposed": ("D", 5.5), "damaged": ("X", 7.0), "inactive": ("P", 7.0)}
#: the same shapes as text, for tables
SITE_GLYPHS = {"installed": "●", "in_progress": "▲", "planned": "■", "proposed": "◆",
               "damaged": "✖", "inactive": "✚"}
#: villages outside the region on a printed map
CONTEXT_FILL = "#eeeeee"
MISSING_COLOUR = "#bdbdbd"

_TABLES = {"GAP_COLOURS": (GAP_COLOURS, GAP_CLASSES.ids),
           "GAP_HATCH": (GAP_HATCH, GAP_CLASSES.ids),
           "LOCATION_COLOURS": (LOCATION_COLOURS, LOCATION_STATUS.ids),
           "SITE_COLOURS": (SITE_COLOURS, SITE_STATUS.ids),
           "SITE_MARKERS": (SITE_MARKERS, SITE_STATUS.ids),
           "SITE_GLYPHS": (SITE_GLYPHS, SITE_STATUS.ids)}
for _name, (_table, _ids) in _TABLES.items():  # a new vocabulary term needs its style
    if tuple(_table) != tuple(_ids):
        raise RuntimeError(f"geo_p2dd.style.{_name} has {tuple(_table)}, expected the "
                           f"vocabulary's {tuple(_ids)}")


def css_rules() -> str:
    """CSS for the swatches (``.sw-<class>``) and glyphs (``.st-<status>``) of printed tables."""
    rules = [f".sw-{c} {{ background-color:{colour}; }}" for c, colour in GAP_COLOURS.items()]
    rules += [f".st-{s} {{ color:{colour}; }}" for s, colour in SITE_COLOURS.items()]
    return "\n".join(rules)
