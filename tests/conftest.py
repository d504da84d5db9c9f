"""Shared fixtures: tiny data built in temporary directories."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# no background re-analysis after register edits (web/reanalysis.py) unless a test asks for it
# (create_app({"REANALYSE": True})): the suite stays fast, no thread outlives its temp dir
__import__("os").environ.setdefault("GEO_P2DD_REANALYSE", "false")
# passwords hashed at OWASP's lowest recommended Argon2id cost (38 ms, not 180 ms a hash):
# still Argon2id, verified for real; the default cost is tested in test_registry
__import__("os").environ.setdefault("GEO_P2DD_ARGON2", "2,19456,1")


def shared_data(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the real reference data {path} (absent on this machine)")
    return path


@pytest.fixture
def villages_gdf() -> gpd.GeoDataFrame:
    """Four square villages in two kecamatan of a fictitious kabupaten 99.01 (EPSG:4326)."""
    return _villages_frame()


def _villages_frame() -> gpd.GeoDataFrame:
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


# --------------------------------------------------------------------------- #
# Helpers and fixtures for the foundation tests (io, layers, imports, project)
# --------------------------------------------------------------------------- #

# The four villages of `villages_gdf` lie in 114.0..114.4 E, 0.0..0.1 N.
REGION_BOUNDS = (114.0, 0.0, 114.4, 0.1)
KECAMATAN_NAMES = {"99.01.01": "Kecamatan Satu", "99.01.02": "Kecamatan Dua"}
KABUPATEN_NAME = "Kabupaten Uji"

# Four good site rows, one per village and one per status, with Indonesian headers
# and status terms. Header is sheet row 1, so these are rows 2..5.
SITES_HEADER = "nama lokasi,jenis,status,kode_desa,OPD,sumber dana,tahun,bujur,lintang\n"
SITES_ROWS = [
    "Starlink Satu,Starlink,terpasang,99.01.01.2001,Diskominfo,APBD,2024,114.05,0.05\n",
    "Starlink Dua,Starlink,proses,99.01.01.2002,Diskominfo,APBD,2025,114.15,0.05\n",
    "BTS Tiga,BTS,rencana,99.01.02.2001,BAKTI,APBN/BAKTI,2026,114.25,0.05\n",
    "Wifi Empat,wifi kampung,usulan,99.01.02.2002,Dinas Pendidikan,Dana Desa,2027,114.35,0.05\n",
]


def area_frames(villages: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Kecamatan and kabupaten boundaries for the `villages_gdf` villages."""
    kec = gpd.GeoDataFrame(
        {"kode": list(KECAMATAN_NAMES), "nama": list(KECAMATAN_NAMES.values())},
        geometry=[shapely.box(114.0, 0.0, 114.2, 0.1), shapely.box(114.2, 0.0, 114.4, 0.1)],
        crs="EPSG:4326")
    kab = gpd.GeoDataFrame({"kode": ["99.01"], "nama": [KABUPATEN_NAME]},
                           geometry=[shapely.box(*REGION_BOUNDS)], crs="EPSG:4326")
    return kec, kab


@pytest.fixture(scope="session")
def _boundaries_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("boundaries") / "batas.gpkg"
    villages = _villages_frame()
    kec, kab = area_frames(villages)
    for layer, frame in (("desa", villages), ("kecamatan", kec), ("kabupaten", kab)):
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    return path.read_bytes()


@pytest.fixture
def boundaries_gpkg(tmp_path, _boundaries_bytes) -> Path:
    """A GeoPackage with layers desa (`villages_gdf`), kecamatan and kabupaten, like
    mahakam_ulu.gpkg (written once per session, copied for each test)."""
    path = tmp_path / "inputs" / "batas.gpkg"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(_boundaries_bytes)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def sites_csv(tmp_path) -> Path:
    return write_text(tmp_path / "inputs" / "sites.csv", SITES_HEADER + "".join(SITES_ROWS))


def write_tif(path: Path, array: np.ndarray, *, transform: Affine | None = None,
              crs: str | None = "EPSG:4326", nodata=None) -> Path:
    """Write a single-band GeoTIFF (default: 0.01 degree cells from 114.0 E, 0.1 N)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    transform = transform or Affine(0.01, 0, 114.0, 0, -0.01, 0.1)
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0],
               "count": 1, "dtype": array.dtype.name, "transform": transform, "nodata": nodata}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return path


@pytest.fixture
def dem_tif(tmp_path) -> Path:
    """A 10 x 10 elevation raster over the west of the region (metres, float32)."""
    array = (np.arange(100, dtype=np.float32).reshape(10, 10) * 3.0 + 20.0)
    return write_tif(tmp_path / "inputs" / "dem.tif", array, nodata=-9999.0)


@pytest.fixture
def project(tmp_path, boundaries_gpkg):
    """A tiny project made by init_project from `boundaries_gpkg`."""
    from geo_p2dd.imports import init_project

    proj, _ = init_project(tmp_path / "proj", villages=boundaries_gpkg)
    return proj


def snapshot(directory: Path) -> dict[str, str]:
    """Every file (sha256) and directory under ``directory``, hidden ones included."""
    out = {}
    for p in sorted(Path(directory).rglob("*")):
        rel = str(p.relative_to(directory))
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# --- projects and servers shared by the analysis, web and browser tests -------------------

@pytest.fixture(scope="session")
def sample_project(tmp_path_factory):
    """The sample regency, built and analysed once per test worker (do not modify it)."""
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.sample import build_sample

    path = tmp_path_factory.mktemp("sample") / "project"
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")  # the sample's own repairs are expected
        project = build_sample(path)
    analyze_project(project)
    return project


@pytest.fixture
def sample_copy(sample_project, tmp_path):
    """A private copy of the analysed sample project, free to modify."""
    import shutil

    from geo_p2dd.project import Project

    dst = tmp_path / "project"
    shutil.copytree(sample_project.path, dst, symlinks=True)  # as cp -a does
    return Project(dst)


class LiveServer:
    """A real WSGI server (waitress) on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        import socket
        import threading

        from waitress.server import create_server

        self.app = app
        self.server = create_server(app, host="127.0.0.1", port=0, threads=4)
        self.port = self.server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        socket.create_connection(("127.0.0.1", self.port), timeout=5).close()

    def _serve(self) -> None:
        try:
            self.server.run()
        except OSError:  # its sockets closed under the loop's select() by stop()
            if not self._stopping:
                raise

    def stop(self) -> None:
        self._stopping = True
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server_factory():
    """live_server_factory(project_path, **config) -> LiveServer (closed at session end)."""
    from web import create_app

    servers = []

    def start(project_path, **config):
        app = create_app({"PROJECT": str(project_path), "TESTING": True, **config})
        server = LiveServer(app)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def sample_server(sample_project, live_server_factory):
    """The analysed sample project served on a live loopback server."""
    return live_server_factory(sample_project.path)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (skips when Chromium is absent)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run "
                    "does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser page; console errors are collected in ``page.console_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.console_errors = []
    p.on("console", lambda m: p.console_errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: p.console_errors.append(str(e)))
    yield p
    context.close()


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def mahakam_ulu_files() -> dict[str, Path]:
    """The real Mahakam Ulu inputs in ../shared/data, as init_project keywords (or skip)."""
    return {
        "villages": shared_data("boundaries", "mahakam_ulu.gpkg"),
        "population": shared_data("population", "mahakam_ulu_census2010.csv"),
        "population_raster": shared_data("population", "ghs_pop_1km_kalimantan_timur.tif"),
        "towers": shared_data("towers", "opencellid_mcc510_subset.csv"),
        "dem": shared_data("terrain", "mahakam_ulu_elevation_5arcmin.tif"),
    }


@pytest.fixture(scope="session")
def mahakam_ulu_project(tmp_path_factory):
    """Real Mahakam Ulu (../shared/data) imported and analysed once per worker (read-only)."""
    import warnings

    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    data = mahakam_ulu_files()
    path = tmp_path_factory.mktemp("mahakam_ulu") / "project"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repairs of the real data are tested elsewhere
        project, _ = init_project(path, region="64.11", **data)
    analyze_project(project)
    return project


@contextlib.contextmanager
def lock_held_elsewhere(directory, purpose: str = "import sites"):
    """Hold a project's write lock from another thread, as another writer would."""
    import threading

    from geo_p2dd.lock import project_lock

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with project_lock(directory, purpose):
            held.set()
            release.wait(60)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        t.join()
