"""Now -> scenario: what a set of hypothetical sites changes, recomputing only what they reach.

Why
---
A planner drags a site and wants the answer before letting go of the mouse.
Re-running the analysis takes seconds to minutes; but a new site can only add
service (a location's best class is a maximum over servers and sources), so
the scenario is the stored analysis *with the pipeline* plus the union of what
the hypothetical sites reach. Only a changed site's reach is computed (its
tower window or its radius, :mod:`geo_p2dd.planning.reach`); reaches are kept
per site position and parameters.

Method
------
A location is newly served when it is not served with the pipeline
(``status_planned``) and some scenario site reaches it. Per village, the class
is the analysis's own rule (:func:`geo_p2dd.analysis.gap_class`) on the
pipeline view's per-location signal (``best_4g_planned``, ``best_other_planned``,
``served_by_site_planned`` of ``location_results``) raised by the scenario's
sites: usable 4G where a new tower reaches, public access within a new radius
site's reach. ``tests/test_planning.py`` checks this against a real
re-analysis with the sites added as planned sites.

Where field reports overturned the model (``evidence`` measured), a new tower
serves a location only as the analysis's pipeline view would count it: when its
model there is better than the old model was
(:func:`geo_p2dd.evidence.later_4g`, through
:meth:`~geo_p2dd.planning.demand.Baseline.believed_4g`), so a what-if never
promises service the field denies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from pyproj import Transformer

from geo_p2dd.analysis import gap_class
from geo_p2dd.config import RADIUS_KINDS
from geo_p2dd.coverage import FOUR_G
from geo_p2dd.planning.costs import site_cost
from geo_p2dd.planning.demand import Baseline
from geo_p2dd.planning.reach import site_reach
from geo_p2dd.schema import PUBLIC_FACILITIES, SIGNAL_CODES

#: fields of a hypothetical site that change what it reaches
SITE_FIELDS = ("kind", "technology", "lon", "lat", "height_m", "power_dbm", "frequency_mhz",
               "service_radius_m")


def village_positions(baseline: Baseline) -> np.ndarray:
    """Each location's village as a position in ``baseline.villages`` (-1: none of them)."""
    return baseline.villages.index.get_indexer(baseline.locations["village_kode"])


def village_classes(baseline: Baseline, newly_4g: np.ndarray, newly_by_site: np.ndarray,
                    tower_added: bool = False,
                    positions: np.ndarray | None = None) -> pd.Series:
    """Gap class of each village of ``baseline`` with the pipeline and the new service.

    The figures are the analysis's (:func:`geo_p2dd.analysis._village_figures`) on
    the pipeline view's signal raised by the new sites, classed by
    :func:`geo_p2dd.analysis.gap_class`.

    Parameters
    ----------
    newly_4g, newly_by_site : numpy.ndarray of bool
        Per location: usable 4G from a new tower; within a new radius site's reach.
    tower_added : bool
        A new 4G tower is modelled: every location on the grid then has a known
        4G class (at least "none"), as in the analysis's tower model.
    positions : numpy.ndarray, optional
        :func:`village_positions` of ``baseline`` (computed when not given).
    """
    loc = baseline.locations
    v = baseline.villages
    usable = baseline.settings.thresholds.usable_code
    settle = (loc["kind"] == "settlement").to_numpy()
    people = pd.to_numeric(loc["people"], errors="coerce").fillna(0.0).to_numpy(float)
    b4 = loc["best_4g_planned_code"].to_numpy(int)
    if tower_added:
        b4 = np.where(loc["on_grid"].to_numpy(bool), np.maximum(b4, SIGNAL_CODES["none"]), b4)
    b4 = np.where(newly_4g, np.maximum(b4, usable), b4)
    bo = loc["best_other_planned_code"].to_numpy(int)
    by_site = loc["by_site_planned"].to_numpy(bool) | newly_by_site
    four_g = settle & (b4 >= usable)
    known_4g = settle & (b4 > 0)
    known = by_site | (b4 > 0) | (bo > 0)  # status != "unknown" (served counts as known)
    pos = village_positions(baseline) if positions is None else positions
    inside = pos >= 0

    def per_village(values: np.ndarray) -> pd.Series:  # sums per village, by position
        sums = np.bincount(pos[inside], weights=np.asarray(values, dtype=float)[inside],
                           minlength=len(v))
        return pd.Series(sums, index=v.index)

    frame = pd.DataFrame(index=v.index)
    share_p = per_village(np.where(four_g, people, 0.0)) / per_village(
        np.where(known_4g, people, 0.0)).replace(0, np.nan)
    share_s = per_village(four_g.astype(int)) / per_village(known_4g.astype(int)).replace(
        0, np.nan)
    frame["share_4g_x"] = share_p.fillna(share_s).clip(0, 1)
    frame["settlements_signal_x"] = per_village(
        (settle & ((b4 >= usable) | (bo >= usable))).astype(int))
    frame["locations_by_site_x"] = per_village(by_site.astype(int))
    frame["locations_known_x"] = per_village(known.astype(int))
    return gap_class(frame, baseline.settings.thresholds.served_share, "_x")


class WhatIf:
    """Scenario summaries over one baseline, with the reach of each site cached.

    Parameters
    ----------
    baseline : Baseline
        From :func:`geo_p2dd.planning.demand.load_baseline`.
    """

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline
        self._to_grid = Transformer.from_crs("EPSG:4326", baseline.grid.crs, always_xy=True)
        self._reach: dict[tuple, np.ndarray] = {}
        self._pipeline_classes = baseline.villages["gap_class_planned"]
        self._positions = village_positions(baseline)

    @staticmethod
    def key(site: Mapping) -> tuple:
        """What makes two sites reach the same locations."""
        return tuple(None if site.get(f) is None or (isinstance(site.get(f), float)
                                                     and np.isnan(site.get(f)))
                     else site.get(f) for f in SITE_FIELDS)

    def reach(self, site: Mapping) -> np.ndarray:
        """Positions of the locations ``site`` (lon/lat, EPSG:4326) would serve (cached)."""
        key = self.key(site)
        hit = self._reach.get(key)
        if hit is None:
            x, y = self._to_grid.transform(float(site["lon"]), float(site["lat"]))
            b = self.baseline
            dem = b.dem if site["kind"] == "bts" else None
            hit = site_reach({**site, "x": x, "y": y}, b.xy, b.grid, dem, b.settings,
                             believe=b.believed_4g)
            self._reach[key] = hit
        return hit

    def summary(self, sites: Iterable[Mapping], *, horizon_years: int | None = None) -> dict:
        """Now -> scenario for ``sites``.

        Returns
        -------
        dict
            ``people_unserved`` (people at known, not served settlements after the
            scenario), ``people_unserved_pipeline`` (before it),
            ``people_newly_served``, ``facilities_newly_served``, ``cost_idr``
            (capex + horizon x opex), ``villages`` (``{kode: gap_class}`` in the
            scenario), ``changes`` (villages whose class differs from the
            pipeline's: kode, nama, from, to) and per-site ``sites`` figures.
        """
        b = self.baseline
        loc = b.locations
        years = b.settings.planning.horizon_years if horizon_years is None else horizon_years
        n = len(loc)
        demand = loc["demand"].to_numpy(bool)
        newly = np.zeros(n, dtype=bool)
        by_site = np.zeros(n, dtype=bool)
        four_g = np.zeros(n, dtype=bool)
        tower = False
        settle = (loc["kind"] == "settlement").to_numpy()
        fac = loc["kind"].isin(PUBLIC_FACILITIES).to_numpy()
        people = pd.to_numeric(loc["people"], errors="coerce").fillna(0.0).to_numpy(float)
        per_site = []
        cost = 0.0
        for site in sites:
            hit = self.reach(site)
            new = np.zeros(n, dtype=bool)
            new[hit] = True
            if site["kind"] in RADIUS_KINDS:
                by_site[hit] = True
            elif site["kind"] == "bts" and (site.get("technology") or "4G") in FOUR_G:
                four_g[hit] = True
                tower = True
            gained = new & demand & ~newly
            newly |= new & demand
            c = site_cost(site["kind"], b.settings.costs, years)
            cost += c
            per_site.append({"id": site.get("id"), "kind": site["kind"],
                             "people_new": round(float(people[gained & settle].sum()), 1),
                             "facilities_new": int((gained & fac).sum()), "cost_idr": c})
        # as the analysis counts people_unserved_planned: "known" is the signal known now
        known = (loc["status"] != "unknown").to_numpy()
        unserved_before = settle & (loc["status_planned"] != "served").to_numpy() & known
        classes = village_classes(b, four_g, by_site, tower, self._positions)
        before = self._pipeline_classes.reindex(classes.index)
        diff = (classes != before).to_numpy()
        names = b.villages.get("nama", pd.Series("", index=b.villages.index))
        kodes = classes.index.astype(str).tolist()
        now_cls = classes.astype(str).tolist()
        idx = np.flatnonzero(diff)
        nama = names.reindex(classes.index).to_numpy(object)[idx].tolist()
        was = before.to_numpy(object)[idx].tolist()
        return {
            "people_unserved": round(float(people[unserved_before & ~newly].sum()), 1),
            "people_unserved_pipeline": round(float(people[unserved_before].sum()), 1),
            "people_newly_served": round(float(people[newly & settle].sum()), 1),
            "facilities_newly_served": int((newly & fac).sum()),
            "cost_idr": cost,
            "horizon_years": years,
            "villages": dict(zip(kodes, now_cls, strict=True)),
            "changes": [{"kode": kodes[i], "nama": str(n), "from": str(f), "to": now_cls[i]}
                        for i, n, f in zip(idx.tolist(), nama, was, strict=True)],
            "sites": per_site,
        }
