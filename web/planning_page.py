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


def _kabupaten(villages) -> list[tuple[str, str]]:
    """(code, name) of the project's kabupaten when it has more than one, sorted by name."""
    codes = villages["kode"].astype(str).str[:5]
    if codes.nunique() < 2:
        return []
    names = villages["kabupaten"].astype(str) if "kabupaten" in villages else codes
    pairs = dict(zip(codes, names, strict=True))
    return sorted(pairs.items(), key=lambda kv: (kv[1], kv[0]))


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
        regions=_kabupaten(view.villages),
        bounds=[round(float(v), 6) for v in villages.total_bounds],
        kinds={k: labels[k] for k in PLAN_KINDS},
        classes=GAP_CLASSES.labels(lang), colours=GAP_COLOURS,
        horizon=view.project.settings.planning.horizon_years,
        may_propose=may_edit(current_user, current_user.agency),
        me=current_user.name)
