"""The geo_p2dd web app: a thin Flask layer over the ``geo_p2dd`` library."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, jsonify

DEFAULTS: dict[str, Any] = {
    "PROJECT": "data/sample",
    "DEFAULT_LANGUAGE": "id",
    "LANGUAGES": ("id", "en"),
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app.

    Configuration is read, later winning: :data:`DEFAULTS`, the instance file
    ``instance/geo_p2dd.cfg`` (Python syntax) if present, environment variables
    ``GEO_P2DD_<KEY>``, then ``config``.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(DEFAULTS)
    app.config.from_pyfile("geo_p2dd.cfg", silent=True)
    app.config.from_prefixed_env("GEO_P2DD")
    if config:
        app.config.update(config)
    app.config["PROJECT"] = str(Path(app.config["PROJECT"]))

    @app.get("/health")
    def health():
        from geo_p2dd.project import Project

        project = Project(app.config["PROJECT"])
        return jsonify(status="ok", project=project.name, sample=project.is_sample,
                       layers=project.layer_names(), pid=os.getpid())

    return app
