"""Consistency checks: figures an official can defend.

:func:`check_project` reads a project (it never writes) and returns
:class:`Finding` s, each naming its layer, the row's id and position in the
layer, and a message in Bahasa Indonesia or English (the library catalogue,
:mod:`geo_p2dd.i18n`). Findings are not errors: they are what a planner should
look at before the figures leave the office.

Rules (``Finding.kind``):

- ``outside_village``: a site or location lies outside the kampung it names (a
  warning beyond :data:`BOUNDARY_SLACK_KM`, closer than that only information:
  boundaries are not that precise);
- ``far_from_settlement``: a Starlink, VSAT, Wi-Fi or fibre site stands farther
  than ``[locations] snap_km`` (default 2 km) from every settlement (towers
  stand where the signal carries and are not checked);
- ``estimated_settlements``: a kampung has no settlement point, so the analysis
  estimates its settlements (from the population grid or its centre);
- ``same_position``: several register sites at one position (rows placed at
  their kampung's settlement for lack of coordinates end up there);
- ``no_agency`` / ``no_year``: a register row without agency (OPD) or year;
- ``implausible_coverage``: coverage raster cells outside ``[limits] dbm_range``
  (or class codes outside 0..5), or infinite;
- ``bad_population``: population figures (per kampung, per location, or cells of
  the population grid) that are negative, NaN or infinite; a kampung without
  any figure is reported as ``no_population``.

- ``evidence_overturns_model``: field reports (the ``reports`` layer) consistent
  enough to replace the modelled signal at a location contradict the model (the
  analysis' ``evidence_conflicts``): the figures use the measured class;
- ``evidence_contradicts_model``: reports near a location contradict the model
  but are too few (or on too few days) to replace it: worth a field visit;
- ``reports_not_analysed``: the project has reports but no current analysis, so
  they were not compared with the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely

from geo_p2dd import evidence
from geo_p2dd.config import EvidenceSettings
from geo_p2dd.i18n import N_, check_lang, format_int, format_number, gettext
from geo_p2dd.project import Project
from geo_p2dd.reports_layer import read_reports
from geo_p2dd.schema import CODE_TO_SIGNAL, SIGNAL_CLASSES, SIGNAL_CODES

SEVERITIES = ("warning", "info")
#: kinds of site that serve the people around them, so stand at a settlement
NEAR_SETTLEMENT_KINDS = ("starlink", "vsat", "wifi", "fiber")
#: positions closer than this (degrees, about 1 m) are one position
SAME_POSITION_DEG = 1e-5
#: a point this close outside its kampung (km) is within the boundaries' precision: info only
BOUNDARY_SLACK_KM = 0.5
#: towers imported from OpenCelliD carry ids starting with this (not register rows)
TOWER_ID_PREFIX = "ocid-"

MESSAGES = {
    "outside_village": N_("%(name)s lies %(distance)s outside the kampung it names (%(kode)s)"),
    "far_from_settlement": N_("%(name)s is %(km)s km from the nearest settlement "
                              "(more than %(limit)s km)"),
    "estimated_settlements": N_("kampung %(name)s has no settlement point: the analysis "
                                "estimates its settlements from the population grid or its "
                                "centre"),
    "same_position": N_("%(n)s sites at one position: %(names)s"),
    "no_agency": N_("%(name)s has no agency (OPD) in the register"),
    "no_year": N_("%(name)s has no year in the register"),
    "implausible_coverage": N_("coverage %(name)s: %(n)s cell(s) outside %(low)s..%(high)s "
                               "%(unit)s or infinite (e.g. %(value)s)"),
    "bad_population": N_("%(name)s: population %(value)s is negative, NaN or infinite"),
    "bad_population_cells": N_("population grid: %(n)s cell(s) negative, NaN or infinite "
                               "(e.g. %(value)s)"),
    "no_population": N_("kampung %(name)s has no population figure"),
    "evidence_overturns_model": N_("%(name)s: the model says 4G %(modelled)s, %(n)s report(s) "
                                   "on %(periods)s different %(unit)s say 4G %(measured)s; "
                                   "the figures use the measured class"),
    "evidence_contradicts_model": N_("%(name)s: the model says 4G %(modelled)s, %(n)s "
                                     "report(s) say 4G %(measured)s, too few to replace the "
                                     "model (%(needed)s on different %(unit)s needed)"),
    "reports_not_analysed": N_("%(n)s signal report(s) not yet compared with the model: run "
                               "the analysis"),
}


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    Attributes
    ----------
    kind : str
        The rule (see the module's list).
    severity : {"warning", "info"}
        ``warning``: a figure is likely wrong; ``info``: worth knowing.
    layer : str
        Layer or raster (``sites``, ``locations``, ``villages``, ``coverage``,
        ``population``).
    id : str or None
        The row's id (``site_id``, ``location_id``, village ``kode``) or the raster's name.
    row : int or None
        1-based position of the row in the project's layer (None for rasters).
    params : dict
        The values the message quotes.
    message_id : str
        The English message (a msgid of the library catalogue); defaults to the kind's.
    """

    kind: str
    severity: str
    layer: str
    id: str | None
    row: int | None
    params: dict = field(default_factory=dict, compare=False)
    message_id: str = ""

    def message(self, lang: str = "id") -> str:
        """The message in ``lang`` ("id" or "en"), numbers formatted for it."""
        lang = check_lang(lang)
        shown = {k: _shown(k, v, lang) for k, v in self.params.items()}
        return gettext(self.message_id or MESSAGES[self.kind], lang) % shown

    def to_dict(self, lang: str = "id") -> dict:
        """``{"kind", "severity", "layer", "id", "row", "message"}`` for JSON."""
        out = {k: v for k, v in asdict(self).items() if k not in ("params", "message_id")}
        out["message"] = self.message(lang)
        return out


class _Distance(float):
    """A distance in km, written in metres below 1 km (``30 m``, ``5,6 km``)."""


def _shown(key: str, value: object, lang: str) -> object:
    """A number written for ``lang``: distances with one decimal, whole numbers without."""
    if isinstance(value, _Signal):
        return SIGNAL_CLASSES.label(str(value), "id").lower() if lang == "id" else str(value)
    if isinstance(value, _Unit):
        return gettext("days", lang) if str(value) == "day" else gettext("hours", lang)
    if isinstance(value, _Distance):
        if value < 1.0:
            return f"{format_int(max(10, round(value * 100) * 10), lang)} m"
        return f"{format_number(value, lang, 1)} km"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if key == "km":
        return format_number(value, lang, 1)
    return format_int(value, lang) if float(value).is_integer() else format_number(value, lang,
                                                                                  1)


def check_project(project: Project) -> list[Finding]:
    """Every consistency check on ``project`` (reads only), warnings first.

    Parameters
    ----------
    project : Project
        The project to check; nothing in it is changed.

    Returns
    -------
    list of Finding
        Ordered by severity, layer, row.
    """
    sites = project.read_layer("sites", required=False)
    locations = project.read_layer("locations", required=False)
    # the outlines only for placing points (a national project: 83,246 of them, ~1.3 s)
    placed = any(f is not None and len(f) for f in (sites, locations))
    villages = project.read_layer("villages") if placed else project.read_table("villages")
    settings = project.settings
    crs = None if not placed else project.grid.crs if project.grid is not None \
        else villages.estimate_utm_crs()
    findings: list[Finding] = []
    if sites is not None and len(sites):
        register = ~sites["site_id"].astype(str).str.startswith(TOWER_ID_PREFIX)
        findings += outside_village(sites[register], villages, "sites", "site_id", crs)
        findings += far_from_settlement(sites, locations, settings.locations.snap_km, crs)
        findings += same_position(sites[register])
        findings += missing_register_fields(sites[register])
    if locations is not None and len(locations):
        findings += outside_village(locations, villages, "locations", "location_id", crs)
    findings += estimated_settlements(villages, locations)
    findings += bad_population(villages, locations)
    findings += implausible_coverage(project)
    pop = project.raster_path("population")
    if pop is not None:
        findings += bad_population_cells(pop)
    findings += evidence_findings(project)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order[f.severity], f.layer, f.row or 0, f.kind))


def _rows(frame: pd.DataFrame) -> np.ndarray:
    """1-based positions in the layer (the frame's index as read)."""
    return np.asarray(frame.index, dtype=int) + 1


def outside_village(points: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, layer: str,
                    id_col: str, crs) -> list[Finding]:
    """Points lying outside the polygon of the kampung in their ``village_kode``."""
    named = points[points["village_kode"].notna() & points.geometry.notna()
                   & ~points.geometry.is_empty]
    polygons = villages.set_index("kode").geometry
    named = named[named["village_kode"].isin(polygons.index)]
    if not len(named):
        return []
    own = gpd.GeoSeries(polygons.loc[named["village_kode"]].to_numpy(), crs=villages.crs)
    inside = own.covers(gpd.GeoSeries(named.geometry.to_numpy(), crs=points.crs)).to_numpy()
    out = named[~inside]
    if not len(out):
        return []
    metric_pts = out.geometry.to_crs(crs).to_numpy()
    metric_own = gpd.GeoSeries(polygons.loc[out["village_kode"]].to_numpy(),
                               crs=villages.crs).to_crs(crs).to_numpy()
    km = shapely.distance(metric_pts, metric_own) / 1000.0
    return [Finding("outside_village", "warning" if d > BOUNDARY_SLACK_KM else "info", layer,
                    str(r[id_col]), int(row),
                    {"name": str(r["name"]), "distance": _Distance(float(d)),
                     "kode": str(r["village_kode"])})
            for (_, r), row, d in zip(out.iterrows(), _rows(out), km, strict=True)]


def far_from_settlement(sites: gpd.GeoDataFrame, locations: gpd.GeoDataFrame | None,
                        snap_km: float, crs) -> list[Finding]:
    """Sites that serve by radius standing farther than ``snap_km`` from every settlement."""
    near = sites[sites["kind"].isin(NEAR_SETTLEMENT_KINDS) & sites.geometry.notna()
                 & ~sites.geometry.is_empty]
    if not len(near):
        return []
    settlements = None if locations is None else locations[locations["kind"] == "settlement"]
    if settlements is None or not len(settlements):
        return []  # reported per kampung by estimated_settlements
    tree = shapely.STRtree(settlements.geometry.to_crs(crs).to_numpy())
    pts = near.geometry.to_crs(crs).to_numpy()
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    km = dist / 1000.0
    far = km > snap_km
    return [Finding("far_from_settlement", "warning", "sites", str(r["site_id"]), int(row),
                    {"name": str(r["name"]), "km": float(d), "limit": float(snap_km)})
            for (_, r), row, d in zip(near[far].iterrows(), _rows(near[far]), km[far],
                                      strict=True)]


def estimated_settlements(villages: gpd.GeoDataFrame,
                          locations: gpd.GeoDataFrame | None) -> list[Finding]:
    """Kampung without a settlement point: the analysis estimates theirs."""
    have = set() if locations is None else set(
        locations.loc[locations["kind"] == "settlement", "village_kode"])
    missing = villages[~villages["kode"].isin(have)]
    # columns, not iterrows: every kampung of a national project may be listed (83,246)
    return [Finding("estimated_settlements", "info", "villages", str(kode), row,
                    {"name": f"{nama} ({kode})"})
            for kode, nama, row in zip(missing["kode"].tolist(), missing["nama"].tolist(),
                                       _rows(missing).tolist(), strict=True)]


def same_position(sites: gpd.GeoDataFrame) -> list[Finding]:
    """Groups of register sites at one position (within :data:`SAME_POSITION_DEG`)."""
    s = sites[sites.geometry.notna() & ~sites.geometry.is_empty]
    if len(s) < 2:
        return []
    key = pd.Series(list(zip(np.round(s.geometry.x / SAME_POSITION_DEG).astype(np.int64),
                             np.round(s.geometry.y / SAME_POSITION_DEG).astype(np.int64),
                             strict=True)), index=s.index)
    findings = []
    for _, group in s.groupby(key, sort=False):
        if len(group) < 2:
            continue
        names = ", ".join(f"{n} ({k})" for n, k in zip(group["name"], group["kind"],
                                                         strict=True))
        for (_, r), row in zip(group.iterrows(), _rows(group), strict=True):
            findings.append(Finding("same_position", "warning", "sites", str(r["site_id"]),
                                    int(row), {"n": len(group), "names": names}))
    return findings


def missing_register_fields(sites: gpd.GeoDataFrame) -> list[Finding]:
    """Register rows without agency (OPD) or year."""
    findings = []
    agency = sites["agency"].fillna("").astype(str).str.strip() if "agency" in sites else \
        pd.Series("", index=sites.index)
    year = pd.to_numeric(sites["year"], errors="coerce") if "year" in sites else \
        pd.Series(np.nan, index=sites.index)
    for (_, r), row, a, y in zip(sites.iterrows(), _rows(sites), agency, year, strict=True):
        if a == "":
            findings.append(Finding("no_agency", "warning", "sites", str(r["site_id"]),
                                    int(row), {"name": str(r["name"])}))
        if not np.isfinite(y):
            findings.append(Finding("no_year", "warning", "sites", str(r["site_id"]),
                                    int(row), {"name": str(r["name"])}))
    return findings


def _bad(values: np.ndarray) -> np.ndarray:
    return ~np.isfinite(values) | (values < 0)


def bad_population(villages: gpd.GeoDataFrame,
                   locations: gpd.GeoDataFrame | None) -> list[Finding]:
    """Population per kampung and people per location that are negative, NaN or infinite."""
    findings = []
    if "population" in villages and villages["population"].notna().any():
        pop = pd.to_numeric(villages["population"], errors="coerce").to_numpy(float)
        odd = _bad(pop)  # NaN included: only those rows are looked at (83,246 nationally)
        for (_, r), row, v in zip(villages[odd].iterrows(), _rows(villages[odd]), pop[odd],
                                  strict=True):
            if np.isnan(v):
                findings.append(Finding("no_population", "info", "villages", str(r["kode"]),
                                        int(row), {"name": f"{r['nama']} ({r['kode']})"}))
            elif _bad(np.array([v]))[0]:
                findings.append(Finding("bad_population", "warning", "villages",
                                        str(r["kode"]), int(row),
                                        {"name": f"{r['nama']} ({r['kode']})",
                                         "value": repr(float(v))}))
    if locations is not None and "people" in locations:
        people = pd.to_numeric(locations["people"], errors="coerce").to_numpy(float)
        bad = np.isinf(people) | (people < 0)  # no head count (NaN) is allowed for a location
        for (_, r), row, v in zip(locations[bad].iterrows(), _rows(locations[bad]), people[bad],
                                  strict=True):
            findings.append(Finding("bad_population", "warning", "locations",
                                    str(r["location_id"]), int(row),
                                    {"name": str(r["name"]), "value": repr(float(v))}))
    return findings


def _blocks(path) -> Iterator[tuple[np.ndarray, float | None]]:
    """A raster's first band block by block (bounded memory), with its nodata value."""
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            yield src.read(1, window=window), src.nodata


def _count_bad(path, ok) -> tuple[int, float | None]:
    """Cells (not nodata) for which ``ok`` is False, and the first such value."""
    n, first = 0, None
    for data, nodata in _blocks(path):
        # class codes compared as they are stored (no float copy of every block)
        values = data if data.dtype.kind in "iub" else data.astype(np.float64, copy=False)
        valid = np.ones(values.shape, dtype=bool) if nodata is None or np.isnan(nodata) \
            else values != nodata
        if nodata is not None and np.isnan(nodata):
            valid &= ~np.isnan(values)
        bad = valid & ~ok(values)
        if bad.any():
            n += int(bad.sum())
            if first is None:
                first = float(values[bad][0])
    return n, first


def implausible_coverage(project: Project) -> list[Finding]:
    """Coverage raster cells outside ``[limits] dbm_range`` (or 0..5 class codes), or infinite."""
    low, high = project.settings.limits.dbm_range
    findings = []
    for entry in project.coverage_entries():
        path = project.file(entry["file"])
        if not path.exists():
            continue
        if entry.get("values") == "dbm":
            lo, hi, unit = low, high, "dBm"
        else:
            lo, hi, unit = 0, max(SIGNAL_CODES.values()), ""  # class codes
        n, first = _count_bad(path, lambda v, lo=lo, hi=hi: np.isfinite(v) & (v >= lo)
                              & (v <= hi))
        if n:
            findings.append(Finding("implausible_coverage", "warning", "coverage",
                                    str(entry["name"]), None,
                                    {"name": str(entry["name"]), "n": n, "low": lo, "high": hi,
                                     "unit": unit, "value": repr(first)}))
    return findings


def bad_population_cells(path) -> list[Finding]:
    """Population grid cells (not nodata) that are negative, NaN or infinite."""
    n, first = _count_bad(path, lambda v: ~_bad(v))
    if not n:
        return []
    return [Finding("bad_population_cells", "warning", "population", "population", None,
                    {"n": n, "value": repr(first)})]


class _Signal(str):
    """A signal class name, written in the message's language."""


def evidence_findings(project: Project) -> list[Finding]:
    """Field reports that contradict the model (needs a current analysis).

    Overturned locations come from the analysis' ``evidence_conflicts``; for
    locations whose reports were not enough (``evidence`` = ``reported``), the
    reports are judged again with one report enough, and those whose 4G
    usability differs from the model's are reported as information.
    """
    reports = read_reports(project)  # imported, and verified in the register
    if reports is None or not len(reports):
        return []
    results = project.read_layer("location_results", required=False)
    if results is None or "evidence" not in results.columns:
        return [Finding("reports_not_analysed", "info", "reports", None, None,
                        {"n": len(reports)})]
    settings = project.settings
    unit = _Unit(settings.evidence.distinct)
    findings = []
    conflicts = project.read_layer("evidence_conflicts", required=False)
    rows = {k: i + 1 for i, k in enumerate(results["location_id"])}
    if conflicts is not None:
        for r in conflicts.itertuples(index=False):
            findings.append(Finding(
                "evidence_overturns_model", "warning", "location_results", str(r.location_id),
                rows.get(r.location_id),
                {"name": str(r.name), "modelled": _Signal(r.modelled_4g), "n": int(r.reports),
                 "periods": int(r.periods), "unit": unit,
                 "measured": _Signal(r.measured_4g)}))
    reported = results[results["evidence"] == "reported"]
    if len(reported):
        usable = settings.thresholds.usable_code
        pts = gpd.GeoDataFrame(reported, geometry=gpd.points_from_xy(reported["lon"],
                                                                     reported["lat"]),
                               crs="EPSG:4326")
        crs = project.grid.crs if project.grid is not None else pts.estimate_utm_crs()
        loose = EvidenceSettings(settings.evidence.evidence_radius_m, 1, "hour")
        dated = reports.assign(reported_at=reports["reported_at"].fillna("undated"))
        ev = evidence.evidence_at(pts, dated, crs, loose, usable)
        modelled = reported["modelled_4g"].map(SIGNAL_CODES).fillna(0).to_numpy(int)
        said = ev["measured_4g"].to_numpy(int)
        differ = (said > 0) & (modelled > 0) & ((said >= usable) != (modelled >= usable))
        for (_, r), m, s, n in zip(reported[differ].iterrows(), modelled[differ], said[differ],
                                   ev["evidence_reports"].to_numpy(int)[differ], strict=True):
            findings.append(Finding(
                "evidence_contradicts_model", "info", "location_results",
                str(r["location_id"]), rows.get(r["location_id"]),
                {"name": str(r["name"]), "modelled": _Signal(_code_name(m)), "n": int(n),
                 "measured": _Signal(_code_name(s)), "needed": settings.evidence.min_reports,
                 "unit": unit}))
    return findings


def _code_name(code: int) -> str:
    return CODE_TO_SIGNAL[int(code)]


class _Unit(str):
    """``day`` or ``hour``: the periods reports must differ by, written in the language."""
