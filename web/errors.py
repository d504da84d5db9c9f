"""One table from exceptions to HTTP statuses; users see a message, never a traceback."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from geo_p2dd.errors import GeoP2DDError, InputError, NotFoundError, ProjectError
from geo_p2dd.project import Project

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


# an absolute POSIX or Windows path: kept to its last part (the file name)
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:\\|/)(?:[^\s'\"/\\:;,()<>]+[/\\])*"
                            r"([^\s'\"/\\:;,()<>]+)")


def without_paths(message: str, project_path: str | Path, project_name: str) -> str:
    """``message`` with no server path: the project directory becomes the project's name,
    any other absolute path its file name."""
    for p in sorted({str(project_path), str(Path(project_path).resolve())}, key=len,
                    reverse=True):
        if p not in (".", ""):
            message = message.replace(p, project_name)
    return _ABSOLUTE_PATH.sub(r"\1", message)


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
        code = status_for(exc)
        headers = {}
        detail = None
        if isinstance(exc, ProjectError):
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
            headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        else:
            message = str(exc)
        name = _project_name()
        message = without_paths(message, current_app.config["PROJECT"], name)
        if detail is not None:
            detail = without_paths(detail, current_app.config["PROJECT"], name)
        if request.path.startswith(("/api/", "/ogcapi")) or request.accept_mimetypes.best == \
                "application/json":
            body = {"code": code, "description": message}
            if detail is not None:
                body["detail"] = detail
            return body, code, headers
        return render_template("error.html", code=code, message=message,
                               detail=detail), code, headers
