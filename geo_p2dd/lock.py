"""One writer at a time: an advisory lock on a project directory.

Why
---
Before this lock, four concurrent ``geo-p2dd import`` runs all exited 0 while
three of them silently lost their work: each read ``project.toml`` and
``layers.gpkg``, staged its change on that copy and switched it in, so the last
switch won. ``analyze`` running beside ``import sites`` stored results computed
without the new sites. Every writer — the CLI, the web app and background
jobs — now takes this lock, re-reads the project under it, and only then
stages its change.

How
---
``fcntl.flock`` on ``<project>/.lock``. flock locks belong to an open file
description, so two threads of one process that each open the file exclude
each other just like two processes; the kernel drops the lock when its holder
dies (``kill -9`` included), so a crash never leaves a project locked. The lock
is re-entrant within a thread (an ``analyze`` that holds it may open a
transaction, which takes it again). The holder writes who it is (pid, purpose,
start time) into the file, so a waiting writer can say what it waits for, and
empties it again on release.

A writer waits up to ``timeout`` seconds (default :data:`DEFAULT_TIMEOUT_S`,
``GEO_P2DD_LOCK_TIMEOUT`` in the environment) and calls ``on_wait`` once with
a message when it has to wait; after the timeout it raises
:class:`~geo_p2dd.errors.ProjectBusyError`. ``timeout=0`` refuses at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from geo_p2dd.errors import ProjectBusyError

LOCK_NAME = ".lock"
DEFAULT_TIMEOUT_S = 600.0
POLL_S = 0.05

# what tells people that a writer waits, when the caller passes no on_wait (the CLI sets it)
_reporter: Callable[[str], None] | None = None

# re-entrancy: (lock file, thread id) -> [fd, depth]
_held: dict[tuple[str, int], list[int]] = {}
_held_guard = threading.Lock()


def set_wait_reporter(reporter: Callable[[str], None] | None) -> None:
    """Where "waiting for …" messages go when a writer passes no ``on_wait``."""
    global _reporter
    _reporter = reporter


def default_timeout() -> float:
    """The wait limit: ``GEO_P2DD_LOCK_TIMEOUT`` seconds, else :data:`DEFAULT_TIMEOUT_S`."""
    value = os.environ.get("GEO_P2DD_LOCK_TIMEOUT")
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ProjectBusyError(
            f"GEO_P2DD_LOCK_TIMEOUT must be a number of seconds, found {value!r}") from None


def holder(directory: str | Path) -> dict | None:
    """Who holds (or last held) the lock of ``directory``: pid, purpose, since."""
    try:
        text = (Path(directory) / LOCK_NAME).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def _describe(info: dict | None) -> str:
    if not info:
        return "another process"
    return (f"process {info.get('pid', '?')} ({info.get('purpose') or 'a change'}, "
            f"since {info.get('since', '?')})")


@contextmanager
def project_lock(directory: str | Path, purpose: str = "", *, timeout: float | None = None,
                 on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the write lock of a project directory for the duration of the block.

    Parameters
    ----------
    directory : str or Path
        The project directory.
    purpose : str
        What the holder does ("import sites", "analyze"), shown to waiting writers.
    timeout : float, optional
        Seconds to wait; None takes :func:`default_timeout`, 0 refuses at once.
    on_wait : callable, optional
        Called once with a message when the lock is busy and we start waiting.

    Raises
    ------
    ProjectBusyError
        When another writer still holds the lock after ``timeout`` seconds.
    """
    path = str(Path(directory).resolve() / LOCK_NAME)
    key = (path, threading.get_ident())
    with _held_guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield
        finally:
            with _held_guard:
                entry[1] -= 1
        return

    limit = default_timeout() if timeout is None else timeout
    on_wait = on_wait or _reporter
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= limit:
                    raise ProjectBusyError(
                        f"the project is being changed by {_describe(holder(directory))}; "
                        f"gave up after {waited:.0f} s. Try again when it has finished, or "
                        "wait longer with GEO_P2DD_LOCK_TIMEOUT=SECONDS") from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for {_describe(holder(directory))} to finish "
                            f"changing the project (up to {limit:.0f} s)…")
                    told = True
                time.sleep(POLL_S)
        info = {"pid": os.getpid(), "purpose": purpose,
                "since": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with _held_guard:
            _held[key] = [fd, 1]
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
            os.ftruncate(fd, 0)  # an idle project's files stay byte-for-byte the same
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_held_here(directory: str | Path) -> bool:
    """True when the calling thread holds the lock of ``directory``."""
    key = (str(Path(directory).resolve() / LOCK_NAME), threading.get_ident())
    with _held_guard:
        return key in _held
