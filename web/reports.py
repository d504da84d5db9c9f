"""Printable coverage summaries and the infrastructure register download.

- ``/report/``: the kabupaten and each kecamatan, with links;
- ``/report/<region>``: the summary as an HTML page with a print stylesheet;
- ``/report/<region>.pdf``: the same template rendered on the server by WeasyPrint;
- ``/report/<region>/map.png`` (or ``.svg``): the static map alone;
- ``/report/register.xlsx``: the register (one sheet per status and a summary).

Reports are in Bahasa Indonesia unless ``?lang=en``. The figures come from
:mod:`geo_p2dd.summary`; :func:`render_pdf` is also what ``geo-p2dd report`` uses.
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
from pathlib import Path

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from geo_p2dd.errors import NotFoundError
from geo_p2dd.schema import GAP_CLASSES, SIGNAL_CLASSES, SITE_STATUS
from geo_p2dd.scoring import factor_label
from geo_p2dd.summary import GAP_ORDER, STATUS_ORDER, build_summary, list_regions, phase_label

bp = Blueprint("reports", __name__, url_prefix="/report")

MAP_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOP_GAPS = 10
MAP_MAX_HEIGHT_MM = 138.0  # leaves room for the title and headline figures on page 1


def _lang() -> str:
    return g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]


def _cached(key: tuple, make):
    """Per-view cache (dropped with the view when the project's files change)."""
    from web.context import current_view

    cache = current_view().extra.setdefault("reports", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _require_results(view) -> None:
    if view.results is None:
        raise NotFoundError(_("the project %(name)s has not been analysed yet; run "
                              "'geo-p2dd analyze --project %(path)s'", name=view.project.name,
                              path=str(view.project.path)))


def _summary(region: str):
    from web.context import current_view

    view = current_view()
    _require_results(view)
    return build_summary(view.project, region, lang=_lang(), top=TOP_GAPS,
                         results=view.results, areas=view.areas, sites=view.sites)


def _map_bytes(region: str, fmt: str) -> bytes:
    from geo_p2dd.staticmap import render_map
    from web.context import current_view

    view = current_view()
    _require_results(view)
    lang = _lang()
    return _cached(("map", region, fmt, lang), lambda: render_map(
        view.project, region, fmt=fmt, lang=lang, top=TOP_GAPS,
        max_height_mm=MAP_MAX_HEIGHT_MM, results=view.results, villages=view.villages,
        sites=view.sites))


def _css_string(text) -> Markup:
    """Text safe inside a double-quoted CSS string in a <style> element."""
    out = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ")
    return Markup(out.replace("\n", " "))


def _date(value) -> str:
    from babel.dates import format_date

    if not value:
        return "–"
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return format_date(day, format="long", locale=_lang())


def _report_html(region: str, *, for_pdf: bool) -> str:
    summary = _summary(region)
    lang = _lang()
    if for_pdf:
        png = _map_bytes(summary.region.kode, "png")
        map_src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    else:
        map_src = url_for("reports.map_image", region=summary.region.kode, fmt="png", lang=lang)
    return render_template(
        "reports/summary.html", s=summary, for_pdf=for_pdf, map_src=map_src,
        gap_order=[c for c in GAP_ORDER if c != "unknown"
                   or summary.headline["classes"]["unknown"]],
        status_order=STATUS_ORDER, class_label=lambda c: GAP_CLASSES.label(c, lang),
        status_label=lambda st: SITE_STATUS.label(st, lang),
        phase_label=lambda st: phase_label(st, lang),
        factor_label=lambda f: factor_label(f, lang),
        signal_label=lambda c: SIGNAL_CLASSES.label(c, lang),
        format_date=_date, css_string=_css_string,
        today=dt.date.today().isoformat())


def render_document(region: str, stylesheets: list | None = None):
    """The summary of ``region`` laid out by WeasyPrint (a ``weasyprint.Document``).

    ``stylesheets`` (``weasyprint.CSS``) are applied after the report's own.
    """
    from weasyprint import HTML

    html = _report_html(region, for_pdf=True)
    return HTML(string=html, base_url=request.url_root,
                url_fetcher=_static_fetcher(request.url_root)).render(stylesheets=stylesheets)


def render_pdf(region: str) -> bytes:
    """The summary of ``region`` as PDF bytes (inside a request context of the app).

    The command line uses this too: ``geo-p2dd report`` creates the app and calls it in
    a test request context, so the page, the PDF and the CLI share one template.
    """
    return render_document(region).write_pdf()


def _static_fetcher(root: str):
    """A WeasyPrint URL fetcher that serves our static files and fetches nothing else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    static = Path(current_app.static_folder).resolve()
    prefix = root.rstrip("/") + (current_app.static_url_path or "/static") + "/"

    class StaticOnly(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith(prefix):
                path = (static / url[len(prefix):].split("?")[0]).resolve()
                if path.is_relative_to(static) and path.is_file():
                    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, path.read_bytes(),
                                              {"Content-Type": mime})
            raise ValueError(f"not fetched (reports use local files only): {url}")

    return StaticOnly()


# -- routes ----------------------------------------------------------------------------------

@bp.get("/")
def index():
    from web.context import current_view

    view = current_view()
    regions = list_regions(view.results, view.areas) if view.results is not None else []
    headlines = {}
    if view.results is not None:
        from geo_p2dd.summary import headline, in_region

        for r in regions:
            headlines[r.kode] = headline(view.results[in_region(view.results["kode"], r.kode)])
    n_sites = 0 if view.sites is None else len(view.sites)
    return render_template("reports/index.html", regions=regions, headlines=headlines,
                           n_sites=n_sites, analysed=view.results is not None,
                           gap_order=[c for c in GAP_ORDER if c != "unknown"],
                           class_label=lambda c: GAP_CLASSES.label(c, _lang()))


@bp.get("/register.xlsx")
def register_xlsx():
    from geo_p2dd.register import register_xlsx as build
    from geo_p2dd.summary import resolve_region
    from web.context import current_view

    view = current_view()
    region = request.args.get("region") or None
    if region is not None:
        _require_results(view)
        region = resolve_region(view.results, view.areas, region).kode
    data = build(view.project, lang=_lang(), region=region, sites=view.sites,
                 villages=view.villages)
    name = f"register_{(region or view.project.region_code or 'proyek').replace('.', '')}.xlsx"
    return Response(data, mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/<region>.pdf")
def pdf(region: str):
    summary_region = _summary(region).region
    lang = _lang()
    today = dt.date.today().isoformat()  # the PDF prints the date
    data = _cached(("pdf", summary_region.kode, lang, today),
                   lambda: render_pdf(summary_region.kode))
    name = f"ringkasan_{summary_region.kode.replace('.', '')}_{lang}.pdf"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.get("/<region>/map.<fmt>")
def map_image(region: str, fmt: str):
    if fmt not in MAP_TYPES:
        raise NotFoundError(f"maps are available as {', '.join(MAP_TYPES)}")
    return Response(_map_bytes(_summary(region).region.kode, fmt), mimetype=MAP_TYPES[fmt],
                    headers={"Cache-Control": "private, max-age=300"})


@bp.get("/<region>")
def summary(region: str):
    return _report_html(region, for_pdf=False)
