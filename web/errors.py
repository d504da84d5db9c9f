"""One table from exceptions to HTTP statuses; users see a message, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from geo_p2dd.errors import InputError, NotFoundError, ProjectError

STATUS = [
    (NotFoundError, 404),
    (InputError, 400),
    (ProjectError, 503),
]

log = logging.getLogger("geo_p2dd.web")


def status_for(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.code or 500
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def register(app: Flask) -> None:
    @app.errorhandler(Exception)
    def handle(exc: Exception):
        code = status_for(exc)
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
        if request.path.startswith(("/api/", "/ogcapi")) or request.accept_mimetypes.best == \
                "application/json":
            return {"code": code, "description": message}, code, headers
        return render_template("error.html", code=code, message=message), code, headers
