"""Field reports from phones: the ``/lapor`` form, its service worker and ``/api/reports``.

Roles (documented decision): editors, reviewers and admins send reports
(viewers only read); every signed-in user lists them; reviewers and admins
verify or reject. Authentication as in :mod:`web.api` (bearer token, or the
session with the ``X-CSRFToken`` header).

- ``POST /api/reports`` (``id`` a UUID made on the phone, ``village_kode``,
  ``lon``, ``lat``, ``operator``, ``technology``, ``observed_at``, ``note``)
  → 201 and ``Location`` the first time; 200 with the same body when the same
  id is sent again (the report is stored once).
- ``GET /api/reports`` → ``{"reports": [...]}``; filters ``status``,
  ``village_kode``, ``reporter``.
- ``POST /api/reports/<id>/verify`` and ``/reject`` → 200 and the report.
- ``GET /lapor/tinjau`` → the review page of reviewers and admins (reports
  waiting for review, ``?status=`` the others), each with verify and reject
  buttons (``POST /lapor/tinjau/<id>/verify|reject``, CSRF-protected forms).
- ``GET /lapor`` → the phone form; ``GET /lapor/villages.geojson?region=KK.KK``
  → the kampung outlines of one kabupaten for its map (vector: no basemap
  needed), simplified, made once per data version (a national project's 83,000
  villages would be far too many for a phone). A project of one kabupaten needs
  no ``region``; one of several answers an empty collection (``choose_region``)
  until the form's kabupaten select — remembered on the phone — names one, and
  400 for a code that is not one of its kabupaten;
  ``GET /lapor/token`` → a fresh CSRF token and the signed-in user's name for
  sending the queue (a page opened from the phone's cache may be older than the
  token's lifetime; a queued report is sent only by the user who wrote it);
  ``GET /sw.js`` → the service worker.

Offline (documented decision): the service worker caches exactly
:func:`offline_urls` — the signed-in user's ``/lapor`` page, the village
outlines of the chosen kabupaten (the page registers ``/sw.js?region=KK.KK``:
choosing another kabupaten installs a worker keeping that one's outlines) and
the page's scripts, styles and marker images — and nothing else:
never an API response, never another page. Its own policy allows it to fetch
from this site only (a worker obeys the CSP of its script: the ``default-src
'none'`` of non-page responses made its install fail, so it never registered).
Signing out clears it: the sign-out response carries ``Clear-Site-Data``
(cache, storage: the cached page with its CSRF token, the queue, the worker)
and the worker deletes its cache when it sees the sign-out request.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from geo_p2dd.codes import in_region, normalise_code
from geo_p2dd.errors import InputError
from geo_p2dd.registry import field_reports as fr
from web.auth import register_engine, require

bp = Blueprint("field_reports", __name__)

#: roles that send field reports
REPORTERS = ("admin", "editor", "reviewer")
#: roles that verify or reject them
REVIEWERS = ("admin", "reviewer")
#: static files the form loads besides the app's stylesheet bundle
FORM_STATIC = ("vendor/leaflet/leaflet.css", "vendor/leaflet/leaflet.js",
               "vendor/leaflet/images/marker-icon.png",
               "vendor/leaflet/images/marker-icon-2x.png",
               "vendor/leaflet/images/marker-shadow.png", "field.js")
#: the zoom whose simplified outlines the form's map shows
MAP_ZOOM = 12
#: placeholder in static/sw.js replaced by what the worker keeps (JSON)
OFFLINE_PLACEHOLDER = "__GEO_P2DD_OFFLINE__"
#: outline collections kept per project view (kabupaten × language)
OUTLINES_KEPT = 32
EMPTY = '{"type":"FeatureCollection","features":[]}'


def kabupaten_choices(villages: pd.DataFrame, areas: pd.DataFrame | None) -> list[tuple[str, str]]:
    """The kabupaten of a project's villages: ``(code, name)`` by name.

    Names come from the kabupaten rows of the area results, else the villages'
    ``kabupaten`` column, else the code itself.
    """
    if "kode" not in villages.columns or not len(villages):
        return []
    codes = villages["kode"].astype("string").str.slice(0, 5)
    names: dict[str, str] = {}
    if "kabupaten" in villages.columns:
        named = pd.DataFrame({"k": codes, "n": villages["kabupaten"]}).dropna()
        names.update(named.drop_duplicates("k").set_index("k")["n"].astype(str).to_dict())
    if areas is not None and {"level", "kode", "nama"} <= set(areas.columns):
        kab = areas[areas["level"] == "kabupaten"].dropna(subset=["nama"])
        names.update(dict(zip(kab["kode"].astype(str), kab["nama"].astype(str), strict=True)))
    unique = sorted(str(c) for c in codes.dropna().unique())
    return sorted(((c, names.get(c) or c) for c in unique), key=lambda kv: (kv[1], kv[0]))


def _choices(view: Any) -> list[tuple[str, str]]:
    made = view.extra.get("lapor_kabupaten")
    if made is None:
        made = view.extra["lapor_kabupaten"] = kabupaten_choices(view.villages, view.areas)
    return made


def chosen_region(raw: str | None, choices: list[tuple[str, str]]) -> str | None:
    """The kabupaten whose outlines to serve: ``raw`` when it is one of ``choices``, the
    only one when there is one, else None (several and none chosen).

    Raises
    ------
    InputError
        ``raw`` is not one of the project's kabupaten (column ``region``).
    """
    codes = [c for c, _name in choices]
    raw = (raw or "").strip()
    if not raw:
        return codes[0] if len(codes) == 1 else None
    code = normalise_code(raw)
    if code not in codes:
        raise InputError(_("Not a kabupaten of this project."), column="region",
                         expected="a kabupaten code of the project, e.g. "
                                  + (codes[0] if codes else "64.11"),
                         found=repr(raw[:20]))
    return code


def region_outlines(view: Any, region: str | None, lang: str) -> str:
    """The simplified outlines of ``region``'s villages (FeatureCollection text), made
    once per project view (that is, per data version), kabupaten and language."""
    from web.mapdata import village_features

    if region is None:
        if len(_choices(view)) > 1:
            return '{"type":"FeatureCollection","features":[],"choose_region":true}'
        return EMPTY
    kept = view.extra.setdefault("lapor_outlines", {})
    key = (region, lang)
    text = kept.get(key)
    if text is None:
        idx = np.flatnonzero(in_region(view.villages["kode"], region).to_numpy())
        text = village_features(view, idx, MAP_ZOOM, lang) if len(idx) else EMPTY
        while len(kept) >= OUTLINES_KEPT:  # bounded: the oldest goes
            kept.pop(next(iter(kept)), None)
        kept[key] = text
    return text


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError(_("The request body must be a JSON object."), column="body",
                         expected="a JSON object", found=request.mimetype or "nothing")
    return body


@bp.post("/api/reports")
@require(*REPORTERS)
def create():
    report, created = fr.store_report(register_engine(), _json_body(), current_user.name)
    response = jsonify(report)
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for(".one", report_id=report["id"])
    return response


@bp.get("/api/reports")
@require()
def listing():
    args = request.args
    reports = fr.list_reports(register_engine(), status=args.get("status") or None,
                              village_kode=args.get("village_kode") or None,
                              reporter=args.get("reporter") or None)
    return jsonify(reports=reports)


@bp.get("/api/reports/<report_id>")
@require()
def one(report_id: str):
    return jsonify(fr.get_report(register_engine(), report_id))


@bp.post("/api/reports/<report_id>/<any(verify, reject):decision>")
@require(*REVIEWERS)
def review(report_id: str, decision: str):
    status = "verified" if decision == "verify" else "rejected"
    return jsonify(fr.review_report(register_engine(), report_id, status, current_user.name))


@bp.get("/lapor")
@require()
def form():
    from web.context import current_view

    view = current_view()
    villages = view.villages
    regions = _choices(view)
    # several kabupaten: the kampung list comes with the chosen kabupaten's outlines
    options = sorted(zip(villages["kode"], villages["nama"], strict=True), key=lambda kv: kv[1]) \
        if {"kode", "nama"} <= set(villages.columns) and len(regions) <= 1 else []
    return render_template("field/lapor.html", villages=options,
                           regions=regions if len(regions) > 1 else [],
                           may_report=current_user.role in REPORTERS,
                           may_review=current_user.role in REVIEWERS)


def _village_names() -> dict[str, str]:
    from web.context import current_view

    villages = current_view().villages
    if not {"kode", "nama"} <= set(villages.columns):
        return {}
    return dict(zip(villages["kode"], villages["nama"], strict=True))


@bp.get("/lapor/tinjau")
@require(*REVIEWERS)
def review_page():
    status = request.args.get("status") or "submitted"
    reports = fr.list_reports(register_engine(), status=status)
    return render_template("field/review.html", reports=reports, status=status,
                           statuses=fr.REPORT_STATUSES, names=_village_names())


@bp.post("/lapor/tinjau/<report_id>/<any(verify, reject):decision>")
@require(*REVIEWERS)
def review_form(report_id: str, decision: str):
    status = "verified" if decision == "verify" else "rejected"
    fr.review_report(register_engine(), report_id, status, current_user.name)
    flash(_("Report verified: it counts as evidence in the next analysis.")
          if status == "verified" else _("Report rejected."))
    return redirect(url_for(".review_page", status=request.form.get("back") or None))


@bp.get("/lapor/villages.geojson")
@require()
def villages():
    from web.context import current_view

    view = current_view()
    region = chosen_region(request.args.get("region"), _choices(view))
    response = Response(region_outlines(view, region, g.lang),
                        mimetype="application/geo+json")
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha256(repr((view.stamp, region, g.lang)).encode())
                      .hexdigest()[:24])
    return response.make_conditional(request)


@bp.get("/lapor/token")
@require()
def token():
    from flask_wtf.csrf import generate_csrf

    response = jsonify(csrf_token=generate_csrf(), user=current_user.name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def _bundle_urls(name: str) -> list[str]:
    from web.assets import BUNDLES, asset_url

    url = asset_url(name)
    return [url] if url else [url_for("static", filename=f) for f in BUNDLES[name]]


def offline_urls(region: str | None = None) -> dict[str, Any]:
    """What the service worker keeps: the page and outlines (network first), the assets.

    ``region``: the kabupaten whose outlines it keeps (None: the project's only one).

    Returns
    -------
    dict
        ``page``, ``villages`` and ``logout`` (paths), ``assets`` (paths kept
        until they change; :func:`service_worker` adds ``cache``, the cache's
        name, new when any of them or the worker changes).
    """
    assets = _bundle_urls("app.css") + [url_for("static", filename=f) for f in FORM_STATIC]
    villages = url_for(".villages", region=region) if region else url_for(".villages")
    urls = {"page": url_for(".form"), "villages": villages,
            "logout": url_for("auth.logout"), "assets": assets}
    return urls


@bp.get("/sw.js")
def service_worker():
    path = current_app.static_folder + "/sw.js"  # type: ignore[operator]
    with open(path, encoding="utf-8") as fh:
        body = fh.read()
    region = (request.args.get("region") or "").strip() or None
    if region is not None:  # the form's choice; its outlines check it against the project
        region = normalise_code(region)
        if not all(part.isdigit() for part in region.split(".")) or len(region) != 5:
            raise InputError(_("Not a kabupaten of this project."), column="region",
                             expected="a kabupaten code such as 64.11", found=repr(region[:20]))
    urls = offline_urls(region)
    # the cache is named after the worker, the URLs and the static files' versions: a
    # deployed field.js (same URL, new content) makes a new worker and a new cache
    static = Path(current_app.static_folder)  # type: ignore[arg-type]
    stamps = [(f, *_stamp(static / f)) for f in FORM_STATIC]
    version = hashlib.sha256((body + json.dumps([urls, stamps])).encode()).hexdigest()[:12]
    urls["cache"] = f"geo-p2dd-field-{version}"
    body = body.replace(OFFLINE_PLACEHOLDER, json.dumps(urls))
    response = Response(body, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    # a worker obeys its own script's policy: it fetches from this site only
    response.headers["Content-Security-Policy"] = \
        "default-src 'none'; connect-src 'self'; frame-ancestors 'none'"
    return response
