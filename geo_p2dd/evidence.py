"""Field evidence beats the model: measured signal replaces modelled signal at locations.

Pure functions over frames; :func:`apply_reports` is the one call the analysis
makes (after the locations' coverage is computed, before the village figures).

Rules
-----
- The reports near a location are those within ``[evidence] evidence_radius_m``
  (default 1 km). Their times are cut into periods (``distinct = "day"`` or
  ``"hour"``); within one period the best class any report saw counts (one
  person with signal proves the signal is there). Reports without a time prove
  no period and count only as *reported*.
- 4G evidence is *consistent* when at least ``min_reports`` (default 2) periods
  state a 4G class and all of them fall on the same side of the usable class
  (all usable or all not). The measured class is then the lower median of the
  periods' classes. 2G/3G evidence is judged alike, on its own.
- Consistent evidence replaces the modelled class, in both directions (the
  model says good 4G, two days of "Tidak ada sinyal" say none → none), and the
  location's status is recomputed from the classes as
  :func:`geo_p2dd.coverage.locations_coverage` does (a site serving the
  location by radius still serves it). Its ``evidence`` is ``measured``; a
  location with reports that are not enough (or disagree) keeps the model and
  is ``reported``; without reports, ``modelled``.
- The pipeline view keeps the measurement unless pipeline towers model better
  than the towers now: then the better of the two.
- A report without coordinates (placed at its kampung by the import) speaks of
  the kampung's main settlement (the most people), where it is moved.
- A report naming a kampung with no location of that kampung within the radius
  becomes a location of that kampung (kind ``other``, source ``report``);
  reports close together make one location.
- A *conflict* is a measured location whose 4G usability or status differs from
  the model's: the list the summary and ``geo-p2dd check`` show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.config import EvidenceSettings, Settings
from geo_p2dd.i18n import format_int, gettext
from geo_p2dd.schema import CODE_TO_SIGNAL, SIGNAL_CLASSES, SIGNAL_CODES

EVIDENCE_KINDS = ("modelled", "measured", "reported")
#: columns :func:`evidence_at` returns
EVIDENCE_COLUMNS = ("evidence", "evidence_reports", "evidence_periods", "measured_4g",
                    "measured_other")
#: columns of the conflicts table (one row per location where evidence overturned the model)
CONFLICT_COLUMNS = ("location_id", "name", "kind", "village_kode", "modelled_4g", "measured_4g",
                    "status_modelled", "status", "reports", "periods", "first_report",
                    "last_report", "lon", "lat")


def location_status(best_4g: np.ndarray, best_other: np.ndarray, by_site: np.ndarray,
                    usable: int) -> np.ndarray:
    """A location's status from its classes, as :func:`geo_p2dd.coverage.locations_coverage`.

    served: usable 4G or a site serving it by radius; weak: some 4G below usable
    or usable 2G/3G; unserved: a known signal that is neither; else unknown.
    """
    best_4g = np.asarray(best_4g)
    best_other = np.asarray(best_other)
    served = (best_4g >= usable) | (np.asarray(by_site, dtype=object) != "")
    known = (best_4g > 0) | (best_other > 0)
    weak = ~served & ((best_4g >= SIGNAL_CODES["marginal"]) | (best_other >= usable))
    return np.where(served, "served", np.where(weak, "weak",
                                               np.where(known, "unserved", "unknown")))


def _periods(times: pd.Series, distinct: str) -> pd.Series:
    """The day (``2026-03-05``) or hour (``2026-03-05T14``) of ISO times; None when missing."""
    width = 10 if distinct == "day" else 13
    return times.astype("string").str.slice(0, width)


def _judge(classes: np.ndarray, usable: int, min_reports: int) -> int:
    """The measured class of periods' classes (0 when not consistent)."""
    known = classes[classes > 0]
    if len(known) < min_reports:
        return 0
    good = known >= usable
    if good.any() and not good.all():
        return 0
    return int(np.sort(known)[(len(known) - 1) // 2])


def evidence_at(locations: gpd.GeoDataFrame, reports: gpd.GeoDataFrame | None, metric_crs,
                settings: EvidenceSettings, usable: int) -> pd.DataFrame:
    """The field evidence at every location (aligned with ``locations``).

    Parameters
    ----------
    locations : GeoDataFrame
        Locations (EPSG:4326).
    reports : GeoDataFrame or None
        The reports layer (``class_4g``, ``class_other``, ``reported_at``).
    metric_crs : CRS
        A metric CRS for distances (the project grid's).
    settings : EvidenceSettings
        Radius, reports needed and what makes them distinct.
    usable : int
        The lowest usable class code.

    Returns
    -------
    DataFrame
        ``evidence`` (modelled, measured, reported), ``evidence_reports`` (reports
        within the radius), ``evidence_periods`` (distinct days or hours among
        them), ``measured_4g`` and ``measured_other`` (class codes, 0 when not
        measured consistently), ``first_report`` and ``last_report`` (ISO times).
    """
    n = len(locations)
    out = pd.DataFrame({"evidence": np.full(n, "modelled", dtype=object),
                        "evidence_reports": np.zeros(n, dtype=int),
                        "evidence_periods": np.zeros(n, dtype=int),
                        "measured_4g": np.zeros(n, dtype=np.uint8),
                        "measured_other": np.zeros(n, dtype=np.uint8),
                        "first_report": np.full(n, None, dtype=object),
                        "last_report": np.full(n, None, dtype=object)},
                       index=locations.index)
    if reports is None or not len(reports) or not n:
        return out
    pts = locations.geometry.to_crs(metric_crs).values
    rep = reports.geometry.to_crs(metric_crs).values
    tree = shapely.STRtree(rep)
    loc_i, rep_i = tree.query(pts, predicate="dwithin", distance=float(settings.evidence_radius_m))
    if not len(loc_i):
        return out
    c4 = reports["class_4g"].to_numpy(dtype=int)
    co = reports["class_other"].to_numpy(dtype=int)
    times = reports["reported_at"].astype("string")
    period = _periods(reports["reported_at"], settings.distinct).to_numpy(dtype=object)
    evidence = out["evidence"].to_numpy().copy()
    counts = out["evidence_reports"].to_numpy().copy()
    n_periods = out["evidence_periods"].to_numpy().copy()
    m4 = out["measured_4g"].to_numpy().copy()
    mo = out["measured_other"].to_numpy().copy()
    first = out["first_report"].to_numpy().copy()
    last = out["last_report"].to_numpy().copy()
    order = np.argsort(loc_i, kind="stable")
    loc_i, rep_i = loc_i[order], rep_i[order]
    starts = np.flatnonzero(np.r_[True, loc_i[1:] != loc_i[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(loc_i)], strict=True):
        i, near = int(loc_i[a]), rep_i[a:b]
        counts[i] = len(near)
        dated = [j for j in near if not pd.isna(period[j])]
        known_times = sorted(str(times.iloc[j]) for j in dated)
        if known_times:
            first[i], last[i] = known_times[0], known_times[-1]
        best4: dict[str, int] = {}
        besto: dict[str, int] = {}
        for j in dated:
            p = period[j]
            best4[p] = max(best4.get(p, 0), int(c4[j]))
            besto[p] = max(besto.get(p, 0), int(co[j]))
        n_periods[i] = len(best4)
        m4[i] = _judge(np.array(list(best4.values()), dtype=int), usable, settings.min_reports)
        mo[i] = _judge(np.array(list(besto.values()), dtype=int), usable, settings.min_reports)
        evidence[i] = "measured" if (m4[i] or mo[i]) else "reported"
    out["evidence"], out["evidence_reports"], out["evidence_periods"] = evidence, counts, \
        n_periods
    out["measured_4g"], out["measured_other"] = m4, mo
    out["first_report"], out["last_report"] = first, last
    return out


def report_locations(reports: gpd.GeoDataFrame | None, locations: gpd.GeoDataFrame,
                     villages: pd.DataFrame, metric_crs, radius_m: float) -> gpd.GeoDataFrame:
    """New locations for reports naming a kampung with no location of it within ``radius_m``.

    Reports within ``radius_m`` of a report location already made (same
    kampung) join it, so a cluster of reports makes one location, at its first
    report. Kind ``other``, source ``report``, ids ``report-<kode>-<n>``.
    """
    columns = ["location_id", "kind", "name", "village_kode", "people", "source"]
    empty = gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:4326")
    if reports is None or not len(reports):
        return empty
    names = dict(zip(villages["kode"], villages["nama"], strict=True))
    rep = reports[reports["village_kode"].isin(set(names))]
    if not len(rep):
        return empty
    rep_m = rep.geometry.to_crs(metric_crs).values
    loc_m = locations.geometry.to_crs(metric_crs).values
    loc_kode = locations["village_kode"].to_numpy(dtype=object)
    far = np.ones(len(rep), dtype=bool)
    if len(locations):
        tree = shapely.STRtree(loc_m)
        r_i, l_i = tree.query(rep_m, predicate="dwithin", distance=float(radius_m))
        same = loc_kode[l_i] == rep["village_kode"].to_numpy(dtype=object)[r_i]
        far[np.unique(r_i[same])] = False
    made: dict[str, list] = {}
    rows = []
    for j in np.flatnonzero(far):
        kode = rep["village_kode"].iloc[j]
        mine = made.setdefault(kode, [])
        if any(shapely.distance(rep_m[j], g) <= radius_m for g in mine):
            continue
        mine.append(rep_m[j])
        rows.append({"location_id": f"report-{kode}-{len(mine)}", "kind": "other",
                     "name": f"Titik laporan sinyal {names[kode]} {len(mine)}",
                     "village_kode": kode, "people": np.nan, "source": "report",
                     "geometry": rep.geometry.iloc[j]})
    if not rows:
        return empty
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def at_main_settlement(reports: gpd.GeoDataFrame | None,
                       locations: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """Reports that had no coordinates (``placed``) moved to their kampung's main settlement.

    The import put them at the kampung's anchor as known then; the analysis
    knows the kampung's settlements, and its main one (the most people, as for
    remoteness) is where such a report is taken to speak of. Kampung without a
    settlement keep the position the import gave.
    """
    if reports is None or not len(reports) or "placed" not in reports.columns:
        return reports
    placed = reports["placed"].fillna(False).astype(bool).to_numpy()
    if not placed.any():
        return reports
    settle = locations[locations["kind"] == "settlement"]
    if not len(settle):
        return reports
    people = pd.to_numeric(settle["people"], errors="coerce").fillna(0.0) \
        if "people" in settle else pd.Series(0.0, index=settle.index)
    order = settle.assign(_p=people.to_numpy()).sort_values(["village_kode", "_p"],
                                                            ascending=[True, False],
                                                            kind="stable")
    main = dict(zip(order.drop_duplicates("village_kode")["village_kode"],
                    order.drop_duplicates("village_kode").geometry, strict=True))
    geoms = reports.geometry.to_numpy().copy()
    kode = reports["village_kode"].to_numpy(dtype=object)
    for i in np.flatnonzero(placed):
        if kode[i] in main:
            geoms[i] = main[kode[i]]
    return gpd.GeoDataFrame(reports.drop(columns=reports.geometry.name), geometry=list(geoms),
                            crs=reports.crs)


def _reason(reports: int, periods: int, m4: int, mo: int, distinct: str, lang: str) -> str:
    """What the reports at a measured location say, in ``lang``."""
    unit = gettext("days", lang) if distinct == "day" else gettext("hours", lang)
    parts = [gettext("measured in the field: %(n)s report(s) on %(periods)s %(unit)s", lang,
                     n=format_int(reports, lang), periods=format_int(periods, lang), unit=unit)]
    for code, label in ((m4, "4G"), (mo, "2G/3G")):
        if code:
            name = CODE_TO_SIGNAL[int(code)]
            shown = SIGNAL_CLASSES.label(name, "id").lower() if lang == "id" else name
            parts.append(f"{label} {shown}")
    return ", ".join(parts)


def apply_evidence(now: pd.DataFrame, later: pd.DataFrame, ev: pd.DataFrame,
                   usable: int, distinct: str = "day") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``now`` and ``later`` (coverage at locations) with measured classes put in.

    Adds to ``now``: the :data:`EVIDENCE_COLUMNS`, ``best_4g_modelled`` and
    ``status_modelled`` (what the model said). Measured locations get their
    status recomputed (:func:`location_status`) and a reason that says what
    was measured, followed by the model's reason.
    """
    now = now.copy()
    later = later.copy()
    measured = (ev["evidence"] == "measured").to_numpy()
    m4 = ev["measured_4g"].to_numpy(dtype=np.uint8)
    mo = ev["measured_other"].to_numpy(dtype=np.uint8)
    b4_model = now["best_4g"].to_numpy(dtype=np.uint8)
    now["best_4g_modelled"] = b4_model
    now["status_modelled"] = now["status"]
    use4 = measured & (m4 > 0)
    useo = measured & (mo > 0)
    now["best_4g"] = np.where(use4, m4, b4_model).astype(np.uint8)
    now["best_other"] = np.where(useo, mo, now["best_other"]).astype(np.uint8)
    now["best_source"] = np.where(use4, "field reports", now["best_source"])
    now["status"] = location_status(now["best_4g"], now["best_other"], now["by_site"], usable)
    n_rep = ev["evidence_reports"].to_numpy(dtype=int)
    n_per = ev["evidence_periods"].to_numpy(dtype=int)
    for lang, col in (("en", "reason_en"), ("id", "reason_id")):
        reasons = now[col].tolist()  # only the measured locations' reasons change
        for k in np.flatnonzero(measured).tolist():
            reasons[k] = (_reason(n_rep[k], n_per[k], m4[k], mo[k], distinct, lang) + "; " +
                          gettext("model: %(reason)s", lang, reason=reasons[k]))
        now[col] = reasons
    for c in EVIDENCE_COLUMNS:
        now[c] = ev[c].to_numpy()
    now["first_report"] = ev["first_report"].to_numpy()
    now["last_report"] = ev["last_report"].to_numpy()
    # the pipeline view: pipeline towers modelled better than now win over the measurement
    l4 = later["best_4g"].to_numpy(dtype=np.uint8) if "best_4g" in later else b4_model
    lo = later["best_other"].to_numpy(dtype=np.uint8) if "best_other" in later else \
        now["best_other"].to_numpy()
    later4 = later_4g(l4, b4_model, np.where(use4, m4, 0))
    othero = np.where(useo, np.maximum(mo, np.where(lo > now["best_other"], lo, 0)), lo)
    if measured.any():
        later.loc[measured, "status"] = location_status(
            later4[measured], othero[measured], later["by_site"].to_numpy()[measured], usable)
        if "best_4g" in later:  # the view's classes agree with its status
            later.loc[measured, "best_4g"] = later4[measured].astype(later["best_4g"].dtype)
    return now, later


def later_4g(later_modelled: np.ndarray, modelled_now: np.ndarray,
             measured_4g: np.ndarray) -> np.ndarray:
    """The 4G class at locations once later (pipeline or hypothetical) towers are counted.

    The one comparison of the pipeline view (:func:`apply_evidence`) and of a
    what-if (:mod:`geo_p2dd.planning`): where a measurement replaced the model
    (``measured_4g`` > 0), it stands unless the later towers are modelled better
    than the model was there (a tower the field could not see yet); then the
    better of both. Elsewhere the later model.

    Parameters
    ----------
    later_modelled, modelled_now, measured_4g : numpy.ndarray
        Class codes per location (0: nothing measured).
    """
    later_modelled = np.asarray(later_modelled)
    measured_4g = np.asarray(measured_4g)
    better = later_modelled > np.asarray(modelled_now)
    return np.where(measured_4g > 0, np.where(better, np.maximum(later_modelled, measured_4g),
                                              measured_4g), later_modelled)


def conflicts(locations: pd.DataFrame, now: pd.DataFrame, usable: int) -> pd.DataFrame:
    """Measured locations where the evidence overturned the model.

    Parameters
    ----------
    locations : DataFrame
        Locations (``location_id``, ``name``, ``kind``, ``village_kode``, geometry).
    now : DataFrame
        Coverage after :func:`apply_evidence`.
    usable : int
        The lowest usable class code.

    Returns
    -------
    DataFrame
        One row per conflict, :data:`CONFLICT_COLUMNS` (class names, not codes).
    """
    if "evidence" not in now:
        return pd.DataFrame(columns=list(CONFLICT_COLUMNS))
    b4m = now["best_4g_modelled"].to_numpy(dtype=int)
    b4 = now["best_4g"].to_numpy(dtype=int)
    changed = ((b4m >= usable) != (b4 >= usable)) | (now["status"] != now["status_modelled"])
    hit = (now["evidence"] == "measured").to_numpy() & changed.to_numpy()
    loc = locations[hit]
    c = now[hit]
    geoms = loc.geometry
    return pd.DataFrame({
        "location_id": loc["location_id"].to_numpy(), "name": loc["name"].to_numpy(),
        "kind": loc["kind"].to_numpy(), "village_kode": loc["village_kode"].to_numpy(),
        "modelled_4g": [CODE_TO_SIGNAL[int(x)] for x in c["best_4g_modelled"]],
        "measured_4g": [CODE_TO_SIGNAL[int(x)] for x in c["best_4g"]],
        "status_modelled": c["status_modelled"].to_numpy(), "status": c["status"].to_numpy(),
        "reports": c["evidence_reports"].to_numpy(dtype=int),
        "periods": c["evidence_periods"].to_numpy(dtype=int),
        "first_report": c["first_report"].to_numpy(), "last_report": c["last_report"].to_numpy(),
        "lon": np.round(geoms.x.to_numpy(), 6), "lat": np.round(geoms.y.to_numpy(), 6)})


@dataclass
class EvidenceResult:
    """Locations and their coverage with the field evidence in, and the conflicts."""

    locations: gpd.GeoDataFrame
    now: pd.DataFrame
    #: coverage in each further view, by the view's column suffix
    later: dict[str, pd.DataFrame]
    conflicts: pd.DataFrame


def apply_reports(locations: gpd.GeoDataFrame, now: pd.DataFrame,
                  later: Mapping[str, pd.DataFrame], reports: gpd.GeoDataFrame | None,
                  villages: pd.DataFrame, settings: Settings, metric_crs,
                  coverage_of: Callable[[gpd.GeoDataFrame],
                                        tuple[pd.DataFrame, Mapping[str, pd.DataFrame]]],
                  ) -> EvidenceResult:
    """The analysis' one call: report locations added, measured classes put in.

    Parameters
    ----------
    locations : GeoDataFrame
        The analysis' locations (index 0..n-1), aligned with ``now`` and ``later``.
    now : DataFrame
        Coverage at the locations now (:func:`geo_p2dd.coverage.locations_coverage`).
    later : mapping of str to DataFrame
        Coverage at the locations in each further view (with the pipeline, with
        proposals), by the view's column suffix.
    reports : GeoDataFrame or None
        The project's reports layer.
    villages : DataFrame
        ``kode`` and ``nama`` of the villages.
    settings : Settings
        The project's settings (``evidence``, ``thresholds``).
    metric_crs : CRS
        Metric CRS for distances.
    coverage_of : callable
        Coverage (now, {suffix: later}) at new locations, as the analysis computes it.
    """
    cfg = settings.evidence
    usable = settings.thresholds.usable_code
    reports = at_main_settlement(reports, locations)
    extra = report_locations(reports, locations, villages, metric_crs, cfg.evidence_radius_m)
    later = dict(later)
    if len(extra):
        extra_now, extra_later = coverage_of(extra)
        locations = gpd.GeoDataFrame(pd.concat([locations, extra], ignore_index=True),
                                     crs="EPSG:4326")
        now = _stack(now, extra_now)
        later = {k: _stack(frame, extra_later[k]) for k, frame in later.items()}
    ev = evidence_at(locations, reports, metric_crs, cfg, usable)
    # each further view is measured against the same model of today
    new_now, _ = apply_evidence(now, now, ev, usable, cfg.distinct)
    later = {k: apply_evidence(now, frame, ev, usable, cfg.distinct)[1]
             for k, frame in later.items()}
    return EvidenceResult(locations, new_now, later, conflicts(locations, new_now, usable))


def _stack(table: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``table`` then ``extra``; a source known only at the first rows (a model sampled
    at the analysed locations) reads as unknown signal at the new ones."""
    out = pd.concat([table, extra], ignore_index=True)
    for column in out.columns:
        if column.startswith("signal:") and column not in extra:
            out[column] = out[column].fillna(0).astype(table[column].dtype)
    return out


def output_columns(table: pd.DataFrame) -> dict[str, object]:
    """The per-location evidence columns of ``location_results``.

    ``evidence`` (modelled, measured, reported), ``evidence_reports``,
    ``evidence_periods`` and ``modelled_4g`` / ``status_modelled`` (what the
    model said, beside the figures the evidence made).
    """
    if "evidence" not in table:
        n = len(table)
        return {"evidence": ["modelled"] * n, "evidence_reports": np.zeros(n, dtype=int),
                "evidence_periods": np.zeros(n, dtype=int),
                "modelled_4g": [CODE_TO_SIGNAL[int(c)] for c in table["best_4g"]],
                "status_modelled": table["status"].to_numpy()}
    return {"evidence": table["evidence"].to_numpy(),
            "evidence_reports": table["evidence_reports"].to_numpy(dtype=int),
            "evidence_periods": table["evidence_periods"].to_numpy(dtype=int),
            "modelled_4g": [CODE_TO_SIGNAL[int(c)] for c in table["best_4g_modelled"]],
            "status_modelled": table["status_modelled"].to_numpy()}
