"""Coverage tiles: web/tiles.py (ours) against rio-tiler + morecantile (issue 14.5).

100 XYZ tiles over z8 / z10 / z12 inside the project's modelled 4G raster, rendered
cold (fresh process: empty GDAL block cache) then warm (the same tiles again), with
nearest-neighbour resampling (class codes) and the same palette and PNG encoder, so
only tile bounds, the window read and the reprojection differ. Each method runs in
its own subprocess. The tile budget is 50 ms. Also prints the share of tile pixels on
which both methods agree, and the time of a hit in our LRU cache.

Usage::

    .venv/bin/python bench/tiles.py                 # Mahakam Ulu if ../shared/data, else sample
    .venv/bin/python bench/tiles.py --project DIR
    .venv/bin/python bench/tiles.py --sample

rio-tiler is not a dependency; for this benchmark install it beside the venv, e.g.
``pip install --target /tmp/rt rio-tiler`` and ``PYTHONPATH=$PWD:/tmp/rt``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import projects  # noqa: E402

ZOOMS = (8, 10, 12)
N_TILES = 100
BUDGET_MS = 50.0


def pick_tiles(path: Path, n: int = N_TILES, seed: int = 0) -> list[tuple[int, int, int]]:
    """``n`` tiles over :data:`ZOOMS` inside the raster (all of a zoom when it has few)."""
    import rasterio
    from rasterio.warp import transform_bounds

    from web.tiles import lonlat_to_tile

    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    rng = random.Random(seed)
    per_zoom = []
    for z in ZOOMS:
        x0, y0 = lonlat_to_tile(west, north, z)
        x1, y1 = lonlat_to_tile(east, south, z)
        zoom_tiles = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        rng.shuffle(zoom_tiles)
        per_zoom.append(zoom_tiles)
    out: list[tuple[int, int, int]] = []
    for i, zoom_tiles in enumerate(per_zoom):
        share = math.ceil((n - len(out)) / (len(per_zoom) - i))
        out += zoom_tiles[:share]
    return out[:n]


def _encode(classes: np.ndarray) -> bytes:
    from PIL import Image

    from web.tiles import PALETTE, empty_tile

    if not classes.any():
        return empty_tile()
    buf = io.BytesIO()
    Image.fromarray(PALETTE[classes], mode="RGBA").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def render_ours(path: Path, z: int, x: int, y: int) -> bytes:
    from web import tiles

    return tiles._render(path, z, x, y, "classes", None)


def render_rio_tiler(path: Path, z: int, x: int, y: int) -> bytes:
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    from web.tiles import empty_tile

    with Reader(str(path)) as src:
        try:
            img = src.tile(x, y, z, tilesize=256, resampling_method="nearest",
                           reproject_method="nearest")
        except TileOutsideBounds:
            return empty_tile()
    classes = np.clip(img.data[0], 0, 255).astype(np.uint8)
    classes[~img.mask.astype(bool)] = 0
    return _encode(classes)


def render_ours_exact(path: Path, z: int, x: int, y: int) -> bytes:
    """Ours projecting every pixel centre exactly (before the lattice interpolation)."""
    from web import tiles

    tiles.APPROX_MIN_ZOOM = 99
    return tiles._render(path, z, x, y, "classes", None)


METHODS = {"ours": render_ours, "ours-exact": render_ours_exact, "rio-tiler": render_rio_tiler}


def _classes(png: bytes) -> np.ndarray:
    from PIL import Image

    from web.tiles import PALETTE

    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    lut = {tuple(c): i for i, c in enumerate(PALETTE) if c.any()}
    out = np.zeros(rgba.shape[:2], dtype=np.uint8)
    for colour, code in lut.items():
        out[(rgba == colour).all(axis=2)] = code
    return out


def run_method(method: str, path: Path, tile_list: list, warmup: Path | None) -> dict:
    """Cold then warm pass of one method (in this process); wall and CPU times in ms.

    ``warmup``: another raster rendered once first, so that imports and one-time set-up
    are not charged to the first tile while this raster's blocks stay cold.
    """
    fn = METHODS[method]
    if warmup is not None:
        fn(warmup, *tile_list[0])
    result = {}
    pngs = []
    for label in ("cold", "warm"):
        times, cpu = [], []
        for z, x, y in tile_list:
            t0, c0 = time.perf_counter(), time.process_time()
            png = fn(path, z, x, y)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            if label == "cold":
                pngs.append(png)
        result[label] = times
        result[label + "_cpu"] = cpu
    result["pngs"] = [p.hex() for p in pngs]
    if method == "ours":
        from web.tiles import render_tile

        z, x, y = tile_list[0]
        render_tile(path, z, x, y)
        t0 = time.perf_counter()
        for _ in range(1000):
            render_tile(path, z, x, y)
        result["lru_hit_ms"] = (time.perf_counter() - t0)
    return result


def _stats(times: list[float]) -> str:
    a = np.asarray(times)
    return (f"mean {a.mean():6.1f}  p50 {np.percentile(a, 50):6.1f}  p95 "
            f"{np.percentile(a, 95):6.1f}  max {a.max():6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--sample", action="store_true", help="use the sample project")
    parser.add_argument("--raster", default="modelled_4g")
    parser.add_argument("--method", choices=list(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--tiles", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:  # child process: one method, results as JSON on stdout
        tile_list = [tuple(t) for t in json.loads(args.tiles)]
        print(json.dumps(run_method(args.method, args.project, tile_list, args.warmup)))
        return

    from geo_p2dd.project import Project

    directory = args.project or (projects.sample() if args.sample else
                                 projects.default_project())
    project = Project(directory)
    entry = next(e for e in project.config["analysis"]["modelled"] if e["name"] == args.raster)
    path = project.path / entry["file"]
    others = [e for e in project.config["analysis"]["modelled"] if e["name"] != args.raster]
    warmup = ["--warmup", str(project.path / others[0]["file"])] if others else []
    tile_list = pick_tiles(path)
    counts = {z: sum(t[0] == z for t in tile_list) for z in ZOOMS}
    print(f"project {project.name}: {path.name}; {len(tile_list)} tiles "
          + ", ".join(f"z{z}: {n}" for z, n in counts.items()))
    results = {}
    for method in METHODS:
        out = subprocess.run([sys.executable, __file__, "--method", method, "--project",
                              str(path), "--tiles", json.dumps(tile_list), *warmup],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"{method}: failed\n{out.stderr[-1500:]}")
            continue
        results[method] = json.loads(out.stdout)
    print("wall time (the machine's load inflates it), then CPU time of the process:")
    for method, r in results.items():
        for label in ("cold", "warm", "cold_cpu", "warm_cpu"):
            print(f"{method:>10} {label}: {_stats(r[label])}")
            for z in ZOOMS:
                zt = [t for t, tile in zip(r[label], tile_list, strict=True) if tile[0] == z]
                print(f"{'':>16}z{z:<3}{_stats(zt)}")
    if "lru_hit_ms" in results.get("ours", {}):
        print(f"{'ours':>10} LRU hit: {results['ours']['lru_hit_ms']:.4f} ms")
    ours = results.get("ours")
    for other in ("rio-tiler", "ours-exact"):
        if ours is None or other not in results:
            continue
        r = results[other]
        for label in ("cold", "warm", "cold_cpu", "warm_cpu"):
            ratio = np.mean(r[label]) / np.mean(ours[label])
            print(f"{other} / ours, {label}: {ratio:.2f}x mean time")
        agree = []
        for a, b in zip(ours["pngs"], r["pngs"], strict=True):
            agree.append((_classes(bytes.fromhex(a)) == _classes(bytes.fromhex(b))).mean())
        print(f"pixels of the same class as ours: {100 * np.mean(agree):.2f}% "
              f"(worst tile {100 * np.min(agree):.2f}%)")
    for method, r in results.items():
        for label in ("cold", "cold_cpu"):
            over = sum(t > BUDGET_MS for t in r[label])
            print(f"{method}: {over} of {len(tile_list)} tiles over the {BUDGET_MS:.0f} ms "
                  f"budget ({label})")


if __name__ == "__main__":
    main()
