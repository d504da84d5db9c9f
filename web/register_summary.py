"""What the register sums up and what changed: budget totals and changes since a date.

- :func:`budget_for` — budget totals of the sites the register page shows
  (its filters, every page): per agency (OPD) × sudah/sedang/akan/belum, and
  per agency × category × year, from :mod:`geo_p2dd.budget`.
- ``GET /register/changes.xlsx?since=YYYY-MM-DD`` — every field changed since
  that date (00:00 UTC), one row each (:mod:`geo_p2dd.registry.changes`);
  for ``admin`` and ``reviewer`` (the ministry's check), formula-safe cells.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Blueprint, g, request, send_file
from flask_babel import gettext as _
from sqlalchemy import Engine

from geo_p2dd.budget import CATEGORY_LABELS, budget_table, budget_totals, format_idr
from geo_p2dd.errors import InputError
from geo_p2dd.i18n import gettext as lib_gettext
from geo_p2dd.registry import repository as repo
from geo_p2dd.registry.changes import changes_since, write_changes_xlsx
from web.auth import register_engine, require

bp = Blueprint("register_summary", __name__, url_prefix="/register")

#: roles that may download the changes since a date
CHANGE_READERS = ("admin", "reviewer")


def budget_for(engine: Engine, filters: repo.SiteFilter, lang: str) -> dict[str, Any]:
    """The budget table (``budget_table``) and per-year rows of the sites ``filters`` select."""
    sites = pd.DataFrame(repo.list_sites(engine, filters))
    totals = budget_totals(sites if len(sites) else None)
    table = budget_table(totals, lang)
    years = [{"agency": r.agency or lib_gettext("(no agency)", lang),
              "category": lib_gettext(CATEGORY_LABELS[r.category], lang),
              "year": "–" if pd.isna(r.year) else int(r.year), "sites": int(r.sites),
              "budget": format_idr(r.budget_idr, lang),
              "realised": format_idr(r.realised_idr, lang) if r.realised_idr else "–"}
             for r in totals.itertuples()] if table["rows"] else []
    return {**table, "years": years}


def page_filters(args: Mapping[str, str]) -> repo.SiteFilter:
    """The register page's filters without paging."""
    from web.api import site_filter

    given = {k: v for k, v in args.items() if v}
    if given.get("kecamatan"):
        given["village_kode"] = given["kecamatan"]
    return site_filter(given)


def _since() -> dt.date:
    raw = (request.args.get("since") or "").strip()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(_("Give the date to list changes from."), column="since",
                         expected="YYYY-MM-DD", found=repr(raw[:40]) if raw else "nothing"
                         ) from None


@bp.get("/changes.xlsx")
@require(*CHANGE_READERS)
def changes_xlsx():
    since = _since()
    changes = changes_since(register_engine(), since)
    folder = Path(tempfile.mkdtemp(prefix="geo_p2dd_changes_"))
    try:
        data = write_changes_xlsx(changes, folder / "changes.xlsx",
                                  g.get("lang", "id")).read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    stem = _("register_changes_since")
    return send_file(io.BytesIO(data), as_attachment=True,
                     download_name=f"{stem}_{since.isoformat()}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml"
                              ".sheet")
