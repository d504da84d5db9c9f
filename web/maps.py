"""The planning map: main map, village pages, map data and coverage tiles."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("maps", __name__)


@bp.get("/")
def index():
    return render_template("error.html", code=200, message="map coming")


@bp.get("/village/<kode>")
def village(kode: str):
    from geo_p2dd.errors import NotFoundError
    from web.context import current_view

    row = current_view().village(kode)
    if row is None:
        raise NotFoundError(f"no village with code {kode}")
    return render_template("error.html", code=200, message=str(row["nama"]))
