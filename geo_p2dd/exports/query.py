"""What to keep of a layer: the filters users give, checked, and their row masks.

:class:`Filters` holds the region (a Kemendagri code, see :mod:`geo_p2dd.codes`),
gap classes, minimum score, bounding box, site statuses, aggregate levels,
OGC API equality filters and a CQL2 text filter; :meth:`Filters.parse` checks user input and
:func:`filter_mask` applies the filters to a layer's frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.codes import CODE_RE, in_region, normalise_code
from geo_p2dd.errors import InputError
from geo_p2dd.exports.catalogue import AGGREGATE_LEVELS, LOCATION_LAYERS, get_layer
from geo_p2dd.exports.cql2 import filter_mask as cql2_mask
from geo_p2dd.schema import GAP_CLASSES, SITE_STATUS, operator_code

MAX_SCORE = 100.0


@dataclass(frozen=True)
class Filters:
    """What to keep of a layer. Filters that do not apply to a layer are ignored.

    Parameters
    ----------
    region : str, optional
        Kemendagri code prefix (``64.11``, ``64.11.05``): the area and everything in it.
    gap_class : tuple of str
        Gap classes (villages; locations by their village's class).
    min_score : float, optional
        Minimum gap score (villages).
    bbox : (west, south, east, north), optional
        Keep features intersecting this box (longitude/latitude).
    site_status : tuple of str
        Site statuses (sites).
    level : tuple of str
        Aggregate levels (kecamatan, kabupaten).
    equals : tuple of (column, values)
        Equality filters on a layer's queryable columns (OGC API property filters).
    cql2 : str, optional
        A CQL2 text filter on any of the layer's columns (:mod:`geo_p2dd.exports.cql2`).
    near_operator : str, optional
        Keep features within ``within_km`` of an installed tower (site kind ``bts``) of
        this operator (a name or code of :data:`geo_p2dd.schema.OPERATORS`: ``Telkomsel``,
        ``tsel``); every layer but the aggregates.
    within_km : float, optional
        The distance for ``near_operator`` (km, more than 0, at most :data:`MAX_NEAR_KM`).
    """

    region: str | None = None
    gap_class: tuple[str, ...] = ()
    min_score: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    site_status: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    equals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cql2: str | None = None
    near_operator: str | None = None
    within_km: float | None = None

    @classmethod
    def parse(cls, *, region: str | None = None, gap_class: str | Sequence[str] | None = None,
              min_score: str | float | None = None,
              bbox: str | Sequence[float] | None = None,
              site_status: str | Sequence[str] | None = None,
              level: str | Sequence[str] | None = None,
              near_operator: str | None = None,
              within_km: str | float | None = None) -> Filters:
        """Filters from user input (strings as typed, lists or numbers); checks every value.

        Raises
        ------
        InputError
            Naming the filter, what was expected and what was found.
        """
        return cls(region=parse_region(region), gap_class=_vocab(gap_class, GAP_CLASSES,
                                                                   "class"),
                   min_score=parse_min_score(min_score), bbox=parse_bbox(bbox),
                   site_status=_vocab(site_status, SITE_STATUS, "status"),
                   level=_levels(level), **parse_near(near_operator, within_km))

    def applies_to(self, layer: str) -> dict[str, bool]:
        """Which of the set filters apply to ``layer`` (name -> applies)."""
        applies = {
            "region": True, "bbox": True,
            "gap_class": layer in ("villages", *LOCATION_LAYERS),
            "min_score": layer == "villages",
            "site_status": layer == "sites",
            "level": layer == "aggregates",
            "equals": True, "cql2": True,
            "near_operator": layer != "aggregates", "within_km": layer != "aggregates",
        }
        return {k: applies[k] for k, v in self.as_dict().items() if v not in (None, (), [])}

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "gap_class": list(self.gap_class),
                "min_score": self.min_score, "bbox": list(self.bbox) if self.bbox else None,
                "site_status": list(self.site_status), "level": list(self.level),
                "equals": {k: list(v) for k, v in self.equals}, "cql2": self.cql2,
                "near_operator": self.near_operator, "within_km": self.within_km}

    def for_layer(self, layer: str) -> Filters:
        """Only the filters that apply to ``layer`` (so unrelated filters do not change a
        layer's file name, cache key or metadata)."""
        a = self.applies_to(layer)
        return Filters(region=self.region, bbox=self.bbox,
                       gap_class=self.gap_class if a.get("gap_class") else (),
                       min_score=self.min_score if a.get("min_score") else None,
                       site_status=self.site_status if a.get("site_status") else (),
                       level=self.level if a.get("level") else (), equals=self.equals,
                       cql2=self.cql2,
                       near_operator=self.near_operator if a.get("near_operator") else None,
                       within_km=self.within_km if a.get("within_km") else None)

    def query(self) -> dict[str, str]:
        """The filters as URL query parameters (as the downloads page takes them)."""
        q = {}
        if self.region:
            q["region"] = self.region
        if self.gap_class:
            q["class"] = ",".join(self.gap_class)
        if self.min_score is not None:
            q["min_score"] = _number(self.min_score)
        if self.bbox:
            q["bbox"] = ",".join(_number(v) for v in self.bbox)
        if self.site_status:
            q["status"] = ",".join(self.site_status)
        if self.level:
            q["level"] = ",".join(self.level)
        for k, v in self.equals:
            q[k] = ",".join(v)
        if self.cql2:
            q["filter"] = self.cql2
        if self.near_operator:
            q["near_operator"] = self.near_operator
            q["within_km"] = _number(self.within_km)
        return q

    def is_empty(self) -> bool:
        return not self.query()


def _number(value: float) -> str:
    """A number as text without losing digits (``:g`` would make 114.1234 "114.123")."""
    return f"{value:.12g}"


#: the largest distance of the near_operator filter (km)
MAX_NEAR_KM = 500.0


def parse_near(operator: str | None, within_km: str | float | None) -> dict[str, Any]:
    """``near_operator`` and ``within_km`` checked together (both or neither).

    The operator is kept as its code (:func:`geo_p2dd.schema.operator_code`), so
    ``Telkomsel`` and ``tsel`` are one filter.
    """
    op = None if operator is None or str(operator).strip() == "" else str(operator).strip()
    km_text = None if within_km is None or str(within_km).strip() == "" else \
        str(within_km).strip()
    if op is None and km_text is None:
        return {"near_operator": None, "within_km": None}
    if op is None or km_text is None:
        missing = "near_operator" if op is None else "within_km"
        raise InputError(f"{missing} is missing: near_operator and within_km go together",
                         column=missing,
                         expected="near_operator=OPERATOR&within_km=KM, e.g. "
                                  "near_operator=Telkomsel&within_km=5",
                         found=f"only {'within_km' if op is None else 'near_operator'}")
    try:
        km = float(km_text.replace(",", "."))
    except ValueError:
        raise InputError("within_km is not a number", column="within_km",
                         expected=f"a distance in km, more than 0 and at most {MAX_NEAR_KM:g}",
                         found=repr(km_text)) from None
    if not (np.isfinite(km) and 0 < km <= MAX_NEAR_KM):
        raise InputError("within_km out of range", column="within_km",
                         expected=f"a distance in km, more than 0 and at most {MAX_NEAR_KM:g}",
                         found=f"{km:g}")
    return {"near_operator": operator_code(op), "within_km": km}


def near_operator_mask(frame: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None,
                       operator: str, within_km: float) -> np.ndarray:
    """Features within ``within_km`` km of an installed tower of ``operator`` (a code).

    Distances are measured in Web Mercator and scaled by the cosine of each
    feature's latitude (the projection's exact local scale), so a kilometre is a
    kilometre anywhere in Indonesia (within 0.1 % for distances up to 50 km),
    without choosing a UTM zone for a country-wide layer.
    """
    out = np.zeros(len(frame), dtype=bool)
    if sites is None or not len(sites) or not len(frame) or "operator" not in sites:
        return out
    towers = sites[(sites["kind"] == "bts").to_numpy(bool)
                   & (sites["status"] == "installed").to_numpy(bool)]
    codes = np.array([operator_code(o) if isinstance(o, str) and o.strip() else ""
                      for o in towers["operator"]], dtype=object)
    towers = towers[codes == operator]
    if not len(towers):
        return out
    has_geom = ~(frame.geometry.isna() | frame.geometry.is_empty).to_numpy(bool)
    geoms = frame.geometry.values[has_geom]
    lat = shapely.get_y(shapely.centroid(geoms))
    feats = gpd.GeoSeries(geoms, crs=frame.crs).to_crs("EPSG:3857").values
    pts = towers.geometry.to_crs("EPSG:3857").values
    limit = within_km * 1000.0 / np.cos(np.radians(np.clip(lat, -85.0, 85.0)))
    tree = shapely.STRtree(pts)
    i_feat, i_tower = tree.query(feats, predicate="dwithin", distance=float(limit.max()))
    close = shapely.distance(feats[i_feat], pts[i_tower]) <= limit[i_feat]
    hit = np.zeros(len(geoms), dtype=bool)
    hit[i_feat[close]] = True
    out[np.flatnonzero(has_geom)] = hit
    return out


def parse_region(value: str | None) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    code = normalise_code(value)
    if not CODE_RE.fullmatch(code):
        raise InputError("region is not a Kemendagri code", column="region",
                         expected="a code such as 64, 64.11, 64.11.05 or 64.11.05.2001",
                         found=repr(str(value)))
    return code


def parse_min_score(value: str | float | None) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        score = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise InputError("minimum score is not a number", column="min_score",
                         expected="a number from 0 to 100", found=repr(str(value))) from None
    if not 0 <= score <= MAX_SCORE:
        raise InputError("minimum score out of range", column="min_score",
                         expected="a number from 0 to 100", found=f"{score:g}")
    return score


def parse_bbox(value: str | Sequence[float] | None) -> tuple[float, float, float, float] | None:
    """``"west,south,east,north"`` (or 6 numbers with heights) -> a checked tuple."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise InputError("bbox must be numbers", column="bbox",
                         expected="west,south,east,north in degrees, e.g. 114.5,-0.5,115.5,1.5",
                         found=repr(value if isinstance(value, str) else list(value))) from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(np.isfinite(nums)):
        raise InputError("bbox must have 4 (or 6) finite numbers", column="bbox",
                         expected="west,south,east,north", found=f"{len(nums)} value(s)")
    w, s, e, n = nums
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise InputError("bbox outside longitude/latitude range", column="bbox",
                         expected="longitudes -180..180 and latitudes -90..90",
                         found=",".join(f"{v:g}" for v in nums))
    if s > n or w > e:
        raise InputError("bbox corners in the wrong order", column="bbox",
                         expected="west <= east and south <= north (boxes across the "
                                  "antimeridian are not supported)",
                         found=",".join(f"{v:g}" for v in nums))
    return (w, s, e, n)


def _listify(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    out = []
    for item in items:
        out += [p for p in (s.strip() for s in item.split(",")) if p]
    return out


def _vocab(value, vocabulary, column: str) -> tuple[str, ...]:
    out = []
    for item in _listify(value):
        term = vocabulary.parse(item)
        if term is None:
            raise InputError(f"unknown {vocabulary.name}", column=column,
                             expected=", ".join(vocabulary.ids), found=repr(item))
        if term not in out:
            out.append(term)
    return tuple(out)


def _levels(value) -> tuple[str, ...]:
    out = []
    for item in _listify(value):
        if item.lower() not in AGGREGATE_LEVELS:
            raise InputError("unknown level", column="level",
                             expected=", ".join(AGGREGATE_LEVELS), found=repr(item))
        if item.lower() not in out:
            out.append(item.lower())
    return tuple(out)


def equality_mask(column: pd.Series, values: Sequence[str], name: str) -> np.ndarray:
    """Rows whose ``column`` equals one of ``values`` (given as text, typed by the column)."""
    col = column
    if pd.api.types.is_bool_dtype(col):
        wanted = []
        for v in values:
            t = v.strip().lower()
            if t in ("true", "1", "yes", "ya"):
                wanted.append(True)
            elif t in ("false", "0", "no", "tidak"):
                wanted.append(False)
            else:
                raise InputError("not a boolean", column=name, expected="true or false",
                                 found=repr(v))
        return col.isin(wanted).fillna(False).to_numpy(bool)
    if pd.api.types.is_numeric_dtype(col):
        try:
            nums = [float(v) for v in values]
        except ValueError:
            raise InputError("not a number", column=name, expected="a number",
                             found=repr(", ".join(values))) from None
        return col.astype(float).isin(nums).fillna(False).to_numpy(bool)
    return col.astype("string").isin(list(values)).fillna(False).to_numpy(bool)


def filter_mask(frame: gpd.GeoDataFrame, layer: str, filters: Filters,
                sites: gpd.GeoDataFrame | None = None) -> np.ndarray | None:
    """Boolean mask of the rows that pass ``filters`` (None: keep everything).

    ``sites`` (the sites layer) is needed by the ``near_operator`` filter only.
    """
    info = get_layer(layer)
    mask = np.ones(len(frame), dtype=bool)
    touched = False
    if filters.region:
        mask &= in_region(frame[info.code_column], filters.region).to_numpy(bool)
        touched = True
    if filters.gap_class and layer in ("villages", *LOCATION_LAYERS):
        col = "gap_class" if layer == "villages" else "village_gap_class"
        if col in frame:
            mask &= frame[col].isin(filters.gap_class).to_numpy(bool)
        else:
            mask &= False  # not analysed: no village has a class
        touched = True
    if filters.min_score is not None and layer == "villages":
        if "score" in frame:
            mask &= (frame["score"].astype(float) >= filters.min_score).fillna(False).to_numpy(
                bool)
        else:
            mask &= False
        touched = True
    if filters.site_status and layer == "sites":
        mask &= frame["status"].isin(filters.site_status).to_numpy(bool)
        touched = True
    if filters.level and layer == "aggregates":
        mask &= frame["level"].isin(filters.level).to_numpy(bool)
        touched = True
    for column, values in filters.equals:
        if column not in info.queryables or column not in frame:
            raise InputError(f"the {layer} layer cannot be filtered by {column!r}",
                             column=column, expected=", ".join(c for c in info.queryables
                                                               if c in frame))
        mask &= equality_mask(frame[column], values, column)
        touched = True
    if filters.cql2:
        mask &= cql2_mask(frame, filters.cql2)
        touched = True
    if filters.near_operator and layer != "aggregates":
        mask &= near_operator_mask(frame, sites, filters.near_operator,
                                   float(filters.within_km))
        touched = True
    if filters.bbox is not None:
        box = shapely.box(*filters.bbox)
        hits = frame.sindex.query(box, predicate="intersects")
        inside = np.zeros(len(frame), dtype=bool)
        inside[hits] = True
        mask &= inside
        touched = True
    return mask if touched else None
