"""Printable coverage summaries and the infrastructure register download (thin adapter).

- ``/report/``: the kabupaten and each kecamatan, with links;
- ``/report/<region>``: the summary as an HTML page with a print stylesheet;
- ``/report/<region>.pdf``: the same summary as an A4 PDF;
- ``/report/<region>/map.png`` (or ``.svg``): the static map alone;
- ``/report/register.xlsx``: the register (one sheet per status and a summary);
- ``/report/static/report.css``: the summary's stylesheet (the library's file).

Reports are in Bahasa Indonesia unless ``?lang=en``. The library renders them
(:mod:`geo_p2dd.report`, :mod:`geo_p2dd.staticmap`, :mod:`geo_p2dd.register`);
the PDF is laid out once per region, language, day and data version and kept in
the project's cache (:func:`geo_p2dd.report.cached_pdf`); at most
:data:`PDF_WAITING` requests wait for layouts (others get 503 with Retry-After), and a
HEAD request never lays one out.
"""

from __future__ import annotations

import datetime as dt
import threading

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from geo_p2dd.errors import NotFoundError
from geo_p2dd.report.html import MAP_MAX_HEIGHT_MM, STATIC, STYLESHEET, TOP_GAPS, summary_html
from geo_p2dd.schema import GAP_CLASSES
from geo_p2dd.style import GAP_ORDER, css_rules
from geo_p2dd.summary import build_summary, headline, in_region, list_regions, resolve_region

bp = Blueprint("reports", __name__, url_prefix="/report", static_folder=str(STATIC),
               static_url_path="/static")

MAP_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Requests that may wait for PDF layouts at once (config REPORT_PDF_WAITING); more are told
# to come back (503, Retry-After) so that a crowd asking for summaries leaves threads free.
PDF_WAITING = 4
PDF_RETRY_AFTER_S = 10


def _lang() -> str:
    return g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]


def _cached(key: tuple, make):
    """Per-view cache (dropped with the view when the project's files change)."""
    from web.context import current_view

    cache = current_view().extra.setdefault("reports", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _analysed_view():
    from web.context import current_view

    view = current_view()
    if view.results is None:
        raise NotFoundError(_("the project %(name)s has not been analysed yet; run "
                              "'geo-p2dd analyze --project %(path)s'", name=view.project.name,
                              path=str(view.project.path)))
    return view


def _region(region: str) -> str:
    """The project's code of ``region`` (NotFoundError when it has no such region)."""
    view = _analysed_view()
    return resolve_region(view.results, view.areas, region).kode


def _map_bytes(region: str, fmt: str) -> bytes:
    from geo_p2dd.staticmap import render_map

    view = _analysed_view()
    lang = _lang()
    return _cached(("map", region, fmt, lang), lambda: render_map(
        view.project, region, fmt=fmt, lang=lang, top=TOP_GAPS,
        max_height_mm=MAP_MAX_HEIGHT_MM, results=view.results, villages=view.villages,
        sites=view.sites))


# -- routes ----------------------------------------------------------------------------------

@bp.get("/")
def index():
    from web.context import current_view

    view = current_view()
    regions = list_regions(view.results, view.areas) if view.results is not None else []
    headlines = {r.kode: headline(view.results[in_region(view.results["kode"], r.kode)])
                 for r in regions}
    n_sites = 0 if view.sites is None else len(view.sites)
    return render_template("reports/index.html", regions=regions, headlines=headlines,
                           n_sites=n_sites, analysed=view.results is not None,
                           gap_order=[c for c in GAP_ORDER if c != "unknown"],
                           class_label=lambda c: GAP_CLASSES.label(c, _lang()),
                           style_css=Markup(css_rules()),
                           css_href=url_for("reports.static", filename=STYLESHEET))


@bp.get("/register.xlsx")
def register_xlsx():
    from geo_p2dd.register import register_xlsx as build
    from web.context import current_view

    view = current_view()
    region = request.args.get("region") or None
    if region is not None:
        region = _region(region)
    data = build(view.project, lang=_lang(), region=region, sites=view.sites,
                 villages=view.villages)
    name = f"register_{(region or view.project.region_code or 'proyek').replace('.', '')}.xlsx"
    return Response(data, mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/<region>.pdf")
def pdf(region: str):
    from geo_p2dd.report.cache import cache_path, cached_pdf

    code = _region(region)
    lang = _lang()
    headers = {"Content-Disposition":
               f'inline; filename="ringkasan_{code.replace(".", "")}_{lang}.pdf"'}
    if request.method == "HEAD":  # a link checker or a preview: never lay out a PDF for it
        return Response(mimetype="application/pdf", headers=headers)
    view = _analysed_view()
    today = dt.date.today().isoformat()
    kept = cache_path(view.project, code, lang, today)
    if kept.is_file():
        return Response(kept.read_bytes(), mimetype="application/pdf", headers=headers)
    waiting = _waiting_slots()
    if not waiting.acquire(blocking=False):  # keep threads free for everything else
        return Response(_("The summary is being prepared; please try again in a moment."),
                        status=503, mimetype="text/plain",
                        headers={"Retry-After": str(PDF_RETRY_AFTER_S)})
    try:
        data = cached_pdf(view.project, code, lang=lang, today=today, results=view.results,
                          areas=view.areas, sites=view.sites, villages=view.villages)
    finally:
        waiting.release()
    return Response(data, mimetype="application/pdf", headers=headers)


def _waiting_slots() -> threading.BoundedSemaphore:
    """How many requests of this app may wait for PDF layouts at once."""
    n = int(current_app.config.get("REPORT_PDF_WAITING", PDF_WAITING))
    return current_app.extensions.setdefault("geo_p2dd.pdf_waiting",
                                             threading.BoundedSemaphore(max(n, 1)))


@bp.get("/<region>/map.<fmt>")
def map_image(region: str, fmt: str):
    if fmt not in MAP_TYPES:
        raise NotFoundError(f"maps are available as {', '.join(MAP_TYPES)}")
    code = _region(region)
    if request.method == "HEAD":  # no map is drawn for a HEAD request
        return Response(mimetype=MAP_TYPES[fmt])
    return Response(_map_bytes(code, fmt), mimetype=MAP_TYPES[fmt],
                    headers={"Cache-Control": "private, max-age=300"})


@bp.get("/<region>")
def summary(region: str):
    view = _analysed_view()
    lang = _lang()
    s = build_summary(view.project, region, lang=lang, top=TOP_GAPS, results=view.results,
                      areas=view.areas, sites=view.sites)
    code = s.region.kode
    links = {"index": url_for("reports.index"),
             "pdf": url_for("reports.pdf", region=code, lang=lang),
             "register": url_for("reports.register_xlsx", region=code, lang=lang)}
    return summary_html(s, links=links,
                        map_src=url_for("reports.map_image", region=code, fmt="png", lang=lang),
                        css_href=url_for("reports.static", filename=STYLESHEET))
