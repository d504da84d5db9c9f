"""Concurrent writers and killed writers: no lost writes, no half-applied change (issue 12).

Real processes where it matters: writers are separate ``geo-p2dd`` processes
started with subprocess, killed with SIGKILL, exactly as an operator would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import SITES_HEADER, lock_held_elsewhere, write_text, write_tif

from geo_p2dd.errors import ProjectBusyError
from geo_p2dd.lock import holder
from geo_p2dd.project import Project
from geo_p2dd.schema import SITE_STATUS

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), GEO_P2DD_LOCK_TIMEOUT="120")
    return subprocess.Popen([sys.executable, "-c", "from geo_p2dd.cli import main; main()",
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _sites(path: Path, prefix: str, n: int, kode: str = "99.01.01.2001",
           lon: float = 114.01, lat: float = 0.05) -> Path:
    rows = "".join(f"{prefix} {i},Starlink,terpasang,{kode},OPD {prefix},APBD,2024,"
                   f"{lon + i * 0.0001:.5f},{lat:.5f}\n" for i in range(n))
    return write_text(path, SITES_HEADER + rows)


def test_concurrent_imports_lose_nothing(project, tmp_path, dem_tif):
    """Four imports at once (before the lock: all exited 0 and three were lost)."""
    pop = write_tif(tmp_path / "inputs" / "pop.tif", np.full((10, 20), 7.0, dtype=np.float32),
                    nodata=-1.0)
    a = _sites(tmp_path / "inputs" / "a.csv", "Satu", 3)
    b = _sites(tmp_path / "inputs" / "b.csv", "Dua", 4, kode="99.01.02.2001")
    version = project.file_data_version
    runs = [cli("import", "--project", str(project.path), "sites", str(a)),
            cli("import", "--project", str(project.path), "sites", str(b)),
            cli("import", "--project", str(project.path), "dem", str(dem_tif)),
            cli("import", "--project", str(project.path), "population-raster", str(pop))]
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    after = Project(project.path)
    sites = after.read_layer("sites")
    assert sorted(sites["name"]) == sorted([f"Satu {i}" for i in range(3)]
                                           + [f"Dua {i}" for i in range(4)])
    assert after.raster_path("dem") is not None
    assert after.raster_path("population") is not None
    assert after.file_data_version == version + 4  # the register counts its own changes
    assert not list(project.path.glob(".staging-*"))


def test_threads_of_one_process_are_serialised_too(project):
    def add(i: int) -> None:
        with Project(project.path).transaction(f"thread {i}") as tx:
            tx.write_layer(f"t{i}", pd.DataFrame({"i": [i]}))
            tx.config["sources"][f"t{i}"] = {"file": f"t{i}"}

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = Project(project.path)
    assert {f"t{i}" for i in range(8)} <= set(after.layer_names())
    assert {f"t{i}" for i in range(8)} <= set(after.config["sources"])


def test_a_busy_project_makes_a_writer_wait_then_refuse_clearly(project):
    told = []
    with lock_held_elsewhere(project.path, "import sites"):
        assert holder(project.path)["purpose"] == "import sites"
        with pytest.raises(ProjectBusyError, match=r"import sites.*gave up after"):
            with project.transaction(timeout=0.3, on_wait=told.append):
                pass
    assert len(told) == 1 and "waiting for process" in told[0]
    # released: the next writer goes through at once, and the lock file is empty again
    with project.transaction(timeout=0):
        pass
    assert (project.path / ".lock").read_bytes() == b""


def test_the_cli_says_it_waits_and_refuses_after_its_timeout(project, sites_csv):
    env = dict(os.environ, PYTHONPATH=str(ROOT), GEO_P2DD_LOCK_TIMEOUT="1")
    with lock_held_elsewhere(project.path, "analyze"):
        run = subprocess.run([sys.executable, "-c", "from geo_p2dd.cli import main; main()",
                              "import", "--project", str(project.path), "sites",
                              str(sites_csv)], env=env, capture_output=True, text=True,
                             timeout=60)
    assert run.returncode == 1
    assert "waiting for process" in run.stderr and "(analyze" in run.stderr
    assert "gave up after 1 s" in run.stderr
    assert "Traceback" not in run.stderr
    assert not Project(project.path).has_layer("sites")


def test_analyze_beside_an_import_never_stores_results_as_current_without_the_new_sites(
        sample_copy, tmp_path):
    """The issue's case: analyze running beside 'import sites' (on a copy of the analysed
    sample: its previous results are stale once the import lands)."""
    project = sample_copy
    village = project.read_layer("villages").iloc[0]
    inside = village.geometry.representative_point()
    extra = _sites(tmp_path / "extra.csv", "Baru", 5, kode=village["kode"], lon=inside.x,
                   lat=inside.y)
    analyze = cli("analyze", "--project", str(project.path))
    time.sleep(0.5)  # analyze holds the lock by now (it takes seconds on the sample)
    imp = cli("import", "--project", str(project.path), "sites", str(extra))
    for run in (analyze, imp):
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    after = Project(project.path)
    names = set(after.read_layer("sites")["name"])
    assert {f"Baru {i}" for i in range(5)} <= names
    results = after.read_table("village_results", required=False)
    if results is not None and not after.analysis_stale:
        # results shown as current must have been computed with every site
        counted = sum(int(results[f"sites_{status}"].sum()) for status in SITE_STATUS.ids)
        assert counted == len(after.read_layer("sites"))
        assert after.config["analysis"]["data_version"] == after.data_version


KILLER = """
import sys
from geo_p2dd.imports import import_layer
from geo_p2dd.project import Project
path, a, b = sys.argv[1:4]
i = 0
while True:
    src, lic = (a, "A") if i % 2 == 0 else (b, "B")
    import_layer(Project(path), "dem", src, licence=lic)
    i += 1
"""


def test_kill_9_at_random_moments_leaves_the_old_or_the_new_state(project, tmp_path):
    """Five kills of a process that keeps switching the DEM between two files."""
    dem_a = write_tif(tmp_path / "inputs" / "a.tif",
                      np.full((10, 10), 100.0, dtype=np.float32), nodata=-9999.0)
    dem_b = write_tif(tmp_path / "inputs" / "b.tif",
                      np.full((10, 10), 200.0, dtype=np.float32), nodata=-9999.0)
    expected = {"A": 100.0, "B": 200.0}
    rng = random.Random(12)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(5):
        started = Project(project.path).file_data_version
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(project.path), str(dem_a),
                                 str(dem_b)], env=env, stderr=subprocess.DEVNULL)
        # past start-up (its first import committed), then somewhere inside the loop
        deadline = time.monotonic() + 120
        while Project(project.path).file_data_version == started:
            assert proc.poll() is None and time.monotonic() < deadline, "the loop never ran"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reopened = Project(project.path)
        reopened.info()  # what 'geo-p2dd info' prints
        source = reopened.source("dem")
        if source is None:
            assert reopened.raster_path("dem") is None
            continue
        # the raster is the one the configuration says it is: never a mix
        with rasterio.open(reopened.raster_path("dem")) as src:
            values = src.read(1, masked=True)
        assert float(values.max()) == expected[source["licence"]]
        with reopened.transaction():  # the next writer recovers what the kill left
            pass
        assert not list(project.path.glob(".staging-*"))
    from geo_p2dd.analysis import analyze_project

    analyze_project(Project(project.path))
    assert Project(project.path).read_table("village_results") is not None
