"""The project as the web app sees it: loaded once, reloaded when its files change."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
from flask import current_app, g
from pyogrio.errors import DataLayerError, DataSourceError

from geo_p2dd.errors import ProjectError
from geo_p2dd.project import CONFIG_NAME, LAYERS_NAME, Project, generation_number

_lock = threading.Lock()
_cache: dict[str, ProjectView] = {}

PAGE_CACHE_BYTES = 64 * 1024 * 1024  # characters of rendered pages kept per project view


class PageCache:
    """Rendered pages of one project view: least recently used dropped past a size budget.

    A page is rendered once per key (concurrent first requests wait for that render
    instead of repeating it) and dropped with its view when the project's files change.
    """

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._pages: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable, make: Callable[[], str]) -> str:
        """The page under ``key``, made by ``make()`` when absent."""
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._pages:
                    return self._pages[key]
            try:
                page = make()
            except BaseException:
                with self._lock:
                    self._making.pop(key, None)
                raise
            with self._lock:
                self._making.pop(key, None)
                if len(page) <= self.max_bytes:
                    self._pages[key] = page
                    self.size += len(page)
                while self.size > self.max_bytes:
                    _, old = self._pages.popitem(last=False)
                    self.size -= len(old)
            return page


@dataclass
class ProjectView:
    """A project's layers and analysis results held in memory for serving."""

    project: Project
    stamp: tuple
    villages: gpd.GeoDataFrame
    results: pd.DataFrame | None
    locations: pd.DataFrame | None
    areas: pd.DataFrame | None
    sites: gpd.GeoDataFrame | None
    extra: dict = field(default_factory=dict)  # per-view caches (simplified layers, ...)
    pages: PageCache = field(default_factory=PageCache)  # rendered map and village pages

    def village(self, kode: str) -> pd.Series | None:
        if self.results is None:
            hit = self.villages[self.villages["kode"] == kode]
        else:
            hit = self.results[self.results["kode"] == kode]
        return None if hit.empty else hit.iloc[0]


def _stamp(path: Path) -> tuple:
    """Changes with every commit: the files' times, the current generation's number and the
    register's version (a site edited on the web or the API is a commit of its own)."""
    from geo_p2dd.registry.store import register_version

    files = [path / CONFIG_NAME, path / LAYERS_NAME]
    return (*(f.stat().st_mtime_ns if f.exists() else 0 for f in files),
            generation_number(path), register_version(path))


def load_view(path: str | Path) -> ProjectView:
    """The cached view of the project at ``path`` (reloaded when its files changed)."""
    path = Path(path)
    key = str(path.resolve())
    stamp = _stamp(path)
    view = _cache.get(key)
    if view is not None and view.stamp == stamp:
        return view
    with _lock:
        view = _cache.get(key)
        if view is not None and view.stamp == stamp:
            return view
        view = _read_view(Project(path), stamp)
        _cache[key] = view
        return view


def _read_view(project: Project, stamp: tuple) -> ProjectView:
    """Read what the app serves; a missing or unreadable layers file is a ProjectError (503)."""
    if not project.layers_path.exists():
        raise ProjectError(f"{project.layers_path} is missing; rebuild the project with "
                           "'geo-p2dd init' or restore it from a backup")
    try:
        if not project.has_layer("villages"):
            raise ProjectError(f"{project.layers_path} has no villages layer; import one "
                               f"with 'geo-p2dd import --project {project.path} villages FILE'")
        return ProjectView(
            project=project, stamp=stamp, villages=project.read_layer("villages"),
            results=project.read_table("village_results", required=False),
            locations=project.read_table("location_results", required=False),
            areas=project.read_table("area_results", required=False),
            sites=project.read_layer("sites", required=False))
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise ProjectError(f"{project.layers_path} cannot be read ({exc}); restore it from a "
                           "backup or rebuild the project") from exc


def current_view() -> ProjectView:
    if "view" not in g:
        g.view = load_view(current_app.config["PROJECT"])
    return g.view


def template_globals() -> dict:
    from web.i18n import format_int, format_km, format_pct
    from web.security import NONCE_PLACEHOLDER

    lang = g.get("lang", current_app.config["DEFAULT_LANGUAGE"])
    try:
        view = current_view()
    except Exception:  # the error page must render even when the project cannot load
        view = None
    return {"view": view, "lang": lang, "languages": current_app.config["LANGUAGES"],
            "format_int": format_int, "format_pct": format_pct, "format_km": format_km,
            "csp_nonce": NONCE_PLACEHOLDER}
