"""Signal classes: RSRP thresholds in dBm to class codes.

A received power (or RSRP) becomes one of the class codes stored in every
class raster of a project: 0 unknown (no data), 1 none (below the marginal
threshold), 2 marginal, 3 poor, 4 fair, 5 good. The codes and names are the
vocabulary of :mod:`geo_p2dd.schema` (``SIGNAL_CODES``); this module only maps
dBm onto them. A value equal to a threshold gets the better class.

Importing a dBm coverage layer, modelling towers and drawing map tiles all
classify with :func:`rsrp_class`, so a threshold changed in ``project.toml``
changes every one of them alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from geo_p2dd.errors import InputError
from geo_p2dd.schema import CODE_TO_SIGNAL

__all__ = ["CLASS_ORDER", "DEFAULT_THRESHOLDS", "RSRP_CLASSES", "rsrp_class"]

#: Default RSRP class thresholds (dBm); a value equal to a threshold gets the better class.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "good": -85.0,
    "fair": -95.0,
    "poor": -105.0,
    "marginal": -115.0,
}

#: Class codes returned by :func:`rsrp_class` (the schema's signal codes).
RSRP_CLASSES: dict[int, str] = dict(CODE_TO_SIGNAL)

#: The classes that have a dBm threshold, weakest first (codes 2..5).
CLASS_ORDER = ("marginal", "poor", "fair", "good")


def rsrp_class(rx_dbm: np.ndarray, thresholds: Mapping[str, float] | None = None
               ) -> np.ndarray:
    """Map received power to signal class codes.

    Codes (see :data:`RSRP_CLASSES`): 0 unknown (NaN), 1 none (below the
    marginal threshold), 2 marginal, 3 poor, 4 fair, 5 good. A value equal to
    a threshold gets the better class.

    Parameters
    ----------
    rx_dbm : array_like
        Received power in dBm.
    thresholds : mapping, optional
        Lower bounds (dBm) of ``"good"``, ``"fair"``, ``"poor"`` and
        ``"marginal"``; keys given override :data:`DEFAULT_THRESHOLDS`
        (-85, -95, -105, -115). They must decrease from good to marginal.

    Returns
    -------
    numpy.ndarray
        uint8 codes, same shape as ``rx_dbm``.

    Raises
    ------
    InputError
        Unknown threshold names or thresholds not in decreasing order.

    Examples
    --------
    >>> rsrp_class(np.array([-80.0, -85.0, -115.0, -120.0, np.nan])).tolist()
    [5, 5, 2, 1, 0]
    """
    limits = dict(DEFAULT_THRESHOLDS)
    if thresholds:
        unknown = sorted(set(thresholds) - set(DEFAULT_THRESHOLDS))
        if unknown:
            raise InputError("unknown RSRP class threshold", expected="good, fair, poor, "
                             "marginal", found=", ".join(map(str, unknown)))
        limits.update({key: float(value) for key, value in thresholds.items()})
    ordered = [limits[name] for name in CLASS_ORDER]
    if not all(math.isfinite(v) for v in ordered) or any(
        lo >= hi for lo, hi in zip(ordered, ordered[1:], strict=False)
    ):
        raise InputError("RSRP class thresholds must decrease from good to marginal",
                         expected="good > fair > poor > marginal",
                         found=", ".join(f"{n}={limits[n]:g}" for n in reversed(CLASS_ORDER)))
    values = np.asarray(rx_dbm, dtype=float)
    codes = np.where(np.isnan(values), 0, 1).astype(np.uint8)
    for code, name in enumerate(CLASS_ORDER, start=2):
        codes[values >= limits[name]] = code
    return codes
