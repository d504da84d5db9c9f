"""Who still needs service once the installed and pipeline sites are counted.

A plan or a scenario starts from the analysis stored in the project
(``location_results`` and ``village_results``), never from a second model of
its own. A location is *demand* when it is not served even with the sites in
progress and planned (``status_planned != "served"``): installed and pipeline
sites are locked in, so what they already serve is never counted again.

Each demand location has a weight in people-equivalents (``[planning]``):
``weight_person`` per person at a settlement, and the kind's weight for a public
facility (school, health, village office).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_p2dd.codes import in_region
from geo_p2dd.config import Settings
from geo_p2dd.errors import ProjectError
from geo_p2dd.evidence import later_4g
from geo_p2dd.grid import Grid
from geo_p2dd.project import Project
from geo_p2dd.schema import PUBLIC_FACILITIES, SIGNAL_CODES


def location_weights(locations: pd.DataFrame, settings: Settings) -> np.ndarray:
    """People-equivalent weight of each location (settlements by people, facilities by kind)."""
    p = settings.planning
    people = pd.to_numeric(locations["people"], errors="coerce").fillna(0.0).to_numpy(float)
    kind = locations["kind"].astype(str).to_numpy()
    w = np.where(kind == "settlement", people * p.weight_person, 0.0)
    for k in PUBLIC_FACILITIES:
        w = np.where(kind == k, p.facility_weight(k), w)
    return w


@dataclass
class Baseline:
    """The analysed project as a planning starting point (one region of it).

    Attributes
    ----------
    locations : pandas.DataFrame
        ``location_results`` of the region, positional index, plus ``weight``,
        ``demand`` (not served with the pipeline), ``x``/``y`` (grid CRS) and
        ``by_site_planned`` (within a pipeline site's service radius),
        ``best_4g_planned_code``/``best_other_planned_code`` (signal class codes
        with the pipeline) and ``on_grid``.
    villages : pandas.DataFrame
        ``village_results`` of the region, indexed by ``kode``.
    grid : Grid
    settings : Settings
    dem_path : path or None
    provenance : dict
    """

    locations: pd.DataFrame
    villages: pd.DataFrame
    grid: Grid
    settings: Settings
    dem_path: object = None
    provenance: dict = field(default_factory=dict)
    #: the project's cache directory (reaches of plan candidates are kept there)
    cache_dir: object = None

    @cached_property
    def dem(self) -> np.ndarray | None:
        """The DEM on the project grid, as the analysis reads it (None without a DEM)."""
        if self.dem_path is None:
            return None
        from rasterio.enums import Resampling

        from geo_p2dd.io.raster import read_on_grid

        return read_on_grid(self.dem_path, self.grid, resampling=Resampling.bilinear)

    def believed_4g(self, modelled: np.ndarray) -> np.ndarray:
        """4G class codes a new tower brings (modelled per location), field evidence counted.

        At a location where field reports overturned the model, the model of a
        new tower is believed only where it is better than the model was there
        (:func:`geo_p2dd.evidence.later_4g`, the analysis's own comparison), so a
        what-if never promises service the field denies.
        """
        loc = self.locations
        return later_4g(modelled, loc["modelled_4g_code"].to_numpy(int),
                        loc["measured_4g_code"].to_numpy(int))

    @property
    def xy(self) -> np.ndarray:
        """Location coordinates in the grid CRS, shape (n, 2)."""
        return self.locations[["x", "y"]].to_numpy(float)

    @property
    def demand(self) -> np.ndarray:
        """Positions of the demand locations."""
        return np.flatnonzero(self.locations["demand"].to_numpy(bool))


def load_baseline(project: Project, region: str | None = None, *,
                  tables: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Baseline:
    """The stored analysis of ``project`` (optionally one region) ready for planning.

    Parameters
    ----------
    project : Project
    region : str, optional
        A kabupaten or kecamatan code: its villages and locations only.
    tables : (DataFrame, DataFrame), optional
        ``location_results`` and ``village_results`` of ``project`` already read
        (the web app holds them): a region of a national project is then sliced
        from memory instead of reading every table again.

    Raises
    ------
    ProjectError
        The project has not been analysed, or the region has no village.
    """
    if tables is None or tables[0] is None or tables[1] is None:
        if not project.has_layer("location_results") or \
                not project.has_layer("village_results"):
            raise ProjectError("the project has no analysis yet; run 'geo-p2dd analyze' first")
        tables = (project.read_table("location_results"), project.read_table("village_results"))
    settings = project.settings
    loc, vil = tables
    if region:
        vil = vil[in_region(vil["kode"], region).to_numpy()]
        loc = loc[in_region(loc["village_kode"], region).to_numpy()]
        if not len(vil):
            raise ProjectError(f"no village of the project lies in region {region}")
    loc = loc.reset_index(drop=True)
    grid = project.grid
    pts = gpd.GeoSeries(gpd.points_from_xy(loc["lon"], loc["lat"]), crs="EPSG:4326")
    pts_m = pts.to_crs(grid.crs)
    loc["x"] = pts_m.x.to_numpy()
    loc["y"] = pts_m.y.to_numpy()
    loc["weight"] = location_weights(loc, settings)
    loc["demand"] = (loc["status_planned"] != "served").to_numpy()
    usable = settings.thresholds.usable_code
    b4 = loc["best_4g"].map(SIGNAL_CODES).fillna(0).to_numpy(int)
    bo = loc["best_other"].map(SIGNAL_CODES).fillna(0).to_numpy(int)
    loc["signal_now"] = (b4 >= usable) | (bo >= usable)
    missing = [c for c in ("best_4g_planned", "best_other_planned", "served_by_site_planned")
               if c not in loc.columns]
    if missing:
        raise ProjectError("the stored analysis predates planning's columns "
                           f"({', '.join(missing)}); run 'geo-p2dd analyze' again")
    # the pipeline view of the stored analysis (what a scenario adds to)
    loc["best_4g_planned_code"] = loc["best_4g_planned"].map(SIGNAL_CODES).fillna(0).astype(int)
    loc["best_other_planned_code"] = loc["best_other_planned"].map(SIGNAL_CODES).fillna(
        0).astype(int)
    loc["by_site_planned"] = loc["served_by_site_planned"].fillna("").astype(str).ne(
        "").to_numpy()
    # field evidence (geo_p2dd.evidence): the model's 4G class now, and the measured class
    # where reports overturned it (then best_4g is the measurement)
    modelled = loc["modelled_4g"] if "modelled_4g" in loc.columns else loc["best_4g"]
    loc["modelled_4g_code"] = modelled.map(SIGNAL_CODES).fillna(0).astype(int)
    measured = (loc["evidence"] == "measured").to_numpy() if "evidence" in loc.columns \
        else np.zeros(len(loc), dtype=bool)
    loc["measured_4g_code"] = np.where(measured, b4, 0)
    row, col = grid.rowcol(loc["x"].to_numpy(float), loc["y"].to_numpy(float))
    loc["on_grid"] = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    analysis = project.config.get("analysis", {})
    provenance = {"project": project.name, "region": region or project.region_code or "",
                  "analysis_date": analysis.get("date", ""),
                  "data_version": analysis.get("data_version", project.data_version),
                  # inputs changed since the analysis: the plan uses the stored results
                  "analysis_stale": bool(project.analysis_stale)}
    return Baseline(loc, vil.set_index("kode"), grid, settings,
                    project.raster_path("dem"), provenance, project.cache_dir())

