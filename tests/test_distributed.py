"""The analysis on a real Dask cluster gives the in-process results, byte for byte.

A real ``dask scheduler`` and two ``dask worker`` processes are started once for
this module (subprocesses, stopped at teardown); the workers import this
worktree's ``geo_p2dd`` (``PYTHONPATH`` is inherited) and read the inputs from
the project directory, as workers on shared storage would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner

from geo_p2dd import distributed, zonal
from geo_p2dd.cli import main
from geo_p2dd.grid import Grid
from geo_p2dd.project import Project
from geo_p2dd.propagation import received_power_grid

BIN = Path(sys.executable).parent
TABLES = ("village_results", "location_results", "area_results")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a real scheduler with two single-threaded worker processes."""
    from dask.distributed import Client

    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    procs = []
    logs = []

    def start(*args: str, name: str) -> None:
        log = open(d / f"{name}.log", "wb")  # noqa: SIM115 (closed at teardown)
        logs.append(log)
        procs.append(subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=log,
                                      env=env, cwd=d))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
              "--scheduler-file", str(sched_file), "--no-show", name="scheduler")
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                pytest.fail("dask scheduler did not start: "
                            + (d / "scheduler.log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        for i in range(2):
            start("worker", "--scheduler-file", str(sched_file), "--nworkers", "1",
                  "--nthreads", "1", "--no-dashboard", name=f"worker{i}")
        with Client(scheduler_file=str(sched_file), timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
            address = client.scheduler.address
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)
        for log in logs:
            log.close()


def _tasks_run(address: str) -> dict[str, int]:
    """Tasks the scheduler has seen, per function name (released and forgotten ones too)."""
    from dask.distributed import Client

    with Client(address, timeout=30) as client:
        return client.run_on_scheduler(lambda dask_scheduler: {
            name: sum(p.state_counts.values())
            for name, p in dask_scheduler.task_prefixes.items()})


def _new_tasks(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {k for k, n in after.items() if n > before.get(k, 0)}


def _copy(project: Project, dst: Path) -> Project:
    shutil.copytree(project.path, dst, symlinks=True)
    return Project(dst)


def _assert_same_outputs(a: Project, b: Project) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a.read_table(name), b.read_table(name), check_exact=True)
    rasters = [f["file"] for f in a.config["analysis"]["modelled"]]
    assert rasters == [f["file"] for f in b.config["analysis"]["modelled"]]
    for rel in rasters:
        with rasterio.open(a.file(rel)) as x, rasterio.open(b.file(rel)) as y:
            assert x.transform == y.transform
            np.testing.assert_array_equal(x.read(), y.read())
        assert a.file(rel).read_bytes() == b.file(rel).read_bytes()


def test_sample_analysis_on_the_cluster_is_identical(sample_project, cluster, tmp_path,
                                                     monkeypatch):
    # the sample's 1057 x 2032 grid in 12 tower tiles (its villages fit one counting window:
    # many windows, weighted sums included, in test_window_counts_on_the_cluster_...)
    monkeypatch.setattr(distributed, "TOWER_TILE", 512)
    ours = _copy(sample_project, tmp_path / "dask")
    with ours.transaction("compute") as tx:  # [compute] scheduler in project.toml
        tx.config["compute"] = {"scheduler": cluster}
    ours = Project(ours.path)
    assert ours.settings.compute.scheduler == cluster
    before = _tasks_run(cluster)
    res = CliRunner().invoke(main, ["analyze", "--project", str(ours.path), "--json"])
    assert res.exit_code == 0, res.output
    assert {"count_window", "model_tile"} <= _new_tasks(before, _tasks_run(cluster))
    _assert_same_outputs(sample_project, Project(ours.path))
    assert not list(ours.cache_dir().glob("dask-*"))  # scratch files removed


def test_real_mahakam_ulu_on_the_cluster_is_identical(mahakam_ulu_project, cluster, tmp_path,
                                                      monkeypatch):
    monkeypatch.setattr(distributed, "TOWER_TILE", 256)
    ours = _copy(mahakam_ulu_project, tmp_path / "dask")
    before = _tasks_run(cluster)
    res = CliRunner().invoke(main, ["analyze", "--project", str(ours.path), "--scheduler",
                                    cluster])
    assert res.exit_code == 0, res.output
    assert "count_window" in _new_tasks(before, _tasks_run(cluster))
    _assert_same_outputs(mahakam_ulu_project, Project(ours.path))


def _villages_grid():
    rng = np.random.default_rng(7)
    t = Affine(10.0, 0, 0, 0, -10.0, 3000.0)
    shape = (300, 257)
    centres = rng.uniform(100, 2500, size=(60, 2))
    geoms = shapely.buffer(shapely.points(centres), rng.uniform(5, 300, 60))
    geoms = np.append(geoms, shapely.box(1001, 1001, 1004, 1004))  # no pixel centre inside
    classes = rng.integers(0, 6, size=shape).astype(np.uint8)
    weights = rng.gamma(0.5, 3.0, size=shape).astype(np.float32)
    weights[rng.random(shape) < 0.05] = np.nan
    return geoms, t, shape, classes, weights


def test_window_counts_on_the_cluster_match_in_process(cluster, tmp_path, monkeypatch):
    geoms, t, shape, classes, weights = _villages_grid()
    monkeypatch.setattr(zonal, "WINDOW_PIXELS", 7 * 257)
    monkeypatch.setattr(zonal, "WINDOW_ALIGN", 7)  # 43 windows of 7 rows
    monkeypatch.setattr(zonal, "CHUNK_PIXELS", 97)
    runs = zonal.label_runs(geoms, t, shape)
    dense = zonal.label_grid(geoms, t, shape)
    exact = zonal.count_classes(dense, classes, len(geoms), 6)[1:]
    assert len(zonal.count_windows(shape)) == 43
    np.testing.assert_array_equal(zonal.run_class_counts(runs, classes, 6), exact)
    local = zonal.polygon_class_counts(geoms, classes, t, 6, labels=runs, weights=weights)
    with distributed.open_compute(cluster, 0, tmp_path) as compute:
        got = compute.polygon_class_counts(geoms, classes, t, 6, labels=runs, weights=weights)
        counts = compute.polygon_class_counts(geoms, classes, t, 6, labels=runs)
    np.testing.assert_array_equal(got, local)  # float sums: the very same bits
    assert got.tobytes() == local.tobytes()
    assert counts[-1].sum() > 0 and counts[-1].sum() < 1  # valued from the pixels it touches
    np.testing.assert_array_equal(counts, zonal.polygon_class_counts(geoms, classes, t, 6,
                                                                     labels=runs))
    with_pixels = runs.pixel_counts() > 0
    np.testing.assert_array_equal(counts[with_pixels], exact[with_pixels])
    # the same counts from a COG every worker reads window by window
    cog = tmp_path / "classes.tif"
    with rasterio.open(cog, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="uint8", transform=t, crs="EPSG:32650", tiled=True,
                       blockxsize=64, blockysize=64, compress="deflate") as dst:
        dst.write(classes, 1)
    with distributed.open_compute(cluster, 0, tmp_path) as compute:
        from_cog = compute.polygon_class_counts(
            geoms, distributed.RasterFile(str(cog), "gdal"), t, 6, labels=runs)
    np.testing.assert_array_equal(from_cog, counts)
    assert not list(tmp_path.glob("dask-*"))


def test_tower_tiles_on_the_cluster_match_in_process(cluster, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    grid = Grid("EPSG:32650", Affine(100.0, 0, 500000.0, 0, -100.0, 200000.0), 230, 190)
    dem = (rng.normal(100, 40, size=grid.shape)).astype(np.float32)
    dem[rng.random(grid.shape) < 0.02] = np.nan
    xs = rng.uniform(500000, 519000, 9)
    ys = rng.uniform(177000, 200000, 9)
    towers = gpd.GeoDataFrame({"height_m": rng.uniform(20, 60, 9)},
                              geometry=gpd.points_from_xy(xs, ys), crs=grid.crs)
    towers = pd.concat([towers, towers.iloc[[2]]], ignore_index=True)  # an exact tie
    options = dict(max_distance_m=6000.0, no_los_extra_loss_db=20.0)
    expected, _ = received_power_grid(towers, grid, dem=dem, **options)
    monkeypatch.setattr(distributed, "TOWER_TILE", 37)  # 7 x 6 tiles, towers on their edges
    with distributed.open_compute(cluster, 0, tmp_path) as compute:
        got = compute.received_power(towers, grid, dem, **options)
    assert got.dtype == np.float32 and np.isnan(got).any() and np.isfinite(got).any()
    assert got.tobytes() == expected.tobytes()


def test_workers_start_a_local_cluster(tmp_path, monkeypatch):
    geoms, t, shape, classes, weights = _villages_grid()
    monkeypatch.setattr(zonal, "WINDOW_PIXELS", 50 * 257)
    monkeypatch.setattr(zonal, "WINDOW_ALIGN", 50)
    runs = zonal.label_runs(geoms, t, shape)
    with distributed.open_compute("", 1, tmp_path) as compute:
        assert len(compute.client.scheduler_info()["workers"]) == 1
        got = compute.polygon_class_counts(geoms, classes, t, 6, labels=runs, weights=weights)
    local = zonal.polygon_class_counts(geoms, classes, t, 6, labels=runs, weights=weights)
    assert got.tobytes() == local.tobytes()


def test_in_process_without_a_cluster(tmp_path):
    with distributed.open_compute("", 0, tmp_path) as compute:
        assert compute is None


def test_cli_rejects_negative_workers(tmp_path):
    res = CliRunner().invoke(main, ["analyze", "--project", str(tmp_path), "--workers", "-1"])
    assert res.exit_code == 2 and "-1" in res.output
