"""The Planning page (``/rencana``): scenarios and plans on a map, for signed-in users.

``/rencana?region=64.11`` plans one kabupaten (or kecamatan) of a large project: the map
shows its kampung, what-if summaries and plans are of that region.

A thin view: it renders one page whose script (``static/planning.js``) talks to
the JSON API of :mod:`web.planning` (scenarios, what-if summaries, plans in the
background, propose). The map is Leaflet served by the app; with the basemap
"none" only the kampung outlines are drawn, so the page works offline.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask_login import current_user

from geo_p2dd.codes import in_region, normalise_code
from geo_p2dd.errors import NotFoundError
from geo_p2dd.planning.costs import PLAN_KINDS
from geo_p2dd.schema import GAP_CLASSES, SITE_KINDS
from geo_p2dd.style import GAP_COLOURS
from web.auth import may_edit, require
from web.context import current_view

bp = Blueprint("planning_page", __name__)


@bp.get("/rencana")
@require()
def index():
    view = current_view()
    lang = g.get("lang", "id")
    from web.maps import _basemap

    labels = SITE_KINDS.labels(lang)
    region = normalise_code(request.args["region"]) if request.args.get("region") else ""
    villages = view.villages
    if region:  # a kabupaten (or kecamatan) of a large project: its own what-if baseline
        villages = villages[in_region(villages["kode"], region).to_numpy()]
        if not len(villages):
            raise NotFoundError(f"no village of the project lies in region {region}")
    return render_template(
        "planning/index.html", view=view, basemap=_basemap(), region=region,
        bounds=[round(float(v), 6) for v in villages.total_bounds],
        kinds={k: labels[k] for k in PLAN_KINDS},
        classes=GAP_CLASSES.labels(lang), colours=GAP_COLOURS,
        horizon=view.project.settings.planning.horizon_years,
        may_propose=may_edit(current_user, current_user.agency),
        me=current_user.name)
