"""Summaries laid out once per project data version: single flight, kept on disk.

A PDF summary takes seconds of CPU to lay out. Fifty people opening the same
link must not lay it out fifty times (nor eight at once while the server stops
answering), so :func:`cached_pdf`:

- keys a summary by region, language, print date and the project's data
  version (:func:`data_version`: size and modification time of ``project.toml``
  and ``layers.gpkg``, which every import and analysis rewrites);
- serves a summary already in the project's cache directory from disk;
- otherwise lets one caller per key lay it out (:class:`SingleFlight`) while
  callers asking for the same key wait and share its bytes;
- lays out one summary at a time in the process (other regions queue), so the
  rest of the service keeps its share of the CPU.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import pandas as pd

from geo_p2dd.io.atomic import atomic_write_bytes
from geo_p2dd.project import CONFIG_NAME, LAYERS_NAME, Project
from geo_p2dd.report.pdf import render_pdf

T = TypeVar("T")
SUBDIR = "summaries"
_LAYOUT_SLOTS = threading.BoundedSemaphore(1)


def data_version(project: Project) -> str:
    """A short key that changes whenever the project's configuration, layers or register change."""
    parts = []
    for name in (CONFIG_NAME, LAYERS_NAME):
        try:
            st = (project.path / name).stat()
        except FileNotFoundError:
            parts.append(f"{name}:-")
        else:
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    from geo_p2dd.registry.store import register_version  # the sites live in the register

    parts.append(f"register:{register_version(project.path)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class SingleFlight:
    """Run at most one call per key at a time; concurrent callers of a key share its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Future] = {}

    def do(self, key: str, make: Callable[[], T]) -> T:
        """``make()``, or the result of the call already running for ``key``."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = Future()
        if not leader:
            return flight.result()
        try:
            result = make()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            with self._lock:
                del self._flights[key]


_flights = SingleFlight()


def cache_path(project: Project, region: str, lang: str, today: str,
               cache_dir: Path | None = None) -> Path:
    """Where the summary of ``region`` in ``lang`` printed on ``today`` is kept."""
    directory = Path(cache_dir) if cache_dir is not None else project.cache_dir() / SUBDIR
    name = f"summary_{region.replace('.', '')}_{lang}_{today}_{data_version(project)}.pdf"
    return directory / name


def cached_pdf(project: Project, region: str, *, lang: str = "id", today: str | None = None,
               cache_dir: Path | None = None, results: pd.DataFrame | None = None,
               areas: pd.DataFrame | None = None, sites: gpd.GeoDataFrame | None = None,
               villages: gpd.GeoDataFrame | None = None) -> bytes:
    """The PDF summary of ``region`` (a resolved code), laid out at most once per version.

    Parameters
    ----------
    project : Project
    region : str
        Kabupaten or kecamatan code as the project writes it (``64.11.01``).
    lang : {"id", "en"}
    today : str, optional
        ISO print date (default: today); a new day prints a new summary.
    cache_dir : Path, optional
        Directory of the cached PDFs (default: ``<project>/cache/summaries``).
    results, areas, sites, villages : optional
        The project's tables and layers when already read (they must be the project's
        current data: the key is the data version on disk).
    """
    today = today or dt.date.today().isoformat()
    path = cache_path(project, region, lang, today, cache_dir)
    if path.is_file():
        return path.read_bytes()

    def make() -> bytes:
        if path.is_file():  # laid out by a flight that ended since we looked
            return path.read_bytes()
        with _LAYOUT_SLOTS:
            data = render_pdf(project, region, lang=lang, today=today, results=results,
                              areas=areas, sites=sites, villages=villages)
        _store(path, data)
        return data

    return _flights.do(str(path), make)


def _store(path: Path, data: bytes) -> None:
    """Write ``path`` atomically and drop older versions of the same summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, fsync=False)
    stem = "_".join(path.name.split("_")[:3])  # summary_<region>_<lang>
    for old in path.parent.glob(f"{stem}_*.pdf"):
        if old != path:
            old.unlink(missing_ok=True)
