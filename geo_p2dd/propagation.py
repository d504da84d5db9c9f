"""Modelled mobile coverage from tower sites.

Empirical macro-cell path loss (Okumura-Hata and its COST-231 extension), the
received power of the best server on the project :class:`~geo_p2dd.grid.Grid`,
and an optional terrain line-of-sight penalty from a DEM. Signal classes from
the power are :func:`geo_p2dd.signal.rsrp_class`.

Models
------
Okumura-Hata (Hata 1980) covers 150-1500 MHz, COST-231 Hata (COST 231 final
report, 1999) covers 1500-2000 MHz. Both are fitted for base antennas of
30-200 m, mobiles of 1-10 m and distances of 1-20 km. Outside those heights and
distances the formulas are *extrapolated*: :func:`path_loss` clamps distances
to at least :data:`MIN_DISTANCE_KM` (0.1 km) so the cell of the tower gets a
finite value, and applies the formula unchanged beyond 20 km. Frequencies are
never extrapolated: outside the model's range an :class:`InputError` is raised.

Choices made where sources differ
---------------------------------
* Large-city mobile correction ``a(hm)``: ``8.29 (log 1.54 hm)^2 - 1.1`` below
  300 MHz and ``3.2 (log 11.75 hm)^2 - 4.97`` from 300 MHz (the split used by
  Rappaport; Hata gives the formulas for <= 200 and >= 400 MHz).
* ``large_city`` only affects the urban environment. The suburban and open
  corrections are applied to the small/medium-city urban loss, as in Hata's
  paper.
* COST-231 defines only urban losses (``Cm`` = 3 dB for metropolitan centres,
  with the large-city ``a(hm)``; 0 dB for medium cities). For suburban and open
  areas this module applies Hata's suburban and open corrections to the
  medium-city COST-231 loss. That is a common practice, not part of COST 231.

All functions are pure numpy; heights in metres, distances in km (metres for
grid work), frequencies in MHz, powers in dBm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pyproj import CRS

from geo_p2dd.config import DEFAULTS, ENVIRONMENTS
from geo_p2dd.errors import InputError

if TYPE_CHECKING:
    from geo_p2dd.grid import Grid

__all__ = [
    "ENVIRONMENTS",
    "MIN_DISTANCE_KM",
    "cost231_hata_loss",
    "okumura_hata_loss",
    "path_loss",
    "received_power_grid",
]

#: Lower bound applied to distances by :func:`path_loss` (km).
MIN_DISTANCE_KM = 0.1

HATA_RANGE_MHZ = (150.0, 1500.0)
COST231_RANGE_MHZ = (1500.0, 2000.0)
MODEL_RANGE_MHZ = (150.0, 2000.0)

#: Mean earth radius (m) used for the earth-curvature bulge.
EARTH_RADIUS_M = 6_371_000.0


# --------------------------------------------------------------------------- #
# Path loss formulas
# --------------------------------------------------------------------------- #


def _as_result(value: np.ndarray) -> np.ndarray | float:
    """A Python float for 0-d results, the array otherwise."""
    return float(value) if np.ndim(value) == 0 else value


def _check_environment(environment: str) -> None:
    if environment not in ENVIRONMENTS:
        raise InputError(
            f"unknown propagation environment {environment!r}",
            expected="one of " + ", ".join(ENVIRONMENTS),
            found=repr(environment),
        )


def _check_positive(name: str, value: np.ndarray) -> None:
    bad = value <= 0  # NaN compares False and passes through as NaN
    if np.any(bad):
        raise InputError(
            f"{name} must be positive",
            expected="a value > 0",
            found=f"{value[bad].flat[0]:g}" if value.ndim else f"{float(value):g}",
        )


def _check_frequency(
    frequency: np.ndarray, valid: tuple[float, float], model: str
) -> None:
    low, high = valid
    bad = (frequency < low) | (frequency > high)
    if np.any(bad):
        found = frequency[bad].flat[0] if frequency.ndim else float(frequency)
        raise InputError(
            f"frequency {found:g} MHz is outside the {model} range "
            f"{low:g}-{high:g} MHz",
            column="frequency_mhz",
            expected=f"{low:g} <= frequency_mhz <= {high:g}",
            found=f"{found:g} MHz",
            hint="Use path_loss() to pick the model from the frequency"
            if model != "Okumura-Hata/COST-231"
            else None,
        )


def _hata_terms(
    frequency_mhz: np.ndarray,
    base_height_m: np.ndarray,
    mobile_height_m: np.ndarray,
    environment: str,
    large_city: bool,
    cost231: np.ndarray | bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope so that ``loss = intercept + slope * log10(d_km)``.

    ``cost231`` selects, element-wise, the COST-231 constants instead of Hata's.
    No validation: callers check ranges first.
    """
    f = np.asarray(frequency_mhz, dtype=float)
    hb = np.asarray(base_height_m, dtype=float)
    hm = np.asarray(mobile_height_m, dtype=float)
    cost = np.asarray(cost231, dtype=bool)
    log_f = np.log10(f)
    log_hb = np.log10(hb)

    urban_large = large_city and environment == "urban"
    if urban_large:
        # Large-city correction; the 8.29 formula only below 300 MHz.
        a_hm = np.where(
            f < 300.0,
            8.29 * np.log10(1.54 * hm) ** 2 - 1.1,
            3.2 * np.log10(11.75 * hm) ** 2 - 4.97,
        )
    else:
        a_hm = (1.1 * log_f - 0.7) * hm - (1.56 * log_f - 0.8)

    c0 = np.where(cost, 46.3, 69.55)
    cf = np.where(cost, 33.9, 26.16)
    cm = np.where(cost, 3.0, 0.0) if urban_large else 0.0

    intercept = c0 + cf * log_f - 13.82 * log_hb - a_hm + cm
    if environment == "suburban":
        intercept = intercept - 2.0 * np.log10(f / 28.0) ** 2 - 5.4
    elif environment == "open":
        intercept = intercept - 4.78 * log_f**2 + 18.33 * log_f - 40.94
    slope = 44.9 - 6.55 * log_hb
    return np.asarray(intercept, dtype=float), np.asarray(slope, dtype=float)


def _prepare(
    frequency_mhz: Any,
    base_height_m: Any,
    mobile_height_m: Any,
    distance_km: Any,
    environment: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    _check_environment(environment)
    f = np.asarray(frequency_mhz, dtype=float)
    hb = np.asarray(base_height_m, dtype=float)
    hm = np.asarray(mobile_height_m, dtype=float)
    d = np.asarray(distance_km, dtype=float)
    _check_positive("base_height_m", hb)
    _check_positive("mobile_height_m", hm)
    return f, hb, hm, d


def okumura_hata_loss(
    frequency_mhz: Any,
    base_height_m: Any,
    mobile_height_m: Any,
    distance_km: Any,
    environment: str = "urban",
    large_city: bool = False,
) -> np.ndarray | float:
    """Median path loss of the Okumura-Hata model (150-1500 MHz).

    Urban loss::

        L_u = 69.55 + 26.16 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d

    with ``a(hm) = (1.1 log f - 0.7) hm - (1.56 log f - 0.8)`` for small and
    medium cities, or for large cities ``8.29 (log 1.54 hm)^2 - 1.1`` (f < 300
    MHz) and ``3.2 (log 11.75 hm)^2 - 4.97`` (f >= 300 MHz). Suburban:
    ``L_u - 2 (log(f/28))^2 - 5.4``; open: ``L_u - 4.78 (log f)^2 + 18.33 log f
    - 40.94``, both from the small/medium-city ``L_u``.

    Parameters
    ----------
    frequency_mhz : float or array_like
        Carrier frequency in MHz, 150-1500.
    base_height_m : float or array_like
        Base station antenna height above ground (m), > 0; fitted for 30-200.
    mobile_height_m : float or array_like
        Mobile antenna height above ground (m), > 0; fitted for 1-10.
    distance_km : float or array_like
        Distance in km, > 0; fitted for 1-20 (no clamping here, see
        :func:`path_loss`).
    environment : {"urban", "suburban", "open"}
        Propagation environment.
    large_city : bool
        Use the large-city mobile height correction (urban only).

    Returns
    -------
    float or numpy.ndarray
        Path loss in dB; a float when every input is a scalar.

    Raises
    ------
    InputError
        Frequency outside 150-1500 MHz, non-positive height or distance, or an
        unknown environment.

    Examples
    --------
    >>> round(okumura_hata_loss(869, 30, 1, 2), 2)  # ns-3 reference: 137.88
    137.88
    """
    f, hb, hm, d = _prepare(frequency_mhz, base_height_m, mobile_height_m, distance_km,
                            environment)
    _check_frequency(f, HATA_RANGE_MHZ, "Okumura-Hata")
    _check_positive("distance_km", d)
    intercept, slope = _hata_terms(f, hb, hm, environment, large_city, False)
    return _as_result(intercept + slope * np.log10(d))


def cost231_hata_loss(
    frequency_mhz: Any,
    base_height_m: Any,
    mobile_height_m: Any,
    distance_km: Any,
    environment: str = "urban",
    large_city: bool = False,
) -> np.ndarray | float:
    """Median path loss of the COST-231 Hata model (1500-2000 MHz).

    ::

        L = 46.3 + 33.9 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d + Cm

    ``a(hm)`` as in :func:`okumura_hata_loss`; ``Cm`` is 3 dB for metropolitan
    centres (``large_city=True``, which also selects the large-city ``a(hm)``)
    and 0 dB otherwise. COST 231 defines urban areas only; for ``"suburban"``
    and ``"open"`` this function applies Hata's suburban/open corrections to
    the medium-city loss (a documented extension, not part of COST 231).

    Parameters
    ----------
    frequency_mhz : float or array_like
        Carrier frequency in MHz, 1500-2000.
    base_height_m, mobile_height_m : float or array_like
        Antenna heights above ground (m), > 0.
    distance_km : float or array_like
        Distance in km, > 0; fitted for 1-20.
    environment : {"urban", "suburban", "open"}
        Propagation environment.
    large_city : bool
        Metropolitan centre (urban only): large-city ``a(hm)`` and ``Cm`` = 3 dB.

    Returns
    -------
    float or numpy.ndarray
        Path loss in dB.

    Raises
    ------
    InputError
        Frequency outside 1500-2000 MHz, non-positive height or distance, or an
        unknown environment.
    """
    f, hb, hm, d = _prepare(frequency_mhz, base_height_m, mobile_height_m, distance_km,
                            environment)
    _check_frequency(f, COST231_RANGE_MHZ, "COST-231 Hata")
    _check_positive("distance_km", d)
    intercept, slope = _hata_terms(f, hb, hm, environment, large_city, True)
    return _as_result(intercept + slope * np.log10(d))


def path_loss(
    frequency_mhz: Any,
    base_height_m: Any,
    mobile_height_m: Any,
    distance_km: Any,
    environment: str = "urban",
    *,
    large_city: bool = False,
) -> np.ndarray | float:
    """Median path loss, choosing the model from the frequency.

    150-1500 MHz (1500 included) uses :func:`okumura_hata_loss`, above 1500 up
    to 2000 MHz :func:`cost231_hata_loss`. Works element-wise on arrays, so
    mixed frequencies are fine. At 1500 MHz the two models differ by 1.33 dB.

    Distances are clamped to at least :data:`MIN_DISTANCE_KM` (0.1 km). The
    models are fitted for 1-20 km: values below 1 km and above 20 km are
    extrapolations of the same formula.

    Parameters
    ----------
    frequency_mhz : float or array_like
        Carrier frequency in MHz, 150-2000.
    base_height_m, mobile_height_m : float or array_like
        Antenna heights above ground (m), > 0.
    distance_km : float or array_like
        Distance in km, >= 0.
    environment : {"urban", "suburban", "open"}
        Propagation environment.
    large_city : bool
        Large city / metropolitan centre (urban only).

    Returns
    -------
    float or numpy.ndarray
        Path loss in dB.

    Raises
    ------
    InputError
        Frequency outside 150-2000 MHz, negative distance, non-positive
        height or unknown environment.
    """
    f, hb, hm, d = _prepare(frequency_mhz, base_height_m, mobile_height_m, distance_km,
                            environment)
    _check_frequency(f, MODEL_RANGE_MHZ, "Okumura-Hata/COST-231")
    if np.any(d < 0):
        found = d[d < 0].flat[0] if d.ndim else float(d)
        raise InputError("distance_km must not be negative", expected="a value >= 0",
                         found=f"{found:g}")
    d = np.maximum(d, MIN_DISTANCE_KM)  # NaN propagates
    intercept, slope = _hata_terms(f, hb, hm, environment, large_city, f > HATA_RANGE_MHZ[1])
    return _as_result(intercept + slope * np.log10(d))


# --------------------------------------------------------------------------- #
# Coverage on the grid
# --------------------------------------------------------------------------- #


def _tower_column(towers: Any, name: str, default: float) -> np.ndarray:
    n = len(towers)
    if name not in towers.columns:
        return np.full(n, float(default))
    try:
        values = np.asarray(towers[name].to_numpy(dtype=float, na_value=np.nan), dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError("tower attribute is not numeric", column=name,
                         expected="numbers (empty for the default)") from exc
    return np.where(np.isnan(values), float(default), values)


def _tower_points(towers: Any, grid_crs: str) -> tuple[np.ndarray, np.ndarray]:
    crs = getattr(towers, "crs", None)
    if crs is not None and not CRS.from_user_input(crs).equals(CRS.from_user_input(grid_crs)):
        raise InputError(
            "towers are not in the CRS of the grid",
            expected=str(grid_crs),
            found=CRS.from_user_input(crs).to_string(),
            hint="Reproject with towers.to_crs(grid.crs) first",
        )
    geoms = towers.geometry
    xs = np.empty(len(towers))
    ys = np.empty(len(towers))
    for i, (label, geom) in enumerate(zip(towers.index, geoms, strict=True)):
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            kind = "missing" if geom is None or geom.is_empty else geom.geom_type
            raise InputError("tower geometry must be a point", row=label,
                             column="geometry", expected="Point", found=kind)
        xs[i] = geom.x
        ys[i] = geom.y
    return xs, ys


def received_power_grid(
    towers: Any,
    grid: Grid,
    *,
    environment: str = DEFAULTS.propagation.environment,
    mobile_height_m: float = DEFAULTS.propagation.mobile_height_m,
    max_distance_m: float = DEFAULTS.propagation.max_distance_m,
    dem: np.ndarray | None = None,
    no_los_extra_loss_db: float = DEFAULTS.propagation.no_los_extra_loss_db,
    default_power_dbm: float = DEFAULTS.propagation.default_power_dbm,
    default_height_m: float = DEFAULTS.propagation.default_height_m,
    default_frequency_mhz: float = 900.0,
    large_city: bool = False,
    los_samples: int = 32,
    k_factor: float | None = 4.0 / 3.0,
    window: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best-server received power on the grid.

    For every tower, the cells whose centre lies within ``max_distance_m``
    (horizontal distance) receive ``power_dbm - path_loss(...)``; only that
    window of the grid is computed. Each cell keeps the strongest tower (the
    first one in row order on exact ties).

    With a DEM, a cell has no line of sight when terrain rises above the
    straight line from the antenna top (ground at the tower + ``height_m``) to
    the mobile (ground at the cell + ``mobile_height_m``). The terrain is read
    at ``los_samples`` evenly spaced points of each path (nearest cell, the
    tower's and the target cell excluded) and raised by the earth bulge
    ``s1 s2 / (2 k R)`` for the effective earth radius ``k R``. Such cells get
    ``no_los_extra_loss_db`` extra loss. Unknown (NaN) elevations never
    block: neither along the path, nor at the cell, nor at the tower (an
    unknown ground level at the tower, or a tower off the grid, disables the
    check for that tower). Obstacles narrower than about path length /
    ``los_samples`` can be missed.

    Parameters
    ----------
    towers : geopandas.GeoDataFrame
        Tower sites as points in ``grid.crs`` (no CRS set: assumed to be
        ``grid.crs``). Optional numeric columns
        ``power_dbm`` (EIRP-like transmit power in dBm including antenna
        gain), ``height_m`` (antenna height above ground) and
        ``frequency_mhz``; missing columns and NaN use the defaults.
    grid : Grid
        The project grid (metric, north-up).
    environment : {"urban", "suburban", "open"}
        Environment for the path loss model (all towers).
    mobile_height_m : float
        Height of the mobile above ground (m).
    max_distance_m : float
        Cells farther than this from a tower get nothing from it.
    dem : numpy.ndarray, optional
        Ground elevation (m) on the grid, shape ``grid.shape``; NaN = unknown.
    no_los_extra_loss_db : float
        Extra loss for cells without line of sight (dB).
    default_power_dbm, default_height_m, default_frequency_mhz : float
        Values for towers without ``power_dbm``, ``height_m``, ``frequency_mhz``.

    The defaults of ``environment`` to ``default_height_m`` are those of
    ``[propagation]`` in :data:`geo_p2dd.config.DEFAULTS` (open, 1.5 m,
    35 km, 20 dB, 58 dBm EIRP, 40 m masts).
    large_city : bool
        Large-city variant of the model (urban only).
    los_samples : int
        Terrain samples per path.
    k_factor : float or None
        Effective earth radius factor; None ignores earth curvature.
    window : (row0, row1, col0, col1), optional
        Compute only these rows and columns of the grid (the DEM still covers
        the whole grid): the result is that part of the whole grid's result,
        value for value (:mod:`geo_p2dd.distributed` models a grid tile by tile).

    Returns
    -------
    rx_dbm : numpy.ndarray
        float32, ``grid.shape``: received power of the best server (dBm), NaN
        where no tower is within ``max_distance_m``.
    server : numpy.ndarray
        int32, ``grid.shape``: positional index of the best tower in
        ``towers``, -1 where there is none.

    Raises
    ------
    InputError
        Towers in another CRS or not points, non-numeric attributes,
        frequencies outside 150-2000 MHz, non-positive heights, a DEM of the
        wrong shape, a rotated grid or an unknown environment.
    """
    _check_environment(environment)
    t = grid.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise InputError("the grid must be north-up without rotation",
                         found=f"transform {tuple(t)[:6]}")
    if not max_distance_m > 0:
        raise InputError("max_distance_m must be positive", found=f"{max_distance_m:g}")
    if los_samples < 1:
        raise InputError("los_samples must be at least 1", found=str(los_samples))
    if mobile_height_m <= 0:
        raise InputError("mobile_height_m must be positive", found=f"{mobile_height_m:g}")
    if dem is not None:
        dem = np.asarray(dem, dtype=float)
        if dem.shape != grid.shape:
            raise InputError("the DEM does not match the grid", expected=str(grid.shape),
                             found=str(dem.shape))

    wr0, wr1, wc0, wc1 = window if window is not None else (0, grid.height, 0, grid.width)
    shape = (wr1 - wr0, wc1 - wc0)
    best = np.full(shape, -np.inf)
    server = np.full(shape, -1, dtype=np.int32)
    if len(towers) == 0:
        return np.full(shape, np.nan, dtype=np.float32), server

    tx, ty = _tower_points(towers, grid.crs)
    power = _tower_column(towers, "power_dbm", default_power_dbm)
    hb = _tower_column(towers, "height_m", default_height_m)
    freq = _tower_column(towers, "frequency_mhz", default_frequency_mhz)
    for name, values in (("height_m", hb), ("frequency_mhz", freq)):
        bad = (values <= 0) if name == "height_m" else (
            (values < MODEL_RANGE_MHZ[0]) | (values > MODEL_RANGE_MHZ[1]))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            expected = "> 0" if name == "height_m" else (
                f"{MODEL_RANGE_MHZ[0]:g}-{MODEL_RANGE_MHZ[1]:g} MHz (Okumura-Hata/COST-231)")
            raise InputError(f"tower {name} is outside the valid range", row=towers.index[i],
                             column=name, expected=expected, found=f"{values[i]:g}")

    intercept, slope = _hata_terms(freq, hb, np.full_like(freq, mobile_height_m), environment,
                                   large_city, freq > HATA_RANGE_MHZ[1])

    xs, ys = grid.centres()
    neg_ys = -ys  # increasing, for searchsorted
    tower_rows, tower_cols = grid.rowcol(tx, ty)
    r2_max = float(max_distance_m) ** 2
    min_d2 = (MIN_DISTANCE_KM * 1000.0) ** 2
    curvature = 0.0 if not k_factor else 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)

    for k in range(len(tx)):
        c0 = int(np.searchsorted(xs, tx[k] - max_distance_m, side="left"))
        c1 = int(np.searchsorted(xs, tx[k] + max_distance_m, side="right"))
        r0 = int(np.searchsorted(neg_ys, -(ty[k] + max_distance_m), side="left"))
        r1 = int(np.searchsorted(neg_ys, -(ty[k] - max_distance_m), side="right"))
        c0, c1, r0, r1 = max(c0, wc0), min(c1, wc1), max(r0, wr0), min(r1, wr1)
        if c0 >= c1 or r0 >= r1:
            continue
        dx = xs[c0:c1] - tx[k]
        dy = ys[r0:r1] - ty[k]
        d2 = dy[:, None] ** 2 + dx[None, :] ** 2  # m^2
        in_range = d2 <= r2_max
        if not in_range.any():
            continue
        # log10(d_km) = 0.5 * log10(d_m^2 / 1e6), distance clamped like path_loss().
        rx = power[k] - (intercept[k] + slope[k] * 0.5 * np.log10(np.maximum(d2, min_d2) / 1e6))

        if dem is not None and no_los_extra_loss_db != 0:
            blocked = _blocked(
                dem, grid, tx[k], ty[k], int(tower_rows[k]), int(tower_cols[k]), hb[k],
                mobile_height_m, dx, dy, d2, r0, c0, los_samples, curvature,
            )
            if blocked is not None:
                rx = np.where(blocked, rx - no_los_extra_loss_db, rx)

        window_best = best[r0 - wr0:r1 - wr0, c0 - wc0:c1 - wc0]
        better = in_range & (rx > window_best)
        window_best[better] = rx[better]
        server[r0 - wr0:r1 - wr0, c0 - wc0:c1 - wc0][better] = k

    rx_dbm = best.astype(np.float32)
    rx_dbm[server < 0] = np.nan
    return rx_dbm, server


def _blocked(
    dem: np.ndarray,
    grid: Grid,
    tower_x: float,
    tower_y: float,
    tower_row: int,
    tower_col: int,
    antenna_height_m: float,
    mobile_height_m: float,
    dx: np.ndarray,
    dy: np.ndarray,
    d2: np.ndarray,
    r0: int,
    c0: int,
    samples: int,
    curvature: float,
) -> np.ndarray | None:
    """Cells of the window whose path from the tower is blocked by terrain.

    Returns None when the check cannot be made (tower off the grid or on an
    unknown elevation). A path from a fixed tower to every cell, sampled at a
    fixed fraction ``s``, lands on column ``f(col)`` and row ``g(row)``
    independently, so each sample is one outer-indexed gather. ``dx``/``dy``
    are the offsets of the window's cell centres from the tower point.
    """
    height, width = dem.shape
    if not (0 <= tower_row < height and 0 <= tower_col < width):
        return None
    ground_tower = dem[tower_row, tower_col]
    if np.isnan(ground_tower):
        return None
    antenna = ground_tower + antenna_height_m
    ny, nx = d2.shape
    mobile = dem[r0:r0 + ny, c0:c0 + nx] + mobile_height_m  # NaN where unknown
    rise = mobile - antenna
    t = grid.transform
    target_rows = np.arange(r0, r0 + ny)
    target_cols = np.arange(c0, c0 + nx)
    blocked = np.zeros(d2.shape, dtype=bool)
    for i in range(1, samples + 1):
        s = i / (samples + 1)
        cols = np.floor((tower_x + s * dx - t.c) / t.a).astype(np.int64)
        rows = np.floor((tower_y + s * dy - t.f) / t.e).astype(np.int64)
        np.clip(cols, 0, width - 1, out=cols)
        np.clip(rows, 0, height - 1, out=rows)
        terrain = dem[np.ix_(rows, cols)]
        # Line altitude minus earth bulge at this fraction of the path.
        limit = antenna + s * rise
        if curvature:
            limit -= (s * (1.0 - s) * curvature) * d2
        hit = terrain > limit  # NaN terrain or NaN mobile never blocks
        # Ignore samples that fall in the target cell or in the tower's cell.
        own = (rows == target_rows)[:, None] & (cols == target_cols)[None, :]
        own |= (rows == tower_row)[:, None] & (cols == tower_col)[None, :]
        blocked |= hit & ~own
    return blocked
