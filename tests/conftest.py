"""Shared fixtures: tiny data built in temporary directories."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the real reference data {path} (absent on this machine)")
    return path


@pytest.fixture
def villages_gdf() -> gpd.GeoDataFrame:
    """Four square villages in two kecamatan of a fictitious kabupaten 99.01 (EPSG:4326)."""
    squares = []
    for i in range(4):
        x0 = 114.0 + 0.1 * i
        squares.append(shapely.box(x0, 0.0, x0 + 0.1, 0.1))
    return gpd.GeoDataFrame(
        {"kode": ["99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01.02.2002"],
         "nama": ["Satu", "Dua", "Tiga", "Empat"]},
        geometry=squares, crs="EPSG:4326")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
