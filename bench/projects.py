"""The project a web benchmark runs on: real Mahakam Ulu built from ``../shared/data``
when it is there (as ``tests/conftest.py`` builds it), else the fictitious sample.

Built once into ``bench/out/`` (git-ignored) and reused.
"""

from __future__ import annotations

import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"

MAHAKAM_ULU = {
    "villages": ("boundaries", "mahakam_ulu.gpkg"),
    "population": ("population", "mahakam_ulu_census2010.csv"),
    "population_raster": ("population", "ghs_pop_1km_kalimantan_timur.tif"),
    "towers": ("towers", "opencellid_mcc510_subset.csv"),
    "dem": ("terrain", "mahakam_ulu_elevation_5arcmin.tif"),
}


def real_available() -> bool:
    return all(SHARED.joinpath(*parts).exists() for parts in MAHAKAM_ULU.values())


def mahakam_ulu(directory: Path = OUT / "mahakam_ulu") -> Path:
    """Real Mahakam Ulu, imported and analysed (built on first use)."""
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    if not (directory / "project.toml").exists():
        files = {k: SHARED.joinpath(*parts) for k, parts in MAHAKAM_ULU.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # repairs of the real data are reported elsewhere
            project, _ = init_project(directory, region="64.11", **files)
        analyze_project(project)
    return directory


def sample(directory: Path = OUT / "sample") -> Path:
    """The fictitious sample regency, built and analysed (on first use)."""
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.sample import build_sample

    if not (directory / "project.toml").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analyze_project(build_sample(directory))
    return directory


def default_project() -> Path:
    """Mahakam Ulu when the real data is present, else the sample."""
    return mahakam_ulu() if real_available() else sample()
