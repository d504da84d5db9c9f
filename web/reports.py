"""Printable coverage summaries and the infrastructure register download (thin adapter).

- ``/report/``: the regions, one level at a time (:func:`index_rows`): the
  provinces of a project spanning several (each links to ``/report/?in=<code>``
  listing its kabupaten), the kabupaten of one province, and a kabupaten with
  each of its kecamatan; figures from the stored ``area_results``, the page
  kept per project version;
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

import pandas as pd
from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from geo_p2dd.codes import in_region as code_in_region
from geo_p2dd.codes import normalise_code
from geo_p2dd.errors import NotFoundError
from geo_p2dd.report.html import MAP_MAX_HEIGHT_MM, STATIC, STYLESHEET, TOP_GAPS, summary_html
from geo_p2dd.schema import GAP_CLASSES
from geo_p2dd.style import GAP_ORDER, css_rules
from geo_p2dd.summary import Region, build_summary, resolve_region

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


# -- the index -------------------------------------------------------------------------------

#: levels of ``area_results`` the index lists, largest first, and their code lengths
INDEX_LEVELS = {"provinsi": 1, "kabupaten": 2, "kecamatan": 3}


def index_rows(areas: pd.DataFrame, scope: str | None = None) -> tuple[str | None, list[dict]]:
    """The regions the summaries index lists at ``scope``, from stored area figures.

    Parameters
    ----------
    areas : DataFrame
        The project's ``area_results`` (``level``, ``kode``, ``nama``,
        ``villages``, ``n_<gap class>``, ``people_unserved``).
    scope : str, optional
        A province or kabupaten code; None for the whole project.

    Returns
    -------
    (scope, rows)
        The scope shown (a project of one province and one kabupaten shows that
        kabupaten) and one dict per region: ``region`` (a
        :class:`~geo_p2dd.summary.Region`), ``villages``, ``classes``
        {gap class: kampung}, ``people_unserved``, ``summary`` (True for a
        kabupaten or kecamatan, which have a printable summary) and ``children``
        (True when the region has an index of its own). A project of several
        provinces lists its provinces, a province its kabupaten, a kabupaten
        itself and each of its kecamatan.

    Raises
    ------
    NotFoundError
        When ``scope`` is not a province or kabupaten of the project.
    """
    levels = areas[areas["level"].isin(list(INDEX_LEVELS))]
    by_level = {lv: levels[levels["level"] == lv].sort_values("kode") for lv in INDEX_LEVELS}
    if scope is None:
        if len(by_level["provinsi"]) > 1:
            return None, _rows(by_level["provinsi"], children=True)
        if len(by_level["kabupaten"]) > 1:
            return None, _rows(by_level["kabupaten"], children=True)
        if len(by_level["kabupaten"]) == 0:
            return None, []
        scope = str(by_level["kabupaten"]["kode"].iloc[0])
    scope = normalise_code(str(scope).strip())
    depth = len(scope.split("."))
    level = next((lv for lv, d in INDEX_LEVELS.items() if d == depth), None)
    if level not in ("provinsi", "kabupaten") or not (by_level[level]["kode"] == scope).any():
        raise NotFoundError(f"no province or kabupaten with code {scope!r} in this project")
    if level == "provinsi":
        kab = by_level["kabupaten"]
        return scope, _rows(kab[code_in_region(kab["kode"], scope)], children=True)
    kec = by_level["kecamatan"]
    own = by_level["kabupaten"][by_level["kabupaten"]["kode"] == scope]
    return scope, (_rows(own, children=False)
                   + _rows(kec[code_in_region(kec["kode"], scope)], children=False))


def _rows(frame: pd.DataFrame, *, children: bool) -> list[dict]:
    out = []
    for r in frame.to_dict("records"):
        nama = r.get("nama")
        region = Region(str(r["kode"]), str(nama) if isinstance(nama, str) and nama
                        else str(r["kode"]), str(r["level"]))
        people = float(r.get("people_unserved") or 0.0)
        out.append({"region": region, "villages": int(r["villages"]),
                    "classes": {c: int(r.get(f"n_{c}", 0) or 0) for c in GAP_ORDER},
                    "people_unserved": int(round(people)) if people == people else 0,
                    "summary": region.level in ("kabupaten", "kecamatan"),
                    "children": children})
    return out


def _trail(areas: pd.DataFrame, scope: str | None) -> list[Region]:
    """The regions above and at ``scope`` (province, kabupaten), for the index's links."""
    if scope is None:
        return []
    parts = scope.split(".")
    codes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    hits = areas[areas["kode"].isin(codes) & areas["level"].isin(list(INDEX_LEVELS))]
    names = dict(zip(hits["kode"], hits["nama"], strict=True))
    return [Region(c, str(names.get(c) or c), lv) for c, lv in
            zip(codes, INDEX_LEVELS, strict=False)]


# -- routes ----------------------------------------------------------------------------------

@bp.get("/")
def index():
    from web.context import current_view

    view = current_view()
    lang = _lang()
    scope = request.args.get("in") or None
    # rendered once per project view (dropped when the project's files change), data
    # version, scope, language and mount point; the CSP nonce is filled in per response
    key = ("reports-index", view.project.data_version, scope, lang, request.script_root)
    return view.pages.get(key, lambda: _index_page(view, scope, lang))


def _index_page(view, scope: str | None, lang: str) -> str:
    analysed = view.results is not None
    shown, rows, trail = None, [], []
    if analysed and view.areas is not None:
        shown, rows = index_rows(view.areas, scope)
        trail = _trail(view.areas, shown) if scope is not None else []
    n_sites = 0 if view.sites is None else len(view.sites)
    return render_template("reports/index.html", rows=rows, trail=trail,
                           n_sites=n_sites, analysed=analysed,
                           gap_order=[c for c in GAP_ORDER if c != "unknown"],
                           class_label=lambda c: GAP_CLASSES.label(c, lang),
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
