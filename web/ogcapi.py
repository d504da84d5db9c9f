"""OGC API - Features (placeholder until its issue lands)."""

from flask import Blueprint

bp = Blueprint("ogcapi", __name__, url_prefix="/ogcapi")


@bp.get("/")
def landing():
    return {"title": "geo_p2dd OGC API - Features (not available yet)", "links": []}, 501
