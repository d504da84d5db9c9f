"""One table from exceptions to HTTP statuses; users see a message, never a traceback.

Pages get an HTML error page; ``/api/`` and clients asking for JSON get
``{"code": <status>, "description": ...}``; the OGC API (``/ogcapi``) gets OGC
exceptions ``{"code": "InvalidParameterValue", "description": ...}``. Headers an
HTTP error carries (``Allow`` on 405) are kept.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from geo_p2dd.errors import InputError, NotFoundError, ProjectError

#: exception -> (HTTP status, OGC API exception code)
STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFoundError, 404, "NotFound"),
    (InputError, 400, "InvalidParameterValue"),
    (ProjectError, 503, "ServiceUnavailable"),
]
SERVER_ERROR = (500, "ServerError")
OGC_PREFIX = "/ogcapi"

log = logging.getLogger("geo_p2dd.web")


def status_for(exc: Exception) -> tuple[int, str]:
    """(HTTP status, OGC exception code) of an exception."""
    if isinstance(exc, HTTPException):
        return exc.code or 500, exc.name.replace(" ", "")
    for cls, code, name in STATUS:
        if isinstance(exc, cls):
            return code, name
    return SERVER_ERROR


def register(app: Flask) -> None:
    @app.errorhandler(Exception)
    def handle(exc: Exception):
        code, name = status_for(exc)
        if code >= 500 and not isinstance(exc, ProjectError):
            log.exception("unhandled error on %s", request.path)
            message = _("Something went wrong on the server. The error was logged.")
        elif isinstance(exc, HTTPException):
            message = {404: _("This page does not exist."),
                       405: _("This method is not allowed here.")}.get(code, exc.description)
        else:
            message = str(exc)
        # e.g. Allow on 405, WWW-Authenticate on 401 (not the HTML Content-Type)
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"] \
            if isinstance(exc, HTTPException) else []
        if request.path.startswith(OGC_PREFIX):
            return {"code": name, "description": message}, code, headers
        if request.path.startswith("/api/") or request.accept_mimetypes.best == \
                "application/json":
            return {"code": code, "description": message}, code, headers
        return render_template("error.html", code=code, message=message), code, headers
