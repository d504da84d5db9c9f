"""Benchmark: CQL2 text filters (geo_p2dd.exports.cql2) against the same masks hand-written
in pandas, on a national-size village table (83,246 rows, synthetic values).

    .venv/bin/python bench/cql2_filter.py [--rows 83246] [--repeat 20]

Each filter is parsed and evaluated from text (what one OGC API request does) and
compared with the pandas expression a programmer would write for it; both give the
same rows (checked). Prints the median time of each and the ratio ours / pandas.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from geo_p2dd.exports.cql2 import filter_mask, parse_sortby, sort_frame


def table(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kec = rng.integers(1, 7000, n)
    score = rng.uniform(0, 100, n).round(2)
    score[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame({
        "kode": [f"{k // 100:02d}.{k % 100:02d}.{i % 99:02d}.{2001 + i % 999}"
                 for i, k in enumerate(kec)],
        "nama": [f"Desa {i}" for i in range(n)],
        "kecamatan_kode": [f"{k // 100:02d}.{k % 100:02d}.05" for k in kec],
        "gap_class": rng.choice(["blank_spot", "no_4g", "partial_4g", "served", "unknown"], n),
        "no_4g_share": rng.random(n).round(3),
        "score": score,
        "people_unserved": rng.integers(0, 5000, n).astype(float),
        "in_programme": pd.array(rng.random(n) < 0.2, dtype="boolean"),
    })


CASES = [
    ("no_4g_share >= 0.5 AND kecamatan_kode = '64.11.05'",
     lambda f: ((f["no_4g_share"] >= 0.5) & (f["kecamatan_kode"] == "64.11.05")).to_numpy()),
    ("gap_class IN ('blank_spot', 'no_4g') AND NOT (score < 30 OR people_unserved = 0)",
     lambda f: (f["gap_class"].isin(["blank_spot", "no_4g"])
                & ~((f["score"] < 30) | (f["people_unserved"] == 0))
                & f["score"].notna()).to_numpy()),
    ("nama LIKE 'Desa 1%' AND in_programme = TRUE",
     lambda f: (f["nama"].str.startswith("Desa 1")
                & f["in_programme"].fillna(False)).to_numpy(bool)),
]


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=83_246)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    frame = table(args.rows)
    print(f"{args.rows:,} rows, median of {args.repeat} runs")
    print(f"{'filter':<60} {'cql2 ms':>8} {'pandas ms':>9} {'ratio':>6}")
    for text, peer in CASES:
        ours, theirs = filter_mask(frame, text), peer(frame)
        assert (ours == theirs).all(), text
        a = timed(lambda t=text: filter_mask(frame, t), args.repeat)
        b = timed(lambda p=peer: p(frame), args.repeat)
        print(f"{text[:60]:<60} {a * 1e3:8.1f} {b * 1e3:9.1f} {a / b:6.2f}")
    keys = parse_sortby("-score,nama", list(frame.columns))
    a = timed(lambda: sort_frame(frame, keys), args.repeat)
    b = timed(lambda: frame.sort_values(["score", "nama"], ascending=[False, True],
                                        kind="mergesort"), args.repeat)
    print(f"{'sortby=-score,nama':<60} {a * 1e3:8.1f} {b * 1e3:9.1f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
