"""A project's register: one engine per database, the sites layer read from it, its version.

This is the one way the library reaches a project's register:
:meth:`geo_p2dd.project.Project.read_layer` delegates ``"sites"`` to
:func:`read_sites`, and :attr:`~geo_p2dd.project.Project.data_version` adds
:func:`register_version`. Engines are made once per database URL (SQLite
without a connection pool, so no file stays open between uses) and migrated
once; the project's old ``sites`` layer moves in on first use
(:func:`geo_p2dd.registry.migrate.move_sites_layer`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from geo_p2dd.registry.db import SQLITE_NAME, database_url, make_engine, upgrade

if TYPE_CHECKING:
    import geopandas as gpd
    from sqlalchemy import Engine

    from geo_p2dd.project import Project

#: engines kept (least recently used ones are disposed)
MAX_ENGINES = 32
_ENGINES: OrderedDict[tuple, Engine] = OrderedDict()
_LOCK = threading.Lock()


def _key(url: str) -> tuple:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        try:  # a database file removed and made again is another database
            return (url, path.stat().st_ino)
        except FileNotFoundError:
            return (url, None)
    return (url,)


def engine_for(project_path: str | Path, url: str | None = None) -> Engine:
    """The (cached, migrated) engine of a project's register.

    Parameters
    ----------
    project_path : str or Path
        The project directory (its ``register.sqlite`` unless a URL is set).
    url : str, optional
        An explicit SQLAlchemy URL (else ``$GEO_P2DD_DATABASE_URL``).
    """
    url = database_url(project_path, url)
    with _LOCK:
        engine = _ENGINES.get(_key(url))
        if engine is not None:
            _ENGINES.move_to_end(_key(url))
            return engine
    from sqlalchemy.pool import NullPool

    kwargs = {"poolclass": NullPool} if url.startswith("sqlite") else {}
    engine = make_engine(url, **kwargs)
    upgrade(engine)
    with _LOCK:
        _ENGINES[_key(url)] = engine
        while len(_ENGINES) > MAX_ENGINES:
            _ENGINES.popitem(last=False)[1].dispose()
    return engine


def dispose_engines() -> None:
    """Close every cached engine's connections (tests, and a server shutting down)."""
    with _LOCK:
        while _ENGINES:
            _ENGINES.popitem(last=False)[1].dispose()


def project_register(project: Project, *, user: str | None = None) -> Engine:
    """The project's register with its old sites layer moved in (once, on first use)."""
    from geo_p2dd.registry.migrate import move_sites_layer

    engine = engine_for(project.path)
    move_sites_layer(project, engine, user=user)
    return engine


def has_register(project_path: str | Path) -> bool:
    """Whether the project has a register already (a server URL always counts)."""
    url = database_url(project_path)
    if not url.startswith("sqlite"):
        return True
    return (Path(project_path) / SQLITE_NAME).exists()


def register_version(project_path: str | Path) -> int:
    """The register's version (0 for a project without a register; none is made)."""
    if not has_register(project_path):  # checked first: no models to import then
        return 0
    from geo_p2dd.registry.repository import version

    return version(engine_for(project_path))


def read_sites(project: Project, *, columns: list[str] | None = None,
               bbox: tuple[float, float, float, float] | None = None,
               ) -> tuple[gpd.GeoDataFrame | None, int]:
    """The project's live sites shaped like the old ``sites`` layer, and the register version.

    The version is read before the sites, so results computed from them and
    recorded with it are, at worst, marked stale when they are not.

    Returns
    -------
    frame : GeoDataFrame or None
        None when the register holds no site (as a project without a sites layer).
    version : int
    """
    if not has_register(project.path) and "sites" not in project.layer_names():
        return None, 0
    from geo_p2dd.registry.migrate import sites_layer
    from geo_p2dd.registry.repository import SiteFilter, version

    engine = project_register(project)
    number = version(engine)
    frame = sites_layer(engine, SiteFilter(bbox=bbox) if bbox is not None else None)
    if len(frame) == 0:
        return None, number
    frame = frame.drop(columns="version")
    if columns is not None:
        keep = [c for c in frame.columns if c in columns or c == "geometry"]
        frame = frame[keep]
    return frame, number


def has_sites(project: Project) -> bool:
    """Whether the project's register (or its old, not yet moved layer) holds a live site."""
    from geo_p2dd.registry.repository import count_sites

    if not has_register(project.path):
        return "sites" in project.layer_names()
    return count_sites(project_register(project)) > 0
