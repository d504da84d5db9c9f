"""An edit round-trip in the register database, against rewriting the sites layer.

Builds the sample project, grows its sites layer to ``--sites`` rows (copies of
the sample's sites, new ids, points shifted by up to 0.01°) and moves it into
the register. Then times one *edit round-trip* — read a site and its ETag
(:func:`get_site`), change its notes with ``If-Match`` (:func:`patch_site`):
one row transaction plus its history row — against the peer, the way an edit
is made without the database: a project transaction that reads the sites
layer, changes one row and writes the whole layer into a new generation
(``Project.transaction`` + ``write_layer``), in the same run on the same disk.

    .venv/bin/python bench/register_edit.py                  # SQLite, 2,000 sites
    .venv/bin/python bench/register_edit.py --postgres       # + a throwaway PostgreSQL

Prints the median and 90th percentile of each and the ratio peer / register.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geo_p2dd.project import Project  # noqa: E402
from geo_p2dd.registry import db  # noqa: E402
from geo_p2dd.registry.migrate import move_sites_layer  # noqa: E402
from geo_p2dd.registry.repository import get_site, patch_site  # noqa: E402
from geo_p2dd.sample import build_sample  # noqa: E402


def grow_sites(project: Project, n: int) -> None:
    sites = project.read_layer("sites")
    rng = np.random.default_rng(0)
    copies = []
    for i in range(n):
        row = sites.iloc[[i % len(sites)]].copy()
        row["site_id"] = f"bench-{i:06d}"
        row["name"] = f"{row['name'].iloc[0]} {i}"
        row.geometry = row.geometry.translate(*rng.uniform(-0.01, 0.01, 2))
        copies.append(row)
    grown = pd.concat(copies, ignore_index=True)
    with project.transaction("bench: grow sites") as tx:
        tx.write_layer("sites", grown)


def quantiles(times: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in times)
    return statistics.median(ms), ms[int(0.9 * (len(ms) - 1))]


def time_register(engine, ids: list[str], rounds: int) -> list[float]:
    times = []
    for i in range(rounds):
        site_id = ids[i % len(ids)]
        t0 = time.perf_counter()
        _, tag = get_site(engine, site_id)
        patch_site(engine, site_id, {"notes": f"edit {i}"}, tag, user="bench", source="api")
        times.append(time.perf_counter() - t0)
    return times


def time_layer_rewrite(project: Project, ids: list[str], rounds: int) -> list[float]:
    times = []
    for i in range(rounds):
        site_id = ids[i % len(ids)]
        t0 = time.perf_counter()
        with project.transaction("bench: edit one site") as tx:
            sites = project.read_layer("sites")
            sites.loc[sites["site_id"] == site_id, "notes"] = f"edit {i}"
            tx.write_layer("sites", sites)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=300, help="register edits timed")
    parser.add_argument("--peer-rounds", type=int, default=20, help="layer rewrites timed")
    parser.add_argument("--postgres", action="store_true",
                        help="also time a throwaway PostgreSQL + PostGIS (tests/pg.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="geo-p2dd-bench-") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            project = build_sample(Path(tmp) / "project")
        grow_sites(project, args.sites)
        ids = list(project.read_layer("sites", columns=["site_id"])["site_id"])
        print(f"register of {len(ids):,} sites; {args.rounds} register edits, "
              f"{args.peer_rounds} layer rewrites")
        peer = quantiles(time_layer_rewrite(project, ids, args.peer_rounds))
        print(f"  peer  layer rewrite (project transaction): median {peer[0]:8.2f} ms, "
              f"p90 {peer[1]:8.2f} ms")
        engines = {"SQLite": db.open_database(project.path)}
        cluster = None
        if args.postgres:
            from pg import temporary_cluster

            cluster = temporary_cluster()
            server = cluster.__enter__()
            server.execute("CREATE DATABASE bench")
            engines["PostgreSQL"] = db.open_database(url=server.url("bench"))
        try:
            for name, engine in engines.items():
                move_sites_layer(project, engine)
                time_register(engine, ids, 20)  # warm the pool and caches
                ours = quantiles(time_register(engine, ids, args.rounds))
                print(f"  {name:10s} get + patch round-trip:       median {ours[0]:8.2f} ms, "
                      f"p90 {ours[1]:8.2f} ms; layer rewrite / {name}: "
                      f"{peer[0] / ours[0]:.0f}x")
                engine.dispose()
        finally:
            if cluster is not None:
                cluster.__exit__(None, None, None)


if __name__ == "__main__":
    main()
