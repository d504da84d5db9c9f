"""Printed summaries rendered by the library: HTML (Jinja2 + Babel), PDF (WeasyPrint).

The figures come from :mod:`geo_p2dd.summary`, the map from :mod:`geo_p2dd.staticmap`,
colours and orders from :mod:`geo_p2dd.style` and texts from :mod:`geo_p2dd.i18n`.
Nothing here imports a web framework: ``geo-p2dd report``, a notebook and the web
app's ``/report/<region>.pdf`` print the same summary.

>>> from geo_p2dd.report import render_pdf                       # doctest: +SKIP
>>> Path("ringkasan.pdf").write_bytes(render_pdf(Project("data/sample"), "99.01"))
"""

from geo_p2dd.report.cache import cached_pdf, data_version
from geo_p2dd.report.html import render_html, summary_html
from geo_p2dd.report.pdf import render_document, render_pdf

__all__ = ["cached_pdf", "data_version", "render_document", "render_html", "render_pdf",
           "summary_html"]
