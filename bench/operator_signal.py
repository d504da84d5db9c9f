"""Benchmark: the signal in dBm at locations (geo_p2dd.coverage.sample_dbm) against
rasterio's point sampler and against reading the whole raster, on a regency-size raster.

    .venv/bin/python bench/operator_signal.py [--size 6000] [--points 20000] [--repeat 5]

The raster is a tiled DEFLATE float32 GeoTIFF of ``size`` x ``size`` cells of 30 m (the
default: 180 km square, about Mahakam Ulu's extent; 144 MB of values) in UTM 50N, with
nodata. Two sets of points: settlements along a river (clustered in a band: what a
regency looks like) and points spread over the whole raster. Each method gives the same
values (checked). Prints the median time of each and the ratio ours / rasterio.sample.
Files go to bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

from geo_p2dd.coverage import Source, sample_dbm

OUT = Path(__file__).resolve().parent / "out"


def make_raster(path: Path, size: int) -> Affine:
    transform = Affine(30.0, 0, 600_000.0, 0, -30.0, 100_000.0)
    if path.exists():
        return transform
    rng = np.random.default_rng(15)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1,
               "dtype": "float32", "crs": "EPSG:32650", "transform": transform,
               "nodata": -9999.0, "tiled": True, "blockxsize": 512, "blockysize": 512,
               "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, 512):
            rows = min(512, size - r0)
            y = np.arange(r0, r0 + rows)[:, None]
            x = np.arange(size)[None, :]
            block = (-70 - 50 * np.abs(np.sin(x / 700.0) * np.cos(y / 900.0))
                     + rng.normal(0, 2, (rows, size))).astype(np.float32)
            block[(x + y) % 997 == 0] = -9999.0
            dst.write(block, 1, window=rasterio.windows.Window(0, r0, size, rows))
    return transform


def points(transform: Affine, size: int, n: int, clustered: bool) -> gpd.GeoSeries:
    rng = np.random.default_rng(7 if clustered else 8)
    if clustered:  # a river band: 10 % of the width, meandering across the raster
        col = rng.uniform(0, size, n)
        row = size / 2 + size * 0.3 * np.sin(col / size * 6) + rng.normal(0, size * 0.02, n)
    else:
        col, row = rng.uniform(0, size, n), rng.uniform(0, size, n)
    row = np.clip(row, 0, size - 1)
    x, y = transform * (col, row)
    return gpd.GeoSeries(shapely.points(x, y), crs="EPSG:32650")


def timed(fn, repeat: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=6000)
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"dbm_{args.size}.tif"
    transform = make_raster(path, args.size)
    src = Source("tsel", "Telkomsel", "4G", np.zeros((args.size, args.size), np.uint8),
                 transform, "EPSG:32650", dbm_path=str(path))
    print(f"raster {args.size} x {args.size} float32 (30 m), {args.points:,} points, "
          f"median of {args.repeat}")
    print(f"{'points':<10} {'method':<22} {'median_s':>9} {'x_rasterio':>10}")
    for label, clustered in (("river", True), ("spread", False)):
        pts = points(transform, args.size, args.points, clustered)
        xy = list(zip(pts.x, pts.y, strict=True))

        def ours(pts=pts):
            return sample_dbm(src, pts)

        def peer(xy=xy):
            with rasterio.open(path) as ds:
                v = np.array([s[0] for s in ds.sample(xy, indexes=1)], dtype=float)
                v[v == ds.nodata] = np.nan
            return v

        def whole(pts=pts):
            with rasterio.open(path) as ds:
                a = ds.read(1)
                r, c = rasterio.transform.rowcol(ds.transform, pts.x.to_numpy(),
                                                 pts.y.to_numpy())
                v = a[np.asarray(r), np.asarray(c)].astype(float)
                v[v == ds.nodata] = np.nan
            return v

        t_peer, v_peer = timed(peer, args.repeat)
        rows = [("rasterio.sample", t_peer, v_peer), ("geo_p2dd sample_dbm", *timed(
            ours, args.repeat)), ("read whole + index", *timed(whole, max(1, args.repeat // 2)))]
        for name, t, v in rows:
            np.testing.assert_array_equal(np.isnan(v), np.isnan(v_peer))
            np.testing.assert_allclose(v[~np.isnan(v)], v_peer[~np.isnan(v_peer)])
            print(f"{label:<10} {name:<22} {t:>9.3f} {t / t_peer:>10.2f}")


if __name__ == "__main__":
    main()
