"""The printed summary as an A4 PDF (WeasyPrint), fetching nothing but our own files.

WeasyPrint lays out the HTML of :mod:`geo_p2dd.report.html` with the report's
stylesheet; the map is embedded as a data URI. Its URL fetcher serves only the
files of ``geo_p2dd/report/static`` and ``data:`` URIs: a summary never reaches
the network, whatever a name in the data says.

Laying out a summary takes seconds of CPU, so :data:`RENDERS` counts the
layouts made by this process (the single-flight cache in
:mod:`geo_p2dd.report.cache` is measured by it).
"""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path

from geo_p2dd.project import Project
from geo_p2dd.report.html import STATIC, render_html


class _Counter:
    """A thread-safe count (read ``.value``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


RENDERS = _Counter()


def static_fetcher(static: Path = STATIC):
    """A WeasyPrint URL fetcher for ``data:`` URIs and the files under ``static`` only."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    root = static.resolve()
    prefix = root.as_uri() + "/"

    class StaticOnly(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith(prefix):
                path = (root / url[len(prefix):].split("?")[0].split("#")[0]).resolve()
                if path.is_relative_to(root) and path.is_file():
                    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})
            raise ValueError(f"not fetched (summaries use their own files only): {url}")

    return StaticOnly()


def render_document(project: Project, region: str, *, lang: str = "id", stylesheets=None,
                    **options):
    """The summary of ``region`` laid out by WeasyPrint (a ``weasyprint.Document``).

    ``stylesheets`` (``weasyprint.CSS``) are applied after the report's own;
    ``options`` go to :func:`geo_p2dd.report.html.render_html` (``top``, ``today``,
    ``results``, ``areas``, ``sites``, ``villages``).
    """
    from weasyprint import HTML

    html = render_html(project, region, lang=lang, **options)
    RENDERS.add()
    return HTML(string=html, base_url=STATIC.resolve().as_uri() + "/",
                url_fetcher=static_fetcher()).render(stylesheets=stylesheets)


def render_pdf(project: Project, region: str, *, lang: str = "id", **options) -> bytes:
    """The summary of ``region`` (kabupaten or kecamatan code) as A4 PDF bytes.

    Examples
    --------
    >>> pdf = render_pdf(Project("data/sample"), "99.01", lang="en")    # doctest: +SKIP
    >>> pdf[:5]                                                           # doctest: +SKIP
    b'%PDF-'
    """
    return render_document(project, region, lang=lang, **options).write_pdf()
