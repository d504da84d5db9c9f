"""Which locations a (hypothetical) site would serve, by the analysis's own models.

Why
---
A plan is only as good as its coverage per candidate, and a plan that a
re-analysis contradicts is worse than none. So the rules are the analysis's,
called, not copied:

* a Starlink, VSAT or Wi-Fi site serves the locations within its service
  radius (its own ``service_radius_m``, else ``[service_radius_m]`` of its kind,
  :func:`geo_p2dd.coverage.site_radius`), measured in the grid's metric CRS;
* a 4G tower serves a location whose modelled RSRP class reaches the usable
  class: :func:`geo_p2dd.propagation.received_power_grid` (Okumura-Hata /
  COST-231 with the DEM line-of-sight penalty, ``[propagation]``), plus the
  RSRP offset, classified by :func:`geo_p2dd.signal.rsrp_class`, read at the
  location's cell as :func:`geo_p2dd.coverage.sample_source` does.

Adding a site can only raise a location's best class (best server, best of
sources), so "served after" = "served before" or "reached by a new site":
reaches combine by union, and a what-if needs only the reach of the changed site.

Method
------
A tower is modelled on a *window* of the project grid, not on the whole grid:
the bounding box of the tower and of the locations within ``max_distance_m``
of it (the same cells, the same DEM values; every terrain sample of a path from
the tower to a cell lies in their bounding box, so inside the window). A tower
with no location in range costs nothing. ``tests/test_planning.py`` checks the
classes against the model on the whole grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from geo_p2dd.config import RADIUS_KINDS, Settings
from geo_p2dd.coverage import FOUR_G, site_radius
from geo_p2dd.grid import Grid
from geo_p2dd.propagation import received_power_grid
from geo_p2dd.schema import SIGNAL_CODES
from geo_p2dd.signal import rsrp_class

#: frequency of a 4G (and 5G) tower without frequency_mhz, as in coverage.model_towers
DEFAULT_4G_MHZ = 1800.0
DEFAULT_OTHER_MHZ = 900.0


def radius_reach(x: float, y: float, radius_m: float, points_xy: np.ndarray) -> np.ndarray:
    """Positions of the points within ``radius_m`` of (x, y) (same metric CRS)."""
    if not len(points_xy):
        return np.zeros(0, dtype=np.int64)
    d = np.hypot(points_xy[:, 0] - x, points_xy[:, 1] - y)
    return np.flatnonzero(d <= radius_m)


def window_grid(grid: Grid, bounds: tuple[float, float, float, float]) -> tuple[Grid, int, int]:
    """The cells of ``grid`` that meet ``bounds`` (west, south, east, north; grid CRS).

    Returns the sub-grid (its cells are cells of ``grid``: same size, same
    edges) and its row and column offsets in ``grid``.
    """
    west, south, east, north = bounds
    t = grid.transform
    c0 = min(grid.width - 1, max(0, int(np.floor((west - t.c) / t.a))))
    c1 = max(c0 + 1, min(grid.width, int(np.floor((east - t.c) / t.a)) + 1))
    r0 = min(grid.height - 1, max(0, int(np.floor((north - t.f) / t.e))))
    r1 = max(r0 + 1, min(grid.height, int(np.floor((south - t.f) / t.e)) + 1))
    sub = Affine(t.a, 0.0, t.c + c0 * t.a, 0.0, t.e, t.f + r0 * t.e)
    return Grid(grid.crs, sub, c1 - c0, r1 - r0), r0, c0


def tower_classes(x: float, y: float, grid: Grid, dem: np.ndarray | None, settings: Settings,
                  points_xy: np.ndarray, *, height_m: float | None = None,
                  power_dbm: float | None = None, frequency_mhz: float | None = None,
                  technology: str = "4G") -> np.ndarray:
    """Modelled signal class code of one tower at each point (0 outside its reach or the grid).

    Parameters
    ----------
    x, y : float
        The tower in the grid CRS.
    grid : Grid
        The project grid.
    dem : numpy.ndarray or None
        The DEM on ``grid`` (as the analysis reads it).
    settings : Settings
        ``[propagation]`` and ``[thresholds]`` of the project.
    points_xy : numpy.ndarray
        (n, 2) points in the grid CRS.
    height_m, power_dbm, frequency_mhz : float, optional
        The tower's own values; None takes ``[propagation]``'s defaults (and
        1800 MHz for 4G/5G, 900 MHz otherwise, as the analysis does).
    technology : str
        2G, 3G, 4G or 5G.
    """
    prop = settings.propagation
    out = np.zeros(len(points_xy), dtype=np.uint8)
    if not len(points_xy):
        return out
    on_r, on_c = grid.rowcol(points_xy[:, 0], points_xy[:, 1])
    on_grid = (on_r >= 0) & (on_r < grid.height) & (on_c >= 0) & (on_c < grid.width)
    # cells of the grid beyond max_distance_m get nothing from the tower: "none"
    out[on_grid] = SIGNAL_CODES["none"]
    # the window: the tower and every point whose cell centre may be in range; each path
    # from the tower to a cell lies in their bounding box, so inside the window
    margin = prop.max_distance_m + 2.0 * grid.resolution
    near = on_grid & (np.hypot(points_xy[:, 0] - x, points_xy[:, 1] - y) <= margin)
    if not near.any():
        return out
    px, py = points_xy[near, 0], points_xy[near, 1]
    pad = grid.resolution
    sub, r0, c0 = window_grid(grid, (min(px.min(), x) - pad, min(py.min(), y) - pad,
                                     max(px.max(), x) + pad, max(py.max(), y) + pad))
    sub_dem = None if dem is None else dem[r0:r0 + sub.height, c0:c0 + sub.width]
    tower = pd.DataFrame({"power_dbm": [np.nan if power_dbm is None else power_dbm],
                          "height_m": [np.nan if height_m is None else height_m],
                          "frequency_mhz": [np.nan if frequency_mhz is None else frequency_mhz]})
    towers = gpd.GeoDataFrame(tower, geometry=[shapely.Point(x, y)], crs=grid.crs)
    rx, _ = received_power_grid(
        towers, sub, environment=prop.environment, mobile_height_m=prop.mobile_height_m,
        max_distance_m=prop.max_distance_m, dem=sub_dem,
        no_los_extra_loss_db=prop.no_los_extra_loss_db,
        default_power_dbm=prop.default_power_dbm, default_height_m=prop.default_height_m,
        default_frequency_mhz=DEFAULT_4G_MHZ if technology in FOUR_G else DEFAULT_OTHER_MHZ)
    classes = rsrp_class(rx + np.float32(prop.rsrp_offset_db), settings.thresholds.rsrp_dbm)
    classes[classes == SIGNAL_CODES["unknown"]] = SIGNAL_CODES["none"]
    row, col = sub.rowcol(px, py)
    inside = (row >= 0) & (row < sub.height) & (col >= 0) & (col < sub.width)
    got = np.full(len(px), SIGNAL_CODES["none"], dtype=np.uint8)
    got[inside] = classes[row[inside], col[inside]]
    out[near] = got
    return out


def site_reach(site: Mapping, points_xy: np.ndarray, grid: Grid, dem: np.ndarray | None,
               settings: Settings,
               believe: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Positions of the points a site would serve.

    Parameters
    ----------
    site : mapping
        ``kind`` (starlink, vsat, wifi, fiber: by radius; bts: by signal),
        ``x``/``y`` in the grid CRS, and optionally ``service_radius_m``,
        ``technology``, ``height_m``, ``power_dbm``, ``frequency_mhz``.
    points_xy : numpy.ndarray
        (n, 2) locations in the grid CRS.
    believe : callable, optional
        A tower's modelled class codes per point -> the codes that count (field
        evidence: :meth:`geo_p2dd.planning.demand.Baseline.believed_4g`).

    Returns
    -------
    numpy.ndarray
        Sorted positions into ``points_xy``. A 2G/3G tower serves nobody (the
        analysis counts only usable 4G as service).
    """
    kind = site["kind"]
    x, y = float(site["x"]), float(site["y"])
    if kind in RADIUS_KINDS:
        frame = pd.DataFrame({"kind": [kind],
                              "service_radius_m": [_num(site.get("service_radius_m"))]})
        radius = float(site_radius(frame, settings.service_radius_m)[0])
        return radius_reach(x, y, radius, points_xy)
    if kind == "bts":
        tech = site.get("technology") or "4G"
        if tech not in FOUR_G:
            return np.zeros(0, dtype=np.int64)
        classes = tower_classes(x, y, grid, dem, settings, points_xy,
                                height_m=_num(site.get("height_m")),
                                power_dbm=_num(site.get("power_dbm")),
                                frequency_mhz=_num(site.get("frequency_mhz")), technology=tech)
        if believe is not None:
            classes = believe(classes)
        return np.flatnonzero(classes >= settings.thresholds.usable_code)
    return np.zeros(0, dtype=np.int64)


def _num(value) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v
