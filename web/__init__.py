"""The geo_p2dd web app: a thin Flask layer over the ``geo_p2dd`` library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, request
from flask_babel import Babel

from geo_p2dd.i18n import LANGS
from web import compression

DEFAULTS: dict[str, Any] = {
    "PROJECT": "data/sample",
    "DEFAULT_LANGUAGE": "id",
    "LANGUAGES": LANGS,
    "BASEMAP": "osm",  # default basemap: osm, light or none
    "GZIP_MIN_BYTES": 1024,
    "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    "BUNDLE_ASSETS": True,  # versioned, immutable bundles (web/assets.py); False: files as before
    "INLINE_ASSETS": True,  # a first visit's map page carries its bundles (web/assets.py)
    "REANALYSE": None,  # re-analyse after register changes; None: [web] reanalyse of the project
}

GZIP_MAX_FILE_BYTES = 2_000_000  # static assets yes, big downloads no
GZIP_TYPES = ("text/", "application/json", "application/geo+json", "application/javascript",
              "image/svg+xml", "application/vnd.oai.openapi+json", "application/xml")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app.

    Configuration is read, later winning: :data:`DEFAULTS`, the instance file
    ``instance/geo_p2dd.cfg`` (Python syntax) if present, environment variables
    ``GEO_P2DD_<KEY>`` (e.g. ``GEO_P2DD_PROJECT``), then ``config``.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(DEFAULTS)
    app.config.from_pyfile("geo_p2dd.cfg", silent=True)
    app.config.from_prefixed_env("GEO_P2DD")
    if config:
        app.config.update(config)
    app.config["PROJECT"] = str(Path(app.config["PROJECT"]))

    from web import i18n

    Babel(app, default_locale=app.config["DEFAULT_LANGUAGE"], locale_selector=i18n.select_locale,
          default_translation_directories=str(i18n.TRANSLATIONS))

    from web import (
        api,
        assets,
        auth,
        check,
        downloads,
        errors,
        field_reports,
        maps,
        ogcapi,
        planning,
        planning_page,
        register_imports,
        register_pages,
        register_summary,
        reports,
        security,
    )

    errors.register(app)
    assets.init_app(app)
    for bp in (maps.bp, downloads.bp, ogcapi.bp, reports.bp, check.bp, api.bp,
               register_pages.bp, planning.bp, planning_page.bp, register_imports.bp,
               register_summary.bp, field_reports.bp):
        app.register_blueprint(bp)
    from web import reanalysis  # GET/POST /api/analysis, the check after requests, status line

    reanalysis.init_app(app)

    @app.get("/health")
    def health():
        from web.context import current_view

        view = current_view()
        return jsonify(status="ok", project=view.project.name, sample=view.project.is_sample,
                       villages=len(view.villages), analysed=view.results is not None,
                       results_stale=view.results is not None and view.project.analysis_stale,
                       data_version=view.project.data_version)

    @app.before_request
    def remember_language():
        g.lang = i18n.select_locale()

    @app.after_request
    def finish(response):
        asked = request.args.get("lang")
        if asked in app.config["LANGUAGES"]:
            response.set_cookie(i18n.LANG_COOKIE, asked, max_age=365 * 24 * 3600,
                                samesite="Lax")
        response = security.apply(response, maps.tile_hosts())
        return _gzip(app, response)

    @app.context_processor
    def inject():
        from web.context import template_globals

        return template_globals()

    # last: its after_request (who is signed in) runs before finish() compresses the page
    auth.init_app(app)
    return app


def _gzip(app: Flask, response):
    """Compress text responses when the client accepts Brotli or gzip (satellite links;
    :mod:`web.compression`).

    Only whole 200 responses: never partial content (206), and never large files
    sent from disk (downloads stream and bring their own pre-compressed copies).
    """
    if (not (request.accept_encodings["gzip"] or request.accept_encodings["br"])
            or response.status_code != 200
            or "Content-Encoding" in response.headers
            or "Content-Range" in response.headers
            or not (response.mimetype or "").startswith(GZIP_TYPES)):
        return response
    if response.direct_passthrough:
        if (response.content_length or 0) > GZIP_MAX_FILE_BYTES:
            return response
    elif response.is_streamed:
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < app.config["GZIP_MIN_BYTES"]:
        return response
    packed = compression.encode(data, request.accept_encodings)
    if packed is None:
        return response
    response.set_data(packed[0])
    response.headers["Content-Encoding"] = packed[1]
    response.headers["Content-Length"] = str(len(response.get_data()))
    response.vary.add("Accept-Encoding")
    return response
