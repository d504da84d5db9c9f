"""Typed, frozen configuration of a project, read from ``project.toml`` once.

Why
---
The settings used to travel as a nested dict: a typo (``usable_clas``) or an
Indonesian label (``usable_class = "lemah"``) surfaced deep in the analysis as
a ``KeyError``, and the defaults were written twice and disagreed (43 dBm /
30 m masts in the propagation model, 58 dBm / 40 m in the project). Now every
default is defined here, once, as the default of a frozen dataclass field, and
:func:`settings_from_dict` checks a whole ``project.toml`` before anything runs.

Method
------
Each section of the file is a frozen dataclass; the rule for a value (a number
> 0, an integer >= 1, one of a list) sits in its field's metadata next to the
default. Validation collects *every* problem and raises one
:class:`~geo_p2dd.errors.ConfigError` that names the file and, per problem, the
dotted key (``thresholds.usable_class``), what is allowed and what was found.
Unknown keys are refused with a did-you-mean suggestion (:mod:`difflib`).
Nothing is accepted silently: the only repair is a signal class written with a
label or synonym of the vocabulary in :mod:`geo_p2dd.schema` (``"lemah"`` is
unambiguously ``"poor"``), and it is reported with a ``RepairWarning``.

Traps
-----
* Missing keys take their defaults (a file may set just one threshold); the
  result is checked as a whole, e.g. thresholds must still descend.
* TOML booleans are not numbers here (``weights.distance = true`` is refused).
* The sections written by the program itself (``[grid]``'s raster frame,
  ``coverage``, ``[sources]``, ``[rasters]``, ``[analysis]``) are records, not
  settings: only their shape is checked, and they stay in ``Project.config``.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any

from geo_p2dd.errors import ConfigError, ConfigProblem
from geo_p2dd.schema import SIGNAL_CLASSES, SIGNAL_CODES, TECHNOLOGIES

__all__ = [
    "DEFAULTS",
    "ENVIRONMENTS",
    "EvidenceSettings",
    "RADIUS_KINDS",
    "GridSettings",
    "Limits",
    "LocationChecks",
    "OoklaThresholds",
    "ProjectInfo",
    "PropagationSettings",
    "RsrpThresholds",
    "Settings",
    "Settlements",
    "Thresholds",
    "default_config",
    "describe",
    "rsrp_thresholds",
    "settings_from_dict",
    "with_changes",
    "CostSettings",
    "PlanningSettings",
]

#: Propagation environments of the Okumura-Hata / COST-231 models.
ENVIRONMENTS = ("urban", "suburban", "open")

#: Default service radius (m) per site kind that serves by radius (not by signal).
DEFAULT_SERVICE_RADIUS_M: dict[str, float] = {
    "starlink": 300.0, "vsat": 300.0, "wifi": 200.0, "fiber": 500.0}

#: Site kinds that serve the locations within their service radius.
RADIUS_KINDS = tuple(DEFAULT_SERVICE_RADIUS_M)

#: Default weight of each scoring factor (:data:`geo_p2dd.scoring.FACTORS`).
DEFAULT_WEIGHTS: dict[str, float] = {
    "unserved_people": 0.30,
    "unserved_facilities": 0.20,
    "no_4g_share": 0.15,
    "distance": 0.15,
    "remoteness": 0.10,
    "nothing_planned": 0.10,
}

# the sections the program writes itself: kept as written, only their shape is checked
_RECORD_SECTIONS = ("coverage", "sources", "rasters", "analysis")


# --------------------------------------------------------------------------- #
# Field rules
# --------------------------------------------------------------------------- #


def _number(default: float, *, gt: float | None = None, ge: float | None = None,
            le: float | None = None) -> Any:
    """A finite number (TOML integer or float) within the bounds given."""
    return field(default=default, metadata={"kind": "number", "gt": gt, "ge": ge, "le": le})


def _integer(default: int | None, *, ge: int = 0) -> Any:
    """A TOML integer >= ``ge``."""
    return field(default=default, metadata={"kind": "integer", "ge": ge})


def _text(default: str | None = "", *, optional: bool = False) -> Any:
    """Text; an empty optional text means unset (None)."""
    return field(default=default, metadata={"kind": "text", "optional": optional})


def _flag(default: bool) -> Any:
    """A TOML boolean."""
    return field(default=default, metadata={"kind": "flag"})


def _choice(default: str, choices: tuple[str, ...]) -> Any:
    """One of ``choices``, spelled exactly."""
    return field(default=default, metadata={"kind": "choice", "choices": choices})


# --------------------------------------------------------------------------- #
# The sections
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ProjectInfo:
    """``[project]``: names, the region and the regency seat."""

    name: str = _text()
    region_code: str = _text()
    region_name: str = _text()
    sample: bool = _flag(False)
    created: str | None = _text(None, optional=True)
    #: village code of the regency seat; remoteness is measured to it
    seat_kode: str | None = field(default=None, metadata={"kind": "village_code"})
    #: counts committed changes of input data (written by the project store)
    data_version: int = _integer(0, ge=0)


@dataclass(frozen=True)
class GridSettings:
    """``[grid]``: the resolution (a setting) and the raster frame (written on import)."""

    resolution_m: float = _number(100.0, gt=0)
    crs: str | None = _text(None, optional=True)
    transform: tuple[float, ...] | None = field(default=None, metadata={"kind": "transform"})
    width: int | None = _integer(None, ge=1)
    height: int | None = _integer(None, ge=1)


@dataclass(frozen=True)
class RsrpThresholds:
    """``[thresholds.rsrp_dbm]``: the lower bound (dBm) of each 4G signal class.

    Field order is from the best class to the weakest; the values must descend.
    """

    good: float = _number(-85.0)
    fair: float = _number(-95.0)
    poor: float = _number(-105.0)
    marginal: float = _number(-115.0)

    def as_dict(self) -> dict[str, float]:
        """``{"good": -85.0, ...}``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Signal classes with a dBm threshold, best first (the fields of :class:`RsrpThresholds`).
THRESHOLD_CLASSES = tuple(f.name for f in fields(RsrpThresholds))


@dataclass(frozen=True)
class OoklaThresholds:
    """``[thresholds.ookla_mbps]``: lower bound of the average download speed (Mbps) of
    each speed class of an Ookla open data tile; a tile below ``marginal`` is "none".

    The defaults read a tile's mobile tests as a signal class: 20 Mbps and more is
    good 4G, 10 fair, 5 poor (still usable for video calls and e-learning), 1
    marginal (messaging only). The values must descend.
    """

    good: float = _number(20.0, ge=0)
    fair: float = _number(10.0, ge=0)
    poor: float = _number(5.0, ge=0)
    marginal: float = _number(1.0, ge=0)

    def as_dict(self) -> dict[str, float]:
        """``{"good": 20.0, ...}``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Thresholds:
    """``[thresholds]``: signal classes, the lowest usable class and the served share."""

    rsrp_dbm: RsrpThresholds = field(default_factory=RsrpThresholds,
                                     metadata={"kind": "section"})
    ookla_mbps: OoklaThresholds = field(default_factory=OoklaThresholds,
                                        metadata={"kind": "section"})
    #: lowest signal class that counts as usable
    usable_class: str = field(default="poor", metadata={"kind": "signal_class"})
    #: a village is "served" when at least this share of its people is served
    served_share: float = _number(0.9, gt=0, le=1)

    @property
    def usable_code(self) -> int:
        """Class code (:data:`geo_p2dd.schema.SIGNAL_CODES`) of ``usable_class``."""
        return SIGNAL_CODES[self.usable_class]


@dataclass(frozen=True)
class PropagationSettings:
    """``[propagation]``: how towers are modelled (see :mod:`geo_p2dd.propagation`)."""

    environment: str = _choice("open", ENVIRONMENTS)
    mobile_height_m: float = _number(1.5, gt=0)
    max_distance_m: float = _number(35000.0, gt=0)
    no_los_extra_loss_db: float = _number(20.0, ge=0)
    #: EIRP (transmit power plus antenna gain) of towers without power_dbm
    default_power_dbm: float = _number(58.0)
    #: antenna height of towers without height_m
    default_height_m: float = _number(40.0, gt=0)
    #: RSRP = total received power + offset (10*log10(1200 subcarriers) for 20 MHz LTE)
    rsrp_offset_db: float = _number(-30.8)


@dataclass(frozen=True)
class Settlements:
    """``[settlements]``: settlements derived from the population grid (no locations layer)."""

    min_people_per_cell: float = _number(5.0, ge=0)
    max_per_village: int = _integer(8, ge=1)


@dataclass(frozen=True)
class LocationChecks:
    """``[locations]``: how far a site may stand from a settlement (``geo-p2dd check``)."""

    #: a Starlink, VSAT, Wi-Fi or fibre site farther than this from every settlement is reported
    snap_km: float = _number(2.0, gt=0)


@dataclass(frozen=True)
class EvidenceSettings:
    """``[evidence]``: when field reports (the ``reports`` layer) replace the modelled signal.

    A location within ``evidence_radius_m`` of at least ``min_reports`` reports made on
    different days (or hours, ``distinct = "hour"``) that agree takes the measured class.
    """

    evidence_radius_m: float = _number(1000.0, gt=0)
    min_reports: int = _integer(2, ge=1)
    distinct: str = _choice("day", ("day", "hour"))


@dataclass(frozen=True)
class Limits:
    """``[limits]``: what an import accepts."""

    #: largest raster (width x height) an import reads
    max_raster_cells: int = _integer(400_000_000, ge=1)
    #: plausible signal values (dBm) in a coverage raster: (lowest, highest)
    dbm_range: tuple[float, float] = field(default=(-150.0, -30.0),
                                           metadata={"kind": "range"})


@dataclass(frozen=True)
class ComputeSettings:
    """``[compute]``: where analysis runs (see :mod:`geo_p2dd.distributed`).

    Empty ``scheduler`` and ``workers = 0``: in this process. A scheduler address
    (``tcp://host:8786``) uses that Dask cluster; ``workers`` > 0 starts a local
    one with that many worker processes.
    """

    #: address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``
    scheduler: str = _text("")
    #: worker processes of a local Dask cluster (0: none)
    workers: int = _integer(0, ge=0)


@dataclass(frozen=True)
class WebSettings:
    """``[web]``: what the web app shows to visitors who have not signed in, and whether it
    re-analyses the project after register changes."""

    #: maps, downloads, OGC API and summaries without signing in (false: sign-in required)
    public: bool = _flag(True)
    #: re-run the analysis in the background after each change of the register (``serve``)
    reanalyse: bool = _flag(True)


@dataclass(frozen=True)
class CostSettings:
    """``[costs]``: capex and yearly opex per technology (IDR), for plans and scenarios.

    Defaults for a remote kampung, to be replaced by an agency's own prices. README,
    "Planning", gives each figure's source (as read, with its date) and conversion;
    in short (USD at Rp 16,312, Bank Indonesia's JISDOR of 31 January 2025):

    - Starlink: opex sourced (Starlink Indonesia's residential plan, Rp 750 ribu a
      month in May 2024: Rp 9 juta a year); capex partly sourced (the standard kit
      cost Rp 7.8 juta; the rest, mounting and installation, is an assumption; the
      whole Rp 10 juta matches UNICEF Giga's default satellite installation cost of
      USD 600, about Rp 9.8 juta).
    - BTS: sourced from Kominfo's figures for BAKTI's 4G BTS in 3T regions (capex
      Rp 2.6 triliun for 824 BTS, about Rp 3.155 miliar each; opex 10-12.5 % of
      capex a year: the low end, Rp 315.5 juta).
    - VSAT and Wi-Fi: assumptions; no source found that prices one remote site
      (see README for the reference points read).
    """

    #: Starlink site: standard kit Rp 7.8 juta (sourced) + mounting and installation (assumed)
    starlink_capex_idr: float = _number(10_000_000.0, ge=0)
    #: Starlink residential plan, Rp 750 ribu a month x 12 (sourced, May 2024)
    starlink_opex_idr: float = _number(9_000_000.0, ge=0)
    #: GEO VSAT terminal installed at a remote site (assumption)
    vsat_capex_idr: float = _number(35_000_000.0, ge=0)
    #: VSAT bandwidth subscription and upkeep per year (assumption)
    vsat_opex_idr: float = _number(24_000_000.0, ge=0)
    #: 4G BTS in a 3T region: Rp 2.6 triliun / 824 BTS (Kominfo, October 2021)
    bts_capex_idr: float = _number(3_155_000_000.0, ge=0)
    #: 10 % of the BTS capex a year (Kominfo: 10-12.5 %, October 2021)
    bts_opex_idr: float = _number(315_500_000.0, ge=0)
    #: community hotspot: terminal, outdoor access points, pole (assumption)
    wifi_capex_idr: float = _number(25_000_000.0, ge=0)
    #: its subscription and upkeep per year (assumption)
    wifi_opex_idr: float = _number(12_000_000.0, ge=0)

    def capex(self, technology: str) -> float:
        """Capital cost (IDR) of one site of ``technology`` (starlink, vsat, bts, wifi)."""
        return float(getattr(self, f"{technology}_capex_idr"))

    def opex(self, technology: str) -> float:
        """Yearly operating cost (IDR) of one site of ``technology``."""
        return float(getattr(self, f"{technology}_opex_idr"))


@dataclass(frozen=True)
class PlanningSettings:
    """``[planning]``: demand weights, candidate search and the solver's limits.

    Demand is weighted in people-equivalents: each unserved person counts
    ``weight_person``; each unserved public facility counts its kind's weight
    (a school as 50 people, a health post as 100, a village office as 25 by
    default: assumptions, set them to the region's priorities).
    """

    weight_person: float = _number(1.0, ge=0)
    weight_school: float = _number(50.0, ge=0)
    weight_health: float = _number(100.0, ge=0)
    weight_village_office: float = _number(25.0, ge=0)
    #: years of operation counted in a site's cost (capex + years x opex)
    horizon_years: int = _integer(5, ge=1)
    #: BTS candidates on DEM high ground within this distance of an unserved settlement
    bts_search_km: float = _number(10.0, gt=0)
    #: at most this many high-ground BTS candidates (highest first)
    bts_max_candidates: int = _integer(30, ge=0)
    #: the solver stops after this many seconds and reports its optimality gap
    time_limit_s: float = _number(60.0, gt=0)
    #: sites recommended in a kabupaten's or kecamatan's printed summary ("Rekomendasi";
    #: 0: no such section)
    summary_max_sites: int = _integer(5, ge=0)
    #: total cost (IDR, capex + horizon x opex) the summary's recommendations may spend
    #: (0: no budget limit, only ``summary_max_sites``)
    summary_budget_idr: float = _number(0.0, ge=0)

    def facility_weight(self, kind: str) -> float:
        """Weight of a location of ``kind`` (settlements: per person, see ``weight_person``)."""
        return float(getattr(self, f"weight_{kind}", 0.0))


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Settings:
    """The validated settings of a project (build with :func:`settings_from_dict`).

    Examples
    --------
    >>> s = settings_from_dict({"thresholds": {"usable_class": "fair"}})
    >>> s.thresholds.usable_class, s.thresholds.usable_code, s.propagation.default_height_m
    ('fair', 4, 40.0)
    """

    project: ProjectInfo = field(default_factory=ProjectInfo)
    grid: GridSettings = field(default_factory=GridSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: service radius (m) per site kind of :data:`RADIUS_KINDS`
    service_radius_m: Mapping[str, float] = field(
        default_factory=lambda: _frozen(DEFAULT_SERVICE_RADIUS_M))
    propagation: PropagationSettings = field(default_factory=PropagationSettings)
    #: weight per scoring factor
    weights: Mapping[str, float] = field(default_factory=lambda: _frozen(DEFAULT_WEIGHTS))
    settlements: Settlements = field(default_factory=Settlements)
    limits: Limits = field(default_factory=Limits)
    locations: LocationChecks = field(default_factory=LocationChecks)
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    web: WebSettings = field(default_factory=WebSettings)
    costs: CostSettings = field(default_factory=CostSettings)
    planning: PlanningSettings = field(default_factory=PlanningSettings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as TOML-ready nested dicts (unset optional values left out)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


#: The default settings, the one home of every default value.
DEFAULTS = Settings()

_SECTIONS = {"project": ProjectInfo, "grid": GridSettings, "thresholds": Thresholds,
             "propagation": PropagationSettings, "settlements": Settlements, "limits": Limits,
             "locations": LocationChecks, "evidence": EvidenceSettings,
             "compute": ComputeSettings, "web": WebSettings, "costs": CostSettings,
             "planning": PlanningSettings}
_MAPPINGS = {"service_radius_m": (DEFAULT_SERVICE_RADIUS_M, {"gt": 0}),
             "weights": (DEFAULT_WEIGHTS, {"ge": 0})}
TOP_LEVEL_KEYS = (*(f.name for f in fields(Settings)), *_RECORD_SECTIONS)


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        out = {}
        for f in fields(value):
            v = _plain(getattr(value, f.name))
            if v is not None:
                out[f.name] = v
        return out
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def default_config() -> dict[str, Any]:
    """The default ``project.toml`` content as nested dicts (a fresh copy)."""
    return {**DEFAULTS.to_dict(), "coverage": [], "sources": {}}


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


class _Checker:
    """Collects the problems of one configuration."""

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.repairs: list[str] = []

    def add(self, key: str, message: str, *, expected: str | None = None,
            found: Any = None, hint: str | None = None, shown: bool = False) -> None:
        """Record a problem; ``found`` is a value from the file unless ``shown``."""
        if found is not None and not shown:
            found = _show(found)
        self.problems.append(ConfigProblem(key, message, expected=expected, found=found,
                                           hint=hint))

    def table(self, raw: Any, key: str, allowed: Iterable[str]) -> dict:
        """``raw`` as a dict with only ``allowed`` keys (problems for the others)."""
        if not isinstance(raw, Mapping):
            self.add(key, "must be a table", expected=f"a [{key}] table", found=raw)
            return {}
        allowed = tuple(allowed)
        out = {}
        for name, value in raw.items():
            if name in allowed:
                out[name] = value
                continue
            close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
            self.add(_join(key, name), "unknown key", expected="one of " + ", ".join(allowed),
                     found=str(name), hint=f"Did you mean {close[0]!r}?" if close else None)
        return out

    def section(self, cls: type, raw: Any, key: str) -> Any:
        """Build the dataclass ``cls`` from ``raw``; defaults for missing keys."""
        given = self.table(raw, key, [f.name for f in fields(cls)])
        values = {}
        for f in fields(cls):
            if f.name not in given:
                continue
            value = self.value(f, given[f.name], _join(key, f.name))
            if value is not MISSING:
                values[f.name] = value
        return cls(**values)

    def value(self, f: Any, raw: Any, key: str) -> Any:
        rule = f.metadata
        kind = rule.get("kind")
        if kind == "section":
            return self.section(type(f.default_factory()), raw, key)
        if kind == "number":
            return self.number(raw, key, gt=rule["gt"], ge=rule["ge"], le=rule["le"])
        if kind == "integer":
            return self.integer(raw, key, ge=rule["ge"])
        if kind == "text":
            if not isinstance(raw, str):
                self.add(key, "must be text", expected="a quoted string", found=raw)
                return MISSING
            return raw if raw or not rule["optional"] else None
        if kind == "flag":
            if not isinstance(raw, bool):
                self.add(key, "must be true or false", expected="true or false", found=raw)
                return MISSING
            return raw
        if kind == "choice":
            return self.choice(raw, key, rule["choices"])
        if kind == "signal_class":
            return self.signal_class(raw, key)
        if kind == "range":
            return self.range(raw, key)
        if kind == "village_code":
            return self.village_code(raw, key)
        if kind == "transform":
            if not (isinstance(raw, list) and len(raw) == 6 and
                    all(_is_number(v) for v in raw)):
                self.add(key, "must be the six numbers of an affine transform",
                         expected="[a, b, c, d, e, f]", found=raw)
                return MISSING
            return tuple(float(v) for v in raw)
        raise AssertionError(f"no rule for {key}")  # pragma: no cover

    def number(self, raw: Any, key: str, *, gt: float | None = None, ge: float | None = None,
               le: float | None = None) -> Any:
        if not _is_number(raw) or not math.isfinite(raw):
            self.add(key, "must be a number", expected="a finite number", found=raw)
            return MISSING
        value = float(raw)
        bounds = []
        if gt is not None:
            bounds.append(f"> {gt:g}")
        if ge is not None:
            bounds.append(f">= {ge:g}")
        if le is not None:
            bounds.append(f"<= {le:g}")
        if (gt is not None and not value > gt) or (ge is not None and not value >= ge) or (
                le is not None and not value <= le):
            self.add(key, "is out of range", expected="a number " + " and ".join(bounds),
                     found=raw)
            return MISSING
        return value

    def integer(self, raw: Any, key: str, *, ge: int) -> Any:
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.add(key, "must be a whole number", expected=f"an integer >= {ge}", found=raw)
            return MISSING
        if raw < ge:
            self.add(key, "is out of range", expected=f"an integer >= {ge}", found=raw)
            return MISSING
        return raw

    def choice(self, raw: Any, key: str, choices: tuple[str, ...]) -> Any:
        if isinstance(raw, str) and raw in choices:
            return raw
        close = difflib.get_close_matches(str(raw), choices, n=1, cutoff=0.6)
        self.add(key, "is not allowed", expected="one of " + ", ".join(choices), found=raw,
                 hint=f"Did you mean {close[0]!r}?" if close else None)
        return MISSING

    def signal_class(self, raw: Any, key: str) -> Any:
        """A class with a threshold; a label or synonym of the vocabulary is repaired."""
        if isinstance(raw, str) and raw in THRESHOLD_CLASSES:
            return raw
        term = SIGNAL_CLASSES.parse(raw) if isinstance(raw, str) else None
        if term in THRESHOLD_CLASSES:
            self.repairs.append(f"{key} = {raw!r} read as {term!r} "
                                f"({SIGNAL_CLASSES.label(term, 'id')})")
            return term
        self.add(key, "is not a signal class with a threshold",
                 expected="one of " + ", ".join(THRESHOLD_CLASSES), found=raw,
                 hint=f"{raw!r} means 'none' (no signal), which cannot be the lowest usable "
                 "class" if term == "none" else None)
        return MISSING

    def village_code(self, raw: Any, key: str) -> Any:
        """A Kemendagri village code; the undotted form is repaired (``6411012006``)."""
        from geo_p2dd.layers import normalise_code  # the one home of code spellings

        if raw == "":
            return None
        code = normalise_code(raw) if isinstance(raw, str | int) else ""
        if not re.fullmatch(r"\d{2}\.\d{2}\.\d{2}\.\d{4}", code):
            self.add(key, "is not a village code", expected='a code like "64.11.01.2006"',
                     found=raw)
            return MISSING
        if code != raw:
            self.repairs.append(f"{key} = {raw!r} read as {code!r}")
        return code

    def range(self, raw: Any, key: str) -> Any:
        if not (isinstance(raw, list) and len(raw) == 2 and all(
                _is_number(v) and math.isfinite(v) for v in raw)):
            self.add(key, "must be two numbers", expected="[lowest, highest]", found=raw)
            return MISSING
        low, high = float(raw[0]), float(raw[1])
        if not low < high:
            self.add(key, "must be increasing", expected="lowest < highest", found=raw)
            return MISSING
        return (low, high)

    def mapping(self, raw: Any, key: str) -> Mapping[str, float]:
        defaults, bounds = _MAPPINGS[key]
        given = self.table(raw, key, defaults)
        values = dict(defaults)
        for name, value in given.items():
            checked = self.number(value, _join(key, name), **bounds)
            if checked is not MISSING:
                values[name] = checked
        return _frozen(values)

    def records(self, raw: Mapping) -> None:
        """The shape of the sections the program writes (coverage, sources, ...)."""
        coverage = raw.get("coverage", [])
        if not isinstance(coverage, list):
            self.add("coverage", "must be an array of tables", expected="[[coverage]] entries",
                     found=coverage)
            coverage = []
        for i, entry in enumerate(coverage):
            key = f"coverage[{i}]"
            if not isinstance(entry, Mapping):
                self.add(key, "must be a table", expected="name, file, ...", found=entry)
                continue
            for name in ("name", "file"):
                if not isinstance(entry.get(name), str) or not entry.get(name):
                    self.add(_join(key, name), "is required", expected="text",
                             found=entry.get(name, "nothing"))
            if "values" in entry and entry["values"] not in ("dbm", "classes"):
                self.add(_join(key, "values"), "is not allowed",
                         expected="one of dbm, classes", found=entry["values"])
            if "technology" in entry and entry["technology"] not in TECHNOLOGIES:
                self.add(_join(key, "technology"), "is not allowed",
                         expected="one of " + ", ".join(TECHNOLOGIES), found=entry["technology"])
        for name in ("sources", "rasters", "analysis"):
            if name in raw and not isinstance(raw[name], Mapping):
                self.add(name, "must be a table", expected=f"a [{name}] table", found=raw[name])
        for name, entry in (raw.get("rasters") or {}).items():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("file"), str):
                self.add(_join(f"rasters.{name}", "file"), "is required", expected="text",
                         found=entry.get("file", "nothing") if isinstance(entry, Mapping)
                         else entry)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(key: str, name: Any) -> str:
    return f"{key}.{name}" if key else str(name)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    return repr(value)


def _cross_checks(check: _Checker, settings: Settings) -> None:
    """Rules between values: descending thresholds inside the dBm range, some weight."""
    t = settings.thresholds.rsrp_dbm
    ordered = [getattr(t, name) for name in THRESHOLD_CLASSES]
    if any(hi <= lo for hi, lo in zip(ordered, ordered[1:], strict=False)):
        check.add("thresholds.rsrp_dbm", "thresholds must descend from the best class",
                  expected=" > ".join(THRESHOLD_CLASSES),
                  found=", ".join(f"{n}={v:g}" for n, v in zip(THRESHOLD_CLASSES, ordered,
                                                                 strict=True)), shown=True)
    speeds = settings.thresholds.ookla_mbps.as_dict()
    if any(hi <= lo for hi, lo in zip(list(speeds.values()), list(speeds.values())[1:],
                                      strict=False)):
        check.add("thresholds.ookla_mbps", "thresholds must descend from the best class",
                  expected=" > ".join(speeds),
                  found=", ".join(f"{n}={v:g}" for n, v in speeds.items()), shown=True)
    low, high = settings.limits.dbm_range
    for name, value in zip(THRESHOLD_CLASSES, ordered, strict=True):
        if not low <= value <= high:
            check.add(f"thresholds.rsrp_dbm.{name}", "is outside limits.dbm_range",
                      expected=f"{low:g} to {high:g} dBm", found=value)
    if sum(settings.weights.values()) <= 0:
        check.add("weights", "the weights add up to 0", expected="at least one weight > 0",
                  found=", ".join(f"{k}={v:g}" for k, v in settings.weights.items()),
                  shown=True)


def settings_from_dict(raw: Mapping[str, Any], *, file: str | None = None) -> Settings:
    """Validate the content of a ``project.toml`` and build its :class:`Settings`.

    Parameters
    ----------
    raw : mapping
        The parsed TOML (``tomllib.load``); missing keys take the defaults of
        :data:`DEFAULTS`.
    file : str, optional
        The file it came from, named in errors and repair warnings.

    Returns
    -------
    Settings
        Frozen, typed settings.

    Raises
    ------
    ConfigError
        Listing every unknown key (with a suggestion), value of the wrong type,
        value out of range or not allowed, and broken rule between values.

    Warns
    -----
    RepairWarning
        A signal class given by a label or synonym (``"lemah"`` -> ``"poor"``).

    Examples
    --------
    ``{"weights": {"distanse": 0.2}}`` raises ``ConfigError: weights.distanse:
    unknown key; expected one of unserved_people, ..., found 'distanse'. Did you
    mean 'distance'?``

    >>> settings_from_dict({"weights": {"distance": 0.5}}).weights["distance"]
    0.5
    """
    check = _Checker()
    given = check.table(raw, "", TOP_LEVEL_KEYS)
    parts: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name in given:
            parts[name] = check.section(cls, given[name], name)
    for name in _MAPPINGS:
        if name in given:
            parts[name] = check.mapping(given[name], name)
    check.records(given)
    settings = Settings(**parts)
    _cross_checks(check, settings)
    if check.problems:
        raise ConfigError(check.problems, file=file)
    if check.repairs:
        from geo_p2dd.io.vector import RepairWarning  # the one warning class for repairs

        where = f"{file}: " if file else ""
        for text in check.repairs:
            warnings.warn(where + text, RepairWarning, stacklevel=2)
    return settings


def rsrp_thresholds(values: Mapping[str, float] | RsrpThresholds | None) -> RsrpThresholds:
    """Checked signal thresholds from a mapping such as ``{"good": -80.0}``.

    Missing classes take their defaults; unknown names, non-numbers and
    thresholds that do not descend raise :class:`~geo_p2dd.errors.ConfigError`.
    """
    if values is None:
        return DEFAULTS.thresholds.rsrp_dbm
    if isinstance(values, RsrpThresholds):
        return values
    return settings_from_dict({"thresholds": {"rsrp_dbm": dict(values)}}).thresholds.rsrp_dbm


def with_changes(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """``settings`` with some keys of some sections changed, checked like a file.

    Examples
    --------
    >>> s = with_changes(DEFAULTS, propagation={"max_distance_m": 5000.0})
    >>> s.propagation.max_distance_m, s.propagation.default_height_m
    (5000.0, 40.0)
    """
    base = settings.to_dict()
    for name, changes in sections.items():
        base[name] = {**base.get(name, {}), **changes}
    return settings_from_dict(base)


def describe(settings: Settings) -> list[str]:
    """The effective settings, one ``key = value`` line each (for ``config check``)."""
    lines = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(_join(prefix, k), v)
        else:
            lines.append(f"{prefix} = {_format(value)}")

    for name, value in settings.to_dict().items():
        if name == "grid":
            value = {k: v for k, v in value.items() if k in ("resolution_m", "crs")}
        walk(name, value)
    return lines


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)
