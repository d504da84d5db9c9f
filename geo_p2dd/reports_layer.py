"""The ``reports`` layer: signal reports and measurements from the field.

:func:`reports_from_input` turns what a reader returned (a table with
coordinate columns, or a point layer) into the canonical reports layer, one
point per report, rejecting unusable rows one by one with their reasons (row,
column, expected, found), as sites are. Three shapes of input are accepted:

(a) the sheet a Diskominfo circulates, with Indonesian headers such as
    ``kampung, lintang, bujur, operator, jaringan`` (or ``sinyal``),
    ``tanggal, pelapor, keterangan``; the network column holds what a phone
    showed: ``Tidak ada sinyal``, ``2G``, ``3G``, ``4G``, optionally with a
    strength (``4G lemah``, ``4G kuat``);
(b) OpenCelliD-style measurement CSVs
    (``mcc,mnc,lac,cellid,lon,lat,signal,measured_at,rating,speed,direction,act``):
    ``act`` GSM/UMTS/LTE/NR is 2G/3G/4G/5G, ``signal`` dBm, ``measured_at`` an
    epoch (seconds or milliseconds) or ISO time, ``mnc`` the operator;
(c) any point table with a technology seen and/or an RSRP in dBm.

A row without coordinates that names a kampung is placed at the kampung's
main settlement (:func:`geo_p2dd.layers.village_anchor_points`, the placement
the sites import uses). Each report gets its signal classes here, once
(:func:`report_classes`): ``class_4g`` and ``class_other`` are class codes of
:data:`geo_p2dd.schema.SIGNAL_CODES` (0: the report says nothing about it).

The analysis reads the reports through :func:`read_reports`: the imported layer
and the field reports of the register database that a reviewer verified
(submitted and rejected ones never count), one layer whose ``origin`` column
says where each row came from (:data:`ORIGINS`); a register report whose id
was also imported from a sheet counts once (the imported row).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.config import RsrpThresholds
from geo_p2dd.errors import InputError, RowProblem
from geo_p2dd.io.table import ROW_COLUMN, RowRejections, parse_numbers, point_rows
from geo_p2dd.io.vector import repair
from geo_p2dd.layers import (
    OPERATORS_510,
    VillageWording,
    assign_villages,
    match_villages,
)
from geo_p2dd.schema import (
    REPORT_SOURCES,
    REPORTS,
    SIGNAL_CLASSES,
    SIGNAL_CODES,
    TECHNOLOGY_SEEN,
    match_columns,
    normalise_header,
)
from geo_p2dd.signal import rsrp_class

if TYPE_CHECKING:
    from geo_p2dd.project import Project

#: columns of an OpenCelliD measurement export (``act`` is the radio technology)
MEASUREMENT_COLUMNS = ("mcc", "mnc", "lac", "cellid", "lon", "lat", "signal", "measured_at",
                       "act")
#: plausible received signal (dBm) in a report: (lowest, highest)
DBM_RANGE = (-150.0, -30.0)
#: a phone showing a 2G/3G network without a strength is taken to have a usable signal
DEFAULT_OTHER_CLASS = "fair"
#: a phone showing 4G without a strength is taken to have a usable 4G signal
DEFAULT_4G_CLASS = "fair"
#: the canonical columns of the layer, in order (geometry last)
REPORT_COLUMNS = ("report_id", "village_kode", "operator", "technology", "rsrp_dbm",
                  "strength", "reported_at", "reporter", "notes", "source", "class_4g",
                  "class_other", "placed")
#: where a row of :func:`read_reports` came from: an imported file, the register database
ORIGINS = ("import", "register")


@dataclass
class ReportsImport:
    """The outcome of reading a reports file."""

    layer: gpd.GeoDataFrame
    rejected: list[RowProblem] = field(default_factory=list)
    placed: int = 0  # rows without coordinates placed at their kampung


def is_measurement_csv(columns: list[str]) -> bool:
    """True for an OpenCelliD-style measurement export (``mcc, mnc, ..., act``)."""
    cols = {normalise_header(c) for c in columns}
    return all(c in cols for c in MEASUREMENT_COLUMNS)


def parse_seen(value: object) -> tuple[str | None, str | None]:
    """What a report saw: ``(technology, strength)`` from text such as ``4G lemah``.

    Parameters
    ----------
    value : object
        The cell: a term of :data:`geo_p2dd.schema.TECHNOLOGY_SEEN`, optionally
        followed by a strength of :data:`geo_p2dd.schema.SIGNAL_CLASSES`
        (``lemah``, ``sangat lemah``, ``kuat``...).

    Returns
    -------
    (str or None, str or None)
        Technology id (``none``, ``2G``...) and strength class (``poor``...),
        ``(None, None)`` when not recognised.

    Examples
    --------
    >>> parse_seen("Tidak ada sinyal"), parse_seen("4G lemah"), parse_seen("LTE")
    (('none', None), ('4G', 'poor'), ('4G', None))
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None, None
    text = str(value).strip()
    tech = TECHNOLOGY_SEEN.parse(text)
    if tech is not None:
        return tech, None
    words = normalise_header(text).split("_")
    for cut in range(1, len(words)):
        head = TECHNOLOGY_SEEN.parse(" ".join(words[:cut]))
        tail = SIGNAL_CLASSES.parse(" ".join(words[cut:]))
        if head is not None and head != "none" and tail is not None:
            return head, tail
    return None, None


def report_classes(technology: str | None, strength: str | None, rsrp_dbm: float,
                   thresholds: RsrpThresholds | None = None) -> tuple[int, int]:
    """The signal classes a report states: ``(class_4g, class_other)`` as class codes.

    Rules (codes of :data:`geo_p2dd.schema.SIGNAL_CODES`, 0 = says nothing):

    - ``none`` (no signal): 4G none and 2G/3G none;
    - 4G or 5G: 4G from the RSRP (``thresholds``), else the strength written,
      else :data:`DEFAULT_4G_CLASS`; says nothing about 2G/3G;
    - 2G or 3G: the phone fell back, so 4G none; 2G/3G from the dBm, else the
      strength, else :data:`DEFAULT_OTHER_CLASS`;
    - only an RSRP (no technology): RSRP is an LTE measure, so 4G from it.
    """
    has_dbm = rsrp_dbm is not None and np.isfinite(rsrp_dbm)
    by_dbm = int(rsrp_class(np.array([rsrp_dbm if has_dbm else np.nan]), thresholds)[0])
    if technology == "none":
        return SIGNAL_CODES["none"], SIGNAL_CODES["none"]
    if technology in ("4G", "5G") or (technology is None and has_dbm):
        if has_dbm:
            return by_dbm, 0
        return SIGNAL_CODES[strength or DEFAULT_4G_CLASS], 0
    if technology in ("2G", "3G"):
        other = by_dbm if has_dbm else SIGNAL_CODES[strength or DEFAULT_OTHER_CLASS]
        return SIGNAL_CODES["none"], other
    return 0, 0


def classes_of(technology: np.ndarray, strength: np.ndarray, rsrp_dbm: np.ndarray,
               thresholds: RsrpThresholds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`report_classes` of many reports at once: ``(class_4g, class_other)`` arrays."""
    n = len(technology)
    c4 = np.zeros(n, dtype=np.uint8)
    co = np.zeros(n, dtype=np.uint8)
    has_dbm = np.isfinite(rsrp_dbm)
    by_dbm = rsrp_class(rsrp_dbm, thresholds)
    named = np.array([SIGNAL_CODES.get(str(v), 0) if v is not None else 0 for v in strength],
                     dtype=np.uint8)
    none = technology == "none"
    four = np.isin(technology, ["4G", "5G"]) | (pd.isna(technology) & has_dbm)
    other = np.isin(technology, ["2G", "3G"])
    c4[none] = co[none] = SIGNAL_CODES["none"]
    c4[four] = np.where(has_dbm, by_dbm, np.where(named > 0, named,
                                                  SIGNAL_CODES[DEFAULT_4G_CLASS]))[four]
    c4[other] = SIGNAL_CODES["none"]
    co[other] = np.where(has_dbm, by_dbm, np.where(named > 0, named,
                                                   SIGNAL_CODES[DEFAULT_OTHER_CLASS]))[other]
    return c4, co


def parse_times(values: pd.Series) -> tuple[list[str | None], np.ndarray]:
    """Report times as ISO text (``2026-03-05T14:20:00``, local time as written).

    Accepts ISO dates and times, day-first dates (``05/03/2026``, as written in
    Indonesia), spreadsheet dates, and epochs in seconds or milliseconds
    (OpenCelliD's ``measured_at``); a time with a zone is written in UTC.

    Returns
    -------
    (list of str or None, ndarray of bool)
        The times (None where empty) and where a value was present but not a time.
    """
    text = values.astype("string").str.strip().fillna("").reset_index(drop=True)
    present = (text != "").to_numpy()
    number = pd.to_numeric(text.where(present, None), errors="coerce").to_numpy(float)
    stamps = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    epoch = present & np.isfinite(number) & (number > 1e8)
    for unit, sel in (("ms", epoch & (number > 1e11)), ("s", epoch & (number <= 1e11))):
        if sel.any():
            stamps[sel] = pd.to_datetime(number[sel], unit=unit).to_numpy()
    words = present & ~np.isfinite(number)
    iso = words & text.str.match(r"^\d{4}[-/]\d").fillna(False).to_numpy()
    if iso.any():
        parsed = pd.to_datetime(text[iso], errors="coerce", format="ISO8601", utc=True)
        stamps[iso] = parsed.dt.tz_localize(None).to_numpy()
    for i in np.flatnonzero(words & ~iso):  # day-first and other spellings, one by one
        stamp = pd.to_datetime(text[i], errors="coerce", dayfirst=True)
        if not pd.isna(stamp):
            stamps[i] = stamp.tz_convert(None) if stamp.tzinfo is not None else stamp
    years = stamps.dt.year.to_numpy(dtype=float)
    ok = ~np.isnan(years) & (years >= 1990) & (years <= 2100)
    bad = present & ~ok
    shown = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    return [shown[i] if ok[i] else None for i in range(len(text))], bad


def _measurement_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An OpenCelliD measurement export with its operator named and its source measured.

    ``act``, ``signal`` and ``measured_at`` are header spellings of the layer's
    ``technology``, ``rsrp_dbm`` and ``reported_at`` (messages keep the file's names).
    """
    norm = {normalise_header(c): c for c in frame.columns}
    out = frame.copy()
    mnc = frame[norm["mnc"]].astype("string").str.strip().str.lstrip("0")
    out["operator"] = [OPERATORS_510.get(str(m), f"MNC {m}") if not pd.isna(m) else None
                       for m in mnc]
    out["source"] = "measured"
    return out.drop(columns=[norm["mnc"]])


def reports_from_input(frame: pd.DataFrame, *, file: str, villages: gpd.GeoDataFrame,
                       settlements: gpd.GeoDataFrame | None = None,
                       thresholds: RsrpThresholds | None = None,
                       lon: str | None = None, lat: str | None = None,
                       tolerance_deg: float = 0.1) -> ReportsImport:
    """The canonical reports layer from a table or point layer.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        As read (text columns and ``_row``), or a point layer.
    file : str
        Source file, for messages.
    villages : GeoDataFrame
        The project's villages (``kode``, ``nama``).
    settlements : GeoDataFrame, optional
        The locations layer: rows without coordinates are placed at their
        kampung's main settlement.
    thresholds : RsrpThresholds, optional
        Classes of dBm values (``project.settings.thresholds.rsrp_dbm``).
    lon, lat : str, optional
        Coordinate columns, when not found by their usual names.

    Returns
    -------
    ReportsImport

    Raises
    ------
    InputError
        A file with neither a technology nor a signal column, or no usable row.
    """
    if ROW_COLUMN not in frame.columns:
        frame = frame.copy()
        frame[ROW_COLUMN] = np.arange(len(frame)) + 1
    headers = [c for c in frame.columns if c not in ("geometry", ROW_COLUMN)]
    if is_measurement_csv(headers):
        frame = _measurement_frame(frame)
    points, rejected = point_rows(frame, file=file, lon=lon, lat=lat,
                                  region_bounds=tuple(villages.total_bounds),
                                  tolerance_deg=tolerance_deg)
    headers = [c for c in points.columns if c not in ("geometry", ROW_COLUMN)]
    mapping = match_columns(REPORTS, headers)
    if "technology" not in mapping and "rsrp_dbm" not in mapping:
        raise InputError("a reports file needs what was seen: a network/technology column or "
                         "a signal strength in dBm", file=file, column="jaringan",
                         expected="jaringan/sinyal (Tidak ada sinyal, 2G, 3G, 4G) or rsrp/dbm",
                         found="columns " + ", ".join(map(str, headers)))
    n = len(points)
    reject = RowRejections(points[ROW_COLUMN].to_numpy(), rejected)
    rows, ok = reject.rows, reject.ok

    def text(name: str) -> pd.Series:
        if name not in mapping:
            return pd.Series(pd.NA, index=points.index, dtype="string")
        return points[mapping[name]].astype("string").str.strip()

    # what was seen
    tech, strength = [], []
    seen_as: dict[object, tuple[str | None, str | None]] = {}
    for i, v in enumerate(text("technology")):
        key = None if pd.isna(v) or v == "" else v
        if key not in seen_as:
            seen_as[key] = parse_seen(key)
        t, s = seen_as[key]
        if t is None and not (pd.isna(v) or v == ""):
            reject(i, mapping["technology"], f"unknown network {v!r}; expected "
                   f"{TECHNOLOGY_SEEN.describe()}, optionally with a strength (4G lemah)")
        tech.append(t)
        strength.append(s)
    dbm = np.full(n, np.nan)
    if "rsrp_dbm" in mapping:
        dbm, bad, _ = parse_numbers(points[mapping["rsrp_dbm"]])
        low, high = DBM_RANGE
        for i in np.flatnonzero(bad | (np.isfinite(dbm) & ((dbm < low) | (dbm > high)))):
            reject(i, mapping["rsrp_dbm"], f"signal {points[mapping['rsrp_dbm']].iloc[i]!r} is "
                   f"not a number of dBm between {low:g} and {high:g}")
    for i in range(n):
        if tech[i] is None and not np.isfinite(dbm[i]):
            reject(i, mapping.get("technology", mapping.get("rsrp_dbm")),
                   "no observation: neither a network seen nor a signal in dBm")
    times, bad_t = parse_times(text("reported_at"))
    for i in np.flatnonzero(bad_t):
        reject(i, mapping["reported_at"], f"not a date or time: {text('reported_at').iloc[i]!r} "
               "(expected e.g. 2026-03-05, 05/03/2026 14:20 or an epoch)")
    source = []
    for i, v in enumerate(text("source")):
        parsed = None if pd.isna(v) or v == "" else REPORT_SOURCES.parse(v)
        if parsed is None and not (pd.isna(v) or v == ""):
            reject(i, mapping["source"], f"unknown report source {v!r}; expected "
                   f"{REPORT_SOURCES.describe()}")
        source.append(parsed or ("measured" if np.isfinite(dbm[i]) else "reported"))
    village, geoms, placed = _place(points, text, mapping, villages, settlements, reject, ok,
                                    tolerance_deg)
    if placed.any():
        repair(f"{file}: {int(placed.sum())} report(s) without coordinates were placed at "
               f"their kampung's main settlement (rows "
               f"{', '.join(str(int(r)) for r in rows[placed][:20])})")
    class_4g, class_other = classes_of(np.array(tech, dtype=object),
                                       np.array(strength, dtype=object), dbm, thresholds)
    out = pd.DataFrame({
        "village_kode": village, "operator": text("operator").fillna("").to_numpy(),
        "technology": tech, "rsrp_dbm": dbm, "strength": strength, "reported_at": times,
        "reporter": text("reporter").fillna("").to_numpy(),
        "notes": text("notes").fillna("").to_numpy(), "source": source,
        "class_4g": class_4g, "class_other": class_other,
        "placed": placed})
    given = text("report_id")
    derived = _report_ids(out, geoms)
    out.insert(0, "report_id", [str(g) if not pd.isna(g) and g != "" else d
                                for g, d in zip(given, derived, strict=True)])
    seen: dict[str, int] = {}
    ids = out["report_id"].tolist()
    for i in np.flatnonzero(ok):
        key = ids[i]
        if key in seen:
            reject(i, mapping.get("report_id"), f"the same report as row {int(rows[seen[key]])}"
                   f" ({key})")
        else:
            seen[key] = i
    layer = gpd.GeoDataFrame(out[ok].reset_index(drop=True),
                             geometry=list(geoms[ok]), crs="EPSG:4326")
    if len(layer) == 0:
        raise reject.none_usable("report", file)
    return ReportsImport(layer, reject.problems, int(placed[ok].sum()))


#: the words of the reports' reasons: a kampung; a known point decides over an unknown name
KAMPUNG_WORDING = VillageWording(
    noun="kampung", outside="the point lies in no kampung of the project",
    unplaced="no coordinates and no kampung to place the report in",
    unknown_name_rejects_point=False)


def _place(points, text, mapping, villages, settlements, reject, ok, tolerance_deg):
    """Each row's kampung (code, else name, else position) and point (placed if missing)."""
    match = match_villages(
        points.geometry, villages,
        codes=text("village_kode") if "village_kode" in mapping else None,
        names=text("village") if "village" in mapping else None,
        code_column=mapping.get("village_kode"), name_column=mapping.get("village"),
        ok=ok, reject=reject, settlements=settlements, tolerance_deg=tolerance_deg,
        wording=KAMPUNG_WORDING)
    return match.village, match.geoms, match.placed


def _report_ids(out: pd.DataFrame, geoms) -> list[str]:
    """Stable ids from what the reports say (re-importing a sheet does not duplicate)."""
    columns = [out[c].tolist() for c in ("village_kode", "operator", "technology", "rsrp_dbm",
                                         "reported_at", "reporter", "notes")]
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    x = np.where(present, shapely.get_x(geoms), np.nan)
    y = np.where(present, shapely.get_y(geoms), np.nan)
    ids = []
    for i, values in enumerate(zip(*columns, strict=True)):
        key = "|".join(map(str, values)) + (f"|{x[i]:.5f},{y[i]:.5f}" if present[i] else "")
        ids.append("rpt-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12])
    return ids


def register_reports_layer(records: Iterable[Mapping[str, Any]], villages: gpd.GeoDataFrame,
                           thresholds: RsrpThresholds | None = None,
                           tolerance_deg: float = 0.1) -> gpd.GeoDataFrame:
    """Field reports of the register database as rows of the reports layer.

    Parameters
    ----------
    records : iterable of mapping
        Reports as :func:`geo_p2dd.registry.field_reports.list_reports` gives
        them (``id``, ``village_kode``, ``lon``, ``lat``, ``operator``,
        ``technology``, ``observed_at``, ``reporter``, ``note``).
    villages : GeoDataFrame
        The project's villages: a report without a kampung of the project gets
        the kampung its point lies in.
    thresholds : RsrpThresholds, optional
        As for :func:`reports_from_input` (phone reports carry no dBm).

    Returns
    -------
    GeoDataFrame
        :data:`REPORT_COLUMNS`, ``source`` ``reported`` (what a phone showed),
        ``reported_at`` the observation time in UTC.
    """
    rows = list(records)
    points = gpd.GeoSeries(shapely.points([float(r["lon"]) for r in rows],
                                          [float(r["lat"]) for r in rows]), crs="EPSG:4326")
    known = set(villages["kode"])
    given = [r.get("village_kode") for r in rows]
    located = assign_villages(points, villages, tolerance_deg) \
        if any(k not in known for k in given) else given
    tech = np.array([r["technology"] for r in rows], dtype=object)
    strength = np.full(len(rows), None, dtype=object)
    dbm = np.full(len(rows), np.nan)
    class_4g, class_other = classes_of(tech, strength, dbm, thresholds)
    times = pd.to_datetime(pd.Series([r["observed_at"] for r in rows], dtype=object),
                           utc=True, format="ISO8601")
    out = pd.DataFrame({
        "report_id": [str(r["id"]) for r in rows],
        "village_kode": [k if k in known else v for k, v in zip(given, located, strict=True)],
        "operator": [r.get("operator") or "" for r in rows],
        "technology": tech, "rsrp_dbm": dbm, "strength": strength,
        "reported_at": times.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object),
        "reporter": [r.get("reporter") or "" for r in rows],
        "notes": [r.get("note") or "" for r in rows],
        "source": "reported", "class_4g": class_4g, "class_other": class_other,
        "placed": np.zeros(len(rows), dtype=bool)}, columns=list(REPORT_COLUMNS))
    return gpd.GeoDataFrame(out, geometry=points.values, crs="EPSG:4326")


def with_register_reports(imported: gpd.GeoDataFrame | None,
                          registered: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The imported reports layer and the register's verified reports as one layer.

    Each row's ``origin`` (:data:`ORIGINS`) says where it came from; a register
    report whose ``report_id`` the imported layer holds too (a sheet made from
    the register) is left out: it counts once. None when both are empty.
    """
    parts = []
    if imported is not None and len(imported):
        parts.append(imported.assign(origin="import"))
    if registered is not None and len(registered):
        if parts:
            registered = registered[~registered["report_id"].isin(set(imported["report_id"]))]
        parts.append(registered.assign(origin="register"))
    if not parts:
        return imported
    if len(parts) == 1:
        return parts[0]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                            crs="EPSG:4326")


def read_reports(project: Project, villages: gpd.GeoDataFrame | None = None,
                 ) -> gpd.GeoDataFrame | None:
    """The reports the analysis weighs: imported, and verified in the register database.

    ``villages``: the project's villages when the caller has read them. A
    project without a register database gets its imported layer (with
    ``origin``); none is created by reading.
    """
    from geo_p2dd.registry.store import engine_for, has_register

    imported = project.read_layer("reports", required=False)
    registered = None
    if has_register(project.path):
        from geo_p2dd.registry.field_reports import list_reports  # its models only then

        records = list_reports(engine_for(project.path), status="verified")
        if records:
            if villages is None:
                villages = project.read_layer("villages")
            registered = register_reports_layer(records, villages,
                                                project.settings.thresholds.rsrp_dbm)
    return with_register_reports(imported, registered)
