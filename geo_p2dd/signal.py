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

from collections.abc import Mapping

import numpy as np

from geo_p2dd.config import THRESHOLD_CLASSES, RsrpThresholds, rsrp_thresholds
from geo_p2dd.schema import CODE_TO_SIGNAL

__all__ = ["CLASS_ORDER", "RSRP_CLASSES", "rsrp_class"]

#: Class codes returned by :func:`rsrp_class` (the schema's signal codes).
RSRP_CLASSES: dict[int, str] = dict(CODE_TO_SIGNAL)

#: The classes that have a dBm threshold, weakest first (codes 2..5).
CLASS_ORDER = tuple(reversed(THRESHOLD_CLASSES))


def rsrp_class(rx_dbm: np.ndarray,
               thresholds: RsrpThresholds | Mapping[str, float] | None = None) -> np.ndarray:
    """Map received power to signal class codes.

    Codes (see :data:`RSRP_CLASSES`): 0 unknown (NaN), 1 none (below the
    marginal threshold), 2 marginal, 3 poor, 4 fair, 5 good. A value equal to
    a threshold gets the better class.

    Parameters
    ----------
    rx_dbm : array_like
        Received power in dBm.
    thresholds : RsrpThresholds or mapping, optional
        Lower bounds (dBm) of ``"good"``, ``"fair"``, ``"poor"`` and
        ``"marginal"``, such as ``project.settings.thresholds.rsrp_dbm``; keys
        of a mapping override the defaults of
        :class:`~geo_p2dd.config.RsrpThresholds` (-85, -95, -105, -115). They
        must decrease from good to marginal.

    Returns
    -------
    numpy.ndarray
        uint8 codes, same shape as ``rx_dbm``.

    Raises
    ------
    ConfigError
        Unknown threshold names, non-numbers or thresholds not in decreasing
        order (checked by :func:`geo_p2dd.config.rsrp_thresholds`).

    Examples
    --------
    >>> rsrp_class(np.array([-80.0, -85.0, -115.0, -120.0, np.nan])).tolist()
    [5, 5, 2, 1, 0]
    """
    limits = rsrp_thresholds(thresholds).as_dict()
    values = np.asarray(rx_dbm, dtype=float)
    codes = np.where(np.isnan(values), 0, 1).astype(np.uint8)
    for code, name in enumerate(CLASS_ORDER, start=2):
        codes[values >= limits[name]] = code
    return codes
