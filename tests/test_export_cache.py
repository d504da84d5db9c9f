"""The download cache: private, bounded, race-free under concurrent filtered downloads."""

from __future__ import annotations

import stat
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from web import export_cache as ec


def writer(text: str):
    def write(path):
        path.write_text(text)
    return write


def test_cache_dir_is_private(tmp_path):
    root = ec.private_dir(tmp_path / "a" / "cache")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    assert stat.S_IMODE(ec.private_dir(loose).stat().st_mode) == 0o700


def test_entries_are_made_once_and_least_recently_used_go_first(tmp_path):
    cache = ec.ExportCache(tmp_path, max_bytes=10**9, max_files=3)
    calls = []

    def write(path):
        calls.append(path.name)
        path.write_text("x" * 10)

    first = cache.get("k0", ".csv", write)
    assert cache.get("k0", ".csv", write) == first and len(calls) == 1
    for i in range(1, 6):
        cache.get(f"k{i}", ".csv", write)
        cache.lookup("k0", ".csv")  # k0 keeps being used: it stays
    assert set(cache.entries()) == {"k0", "k4", "k5"}
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp files left


def test_size_limit_and_vanishing_files_are_tolerated(tmp_path):
    cache = ec.ExportCache(tmp_path, max_bytes=25, max_files=100)
    for i in range(5):
        cache.get(f"k{i}", ".csv", writer("y" * 10))
    assert sum(size for _, size in cache.entries().values()) <= 25 + 2 * 32 + 10
    (tmp_path / ".kx.tmp.csv").write_text("being written")  # another thread's temp file
    cache.prune()
    assert (tmp_path / ".kx.tmp.csv").exists()
    entry, fh = cache.open("k9", ".csv", writer("z"))
    entry.path.unlink()  # pruned while being sent: the open file is still whole
    assert fh.read() == b"z"
    fh.close()


def test_lock_table_is_bounded():
    locks = {id(ec.lock_for(f"key-{i}")) for i in range(10_000)}
    assert len(locks) <= ec.LOCK_STRIPES


def test_200_distinct_min_scores_keep_the_cache_bounded(sample_project, tmp_path):
    from web import create_app

    root = tmp_path / "cache"
    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                      "EXPORT_CACHE": str(root), "EXPORT_CACHE_MAX_FILES": 8})
    client = app.test_client()
    statuses = set()
    for i in range(200):  # 200 distinct values, 10.00 to 19.95: ~100 canonical ones
        r = client.get(f"/downloads/villages/csv?min_score={10 + i / 20:.4f}")
        statuses.add(r.status_code)
        r.close()
    assert statuses == {200}
    files = [p for p in root.iterdir()]
    # canonical filters: at most 100 distinct files were ever asked for; 8 are kept
    assert len({p.name.split(".")[0] for p in files}) <= 8
    assert len(files) <= 8 * 2


def test_300_concurrent_filtered_downloads_never_fail(sample_project, live_server_factory,
                                                      tmp_path):
    server = live_server_factory(sample_project.path, EXPORT_CACHE=str(tmp_path / "cache"),
                                 EXPORT_CACHE_MAX_FILES=3, EXPORT_CACHE_MAX_BYTES=20_000)
    errors = []
    lock = threading.Lock()

    def get(i: int) -> None:
        fmt = ("csv", "geojson", "fgb")[i % 3]
        url = f"{server.url}/downloads/villages/{fmt}?min_score={i % 25}"
        headers = {"Accept-Encoding": "gzip"} if i % 2 else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=60) as r:
                body = r.read()
                ok = r.status == 200 and len(body) == int(r.headers["Content-Length"])
        except urllib.error.HTTPError as exc:
            ok = False
            body = exc.read()
        if not ok:
            with lock:
                errors.append((url, body[:200]))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(get, range(300)))
    assert errors == []


@pytest.mark.parametrize("raw, canonical", [("1.2345", 1.2), ("1.25", 1.2), ("99.96", 100.0)])
def test_min_score_is_canonical(sample_project, tmp_path, raw, canonical):
    from web import create_app
    from web.downloads import filters_from_args

    app = create_app({"PROJECT": str(sample_project.path), "TESTING": True,
                      "EXPORT_CACHE": str(tmp_path)})
    with app.test_request_context(f"/downloads/?min_score={raw}&bbox=114.12345,0.1,115,1.00001"):
        from flask import request

        f = filters_from_args(request.args)
    assert f.min_score == canonical
    assert f.bbox == (114.1234, 0.1, 115.0, 1.0001)
    with app.test_request_context("/downloads/?bbox=114.1234,-0.5678,115.1234,1.0001"):
        assert filters_from_args(request.args).bbox == (114.1234, -0.5678, 115.1234, 1.0001)
