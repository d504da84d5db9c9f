"""geo_p2dd.io.cells: text that a spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_p2dd.io.cells import neutralise_frame, safe_cell


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x","x")', "+62 812 cmd", "-2+3",
                                   "@SUM(A1:A2)", "\tTAB", "\r=1+1", "=1"])
def test_formula_text_is_prefixed_with_a_quote(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-0.5, -85, 3, None, np.nan, True, "Long Apari", "-0.5",
                                   "+62", "-1e3", "", "a=b", "'=quoted already"])
def test_numbers_missing_and_plain_text_stay(value):
    got = safe_cell(value)
    assert got is value or (got != got and value != value)


def test_neutralise_frame_touches_text_columns_only():
    frame = gpd.GeoDataFrame(
        {"name": ['=HYPERLINK("http://x","x")', "Long Pahangai", None],
         "note": pd.array(["@cmd", "-1", pd.NA], dtype="string"),
         "power_dbm": [-85.5, -70.0, np.nan], "year": pd.array([2024, None, 2025],
                                                               dtype="Int64")},
        geometry=shapely.points([115.0, 115.1, 115.2], [-0.5, 0.1, 0.2]), crs="EPSG:4326")
    out = neutralise_frame(frame)
    assert out["name"].tolist()[:2] == ['\'=HYPERLINK("http://x","x")', "Long Pahangai"]
    assert pd.isna(out["name"].iloc[2])
    assert out["note"].tolist()[:2] == ["'@cmd", "-1"] and out["note"].dtype == "string"
    assert out["power_dbm"].tolist()[:2] == [-85.5, -70.0]
    assert out["year"].dtype == "Int64" and isinstance(out, gpd.GeoDataFrame)
    assert frame["name"].iloc[0].startswith("=")  # the input is not changed
