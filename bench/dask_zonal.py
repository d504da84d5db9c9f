"""Zonal counting of all Indonesian villages on a large class raster: in process vs Dask.

Run from the repository root (needs ../shared/data)::

    .venv/bin/python bench/dask_zonal.py                  # 0.0009 deg (~100 m): 975 M pixels
    .venv/bin/python bench/dask_zonal.py --res 0.00027    # ~30 m: 10.8 G pixels (166 MB on disk)
    .venv/bin/python bench/dask_zonal.py --res 0.00027 --sample 12   # 12 of its 124 windows
    .venv/bin/python bench/dask_zonal.py --res 0.002      # quick: 197 M pixels

Inputs, made once and kept in ``bench/out/`` (git-ignored): the 83,246 villages of
``indonesia_desa.parquet`` (as ``bench/zonal_national.py`` prepares them) and a
deterministic class raster over lon 94.96..141.04, lat -11.02..6.10 at ``--res``
degrees, uint8 classes 0..5 from an integer hash of 64-pixel blocks plus +-1 in
8-pixel blocks (any window can be made alone), written strip by strip as a tiled
(512 x 512) DEFLATE BigTIFF: a COG's layout without overviews. The label runs of
the villages on that grid are burned once and kept in ``bench/out/cache/``
(``zonal.cached_label_grid``), as ``analyze`` keeps them in a project's cache.

Timed, each on the same inputs and checked to give the same counts:

- ``in-process``: today's path — the whole raster read into memory (GDAL on both
  cores), then ``zonal.run_class_counts`` (both cores); read and count also shown
  apart. Needs the raster in RAM (10.8 GB at 30 m: skipped above ``--max-inprocess-gb``).
- ``local 1 worker`` / ``local 2 workers``: ``LocalCluster`` of single-threaded
  worker processes; each task reads its window of the COG itself
  (``distributed.count_window``), the client adds the partials in order.
- ``scheduler 2 workers``: a real ``dask scheduler`` and two ``dask worker``
  processes started here, reached by address as a remote cluster would be.

Columns: ``seconds`` wall time of the counting (cluster start-up excluded, label
runs already cached); ``x_inprocess`` seconds divided by in-process (read + count);
``ns_per_px`` seconds per raster pixel x 1e9 (all pixels of the grid, the unit
the extrapolation in the README uses); ``cpu_ns_per_px`` the same for the CPU
time the workers (or this process) used, which a busy machine inflates less;
``worker_peak_MB`` each worker's peak resident memory (``VmHWM``; for
in-process, this whole process). On a 2-core machine two workers cannot beat
two threads in one process by much: the point is that the windows scale out.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DESA = ROOT.parent / "shared" / "data" / "boundaries" / "indonesia_desa.parquet"
VILLAGES = OUT / "villages_wkb.npz"
WEST, EAST, SOUTH, NORTH = 94.96, 141.04, -11.02, 6.10
N_CLASSES = 6
SEED = 20240601
STRIP = 512


def log(msg: str) -> None:
    print(msg, flush=True)


def grid(res: float):
    from affine import Affine

    width = int(round((EAST - WEST) / res))
    height = int(round((NORTH - SOUTH) / res))
    return Affine(res, 0.0, WEST, 0.0, -res, NORTH), (height, width)


def _hash(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    h = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
        b.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)) ^ np.uint64(salt)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return h


def class_rows(r0: int, r1: int, width: int) -> np.ndarray:
    """Rows r0..r1-1 of the synthetic class raster (deterministic, window by window)."""
    def blocks(size: int, salt: int, k: int) -> np.ndarray:
        # the hash per block, then repeated to pixels (rows r0..r1-1, every column)
        br = np.arange(r0 // size, (r1 - 1) // size + 1)[:, None]
        bc = np.arange(0, (width - 1) // size + 1)[None, :]
        v = (_hash(br, bc, salt) % np.uint64(k)).astype(np.int8)
        v = np.repeat(np.repeat(v, size, axis=0), size, axis=1)
        off = r0 - (r0 // size) * size
        return v[off:off + r1 - r0, :width]

    out = blocks(64, SEED, N_CLASSES) + blocks(8, SEED + 1, 3) - 1
    return np.clip(out, 0, N_CLASSES - 1).astype(np.uint8)


def prepare_villages() -> None:
    if VILLAGES.exists():
        return
    import geopandas as gpd
    import shapely

    from geo_p2dd.io.vector import _polygonal

    gdf = gpd.read_parquet(DESA)
    geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
    bad = ~shapely.is_valid(geoms)
    geoms[bad] = shapely.make_valid(geoms[bad])
    wkb = shapely.to_wkb(_polygonal(geoms))
    lengths = np.fromiter((len(w) for w in wkb), dtype=np.int64, count=len(wkb))
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(VILLAGES, blob=blob, offsets=np.concatenate(([0], np.cumsum(lengths))),
             kode=gdf["kode"].to_numpy().astype(str), n_invalid=bad.sum())


def load_geoms() -> np.ndarray:
    import shapely

    with np.load(VILLAGES) as z:
        blob, off = z["blob"].tobytes(), z["offsets"]
    return shapely.from_wkb(np.array([blob[a:b] for a, b in zip(off[:-1], off[1:],
                                                                   strict=True)],
                                     dtype=object))


def prepare_raster(res: float) -> Path:
    import rasterio
    from rasterio.windows import Window

    transform, (height, width) = grid(res)
    path = OUT / f"classes_{res:g}.tif"
    if path.exists():
        return path
    t = time.perf_counter()
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1,
               "dtype": "uint8", "crs": "EPSG:4326", "transform": transform, "tiled": True,
               "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE", "BIGTIFF": "YES",
               "NUM_THREADS": "ALL_CPUS"}
    with rasterio.open(tmp, "w", **profile) as dst:
        for r in range(0, height, STRIP):
            h = min(STRIP, height - r)
            dst.write(class_rows(r, r + h, width), 1, window=Window(0, r, width, h))
    os.replace(tmp, path)
    log(f"raster {height} x {width} = {height * width / 1e6:,.0f} M px -> {path.name} "
        f"({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.0f} s")
    return path


def peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``: reset by exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def count_on(client, runs, cog: Path, windows=None):
    from geo_p2dd import zonal
    from geo_p2dd.distributed import Compute, RasterFile, count_window

    compute = Compute(client, OUT / "cache")
    file = RasterFile(str(cog), "gdal")
    cpu0 = client.run(cpu_s)
    t = time.perf_counter()
    if windows is None:
        counts = compute.run_class_counts(runs, file, N_CLASSES)
    else:  # a sample of the windows: the same tasks, fewer of them
        path = compute.runs_file(runs)
        futures = [client.submit(count_window, path, file, w, N_CLASSES, pure=False)
                   for w in windows]
        counts = zonal.add_partials((f.result() for f in futures),
                                    (runs.n_labels + 1) * N_CLASSES, False)
    seconds = time.perf_counter() - t
    cpu = sum(v - cpu0[k] for k, v in client.run(cpu_s).items())
    peaks = sorted(client.run(peak_mb).values())
    return seconds, counts, peaks, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--res", type=float, default=0.0009, help="pixel size in degrees")
    ap.add_argument("--sample", type=int, default=0, metavar="K",
                    help="count only K windows spread over the grid (no in-process line)")
    ap.add_argument("--max-inprocess-gb", type=float, default=6.0,
                    help="skip the in-process line when the raster is larger (GB)")
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    from geo_p2dd import zonal

    sys.path.insert(0, str(ROOT))
    prepare_villages()
    cog = prepare_raster(args.res)
    transform, shape = grid(args.res)
    npx = shape[0] * shape[1]
    geoms = load_geoms()
    t = time.perf_counter()
    (OUT / "cache").mkdir(exist_ok=True)
    runs = zonal.cached_label_grid(OUT / "cache", geoms, transform, shape, "EPSG:4326")
    log(f"label runs of {len(geoms):,} villages: {len(runs.start):,} runs, "
        f"{runs.pixel_counts().sum() / 1e6:,.0f} M px in villages, "
        f"{runs.nbytes / 1e6:,.0f} MB, {time.perf_counter() - t:.1f} s (burned or cached)")
    windows = zonal.count_windows(shape)
    log(f"windows: {len(windows)} of {windows[0][1]} rows")
    sample = None
    if args.sample:
        pick = np.unique(np.linspace(0, len(windows) - 1, args.sample).round().astype(int))
        sample = [windows[i] for i in pick]
        npx = sum((b - a) * shape[1] for a, b in sample)
        log(f"sample: {len(sample)} windows, {npx / 1e6:,.0f} M px")
    lines = []
    ref = None
    if sample is None and npx / 1e9 <= args.max_inprocess_gb:
        import rasterio

        t, cpu0 = time.perf_counter(), cpu_s()
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(cog) as src:
            classes = src.read(1)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        ref = zonal.run_class_counts(runs, classes, N_CLASSES)
        count_s = time.perf_counter() - t
        del classes
        lines.append(("in-process (read + count)", read_s + count_s, [peak_mb()],
                      cpu_s() - cpu0))
        log(f"in-process: read {read_s:.1f} s + count {count_s:.1f} s")
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            seconds, counts, peaks, cpu = count_on(client, runs, cog, sample)
        lines.append((f"local {n} worker{'s' if n > 1 else ''}", seconds, peaks, cpu))
        if ref is None:
            ref = counts
        assert np.array_equal(counts, ref), "counts differ"
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        bin_ = Path(sys.executable).parent
        sf = Path(d) / "scheduler.json"
        procs = [subprocess.Popen([str(bin_ / "dask"), "scheduler", "--host", "127.0.0.1",
                                   "--port", "0", "--no-show", "--dashboard-address", ":0",
                                   "--scheduler-file", str(sf)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            while not sf.exists():
                time.sleep(0.2)
            procs += [subprocess.Popen([str(bin_ / "dask"), "worker", "--scheduler-file",
                                        str(sf), "--nworkers", "1", "--nthreads", "1",
                                        "--no-dashboard"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for _ in range(2)]
            with Client(scheduler_file=str(sf)) as client:
                client.wait_for_workers(2, timeout=120)
                seconds, counts, peaks, cpu = count_on(client, runs, cog, sample)
            lines.append(("scheduler 2 workers", seconds, peaks, cpu))
            assert np.array_equal(counts, ref), "counts differ"
        finally:
            for p in reversed(procs):
                p.terminate()
                p.wait(30)
    base = lines[0][1]
    log(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    log(f"\n{'method':<28}{'seconds':>9}{'x_' + lines[0][0].split()[0]:>15}"
        f"{'ns_per_px':>11}{'cpu_ns_per_px':>15}  worker_peak_MB")
    for name, s, peaks, cpu in lines:
        log(f"{name:<28}{s:>9.1f}{s / base:>15.2f}{s / npx * 1e9:>11.2f}"
            f"{cpu / npx * 1e9:>15.2f}  " + ", ".join(f"{p:,.0f}" for p in peaks))
    one = next(s for n, s, *_ in lines if n == "local 1 worker")
    two = next(s for n, s, *_ in lines if n == "local 2 workers")
    log(f"speed-up 1 -> 2 local workers: {one / two:.2f}x; grid {shape[0]:,} x {shape[1]:,} = "
        f"{npx / 1e6:,.0f} M px {'counted ' if sample else ''}at {args.res:g} deg; "
        "counts identical on every path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
