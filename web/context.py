"""The project as the web app sees it: loaded once, reloaded when its files change."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
from flask import current_app, g
from pyogrio.errors import DataLayerError, DataSourceError

from geo_p2dd.errors import ProjectError
from geo_p2dd.project import CONFIG_NAME, LAYERS_NAME, Project

_lock = threading.Lock()
_cache: dict[str, ProjectView] = {}


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

    def village(self, kode: str) -> pd.Series | None:
        if self.results is None:
            hit = self.villages[self.villages["kode"] == kode]
        else:
            hit = self.results[self.results["kode"] == kode]
        return None if hit.empty else hit.iloc[0]


def _stamp(path: Path) -> tuple:
    files = [path / CONFIG_NAME, path / LAYERS_NAME]
    return tuple(f.stat().st_mtime_ns if f.exists() else 0 for f in files)


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
