"""Consistency checks on a web page (thin adapter over :mod:`geo_p2dd.check`).

- ``/periksa`` (also ``/check``): the findings of ``geo-p2dd check``, counted by
  kind and listed one by one, Bahasa Indonesia first (``?lang=en`` for English);
  ``?kind=<kind>`` lists one kind;
- ``?f=json``: ``{"findings": [{"kind", "severity", "layer", "id", "row", "message"}]}``,
  the same document as ``geo-p2dd check --json``.

The checks read the project only; their result is kept with the project view
(dropped when the project's files change).
"""

from __future__ import annotations

import json
from collections import Counter

from flask import Blueprint, Response, current_app, g, render_template, request

from geo_p2dd.check import SEVERITIES, Finding, check_project

bp = Blueprint("check", __name__)

#: findings listed one by one on the page (all of them in JSON)
SHOWN = 500


def _lang() -> str:
    return g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]


def _findings(view) -> list[Finding]:
    cache = view.extra.setdefault("check", {})
    if "findings" not in cache:
        cache["findings"] = check_project(view.project)
    return cache["findings"]


def counts_by_kind(findings: list[Finding]) -> list[dict]:
    """``[{"kind", "severity", "n", "example"}]``, warnings first, then by count."""
    counts = Counter((f.kind, f.severity) for f in findings)
    first = {}
    for f in findings:
        first.setdefault(f.kind, f)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return [{"kind": k, "severity": s, "n": n, "example": first[k]}
            for (k, s), n in sorted(counts.items(), key=lambda x: (order[x[0][1]], -x[1],
                                                                    x[0][0]))]


@bp.get("/check")
@bp.get("/periksa")  # registered first: the address links are built with
def index():
    from web.context import current_view

    view = current_view()
    lang = _lang()
    findings = _findings(view)
    kind = request.args.get("kind") or None
    shown = [f for f in findings if kind is None or f.kind == kind]
    if request.args.get("f") == "json":
        body = json.dumps({"findings": [f.to_dict(lang) for f in shown]}, ensure_ascii=False,
                          indent=2)
        return Response(body, mimetype="application/json")
    return render_template("check/index.html", counts=counts_by_kind(findings),
                           findings=shown[:SHOWN], total=len(shown), kind=kind,
                           warnings=sum(f.severity == "warning" for f in findings),
                           infos=sum(f.severity == "info" for f in findings), lang=lang)
