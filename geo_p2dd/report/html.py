"""The printed summary as HTML: one Jinja2 template, texts from the library's catalogue.

The template (``templates/summary.html``) serves both the web page (with a tool
bar of ``links``) and the PDF (no links, the map embedded as a data URI). It is
rendered by a plain :class:`jinja2.Environment` with the i18n extension and the
library's Babel translations (:mod:`geo_p2dd.i18n`); nothing here needs a web
framework, so a notebook, the command line and the web app print the same page.

>>> html = render_html(Project("data/sample"), "99.01", lang="en")   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import jinja2
import pandas as pd
from markupsafe import Markup

from geo_p2dd import i18n
from geo_p2dd.project import Project
from geo_p2dd.schema import GAP_CLASSES, SIGNAL_CLASSES, SITE_STATUS, gap_definition
from geo_p2dd.scoring import factor_label
from geo_p2dd.style import GAP_ORDER, SITE_GLYPHS, STATUS_ORDER, css_rules
from geo_p2dd.summary import Summary, build_summary, phase_label, read_summary_inputs

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
STYLESHEET = "report.css"
TOP_GAPS = 10
MAP_MAX_HEIGHT_MM = 138.0  # leaves room for the title and headline figures on page 1


@functools.lru_cache(maxsize=len(i18n.LANGS))
def environment(lang: str) -> jinja2.Environment:
    """The Jinja2 environment of the summary templates, with the texts of ``lang``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(("html",)),
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)
    return env


def css_string(text) -> Markup:
    """Text safe inside a double-quoted CSS string in a <style> element."""
    out = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ")
    return Markup(out.replace("\n", " "))


def template_helpers(lang: str) -> dict:
    """Labels and number formats of ``lang`` for the templates."""
    return {
        "lang": lang, "languages": i18n.LANGS,
        "format_int": lambda v: i18n.format_int(v, lang),
        "format_pct": lambda v, digits=0: i18n.format_pct(v, lang, digits),
        "format_date": lambda v: i18n.format_date(v, lang),
        "class_label": lambda c: GAP_CLASSES.label(c, lang),
        "class_definition": lambda c: gap_definition(c, lang),
        "status_label": lambda st: SITE_STATUS.label(st, lang),
        "phase_label": lambda st: phase_label(st, lang),
        "factor_label": lambda f: factor_label(f, lang),
        "signal_label": lambda c: SIGNAL_CLASSES.label(c, lang),
        "glyphs": SITE_GLYPHS, "status_order": STATUS_ORDER,
        "style_css": Markup(css_rules()), "css_string": css_string,
    }


def summary_html(summary: Summary, *, map_src: str, css_href: str = STYLESHEET,
                 links: Mapping[str, str] | None = None, today: str | None = None) -> str:
    """The HTML of a built :class:`~geo_p2dd.summary.Summary`.

    Parameters
    ----------
    summary : Summary
        From :func:`geo_p2dd.summary.build_summary`; its ``lang`` chooses the texts.
    map_src : str
        ``src`` of the map image (a data URI in a PDF, a URL on a web page).
    css_href : str
        ``href`` of the report's stylesheet (relative to the PDF's base URL by default).
    links : mapping, optional
        ``index``, ``pdf`` and ``register`` URLs of the web page's tool bar; without
        them (a PDF) there is no tool bar.
    today : str, optional
        ISO date printed as the print date (default: today).
    """
    classes = summary.headline["classes"]
    planned = summary.headline.get("classes_planned", classes)
    gap_order = [c for c in GAP_ORDER if c not in ("unknown", "public_access_only")
                 or classes[c] or planned.get(c)]
    return environment(summary.lang).get_template("summary.html").render(
        s=summary, for_pdf=links is None, links=links, map_src=map_src, css_href=css_href,
        gap_order=gap_order, today=today or dt.date.today().isoformat(),
        **template_helpers(summary.lang))


def map_data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (the PDF embeds its map; nothing is fetched)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(project: Project, region: str, *, lang: str = i18n.DEFAULT_LANG,
                top: int = TOP_GAPS, links: Mapping[str, str] | None = None,
                map_src: str | None = None, css_href: str = STYLESHEET,
                today: str | None = None, results: pd.DataFrame | None = None,
                areas: pd.DataFrame | None = None, sites: gpd.GeoDataFrame | None = None,
                villages: gpd.GeoDataFrame | None = None) -> str:
    """The summary of ``region`` (kabupaten or kecamatan code) of an analysed project as HTML.

    Without ``map_src`` the static map is rendered and embedded as a data URI.
    ``results``, ``areas``, ``sites`` and ``villages`` may be given when already read.

    Raises
    ------
    NotFoundError
        The project has not been analysed, or has no such region.
    """
    i18n.check_lang(lang)
    # read once for the figures and the map; of the results only the region's rows
    results, areas, sites = read_summary_inputs(project, region, results, areas, sites)
    summary = build_summary(project, region, lang=lang, top=top, results=results, areas=areas,
                            sites=sites)
    if map_src is None:
        from geo_p2dd.staticmap import render_map

        map_src = map_data_uri(render_map(
            project, summary.region.kode, fmt="png", lang=lang, top=top,
            max_height_mm=MAP_MAX_HEIGHT_MM, results=results, areas=areas, villages=villages,
            sites=sites))
    return summary_html(summary, map_src=map_src, css_href=css_href, links=links, today=today)
