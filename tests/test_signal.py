"""Tests for geo_p2dd.signal: dBm to signal class codes."""

from __future__ import annotations

import numpy as np
import pytest

from geo_p2dd.config import DEFAULTS, settings_from_dict
from geo_p2dd.errors import ConfigError
from geo_p2dd.schema import SIGNAL_CODES
from geo_p2dd.signal import CLASS_ORDER, RSRP_CLASSES, rsrp_class


def test_class_codes_are_the_schema_codes() -> None:
    assert RSRP_CLASSES == {code: name for name, code in SIGNAL_CODES.items()}


def test_rsrp_class_boundaries() -> None:
    values = np.array(
        [-60.0, -85.0, -85.01, -95.0, -95.01, -105.0, -105.01, -115.0, -115.01, -140.0,
         np.nan, -np.inf]
    )
    codes = rsrp_class(values)
    assert codes.dtype == np.uint8
    assert codes.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 1]


def test_rsrp_class_keeps_shape_and_takes_float32() -> None:
    values = np.array([[-80.0, np.nan], [-100.0, -120.0]], dtype=np.float32)
    codes = rsrp_class(values)
    assert codes.shape == (2, 2)
    assert codes.tolist() == [[5, 0], [3, 1]]


def test_rsrp_class_custom_thresholds() -> None:
    values = np.array([-82.0, -85.0, -100.0, -118.0])
    assert rsrp_class(values, {"good": -80.0}).tolist() == [4, 4, 3, 1]
    custom = {"good": -70.0, "fair": -80.0, "poor": -90.0, "marginal": -100.0}
    assert rsrp_class(values, custom).tolist() == [3, 3, 2, 1]


def test_rsrp_class_rejects_bad_thresholds() -> None:
    with pytest.raises(ConfigError, match=r"thresholds\.rsrp_dbm: thresholds must descend"):
        rsrp_class(np.array([-90.0]), {"fair": -80.0})
    with pytest.raises(ConfigError, match=r"thresholds\.rsrp_dbm\.excellent: unknown key"):
        rsrp_class(np.array([-90.0]), {"excellent": -70.0})


def test_rsrp_class_takes_the_typed_thresholds() -> None:
    settings = settings_from_dict({"thresholds": {"rsrp_dbm": {"good": -80.0}}})
    values = np.array([-82.0, -85.0, -100.0, -118.0])
    assert rsrp_class(values, settings.thresholds.rsrp_dbm).tolist() == [4, 4, 3, 1]
    assert rsrp_class(values, DEFAULTS.thresholds.rsrp_dbm).tolist() == \
        rsrp_class(values).tolist() == [5, 5, 3, 1]


def test_class_order_is_the_threshold_order() -> None:
    assert CLASS_ORDER == ("marginal", "poor", "fair", "good")
    assert [SIGNAL_CODES[name] for name in CLASS_ORDER] == [2, 3, 4, 5]
