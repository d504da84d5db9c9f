"""The register on the web: the list with filters, add/edit forms with a map, a site's history.

Thin views over :mod:`geo_p2dd.registry.repository`: every change is one row
transaction with its history row (source ``web``, the signed-in user's name).
Everyone signed in sees every record; ``admin`` changes all of them, an
``editor`` only those of their own agency (the edit buttons show only there).
An edit form carries the ETag of the version it shows, so a change made by
someone else in the meantime is refused (412) instead of being overwritten.
The point is set by clicking the map (``static/register.js``); the kampung is
filled in from the point when none is chosen, and a chosen kampung that does
not contain the point is named in a warning. The edit form's *Ubah status*
(``POST /register/<id>/status``) changes the status with the day it took
effect (default today; never in the future) and a note, both kept in the
history row. Sites changed by an agency import not yet verified carry a
*menunggu verifikasi* badge (:mod:`web.register_review`).
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from geo_p2dd.errors import InputError
from geo_p2dd.registry import repository as repo
from geo_p2dd.registry import uploads
from geo_p2dd.registry.validate import FIELDS, indonesia_today
from geo_p2dd.schema import FUNDING, SITE_KINDS, SITE_STATUS, TECHNOLOGIES
from web.auth import WRITERS, check_may_edit, may_edit, register_engine, require
from web.context import current_view
from web.links import page_arg

bp = Blueprint("register", __name__, url_prefix="/register")

PAGE_SIZE = 50
#: the form's fields, in order (the point comes from the map or the lon/lat boxes)
FORM_FIELDS = ("kind", "name", "status", "village_kode", "agency", "funding", "year",
               "operator", "technology", "capacity_mbps", "budget_idr", "realised_idr",
               "budget_year", "sipd_code", "notes", "lon", "lat")
assert set(FORM_FIELDS) <= set(FIELDS)


def _villages() -> list[dict[str, str]]:
    view = current_view()
    frame = view.villages
    kecamatan = frame["kecamatan"] if "kecamatan" in frame else None
    return [{"kode": k, "nama": n,
             "kecamatan": "" if kecamatan is None or kecamatan.iloc[i] is None
             else str(kecamatan.iloc[i])}
            for i, (k, n) in enumerate(zip(frame["kode"], frame["nama"], strict=True))]


def _kecamatan(villages: list[dict[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for v in villages:
        seen.setdefault(v["kode"][:8], v["kecamatan"] or v["kode"][:8])
    return sorted(seen.items(), key=lambda kv: kv[1])


def village_at(lon: float, lat: float) -> str | None:
    """The code of the kampung whose polygon holds the point (None outside all)."""
    frame = current_view().villages
    point = shapely.Point(lon, lat)
    hits = frame.sindex.query(point, predicate="intersects")
    return None if len(hits) == 0 else str(frame["kode"].iloc[int(hits[0])])


def _vocabularies() -> dict[str, Any]:
    lang = g.get("lang", "id")
    return {"kinds": SITE_KINDS.labels(lang), "statuses": SITE_STATUS.labels(lang),
            "fundings": FUNDING.labels(lang), "technologies": TECHNOLOGIES}


@bp.get("/")
@require()
def index():
    from web.api import site_filter
    from web.register_summary import budget_for, page_filters

    args = {k: v for k, v in request.args.items() if v}
    if args.get("kecamatan"):
        args["village_kode"] = args["kecamatan"]
    page = page_arg()
    engine = register_engine()
    filters = site_filter(args, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    sites = repo.list_sites(engine, filters)
    total = repo.count_sites(engine, filters)
    unverified = uploads.unverified_sites(engine, [s["id"] for s in sites])
    villages = _villages()
    names = {v["kode"]: v["nama"] for v in villages}
    agencies = sorted({s for s in repo_agencies(engine) if s})
    pages = max(1, math.ceil(total / PAGE_SIZE))
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    prev_url = url_for("register.index", **query, page=page - 1) if page > 1 else None
    next_url = url_for("register.index", **query, page=page + 1) if page < pages else None
    return render_template(
        "register/index.html", sites=sites, total=total, page=page, pages=pages,
        prev_url=prev_url, next_url=next_url, args=request.args, names=names,
        kecamatan=_kecamatan(villages), agencies=agencies,
        editable={s["id"] for s in sites if may_edit(current_user, s["agency"])},
        unverified=unverified,
        budget=budget_for(engine, page_filters(request.args), g.get("lang", "id")),
        **_vocabularies())


def repo_agencies(engine) -> list[str]:
    """The agencies the register holds records of (for the filter)."""
    from sqlalchemy import select

    from geo_p2dd.registry.db import read_transaction

    with read_transaction(engine) as conn:
        return list(conn.execute(select(repo.SITES.c.agency).distinct()).scalars())


def _form_values(form: MultiDict) -> dict[str, Any]:
    return {k: form.get(k, "").strip() for k in FORM_FIELDS if k in form}


def _place(values: dict[str, Any]) -> str | None:
    """Fill in the kampung from the point; a warning when the chosen one does not hold it."""
    try:
        lon, lat = float(values["lon"]), float(values["lat"])
    except (KeyError, TypeError, ValueError):
        return None  # validation names the field
    found = village_at(lon, lat)
    if not values.get("village_kode"):
        if found:
            values["village_kode"] = found
        return None
    if found != values["village_kode"]:
        names = {v["kode"]: v["nama"] for v in _villages()}
        return _("The point lies outside the kampung chosen (%(chosen)s); it lies in "
                 "%(found)s.", chosen=names.get(values["village_kode"], values["village_kode"]),
                 found=names.get(found, _("no kampung of the project")) if found
                 else _("no kampung of the project"))
    return None


def _form(site: dict[str, Any] | None, values: dict[str, Any], *, tag: str | None = None,
          error: InputError | str | None = None, status: int = 200,
          change: dict[str, str] | None = None):
    field = error.column if isinstance(error, InputError) else None
    today = indonesia_today().isoformat()  # the server's clock may be on UTC
    change = change or {"status": "", "status_date": today, "status_note": ""}
    return render_template(
        "register/form.html", site=site, values=values, etag=tag, error=error, field=field,
        change=change, today=today,
        villages=_villages(), basemap=_basemap(), fields=FORM_FIELDS,
        bounds=[round(float(v), 6) for v in current_view().villages.total_bounds],
        **_vocabularies()), status


def _basemap() -> str:
    from web.maps import _basemap as chosen

    return chosen()


@bp.route("/new", methods=["GET", "POST"])
@require(*WRITERS)
def new():
    if request.method == "GET":
        values = {"agency": current_user.agency or "", "status": "planned"}
        return _form(None, values)
    values = _form_values(request.form)
    if current_user.role == "editor" and not values.get("agency"):
        values["agency"] = current_user.agency
    check_may_edit(values.get("agency"))
    warning = _place(values)
    try:
        site, _tag = repo.create_site(register_engine(), values, user=current_user.name,
                                      source="web")
    except InputError as exc:
        return _form(None, values, error=exc, status=400)
    if warning:
        flash(warning, "warning")
    flash(_("Site %(name)s added.", name=site["name"]))
    return redirect(url_for("register.site", site_id=site["id"]))


@bp.route("/<path:site_id>/edit", methods=["GET", "POST"])
@require(*WRITERS)
def edit(site_id: str):
    engine = register_engine()
    site, tag = repo.get_site(engine, site_id)
    check_may_edit(site["agency"])
    if request.method == "GET":
        values = {k: "" if site.get(k) is None else site[k] for k in FORM_FIELDS}
        return _form(site, values, tag=tag)
    values = _form_values(request.form)
    if "agency" in values:
        check_may_edit(values["agency"])
    warning = _place(values)
    given = request.form.get("etag")
    try:
        site, tag = repo.patch_site(engine, site_id, values, given, user=current_user.name,
                                    source="web")
    except InputError as exc:
        return _form(site, values, tag=given, error=exc, status=400)
    except repo.PreconditionFailed:
        site, tag = repo.get_site(engine, site_id)
        return _form(site, values, tag=tag, status=412, error=_(
            "Someone else changed this site while you were editing it. Their version is "
            "now the base of this form; check your changes and save again."))
    if warning:
        flash(warning, "warning")
    flash(_("Changes saved."))
    return redirect(url_for("register.site", site_id=site_id))


@bp.post("/<path:site_id>/status")
@require(*WRITERS)
def change_status(site_id: str):
    """"Ubah status": a new status with the date it took effect and a note, in the history."""
    engine = register_engine()
    site, tag = repo.get_site(engine, site_id)
    check_may_edit(site["agency"])
    change = {k: request.form.get(k, "").strip() for k in ("status", "status_date",
                                                           "status_note")}
    given = request.form.get("etag")
    values = {k: "" if site.get(k) is None else site[k] for k in FORM_FIELDS}
    try:
        site, tag = repo.patch_site(
            engine, site_id, {"status": change["status"]}, given, user=current_user.name,
            source="web", status_date=change["status_date"] or indonesia_today(),
            status_note=change["status_note"])
    except InputError as exc:
        return _form(site, values, tag=given, error=exc, status=400, change=change)
    except repo.PreconditionFailed:
        site, tag = repo.get_site(engine, site_id)
        return _form(site, values, tag=tag, status=412, change=change, error=_(
            "Someone else changed this site while you were editing it. Their version is "
            "now the base of this form; check your changes and save again."))
    flash(_("Status changed."))
    return redirect(url_for("register.site", site_id=site_id))


@bp.post("/<path:site_id>/delete")
@require(*WRITERS)
def delete(site_id: str):
    engine = register_engine()
    site, _tag = repo.get_site(engine, site_id)
    check_may_edit(site["agency"])
    repo.delete_site(engine, site_id, request.form.get("etag") or None,
                     user=current_user.name, source="web")
    flash(_("Site %(name)s deleted.", name=site["name"]))
    return redirect(url_for("register.index"))


@bp.get("/<path:site_id>")
@require()
def site(site_id: str):
    engine = register_engine()
    changes = repo.history(engine, site_id)
    record, tag = repo.get_site(engine, site_id, include_deleted=True)
    names = {v["kode"]: v["nama"] for v in _villages()}
    return render_template("register/site.html", site=record, etag=tag, history=changes,
                           names=names, unverified=uploads.unverified_sites(engine, [site_id]),
                           editable=may_edit(current_user, record["agency"])
                           and record["deleted_at"] is None, **_vocabularies())
