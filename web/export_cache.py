"""The download cache: export files made once, kept private, bounded and pruned safely.

* **Private**: the cache lives in a directory only the server's user can read
  (mode 0700), by default under the Flask instance path, never in a shared,
  predictable temporary directory.
* **Bounded**: at most ``max_files`` entries and ``max_bytes`` bytes; the least
  recently used entries go first. Callers canonicalise what goes into a key
  (see :func:`web.downloads.canonical_filters`) so near-identical requests
  share one file.
* **Race-free**: files are written under hidden temporary names and moved into
  place; pruning looks at completed files only and ignores files that vanish
  meanwhile; a reader holds an open handle, so a file pruned while it is being
  sent is still sent whole.
* **Fixed locks**: one of :data:`LOCK_STRIPES` locks per key, so the lock table
  never grows, however many distinct keys are asked for.

Nothing here imports Flask: the cache is plain files and locks.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from geo_p2dd.io.atomic import atomic_path, atomic_write_text

LOCK_STRIPES = 64
_STRIPES = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
_PRUNING = threading.Lock()
ETAG_SUFFIX = ".etag"
GZIP_SUFFIX = ".gz"
OPEN_ATTEMPTS = 5


def lock_for(key: str) -> threading.Lock:
    """The lock of ``key``: one of a fixed set, so memory stays bounded."""
    return _STRIPES[int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % LOCK_STRIPES]


def private_dir(path: Path) -> Path:
    """``path`` created if needed and readable by its owner only (mode 0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.getuid():  # mkdir's mode is masked by umask
        os.chmod(path, 0o700)
    return path


def file_sha256(path: Path) -> str:
    """The first 32 hex digits of a file's SHA-256 (the ETag of a download)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    """One cached file and its ETag."""

    path: Path
    etag: str

    @property
    def size(self) -> int | None:
        """Bytes (None when the file was pruned meanwhile)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return None

    def open(self) -> BinaryIO:
        """The file, opened for reading (FileNotFoundError when it was pruned)."""
        return open(self.path, "rb")


@dataclass(frozen=True)
class ExportCache:
    """Export files in ``root``, at most ``max_files`` entries and ``max_bytes`` bytes."""

    root: Path
    max_bytes: int
    max_files: int

    def _paths(self, key: str, extension: str) -> tuple[Path, Path]:
        return self.root / f"{key}{extension}", self.root / f"{key}{ETAG_SUFFIX}"

    def lookup(self, key: str, extension: str) -> Entry | None:
        """The cached file of ``key`` if it is there (and mark it recently used)."""
        path, tag = self._paths(key, extension)
        try:
            etag = tag.read_text().strip()
            os.utime(path)  # least recently used goes first
        except FileNotFoundError:
            return None
        return Entry(path, etag) if etag else None

    def get(self, key: str, extension: str, write: Callable[[Path], object]) -> Entry:
        """The cached file of ``key``, made once with ``write(path)`` when missing."""
        hit = self.lookup(key, extension)
        if hit is not None:
            return hit
        path, tag = self._paths(key, extension)
        with lock_for(key):
            hit = self.lookup(key, extension)
            if hit is not None:
                return hit
            tmp = self.root / f".{key}.{uuid.uuid4().hex[:8]}{extension}"
            try:
                write(tmp)
                etag = file_sha256(tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            _write_atomic(tag, etag)  # readers never see a half-written ETag
        self.prune(keep=key)
        return Entry(path, etag)

    def gzipped(self, entry: Entry) -> Entry:
        """A gzip-compressed copy of a cached file (made once)."""
        gz = entry.path.with_name(entry.path.name + GZIP_SUFFIX)
        if not gz.exists():
            with lock_for(gz.name):
                if not gz.exists():
                    with atomic_path(gz, fsync=False) as tmp, open(entry.path, "rb") as src, \
                            gzip.GzipFile(tmp, "wb", compresslevel=6, mtime=0) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        return Entry(gz, entry.etag + "-gz")

    def open(self, key: str, extension: str, write: Callable[[Path], object], *,
             compressed: bool = False) -> tuple[Entry, BinaryIO]:
        """The cached file of ``key`` (made when missing), opened for reading.

        The open file is the reader's even if a prune deletes it a moment later;
        a file pruned before it could be opened is made again (a few times at most).
        """
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                entry = self.get(key, extension, write)
                if compressed:
                    entry = self.gzipped(entry)
                return entry, entry.open()
            except FileNotFoundError:
                if attempt == OPEN_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def entries(self) -> dict[str, tuple[float, int]]:
        """Completed entries: key -> (last use, bytes of the file, ETag and gzip copy)."""
        out: dict[str, tuple[float, int]] = {}
        for p in self.root.iterdir():
            if p.name.startswith("."):  # being written
                continue
            try:
                st = p.stat()
            except FileNotFoundError:  # pruned or replaced meanwhile
                continue
            key = p.name.split(".", 1)[0]
            used, size = out.get(key, (0.0, 0))
            out[key] = (max(used, st.st_mtime), size + st.st_size)
        return out

    def prune(self, keep: str | None = None) -> None:
        """Delete least recently used entries while over either limit (one pruner at a
        time; others skip, the running one sees their files too)."""
        if not _PRUNING.acquire(blocking=False):
            return
        try:
            entries = self.entries()
            total = sum(size for _, size in entries.values())
            count = len(entries)
            for key, (_, size) in sorted(entries.items(), key=lambda kv: kv[1][0]):
                if total <= self.max_bytes and count <= self.max_files:
                    break
                if key == keep:
                    continue
                for p in self.root.glob(f"{key}.*"):
                    p.unlink(missing_ok=True)
                total -= size
                count -= 1
        finally:
            _PRUNING.release()


def _write_atomic(path: Path, text: str) -> None:
    atomic_write_text(path, text, fsync=False)
