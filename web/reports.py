"""Printable coverage summaries (placeholder until its issue lands)."""

from flask import Blueprint, render_template

bp = Blueprint("reports", __name__, url_prefix="/report")


@bp.get("/")
def index():
    from web.context import current_view

    return render_template("error.html", view=current_view(), code=501,
                           message="Summaries are not available yet."), 501
