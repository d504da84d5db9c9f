"""Per-village class fractions for all of Indonesia: geo_p2dd against its peers.

Run from the repository root (needs ``pip install -e '.[bench]'`` and ../shared/data)::

    .venv/bin/python bench/zonal_national.py            # everything (rasterstats ~2+ min)
    .venv/bin/python bench/zonal_national.py --quick    # rasterstats on a 1-in-20 sample

Inputs, made once and kept in ``bench/out/`` (git-ignored): the 83,246 villages
of ``indonesia_desa.parquet`` (the 25 invalid ones made valid, every feature a
MultiPolygon, as WKB) and a deterministic categorical coverage raster — uint8
classes 0..5, a blocky two-scale random field (64-pixel blocks plus 8-pixel
detail) at a fixed seed — on 0.002 degrees over lon 94.96..141.04, lat
-11.02..6.10: 23,040 x 8,560 = 197.2 M pixels, covering every village. It is
written as ``.npy`` (for in-memory methods) and as a tiled DEFLATE GeoTIFF (for
the methods reading through rasterio).

Every method runs in a fresh subprocess (``--child``); its peak RSS comes from
``os.wait4`` (whole process, inputs included: the raster alone is 197 MB).
Timed: from in-memory inputs (shapely geometries, or WKB for exactextract; the
raster as a numpy array, or the GeoTIFF path for the "rasterio" lines) to class
fractions for every village. One line per method::

    method  median_s  runs  first_s  peak_rss_MB  x_exactextract  x_floor

``x_exactextract`` is the median divided by exactextract's best median in the
same run (geo_p2dd cold must be <= 0.5); ``x_floor`` divided by the floor's.

Accuracy: geo_p2dd's fractions against exactextract's exact coverage fractions
(per village the largest absolute difference over the six classes, in
percentage points). Exits 1 when the mean over villages of >= 100 pixels
exceeds 1 pp, when any village lacks a value, or when a method fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DESA = ROOT.parent / "shared" / "data" / "boundaries" / "indonesia_desa.parquet"
RES = 0.002
WEST, NORTH = 94.96, 6.10
WIDTH, HEIGHT = 23_040, 8_560
N_CLASSES = 6
SEED = 20240601
VILLAGES = OUT / "villages_wkb.npz"
RASTER_NPY = OUT / f"coverage_{SEED}.npy"
RASTER_TIF = OUT / f"coverage_{SEED}.tif"

METHODS = {
    # name: (default runs, description)
    "floor": (5, "read every pixel once + one chunked bincount pass (2 threads)"),
    "geo_p2dd cold": (5, "label runs burned from the geometries + counts"),
    "geo_p2dd cached": (5, "label runs from the project cache (key + load) + counts"),
    "exactextract numpy": (3, "WKB features, raster as an in-memory numpy array"),
    "exactextract rasterio": (1, "WKB features, raster read through rasterio"),
    "rasterstats": (1, "zonal_stats(categorical=True), numpy raster"),
}


def transform():
    from affine import Affine

    return Affine(RES, 0.0, WEST, 0.0, -RES, NORTH)


# -- inputs -----------------------------------------------------------------------------------


def prepare(log) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if not VILLAGES.exists():
        import geopandas as gpd
        import shapely

        from geo_p2dd.io.vector import _polygonal

        t = time.perf_counter()
        gdf = gpd.read_parquet(DESA)
        geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
        bad = ~shapely.is_valid(geoms)
        geoms[bad] = shapely.make_valid(geoms[bad])
        geoms = _polygonal(geoms)
        wkb = shapely.to_wkb(geoms)
        lengths = np.fromiter((len(w) for w in wkb), dtype=np.int64, count=len(wkb))
        blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
        np.savez(VILLAGES, blob=blob, offsets=np.concatenate(([0], np.cumsum(lengths))),
                 kode=gdf["kode"].to_numpy().astype(str), n_invalid=bad.sum())
        log(f"villages: {len(geoms)} ({int(bad.sum())} made valid) -> {VILLAGES.name} "
            f"in {time.perf_counter() - t:.1f} s")
    if not RASTER_NPY.exists():
        t = time.perf_counter()
        cls = make_raster()
        tmp = RASTER_NPY.with_suffix(".tmp.npy")
        np.save(tmp, cls)
        os.replace(tmp, RASTER_NPY)
        log(f"raster: {HEIGHT} x {WIDTH} uint8 -> {RASTER_NPY.name} in "
            f"{time.perf_counter() - t:.1f} s")
    if not RASTER_TIF.exists():
        import rasterio

        t = time.perf_counter()
        cls = np.load(RASTER_NPY, mmap_mode="r")
        tmp = RASTER_TIF.with_suffix(".tmp.tif")
        profile = {"driver": "GTiff", "width": WIDTH, "height": HEIGHT, "count": 1,
                   "dtype": "uint8", "crs": "EPSG:4326", "transform": transform(),
                   "tiled": True, "blockxsize": 512, "blockysize": 512,
                   "compress": "DEFLATE", "BIGTIFF": "IF_SAFER"}
        with rasterio.open(tmp, "w", **profile) as dst:
            step = 2048
            for r in range(0, HEIGHT, step):
                h = min(step, HEIGHT - r)
                dst.write(np.asarray(cls[r:r + h]), 1,
                          window=rasterio.windows.Window(0, r, WIDTH, h))
        os.replace(tmp, RASTER_TIF)
        log(f"raster: -> {RASTER_TIF.name} in {time.perf_counter() - t:.1f} s")


def make_raster() -> np.ndarray:
    """Classes 0..5: 64-pixel blocks of a base class, +-1 in 8-pixel blocks, clipped."""
    rng = np.random.default_rng(SEED)
    coarse = rng.integers(0, N_CLASSES, size=(HEIGHT // 64 + 1, WIDTH // 64 + 1),
                          dtype=np.int8)
    fine = rng.integers(-1, 2, size=(HEIGHT // 8 + 1, WIDTH // 8 + 1), dtype=np.int8)
    out = np.empty((HEIGHT, WIDTH), dtype=np.uint8)
    for r0 in range(0, HEIGHT, 64):
        r1 = min(HEIGHT, r0 + 64)
        base = np.repeat(coarse[r0 // 64], 64)[:WIDTH]
        for r8 in range(r0, r1, 8):
            detail = np.repeat(fine[r8 // 8], 8)[:WIDTH]
            row = np.clip(base + detail, 0, N_CLASSES - 1).astype(np.uint8)
            out[r8:min(r1, r8 + 8)] = row
    return out


def load_wkb() -> list[bytes]:
    with np.load(VILLAGES) as z:
        blob, off = z["blob"].tobytes(), z["offsets"]
    return [blob[a:b] for a, b in zip(off[:-1], off[1:], strict=True)]


def load_geoms() -> np.ndarray:
    import shapely

    return shapely.from_wkb(np.array(load_wkb(), dtype=object))


def load_raster() -> np.ndarray:
    return np.load(RASTER_NPY)


def rss_mb(field: str = "VmRSS") -> float:
    """Resident (``VmRSS``) or peak resident (``VmHWM``) memory of this process, MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- methods (run in the child) -----------------------------------------------------------------


def run_floor(runs: int):
    from concurrent.futures import ThreadPoolExecutor

    from geo_p2dd import zonal

    cls = load_raster()
    flat = cls.reshape(-1)
    inputs = rss_mb()

    def once():
        step = zonal.CHUNK_PIXELS * 4
        starts = range(0, flat.size, step)
        with ThreadPoolExecutor(2) as pool:
            parts = pool.map(lambda a: np.bincount(flat[a:a + step], minlength=N_CLASSES),
                             starts)
            return np.sum(list(parts), axis=0)

    times = timed(once, runs)
    return times, inputs, None


def run_geo_p2dd(runs: int, cached: bool):
    import tempfile

    from geo_p2dd import zonal

    geoms = load_geoms()
    cls = load_raster()
    inputs = rss_mb()
    tr = transform()
    cache = tempfile.mkdtemp(prefix="zonal-cache-", dir=OUT) if cached else None
    if cached:  # fill the cache (not timed)
        zonal.cached_label_grid(cache, geoms, tr, cls.shape, "EPSG:4326")
    result = {}

    def once():
        labels = (zonal.cached_label_grid(cache, geoms, tr, cls.shape, "EPSG:4326")
                  if cached else None)
        counts = zonal.polygon_class_counts(geoms, cls, tr, N_CLASSES, labels=labels)
        total = counts.sum(axis=1, keepdims=True)
        result["frac"] = counts / np.where(total > 0, total, np.nan)

    times = timed(once, runs)
    if cached:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
    runs_ = zonal.label_runs(geoms, tr, cls.shape)
    extra = {"empty_villages": int((runs_.pixel_counts() == 0).sum()),
             "overlap_pixels_resolved": int(len(runs_.fix_pos)),
             "runs": int(len(runs_.start)), "runs_MB": round(runs_.nbytes / 1e6, 1)}
    np.savez(OUT / "result-geo_p2dd.npz", frac=result["frac"],
             pixels=runs_.pixel_counts())
    return times, inputs, extra


class _WKB:
    """exactextract feature source over WKB (its fastest vector input)."""

    @staticmethod
    def source(wkbs):
        from exactextract._exactextract import Feature
        from exactextract.feature import FeatureSource

        class WKBFeature(Feature):
            def __init__(self, fid, wkb):
                Feature.__init__(self)
                self.fid, self.wkb, self.props = fid, wkb, {}

            def geometry(self):
                return self.wkb

            def get(self, name):
                return self.fid if name == "id" else self.props[name]

            def set(self, name, value):
                self.props[name] = value

            def fields(self):
                return ["id"]

        class WKBSource(FeatureSource):
            def __init__(self, items):
                super().__init__()
                self.items = items

            def count(self):
                return len(self.items)

            def __iter__(self):
                for i, w in enumerate(self.items):
                    yield WKBFeature(i, w)

            def srs_wkt(self):
                return None

        return WKBSource(wkbs)


def ee_fractions(features) -> np.ndarray:
    frac = np.zeros((len(features), N_CLASSES))
    for i, f in enumerate(features):
        p = f["properties"]
        frac[i, np.asarray(p["unique"], dtype=np.int64)] = p["frac"]
    return frac


def run_exactextract(runs: int, through_rasterio: bool):
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    wkbs = load_wkb()
    cls = None if through_rasterio else load_raster()
    inputs = rss_mb()
    result = {}

    def once():
        if through_rasterio:
            import rasterio

            with rasterio.open(RASTER_TIF) as src:
                feats = exact_extract(src, _WKB.source(wkbs), ["unique", "frac"])
        else:
            rast = NumPyRasterSource(cls, WEST, NORTH - HEIGHT * RES, WEST + WIDTH * RES,
                                     NORTH)
            feats = exact_extract(rast, _WKB.source(wkbs), ["unique", "frac"])
        result["frac"] = ee_fractions(feats)

    times = timed(once, runs)
    if not through_rasterio:
        np.savez(OUT / "result-exactextract.npz", frac=result["frac"])
    return times, inputs, None


def run_rasterstats(runs: int, sample: int):
    import warnings

    from rasterstats import zonal_stats

    geoms = load_geoms()
    cls = load_raster()
    inputs = rss_mb()
    chosen = geoms[::sample]
    extra = {"villages_timed": len(chosen), "sample_every": sample}

    def once():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zonal_stats(chosen, cls, affine=transform(), categorical=True, nodata=255)

    times = timed(once, runs)
    if sample > 1:  # extrapolate to all villages
        extra["measured_s"] = [round(t, 2) for t in times]
        times = [t * len(geoms) / len(chosen) for t in times]
    return times, inputs, extra


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def child(method: str, runs: int, sample: int) -> None:
    if method == "floor":
        times, inputs, extra = run_floor(runs)
    elif method == "geo_p2dd cold":
        times, inputs, extra = run_geo_p2dd(runs, cached=False)
    elif method == "geo_p2dd cached":
        times, inputs, extra = run_geo_p2dd(runs, cached=True)
    elif method == "exactextract numpy":
        times, inputs, extra = run_exactextract(runs, through_rasterio=False)
    elif method == "exactextract rasterio":
        times, inputs, extra = run_exactextract(runs, through_rasterio=True)
    elif method == "rasterstats":
        times, inputs, extra = run_rasterstats(runs, sample)
    else:
        raise SystemExit(f"unknown method {method!r}")
    print(json.dumps({"times": times, "inputs_rss_mb": inputs, "extra": extra,
                      "hwm_mb": rss_mb("VmHWM")}))


# -- parent ---------------------------------------------------------------------------------


def run_child(method: str, runs: int, sample: int) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--runs", str(runs),
           "--rasterstats-sample", str(sample)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}"}
    res = json.loads(out.strip().splitlines()[-1])
    # the child's own high-water mark (ru_maxrss from wait4 can include the parent's RSS
    # at fork time); both are whole-process figures, inputs included
    res["peak_rss_mb"] = res["hwm_mb"]
    res["wait4_maxrss_mb"] = usage.ru_maxrss / 1024
    return res


def accuracy(log) -> bool:
    ours = np.load(OUT / "result-geo_p2dd.npz")
    ee = np.load(OUT / "result-exactextract.npz")["frac"]
    frac, pixels = ours["frac"], ours["pixels"]
    ok = True
    missing = ~np.isfinite(frac).all(axis=1) | (np.abs(frac.sum(axis=1) - 1) > 1e-9)
    ee_missing = ~(np.abs(ee.sum(axis=1) - 1) < 1e-6)
    log(f"villages: {len(frac)}; without a pixel centre (valued from the pixels they touch, "
        f"weighted by overlap): {int((pixels == 0).sum())}; geo_p2dd without a value: "
        f"{int(missing.sum())}; exactextract without a value: {int(ee_missing.sum())}")
    if missing.any():
        ok = False
    diff = np.abs(frac - ee).max(axis=1) * 100  # worst class, percentage points
    pair = np.abs(frac - ee) * 100
    log("accuracy vs exactextract (|difference| of class fractions, percentage points):")
    log(f"{'villages':<28}{'n':>7}{'mean':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    for name, sel in (("worst class, >= 100 px", pixels >= 100),
                      ("worst class, all", np.ones(len(frac), dtype=bool)),
                      ("worst class, < 100 px", pixels < 100),
                      ("every class, >= 100 px", pixels >= 100)):
        d = pair[sel].ravel() if name.startswith("every") else diff[sel]
        if len(d) == 0:
            continue
        q = np.percentile(d, [50, 95, 99])
        log(f"{name:<28}{int(sel.sum()):>7}{d.mean():>8.3f}{q[0]:>8.3f}{q[1]:>8.3f}"
            f"{q[2]:>8.3f}{d.max():>8.3f}")
    mean_big = diff[pixels >= 100].mean()
    if mean_big > 1.0:
        log(f"FAIL: mean worst-class difference {mean_big:.3f} pp > 1 pp")
        ok = False
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--runs", type=int, default=0, help="runs per method (default: per method)")
    ap.add_argument("--rasterstats-sample", type=int, default=1, metavar="K",
                    help="time rasterstats on every K-th village and extrapolate")
    ap.add_argument("--quick", action="store_true",
                    help="rasterstats on a 1-in-20 sample, 1 run of exactextract")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated subset of: " + ", ".join(METHODS))
    args = ap.parse_args()
    if args.child == "prepare":
        prepare(lambda msg: print(msg, file=sys.stderr, flush=True))
        return 0
    if args.child:
        child(args.child, args.runs, args.rasterstats_sample)
        return 0

    def log(msg: str) -> None:
        print(msg, flush=True)

    if not DESA.exists():
        log(f"missing {DESA}")
        return 2
    sample = 20 if args.quick and args.rasterstats_sample == 1 else args.rasterstats_sample
    # inputs are made in a subprocess so that this process stays small
    subprocess.run([sys.executable, __file__, "--child", "prepare"], check=True, cwd=ROOT)
    log(f"machine: {os.cpu_count()} cores; load average before: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for stale in OUT.glob("result-*.npz"):  # compare only what this run computed
        stale.unlink()
    results = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        runs = args.runs or METHODS[method][0]
        if args.quick and method.startswith("exactextract"):
            runs = 1
        results[method] = run_child(method, runs, sample)
        r = results[method]
        if "error" in r:
            log(f"{method}: FAILED ({r['error']})")
        else:
            log(f"  ran {method}: {', '.join(f'{t:.2f}' for t in r['times'])} s"
                + (f"  {r['extra']}" if r.get("extra") else ""))
    ok = all("error" not in r for r in results.values())
    med = {m: float(np.median(r["times"])) for m, r in results.items() if "error" not in r}
    ee_best = min((v for m, v in med.items() if m.startswith("exactextract")), default=np.nan)
    floor = med.get("floor", np.nan)
    log("")
    log(f"{'method':<24}{'median_s':>10}{'runs':>6}{'first_s':>9}{'peak_rss_MB':>13}"
        f"{'x_exactextract':>16}{'x_floor':>9}   (inputs alone: RSS after loading them)")
    for m, r in results.items():
        if "error" in r:
            continue
        note = " (extrapolated)" if (r.get("extra") or {}).get("sample_every", 1) > 1 else ""
        log(f"{m:<24}{med[m]:>10.3f}{len(r['times']):>6}{r['times'][0]:>9.3f}"
            f"{r['peak_rss_mb']:>13.0f}{med[m] / ee_best:>16.3f}{med[m] / floor:>9.2f}"
            f"   (inputs {r['inputs_rss_mb']:.0f} MB){note}")
    log("")
    if "geo_p2dd cold" in med:
        cold, rss = med["geo_p2dd cold"], results["geo_p2dd cold"]["peak_rss_mb"]
        log(f"target cold <= 4 s and <= 0.5 x exactextract best: {cold:.2f} s, "
            f"{cold / ee_best:.3f} x -> {'MET' if cold <= 4 and cold <= ee_best / 2 else 'MISSED'}")
        log(f"target peak RSS <= 2048 MB (cold): {rss:.0f} MB -> "
            f"{'MET' if rss <= 2048 else 'MISSED'}")
    if "geo_p2dd cached" in med:
        cached = med["geo_p2dd cached"]
        log(f"target cached <= 1 s: {cached:.2f} s -> {'MET' if cached <= 1 else 'MISSED'}")
    if (OUT / "result-geo_p2dd.npz").exists() and (OUT / "result-exactextract.npz").exists():
        log("")
        ok = accuracy(log) and ok
    else:
        log("accuracy not checked: needs both 'geo_p2dd cold' (or cached) and "
            "'exactextract numpy' in --methods")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
