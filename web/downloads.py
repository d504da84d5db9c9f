"""Downloads of gap layers in common GIS formats (placeholder until its issue lands)."""

from flask import Blueprint, render_template

bp = Blueprint("downloads", __name__, url_prefix="/downloads")


@bp.get("/")
def index():
    from web.context import current_view

    return render_template("error.html", view=current_view(), code=501,
                           message="Downloads are not available yet."), 501
