"""The Planning page (``/rencana``): scenarios and plans on a map, for signed-in users.

A thin view: it renders one page whose script (``static/planning.js``) talks to
the JSON API of :mod:`web.planning` (scenarios, what-if summaries, plans in the
background, propose). The map is Leaflet served by the app; with the basemap
"none" only the kampung outlines are drawn, so the page works offline.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_login import current_user

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
    return render_template(
        "planning/index.html", view=view, basemap=_basemap(),
        bounds=[round(float(v), 6) for v in view.villages.total_bounds],
        kinds={k: labels[k] for k in PLAN_KINDS},
        classes=GAP_CLASSES.labels(lang), colours=GAP_COLOURS,
        horizon=view.project.settings.planning.horizon_years,
        may_propose=may_edit(current_user, current_user.agency),
        me=current_user.name)
