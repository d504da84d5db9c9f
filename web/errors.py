"""One table from exceptions to HTTP statuses; users see a message, never a traceback.

Pages get an HTML error page; ``/api/`` and clients asking for JSON get
``{"code": <status>, "description": ..., "error": ...}`` (with ``"field"``
when an input error names one); the OGC API (``/ogcapi``) gets OGC
exceptions ``{"code": "InvalidParameterValue", "description": ...}``. Headers an
HTTP error carries (``Allow`` on 405) are kept.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from geo_p2dd.errors import (
    ConfigError,
    GeoP2DDError,
    InputError,
    NotFoundError,
    ProjectBusyError,
    ProjectError,
)
from geo_p2dd.project import Project
from geo_p2dd.registry.accounts import UserExistsError
from geo_p2dd.registry.repository import (
    PreconditionFailed,
    PreconditionRequired,
    SiteExistsError,
)

#: exception -> (HTTP status, OGC API exception code)
STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFoundError, 404, "NotFound"),
    (PreconditionFailed, 412, "PreconditionFailed"),
    (PreconditionRequired, 428, "PreconditionRequired"),
    (SiteExistsError, 409, "Conflict"),
    (UserExistsError, 409, "Conflict"),
    (InputError, 400, "InvalidParameterValue"),
    (ProjectError, 503, "ServiceUnavailable"),
    (ConfigError, 503, "ServiceUnavailable"),
]
SERVER_ERROR = (500, "ServerError")
#: seconds a client is asked to wait while another writer holds the project's lock
BUSY_RETRY_AFTER_S = 5
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


# an absolute POSIX or Windows path: kept to its last part (the file name)
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:\\|/)(?:[^\s'\"/\\:;,()<>]*[/\\])*"
                            r"([^\s'\"/\\:;,()<>]+)")


def without_paths(message: str, project_path: str | Path, project_name: str) -> str:
    """``message`` with no server path: the project directory becomes the project's name,
    any other absolute path its file name."""
    for p in sorted({str(project_path), str(Path(project_path).resolve())}, key=len,
                    reverse=True):
        if p not in (".", ""):
            message = message.replace(p, project_name)
    return _ABSOLUTE_PATH.sub(r"\1", message)


def public_message(message: str) -> str:
    """``message`` fit for a response: no server path (see :func:`without_paths`)."""
    return without_paths(message, current_app.config["PROJECT"], _project_name())


def _project_name() -> str:
    view = g.get("view")
    if view is not None:
        return view.project.name
    path = current_app.config["PROJECT"]
    try:
        return Project(path).name
    except GeoP2DDError:  # no readable project.toml: the directory's name
        return Path(path).name


def register(app: Flask) -> None:
    @app.errorhandler(Exception)
    def handle(exc: Exception):
        code, ogc_code = status_for(exc)
        headers: list[tuple[str, str]] = []
        detail = None
        if isinstance(exc, ProjectBusyError):
            # another writer holds the project's lock: come back in a moment
            message = _("The project is being updated. Please try again in a moment.")
            detail = str(exc)
            headers.append(("Retry-After", str(BUSY_RETRY_AFTER_S)))
        elif isinstance(exc, ProjectError | ConfigError):
            log.error("project unavailable on %s: %s", request.path, exc)
            message = _("The project's data cannot be read right now. Please try again "
                        "later; if this persists, tell the administrator.")
            detail = str(exc)
        elif code >= 500:
            log.exception("unhandled error on %s", request.path)
            message = _("Something went wrong on the server. The error was logged.")
        elif isinstance(exc, HTTPException):
            message = {404: _("This page does not exist."),
                       405: _("This method is not allowed here.")}.get(code, exc.description)
        else:
            message = str(exc)
        if isinstance(exc, HTTPException):
            # e.g. Allow on 405, WWW-Authenticate on 401 (not the HTML Content-Type)
            headers += [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        name = _project_name()
        message = without_paths(message, current_app.config["PROJECT"], name)
        if detail is not None:
            detail = without_paths(detail, current_app.config["PROJECT"], name)
        if request.path.startswith(OGC_PREFIX):
            return {"code": ogc_code, "description": message}, code, headers
        if request.path.startswith("/api/") or request.accept_mimetypes.best == \
                "application/json":
            body = {"code": code, "description": message, "error": message}
            if isinstance(exc, InputError) and exc.column:
                body["field"] = exc.column
            if detail is not None:
                body["detail"] = detail
            return body, code, headers
        return render_template("error.html", code=code, message=message,
                               detail=detail), code, headers
