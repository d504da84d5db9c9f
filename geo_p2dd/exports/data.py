"""The project's layers as exportable frames (:class:`ExportData`).

Built from the project's layers and analysis results, once per project and
kept; every layer is a GeoDataFrame in EPSG:4326 with the columns described in
:mod:`geo_p2dd.columns`. Aggregate boundaries missing from the project are
dissolved from the villages once and kept in the project's cache directory.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.columns import SOURCE_COLUMN
from geo_p2dd.errors import NotFoundError
from geo_p2dd.exports.catalogue import AGGREGATE_LEVELS, CRS, LAYERS, get_layer
from geo_p2dd.exports.query import Filters, filter_mask
from geo_p2dd.io.atomic import atomic_path
from geo_p2dd.project import Project

VILLAGE_BASE = ("kode", "nama", "kecamatan_kode", "kecamatan", "kabupaten_kode", "kabupaten",
                "population")
VILLAGE_FIRST = ("gap_class", "gap_class_planned", "in_programme", "score", "rank",
                 "rank_kecamatan", "rank_kabupaten", "people_unserved", "facilities_unserved")
SITE_COLUMNS = ("site_id", "kind", "status", "name", "village_kode", "village", "kecamatan_kode",
                "kabupaten_kode", "agency", "funding", "year", "capacity_mbps",
                "service_radius_m", "height_m", "frequency_mhz", "power_dbm", "operator",
                "technology", "notes")


class ExportData:
    """The project's layers as exportable frames, built once and kept (thread-safe).

    Pass frames already in memory (the web app's) to avoid reading them again.

    Examples
    --------
    >>> data = ExportData(Project("data/sample"))           # doctest: +SKIP
    >>> data.select("villages", Filters.parse(gap_class="blank_spot"))  # doctest: +SKIP
    """

    def __init__(self, project: Project, *, villages: gpd.GeoDataFrame | None = None,
                 results: pd.DataFrame | None = None, locations: pd.DataFrame | None = None,
                 areas: pd.DataFrame | None = None, sites: gpd.GeoDataFrame | None = None,
                 loaded: bool = False) -> None:
        self.project = project
        self._given = {"villages": villages, "results": results, "locations": locations,
                       "areas": areas, "sites": sites}
        self._loaded = loaded
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._lock = threading.RLock()

    # -- inputs ---------------------------------------------------------------------------
    def _input(self, name: str):
        if self._given.get(name) is not None or self._loaded:
            return self._given.get(name)
        p = self.project
        if name == "villages":
            frame = p.read_layer("villages")
        elif name == "sites":
            frame = p.read_layer("sites", required=False)
        else:
            table = {"results": "village_results", "locations": "location_results",
                     "areas": "area_results"}[name]
            frame = p.read_table(table, required=False)
        self._given[name] = frame
        return frame

    @property
    def analysis(self) -> dict:
        """The ``[analysis]`` table of project.toml ({} when the results are stale/absent)."""
        return dict(self.project.config.get("analysis") or {})

    @property
    def analysed(self) -> bool:
        return bool(self.analysis) and self._input("results") is not None

    @property
    def analysis_date(self) -> str | None:
        return self.analysis.get("date")

    def available(self) -> list[str]:
        """Layers the project can produce (locations and aggregates need the analysis)."""
        return [n for n in LAYERS if self.analysed or n in ("villages", "sites")]

    def _require_analysis(self, layer: str) -> None:
        if not self.analysed:
            raise NotFoundError(f"the {layer} layer needs analysis results; run 'geo-p2dd "
                                f"analyze --project {self.project.path}' first")

    # -- layers ---------------------------------------------------------------------------
    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The whole layer (all rows, all columns); cached."""
        get_layer(name)
        frame = self._frames.get(name)
        if frame is not None:
            return frame
        with self._lock:
            if name not in self._frames:
                builder = {"villages": self._villages, "locations": self._locations,
                           "locations_unserved": self._locations_unserved,
                           "sites": self._sites, "aggregates": self._aggregates}[name]
                self._frames[name] = builder()
            return self._frames[name]

    def select(self, name: str, filters: Filters | None = None) -> gpd.GeoDataFrame:
        """The layer's rows that pass ``filters`` (a view; copy before changing it)."""
        frame = self.layer(name)
        filters = filters or Filters()
        mask = filter_mask(frame, name, filters,
                           sites=self.layer("sites") if filters.near_operator else None)
        return frame if mask is None else frame[mask]

    def _villages(self) -> gpd.GeoDataFrame:
        villages = self._input("villages")
        base = [c for c in VILLAGE_BASE if c in villages.columns]
        out = pd.DataFrame(villages[base]).reset_index(drop=True)
        geometry = villages.geometry.reset_index(drop=True)
        if self.analysed:
            results = self._input("results")
            extra = [c for c in results.columns if c not in out.columns]
            first = [c for c in VILLAGE_FIRST if c in extra]
            rest = [c for c in extra if c not in first]
            joined = results.set_index("kode")[first + rest].reindex(out["kode"])
            out = pd.concat([out, joined.reset_index(drop=True)], axis=1)
            if "in_programme" in out.columns:
                out["in_programme"] = out["in_programme"].astype("boolean")
            for c in ("rank", "rank_kecamatan", "rank_kabupaten"):
                if c in out.columns:
                    out[c] = out[c].astype("Int64")
        return _geo(out, geometry.values)

    def _locations_unserved(self) -> gpd.GeoDataFrame:
        """The locations whose status is not served (unserved, weak, unknown)."""
        every = self.layer("locations")
        return every[(every["status"] != "served").to_numpy(bool)].reset_index(drop=True)

    def _locations(self) -> gpd.GeoDataFrame:
        self._require_analysis("locations")
        loc = pd.DataFrame(self._input("locations")).reset_index(drop=True)
        villages = self._input("villages").set_index("kode")
        results = self._input("results").set_index("kode")
        vk = loc["village_kode"]
        out = loc[[c for c in ("location_id", "kind", "name", "village_kode") if c in loc]].copy()
        out["village"] = vk.map(villages["nama"])
        out["kecamatan_kode"] = vk.map(villages["kecamatan_kode"]) \
            if "kecamatan_kode" in villages else vk.str.slice(0, 8)
        out["kabupaten_kode"] = vk.map(villages["kabupaten_kode"]) \
            if "kabupaten_kode" in villages else vk.str.slice(0, 5)
        signal_cols = [c for c in loc.columns if c.startswith("signal_")
                       or SOURCE_COLUMN.fullmatch(c)]
        for c in ("people", "source", "best_4g", "best_other", "best_source", *signal_cols,
                  "served_by_site", "nearest_site_km", "nearest_tower_km", "status",
                  "status_planned", "reason_en", "reason_id",
                  "evidence", "evidence_reports", "evidence_periods", "modelled_4g",
                  "status_modelled"):  # field evidence (geo_p2dd.evidence)
            if c in loc:
                out[c] = loc[c]
        out["village_gap_class"] = vk.map(results["gap_class"])
        out["lon"] = loc["lon"].astype(float)
        out["lat"] = loc["lat"].astype(float)
        return _geo(out, shapely.points(out["lon"].to_numpy(), out["lat"].to_numpy()))

    def _sites(self) -> gpd.GeoDataFrame:
        sites = self._input("sites")
        if sites is None:
            cols = {c: pd.Series([], dtype="string") for c in SITE_COLUMNS}
            return _geo(pd.DataFrame(cols), np.array([], dtype=object))
        villages = self._input("villages").set_index("kode")
        s = pd.DataFrame(sites.drop(columns=sites.geometry.name)).reset_index(drop=True)
        vk = s["village_kode"] if "village_kode" in s else pd.Series([None] * len(s),
                                                                     dtype="string")
        s["village_kode"] = vk
        s["village"] = vk.map(villages["nama"])
        s["kecamatan_kode"] = vk.map(villages["kecamatan_kode"]) \
            if "kecamatan_kode" in villages else vk.str.slice(0, 8)
        s["kabupaten_kode"] = vk.map(villages["kabupaten_kode"]) \
            if "kabupaten_kode" in villages else vk.str.slice(0, 5)
        if "year" in s:
            year = pd.to_numeric(s["year"], errors="coerce")
            s["year"] = year.round().astype("Int64")
        cols = [c for c in SITE_COLUMNS if c in s] + [c for c in s if c not in SITE_COLUMNS]
        return _geo(s[cols], sites.geometry.reset_index(drop=True).values)

    def _aggregates_table(self) -> pd.DataFrame:
        """The aggregates' attributes (cheap: no boundaries)."""
        cached = self._frames.get("aggregates:table")
        if cached is not None:
            return cached
        self._require_analysis("aggregates")
        areas = pd.DataFrame(self._input("areas"))
        areas = areas[areas["level"].isin(AGGREGATE_LEVELS)].reset_index(drop=True)
        if "n_blank_spot" in areas and "villages" in areas:
            areas["blank_spot_share"] = (areas["n_blank_spot"] /
                                         areas["villages"].replace(0, np.nan)).round(4)
        if "people_unserved" in areas and "people" in areas:
            areas["people_unserved_share"] = (areas["people_unserved"] /
                                              areas["people"].replace(0, np.nan)).round(4)
        self._frames["aggregates:table"] = areas
        return areas

    def _aggregates(self) -> gpd.GeoDataFrame:
        areas = self._aggregates_table()
        geoms = np.empty(len(areas), dtype=object)
        parts = None
        for level in AGGREGATE_LEVELS:  # kecamatan first: kabupaten may be made of them
            rows = np.flatnonzero(areas["level"].to_numpy() == level)
            if not len(rows):
                continue
            shapes = self._area_shapes(level, areas["kode"].iloc[rows], parts)
            geoms[rows] = shapes.reindex(areas["kode"].iloc[rows]).to_numpy()
            parts = shapes
        return _geo(areas, geoms)

    def _area_shapes(self, level: str, codes: pd.Series, parts: pd.Series | None = None
                     ) -> pd.Series:
        """kode -> boundary: from the project's kecamatan/kabupaten layer, else dissolved
        from the villages (or from ``parts``, the kecamatan) and kept in the project's
        cache directory, since dissolving a whole country takes minutes."""
        found = pd.Series(dtype=object)
        layer = self.project.read_layer(level, required=False, columns=["kode"])
        if layer is not None and len(layer):
            found = pd.Series(layer.geometry.values, index=layer["kode"].to_numpy())
            found = found[~found.index.duplicated()]
        missing = sorted(set(codes) - set(found.index))
        if not missing:
            return found
        width = 8 if level == "kecamatan" else 5
        cache = self._dissolve_cache(level)
        if cache is not None and cache.exists():
            made = gpd.read_parquet(cache)
            made = pd.Series(made.geometry.values, index=made["kode"].to_numpy())
            if set(missing) <= set(made.index):
                return pd.concat([found, made[missing]])
        if parts is not None and len(parts):
            geoms = np.asarray(parts.to_numpy(), dtype=object)
            key = pd.Series(parts.index.astype(str)).str.slice(0, width).to_numpy()
        else:
            villages = self._input("villages")
            geoms = np.asarray(villages.geometry.values, dtype=object)
            key = villages["kode"].str.slice(0, width).to_numpy()
        sel = np.isin(key, missing)
        made = pd.Series(geoms[sel]).groupby(key[sel]).agg(
            lambda g: shapely.union_all(shapely.make_valid(np.asarray(g.to_numpy(),
                                                                      dtype=object))))
        if cache is not None and len(made):
            with atomic_path(cache, fsync=False) as tmp:
                gpd.GeoDataFrame({"kode": made.index.to_numpy()},
                                 geometry=list(made.to_numpy()), crs=CRS).to_parquet(tmp)
        return pd.concat([found, made])

    def _dissolve_cache(self, level: str) -> Path | None:
        """Where dissolved boundaries are kept (keyed by the villages' source and the
        project's files); None when the project directory is not writable."""
        villages_source = (self.project.config.get("sources") or {}).get("villages") or {}
        stamp = [str(self.project.layers_path.stat().st_mtime_ns)
                 if self.project.layers_path.exists() else "",
                 str(villages_source.get("sha256", "")), level]
        key = hashlib.sha1("|".join(stamp).encode()).hexdigest()[:16]
        try:
            return self.project.cache_dir() / f"dissolved-{level}-{key}.parquet"
        except OSError:
            return None

    # -- cheap facts (no boundaries dissolved) --------------------------------------------
    def built(self, name: str) -> bool:
        return name in self._frames

    def columns_frame(self, name: str) -> pd.DataFrame:
        """A frame with the layer's columns and types (all rows; geometry may be empty)."""
        if name == "aggregates" and not self.built(name):
            return _geo(self._aggregates_table(), np.full(len(self._aggregates_table()), None))
        return self.layer(name)

    def extent(self, name: str) -> tuple[float, float, float, float] | None:
        """Bounding box of the layer (the villages' for aggregates not yet built)."""
        frame = self.layer("villages" if name == "aggregates" and not self.built(name)
                           else name)
        if not len(frame) or frame.geometry.isna().all():
            return None
        return tuple(float(v) for v in frame.total_bounds)

    def count(self, name: str, filters: Filters | None = None) -> int:
        """Rows of the layer passing ``filters`` (aggregates counted from the table)."""
        filters = filters or Filters()
        if name == "aggregates" and not self.built(name) and filters.bbox is None:
            table = self._aggregates_table()
            mask = filter_mask(_geo(table, np.full(len(table), None)), name, filters)
            return len(table) if mask is None else int(mask.sum())
        return len(self.select(name, filters))


def _geo(frame: pd.DataFrame, geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=gpd.GeoSeries(
        np.asarray(geoms, dtype=object), crs=CRS), crs=CRS)
