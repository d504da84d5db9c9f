"""OGC API - Features (Part 1: Core, GeoJSON, HTML, OpenAPI 3.0; Part 3: CQL2 text
filters) under ``/ogcapi``.

One collection per downloadable layer (villages, locations, sites, aggregates;
see :mod:`geo_p2dd.exports.catalogue`). Items take ``bbox``, ``limit``
(1..10,000), ``offset``, ``f=json|html``, ``region`` (code prefix), ``class``
(gap class), ``min_score`` (villages) and equality filters on each collection's
main columns (``?kecamatan_kode=64.11.05``; repeat a parameter for alternatives),
``filter`` in CQL2 text on any column (``filter=no_4g_share >= 0.5 AND
kecamatan_kode = '64.11.05'``, see :mod:`geo_p2dd.exports.cql2`) and ``sortby``
(``sortby=-score,nama``). Each collection serves its default style as SLD 1.1
or QML (``/collections/<id>/styles/default``).

This blueprint is thin: the resources are built by :mod:`web.ogcapi_core`, the
OpenAPI document by :mod:`web.ogcapi_openapi`, links by :mod:`web.links`, and
errors become OGC exceptions ``{"code": ..., "description": ...}`` in
:mod:`web.errors` (400 for a bad parameter, 404 for an unknown collection or
feature; never a traceback).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, render_template, request
from flask_babel import gettext as _

from geo_p2dd.errors import NotFoundError
from geo_p2dd.exports.data import ExportData
from web import ogcapi_core as core
from web.links import external_url
from web.ogcapi_openapi import openapi

bp = Blueprint("ogcapi", __name__, url_prefix="/ogcapi")


@bp.app_template_global("ogc_value")
def _show(value) -> str:
    return core.show(value)


def _data() -> ExportData:
    from web.downloads import export_data

    return export_data()


def _lang() -> str:
    return "en" if (g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]) == "en" else "id"


def _url(endpoint: str, **params) -> str:
    return external_url(endpoint, **{k: v for k, v in params.items() if v is not None})


def _args() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


def _html(allowed: set[str] | None = None) -> bool:
    """Check the parameters (when ``allowed`` is given), then HTML or JSON?"""
    if allowed is not None:
        core.check_params(_args(), allowed)
    best = request.accept_mimetypes.best_match([core.JSON, core.GEOJSON, core.HTML],
                                               default=core.JSON)
    return core.wants_html(request.args.get("f"), best)


def _respond(reply: core.Reply) -> Response:
    status, headers, body = reply
    headers = dict(headers)
    return Response(body, status=status, mimetype=headers.pop("Content-Type"),
                    headers=headers)


@bp.route("/", methods=["GET"], strict_slashes=False)
def landing():
    html = _html(set())
    data = _data()
    doc = core.landing_doc(
        _url, _("%(name)s: village connectivity gaps", name=data.project.name),
        _("Connectivity gap layers of geo_p2dd as OGC API – Features: villages with gap class "
          "and score, unserved locations, sites and kecamatan/kabupaten figures."))
    if html:
        return render_template("ogcapi/landing.html", doc=doc, data=data,
                               self_url=_url("ogcapi.landing"),
                               collections=core.collections_doc(data, _url,
                                                                _lang())["collections"])
    return _respond(core.reply(doc))


@bp.get("/conformance")
def conformance():
    doc = core.conformance_doc()
    if _html(set()):
        return render_template("ogcapi/conformance.html", doc=doc)
    return _respond(core.reply(doc))


@bp.get("/api")
def api():
    html = _html(set())
    doc = openapi(_data(), _url)
    if html:
        return render_template("ogcapi/api.html", doc=doc)
    return _respond(core.reply(doc, core.OPENAPI))


@bp.get("/collections")
def collections():
    html = _html(set())
    doc = core.collections_doc(_data(), _url, _lang())
    if html:
        return render_template("ogcapi/collections.html", doc=doc)
    return _respond(core.reply(doc))


@bp.get("/collections/<cid>")
def collection(cid: str):
    html = _html(set())
    data = _data()
    core.collection_info(data, cid)
    doc = core.collection_doc(data, cid, _url, _lang())
    if html:
        return render_template("ogcapi/collection.html", doc=doc, count=data.count(cid),
                               schema=core.schema_doc(data, cid, _url, _lang()))
    return _respond(core.reply(doc))


@bp.get("/collections/<cid>/schema")
def schema(cid: str):
    _html(set())
    data = _data()
    core.collection_info(data, cid)
    return _respond(core.reply(core.schema_doc(data, cid, _url, _lang()), core.SCHEMA_JSON))


@bp.get("/collections/<cid>/queryables")
def queryables(cid: str):
    _html(set())
    return _respond(core.reply(core.queryables_doc(_data(), cid, _url, _lang()),
                               core.SCHEMA_JSON))


@bp.get("/collections/<cid>/styles/<sid>")
def style(cid: str, sid: str):
    core.check_params(_args(), set())
    return _respond(core.style_reply(_data(), cid, sid, request.args.get("f")))


@bp.get("/collections/<cid>/items")
def items(cid: str):
    page = core.items_page(_data(), cid, _args(), _url)
    if _html():
        return render_template("ogcapi/items.html", cid=cid, info=page.info, page=page.page,
                               matched=page.matched, offset=page.offset, limit=page.limit,
                               links=page.links, columns=page.columns,
                               title=page.info.title(_lang()))
    return _respond(core.items_reply(page))


@bp.get("/collections/<cid>/items/<path:fid>")
def item(cid: str, fid: str):
    html = _html(set())
    found = core.feature(_data(), cid, fid, _url)
    if html:
        return render_template("ogcapi/item.html", cid=cid, fid=fid, info=found.info,
                               props=found.properties(), links=found.links,
                               title=found.info.title(_lang()))
    return _respond(core.feature_reply(found))


@bp.route("/<path:rest>")
def not_found(rest: str):
    raise NotFoundError(f"no resource /ogcapi/{rest}")
