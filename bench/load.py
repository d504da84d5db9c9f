"""Load benchmark of the web app under ``geo-p2dd serve`` (issue 12, "Load and fuzzing").

Starts ``geo-p2dd serve`` on a free loopback port (or uses ``--url``), warms it up,
then runs ``--clients`` concurrent clients for ``--duration`` seconds. Each client is
an asyncio task speaking raw HTTP/1.1 with keep-alive over one connection (gzip
accepted, like a browser), picking requests from a realistic mix:

========  =======================================================================
page      the planning map ``/`` (some ``?lang=en``)
village   a village page ``/village/<kode>``
bbox      per-view village data ``/api/villages.geojson?bbox=&zoom=`` around a village
tile      coverage tiles z8..z13 around villages (the browser's bulk of requests)
download  gap-layer downloads (GeoJSON, CSV, GeoPackage, metadata)
ogc       OGC API Features items pages (``limit``/``offset``, ``bbox``)
pdf       a printed summary PDF of a kecamatan
========  =======================================================================

Prints requests per second, latency percentiles (all and per kind), errors (any
status >= 400 or a broken connection) and the server's resident memory at start,
end and peak. Default project: real Mahakam Ulu built from ``../shared/data`` (see
``bench/projects.py``), else the sample.

Usage::

    .venv/bin/python bench/load.py                         # 50 clients, 60 s
    .venv/bin/python bench/load.py --clients 20 --duration 20 --sample
    .venv/bin/python bench/load.py --url http://127.0.0.1:5000 --project DIR
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import projects  # noqa: E402

MIX = {"page": 4, "village": 10, "bbox": 15, "tile": 50, "download": 6, "ogc": 14, "pdf": 1}


# --- the requests -------------------------------------------------------------------------

class Requests:
    """Random request paths of each kind for one project."""

    def __init__(self, project_dir: Path, seed: int = 0) -> None:
        from geo_p2dd.project import Project
        from web.tiles import lonlat_to_tile

        self.rng = random.Random(seed)
        project = Project(project_dir)
        villages = project.read_layer("villages")
        self.kodes = list(villages["kode"])
        points = villages.geometry.representative_point()
        self.points = list(zip(points.x, points.y, strict=True))
        self.kecamatan = sorted({k.rsplit(".", 1)[0] for k in self.kodes})
        names = [e["name"] for e in project.coverage_entries()] + [
            e["name"] for e in (project.config.get("analysis") or {}).get("modelled", [])]
        self.raster = names[0] if names else None
        self.to_tile = lonlat_to_tile

    def path(self, kind: str) -> str:
        r = self.rng
        if kind == "page":
            return "/" if r.random() < 0.8 else "/?lang=en"
        if kind == "village":
            return f"/village/{r.choice(self.kodes)}"
        if kind == "bbox":  # a 1000 x 700 px view somewhere around a village
            zoom = r.randint(9, 13)
            half_w = 1000 / 2 * 360 / (256 * 2 ** zoom)
            half_h = 700 / 2 * 360 / (256 * 2 ** zoom)
            lon, lat = r.choice(self.points)
            lon, lat = lon + r.uniform(-half_w, half_w), lat + r.uniform(-half_h, half_h)
            return (f"/api/villages.geojson?bbox={lon - half_w:.5f},{lat - half_h:.5f},"
                    f"{lon + half_w:.5f},{lat + half_h:.5f}&zoom={zoom}")
        if kind == "tile" and self.raster:
            lon, lat = r.choice(self.points)
            z = r.randint(8, 13)
            x, y = self.to_tile(lon, lat, z)
            return f"/tiles/{self.raster}/{z}/{x + r.randint(-1, 1)}/{y + r.randint(-1, 1)}.png"
        if kind == "download":
            layer = r.choice(["villages", "sites", "locations", "aggregates"])
            fmt = r.choice(["geojson", "csv", "gpkg", "metadata.json"])
            return f"/downloads/{layer}/{fmt}"
        if kind == "ogc":
            cid = r.choice(["villages", "sites", "locations"])
            if r.random() < 0.5:
                return f"/ogcapi/collections/{cid}/items?f=json&limit=10&offset={r.randint(0, 40)}"
            lon, lat = r.choice(self.points)
            return (f"/ogcapi/collections/{cid}/items?f=json&bbox={lon - 0.05:.4f},"
                    f"{lat - 0.05:.4f},{lon + 0.05:.4f},{lat + 0.05:.4f}")
        if kind == "pdf":
            return f"/report/{r.choice(self.kecamatan)}.pdf"
        return "/health"


# --- a raw HTTP/1.1 keep-alive client ---------------------------------------------------

async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int, bool]:
    """(status, body bytes, server keeps the connection) of one response."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    size = 0
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            n = int((await reader.readline()).split(b";")[0], 16)
            if n == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                break
            size += len(await reader.readexactly(n))
            await reader.readexactly(2)
    elif "content-length" in headers:
        size = len(await reader.readexactly(int(headers["content-length"])))
    else:
        size = len(await reader.read())
        return status, size, False
    return status, size, headers.get("connection", "").lower() != "close"


async def _client(host: str, port: int, requests: Requests, kinds: list[str],
                  weights: list[float], until: float, record: list, timeout: float) -> None:
    reader = writer = None
    while time.monotonic() < until:
        kind = requests.rng.choices(kinds, weights)[0]
        path = requests.path(kind)
        t0 = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Accept-Encoding: gzip\r\nUser-Agent: geo_p2dd-load\r\n\r\n".encode())
            status, size, keep = await asyncio.wait_for(_read_response(reader), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError,
                ValueError, IndexError) as exc:
            record.append((kind, time.monotonic() - t0, 0, 0, path, type(exc).__name__))
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        record.append((kind, time.monotonic() - t0, status, size, path, ""))
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_load(url: str, requests: Requests, clients: int, duration: float,
                   mix: dict[str, float], timeout: float = 30.0) -> list:
    parts = urlsplit(url)
    kinds = [k for k in mix if mix[k] > 0]
    weights = [mix[k] for k in kinds]
    record: list = []
    until = time.monotonic() + duration
    await asyncio.gather(*(_client(parts.hostname, parts.port, requests, kinds, weights,
                                   until, record, timeout) for _ in range(clients)))
    return record


# --- the server -------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(project_dir: Path, threads: int, extra: list[str]) -> tuple:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "geo_p2dd.cli", "serve", "--project",
                             str(project_dir), "--port", str(port), "--threads", str(threads),
                             *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=5).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.3)


def report(record: list, duration: float) -> None:
    if not record:
        print("no requests")
        return
    load = os.getloadavg()
    print(f"machine load average during the run: {load[0]:.1f} (1 min) on "
          f"{os.cpu_count()} cores")
    lat = np.array([r[1] for r in record]) * 1000
    errors = [r for r in record if r[2] == 0 or r[2] >= 400]
    print(f"requests {len(record)}  {len(record) / duration:.1f} req/s  errors {len(errors)}  "
          f"p50 {np.percentile(lat, 50):.0f} ms  p95 {np.percentile(lat, 95):.0f} ms  "
          f"p99 {np.percentile(lat, 99):.0f} ms  max {lat.max():.0f} ms")
    by_kind = defaultdict(list)
    for r in record:
        by_kind[r[0]].append(r)
    for kind, rows in sorted(by_kind.items()):
        k_lat = np.array([r[1] for r in rows]) * 1000
        k_err = sum(1 for r in rows if r[2] == 0 or r[2] >= 400)
        print(f"  {kind:<9}{len(rows):>7}  p50 {np.percentile(k_lat, 50):6.0f}  p95 "
              f"{np.percentile(k_lat, 95):6.0f}  p99 {np.percentile(k_lat, 99):6.0f} ms  "
              f"errors {k_err}")
    shown = set()
    for r in errors:
        key = (r[0], r[2], r[5])
        if key not in shown and len(shown) < 8:
            shown.add(key)
            print(f"  error: {r[0]} {r[4]} -> {r[2] or r[5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="seconds of the same load before measuring (0: cold)")
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--sample", action="store_true", help="the sample project")
    parser.add_argument("--url", default=None, help="an already running server")
    parser.add_argument("--pid", type=int, default=None, help="its process id (for RSS)")
    parser.add_argument("--threads", type=int, default=8, help="server threads")
    parser.add_argument("--mix", default=",".join(f"{k}={v}" for k, v in MIX.items()),
                        help="kind=weight,... (kinds: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    project_dir = args.project or (projects.sample() if args.sample else
                                   projects.default_project())
    mix = {k: float(v) for k, v in (p.split("=") for p in args.mix.split(","))}
    requests = Requests(project_dir, args.seed)
    proc = None
    if args.url:
        url, pid = args.url, args.pid
    else:
        proc, url = start_server(project_dir, args.threads, [])
        pid = proc.pid
    try:
        print(f"project {project_dir}; {args.clients} clients; mix {mix}; server {url}")
        if args.warmup > 0:
            warm = asyncio.run(run_load(url, requests, args.clients, args.warmup, mix))
            print(f"warm-up {args.warmup:.0f} s: {len(warm)} requests")
        rss = [rss_mb(pid)] if pid else []
        peak = rss[:]

        async def sample_rss(stop: asyncio.Event) -> None:
            while not stop.is_set() and pid:
                peak.append(rss_mb(pid))
                await asyncio.sleep(1)

        async def measured() -> list:
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(stop))
            out = await run_load(url, requests, args.clients, args.duration, mix)
            stop.set()
            await sampler
            return out

        cpu0 = cpu_seconds(pid) if pid else math.nan
        t0 = time.monotonic()
        record = asyncio.run(measured())
        elapsed = time.monotonic() - t0
        report(record, elapsed)
        if pid:
            per_request = (cpu_seconds(pid) - cpu0) / max(1, len(record)) * 1000
            print(f"server CPU {per_request:.1f} ms per request: at most "
                  f"{1000 / per_request:.0f} req/s per core it has to itself (the machine's "
                  "other load and the GIL decide how many cores that is)")
        if pid:
            rss.append(rss_mb(pid))
            print(f"server RSS: start {rss[0]:.0f} MB, end {rss[1]:.0f} MB, peak "
                  f"{max(peak):.0f} MB")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
