"""Atomic file writes: readers see the old file or the new one, never half of one.

The one helper for every file geo_p2dd writes in place (configuration, caches,
exports, reports). The new content goes to a uniquely named temporary file in
the target's own directory (so the final rename never crosses a file system),
is flushed to disk, and is renamed over the target with :func:`os.replace`,
which POSIX makes atomic. On any error the temporary file is removed and the
target is untouched. Unique names matter: two writers of one target must not
share a temporary file (two of the eight hand-written copies this replaced
used a fixed name).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(path: str | Path) -> Path:
    """A fresh, hidden, unique temporary path beside ``path`` (same directory)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def atomic_path(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Examples
    --------
    >>> with atomic_path(target) as tmp:      # doctest: +SKIP
    ...     frame.to_file(tmp, driver="GPKG")
    """
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        if fsync and tmp.is_file():
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)
