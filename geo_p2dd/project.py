"""The project directory: ``project.toml``, ``layers.gpkg``, ``results.gpkg``, ``rasters/``.

Layout
------
The committed state lives in *generations*: ``.generations/g000007/`` holds
one complete, never-modified set of ``project.toml``, ``layers.gpkg`` (the
input layers), ``results.gpkg`` (the analysis' result tables, see
:data:`RESULT_LAYERS`) and ``rasters/``; the symbolic link ``.current`` names
the current one, and ``project.toml``, ``layers.gpkg``, ``results.gpkg`` and
``rasters`` at the top level are links into it for people and other tools.
The results have their own file so that an analysis never copies the input
layers (a national ``layers.gpkg`` is 250 MB; unchanged files are hard-linked
between generations); a project analysed before kept its results inside
``layers.gpkg``: they are read from there until the next analysis moves them.
A project written by an older version (plain files at the top level) is read
as it is and moved into a generation by its first change; a ``project.toml``
edited by hand into a plain file wins over the generation's copy and is
committed by the next change.

Changes
-------
Every change goes through a :class:`Transaction` under the project's lock
(:mod:`geo_p2dd.lock`): the project is re-read under the lock, new files are
written into a staging folder, and a complete new generation is switched in
with one atomic rename — so a failed import leaves the project byte-for-byte as
it was, concurrent writers never lose each other's work, and ``kill -9`` at
any moment leaves the old state or the new one. A :class:`Project` pins the
generation it opened, so one reader never mixes two states.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import shutil
import sys
import threading
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import tomli_w

from geo_p2dd.config import Settings, default_config, settings_from_dict
from geo_p2dd.errors import NotFoundError, ProjectError
from geo_p2dd.grid import Grid, metric_crs_for
from geo_p2dd.io.atomic import atomic_write_text
from geo_p2dd.lock import LOCK_NAME, is_held_here, project_lock

CONFIG_NAME = "project.toml"
LAYERS_NAME = "layers.gpkg"
#: the analysis' result tables: their own GeoPackage beside the input layers
RESULTS_NAME = "results.gpkg"
#: the layers kept in :data:`RESULTS_NAME` (older projects: in :data:`LAYERS_NAME`)
RESULT_LAYERS = ("village_results", "location_results", "area_results", "evidence_conflicts")
RASTERS_DIR = "rasters"
CACHE_DIR = "cache"
#: the settings an analysis records; results computed with other values are stale
ANALYSIS_SETTINGS = ("thresholds", "weights", "service_radius_m", "propagation", "evidence")

#: The default project.toml content, derived from the one home of the defaults.
DEFAULT_CONFIG: dict[str, Any] = default_config()


def _deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def now_iso() -> str:
    """Current UTC time; honours SOURCE_DATE_EPOCH for reproducible builds (the sample)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC))
    return moment.replace(microsecond=0).isoformat()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    for f in files:
        if f.is_file():
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


class Project:
    """A geo_p2dd project on disk.

    Parameters
    ----------
    path : str or Path
        The project directory (must hold ``project.toml``).

    Examples
    --------
    >>> project = Project("data/sample")            # doctest: +SKIP
    >>> villages = project.read_layer("villages")   # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: the generation directory this object reads (None for the old flat layout)
        self.generation: Path | None = current_generation(self.path)
        config_path = self.path / CONFIG_NAME
        if self.generation is not None and (config_path.is_symlink()
                                            or not config_path.exists()):
            config_path = self.generation / CONFIG_NAME
        if not config_path.exists():
            raise ProjectError(
                f"{self.path} is not a geo_p2dd project (no {CONFIG_NAME}); create one with "
                "'geo-p2dd init DIR --villages FILE' or 'geo-p2dd sample DIR'")
        with open(config_path, "rb") as fh:
            try:
                stored = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ProjectError(f"{config_path} is not valid TOML: {exc}") from exc
        #: the validated, typed settings (a ConfigError names the file and each bad key)
        self.settings: Settings = settings_from_dict(stored, file=str(config_path))
        self.config: dict[str, Any] = _deep_merge(DEFAULT_CONFIG, stored)
        #: the register version this object reads (pinned on first use, see data_version)
        self._register_version: int | None = None
        #: inside a transaction: the sites as first read, the base its write is merged onto
        self._capture_sites = False
        self.sites_base: tuple[gpd.GeoDataFrame | None] | None = None

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, name: str = "", region_code: str = "",
               region_name: str = "", sample: bool = False) -> Project:
        """Create an empty project directory (refuses a directory that holds one)."""
        path = Path(path)
        if (path / CONFIG_NAME).exists():
            raise ProjectError(f"{path} already holds a project; use 'geo-p2dd import' to "
                               "change it, or choose another directory")
        path.mkdir(parents=True, exist_ok=True)
        config = {"project": {"name": name, "region_code": region_code,
                              "region_name": region_name, "sample": sample,
                              "created": now_iso(), "data_version": 0}}
        (path / LOCK_NAME).touch()
        with project_lock(path, "create"):
            first = path / GENERATIONS_DIR / "g000001"
            first.mkdir(parents=True)
            atomic_write_text(first / CONFIG_NAME,
                              _dump_config(_deep_merge(DEFAULT_CONFIG, config)))
            _switch_current(path, first)
            # the user's own folders (a rasters/ of theirs) are never replaced by links
            _link_top_level(path, migrate=False)
        return cls(path)

    # -- reading ----------------------------------------------------------------------------
    @property
    def layers_path(self) -> Path:
        """The ``layers.gpkg`` of the generation this object reads."""
        return self.file(LAYERS_NAME)

    def file(self, relative: str | Path) -> Path:
        """A project file (e.g. ``rasters/dem.tif``) in the generation this object reads."""
        return (self.generation or self.path) / relative

    @property
    def results_path(self) -> Path:
        """The ``results.gpkg`` of the generation this object reads (may not exist)."""
        return self.file(RESULTS_NAME)

    def layer_path(self, name: str) -> Path:
        """The GeoPackage that holds layer ``name``: ``results.gpkg`` for the result
        tables when it exists (older projects keep them in ``layers.gpkg``), else
        ``layers.gpkg``."""
        if name in RESULT_LAYERS and self.results_path.exists():
            return self.results_path
        return self.layers_path

    @property
    def file_data_version(self) -> int:
        """Counts committed changes of the project's input files (``project.toml``)."""
        return int(self.config["project"].get("data_version", 0) or 0)

    @property
    def register_version(self) -> int:
        """The version of the register database this object reads (0 without one).

        Pinned on first use, and moved to the version read with the sites by
        :meth:`read_layer`, so results record the version they were computed from.
        """
        if self._register_version is None:
            from geo_p2dd.registry.store import register_version

            self._register_version = register_version(self.path)
        return self._register_version

    @property
    def data_version(self) -> int:
        """Counts committed changes of input data: the files' and the register's.

        Both counters only grow, so their sum changes whenever either does: an
        edit of the register (web, API, import) makes earlier results stale.
        """
        return self.file_data_version + self.register_version

    @property
    def analysis_stale(self) -> bool:
        """True when stored results were computed from other inputs or settings.

        Results record the data version they were computed from and the
        settings they used; a hand edit of ``project.toml`` or any input change
        makes them stale, and stale results are never shown as current.
        """
        analysis = self.config.get("analysis")
        if not analysis:
            return False
        if "data_version" in analysis and analysis["data_version"] != self.data_version:
            return True
        used = self.settings.to_dict()
        return any(key in analysis and analysis[key] != used.get(key)
                   for key in ANALYSIS_SETTINGS)

    @property
    def name(self) -> str:
        return self.config["project"].get("name") or self.path.name

    @property
    def region_code(self) -> str:
        return self.config["project"].get("region_code", "")

    @property
    def is_sample(self) -> bool:
        return bool(self.config["project"].get("sample"))

    def layer_names(self) -> list[str]:
        """The layers of ``layers.gpkg`` and the result tables (wherever they are kept)."""
        names = []
        results = self.results_path.exists()
        if self.layers_path.exists():
            names = [str(n) for n, _ in pyogrio.list_layers(self.layers_path)
                     if not (results and str(n) in RESULT_LAYERS)]
        if results:
            names += [str(n) for n, _ in pyogrio.list_layers(self.results_path)]
        return names

    def has_layer(self, name: str) -> bool:
        """Whether the layer exists; ``"sites"``: whether the register holds a live site."""
        if name == "sites":
            from geo_p2dd.registry.store import has_sites

            return has_sites(self)
        return name in self.layer_names()

    def read_layer(self, name: str, *, required: bool = True, columns: list[str] | None = None,
                   bbox: tuple[float, float, float, float] | None = None,
                   ) -> gpd.GeoDataFrame | None:
        """Read a vector layer (EPSG:4326); None when absent and not ``required``.

        ``"sites"`` is read from the register database
        (:func:`geo_p2dd.registry.store.read_sites`), shaped like the layer was;
        an old project's sites layer moves into the register on this first read.
        """
        if name == "sites":
            from geo_p2dd.registry.store import read_sites

            frame, number = read_sites(self, columns=columns, bbox=bbox)
            self._register_version = number
            if self._capture_sites and self.sites_base is None and columns is None \
                    and bbox is None:
                self.sites_base = (None if frame is None else frame.copy(),)
            if frame is None and required:
                raise NotFoundError(f"the project {self.path} has no sites layer (its "
                                    "register holds no site); import one with 'geo-p2dd "
                                    f"import --project {self.path} sites FILE'")
            return frame
        return self.read_layer_file(name, required=required, columns=columns, bbox=bbox)

    def read_layer_file(self, name: str, *, required: bool = True,
                        columns: list[str] | None = None,
                        bbox: tuple[float, float, float, float] | None = None,
                        ) -> gpd.GeoDataFrame | None:
        """Read a layer of ``layers.gpkg`` itself (``sites``: the old layer, not the register)."""
        if name not in self.layer_names():
            if required:
                raise NotFoundError(f"the project {self.path} has no {name} layer; import one "
                                    f"with 'geo-p2dd import --project {self.path} {name} FILE'")
            return None
        return pyogrio.read_dataframe(self.layer_path(name), layer=name, columns=columns,
                                      bbox=bbox, use_arrow=True)

    def read_table(self, name: str, *, required: bool = True) -> pd.DataFrame | None:
        """Read an attribute table (no geometry) such as analysis results."""
        if not self.has_layer(name):
            if required:
                raise NotFoundError(f"the project {self.path} has no {name} table; run "
                                    f"'geo-p2dd analyze --project {self.path}' first")
            return None
        return pyogrio.read_dataframe(self.layer_path(name), layer=name, read_geometry=False,
                                      use_arrow=True)

    def raster_path(self, name: str) -> Path | None:
        """Path of a raster registered under ``name`` (e.g. "population", "dem")."""
        entry = self.config.get("rasters", {}).get(name)
        if not entry:
            return None
        p = self.file(entry["file"])
        return p if p.exists() else None

    def coverage_entries(self) -> list[dict]:
        """The coverage rasters, each a dict with file, operator, technology, values."""
        return [dict(c) for c in self.config.get("coverage", [])]

    @property
    def grid(self) -> Grid | None:
        g = self.config.get("grid", {})
        return Grid.from_dict(g) if "transform" in g else None

    def source(self, layer: str) -> dict | list[dict] | None:
        """Provenance of a layer; point layers merged from several files give a list."""
        sources = self.config.get("sources", {})
        if layer in sources:
            return sources[layer]
        merged = [dict(v, key=k) for k, v in sources.items() if k.startswith(layer + ":")]
        return merged or None

    def cache_dir(self) -> Path:
        d = self.path / CACHE_DIR
        d.mkdir(exist_ok=True)
        return d

    def info(self) -> dict:
        """What the project holds, for people (``geo-p2dd info``) and machines (``--json``)."""
        layers = {}
        for path in dict.fromkeys((self.layers_path, self.results_path)):
            if not path.exists():
                continue
            for name, geom in pyogrio.list_layers(path):
                if self.layer_path(str(name)) != path:  # a result table moved out
                    continue
                meta = pyogrio.read_info(path, layer=name)
                layers[str(name)] = {
                    "rows": int(meta["features"]),
                    "geometry": None if geom is None else str(geom),
                    "crs": meta["crs"],
                    "extent": [round(v, 6) for v in meta["total_bounds"]]
                    if geom is not None and meta["features"] else None,
                    "source": self.source(str(name)),
                }
        from geo_p2dd.registry.store import has_register

        if has_register(self.path) or "sites" in layers:  # the sites live in the register
            sites = self.read_layer("sites", required=False, columns=["site_id"])
            layers["sites"] = {
                "rows": 0 if sites is None else len(sites), "geometry": "Point",
                "crs": "EPSG:4326", "register": True,
                "extent": None if sites is None else [round(v, 6) for v in sites.total_bounds],
                "source": self.source("sites")}
        rasters = {}
        for name, entry in self.config.get("rasters", {}).items():
            rasters[name] = {**entry, "source": self.source(name)}
        for entry in self.coverage_entries():
            rasters[entry["name"]] = {**entry, "source": self.source(entry["name"])}
        p = self.config["project"]
        return {"path": str(self.path), "name": self.name, "region_code": p.get("region_code"),
                "region_name": p.get("region_name"), "sample": bool(p.get("sample")),
                "metric_crs": self.config.get("grid", {}).get("crs"),
                "layers": layers, "rasters": rasters,
                "data_version": self.data_version,
                "analysis": self.config.get("analysis"),
                "analysis_stale": self.analysis_stale}

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def locked(self, purpose: str = "", *, timeout: float | None = None,
               on_wait: Callable[[str], None] | None = None) -> Iterator[Project]:
        """Hold the project's write lock and re-read the project under it.

        Use it around a read–compute–write cycle (``analyze``) so that no other
        writer changes the inputs between the read and the write. Transactions
        opened inside take the same lock again (it is re-entrant per thread).
        See :mod:`geo_p2dd.lock`.
        """
        nested = is_held_here(self.path)  # an outer writer of this thread holds it
        with project_lock(self.path, purpose, timeout=timeout, on_wait=on_wait):
            if not nested:  # what the outer writer staged is not a killed writer's leftover
                recover(self.path)
                self.__init__(self.path)
            yield self

    @contextmanager
    def transaction(self, purpose: str = "change", *, inputs: bool = True,
                    timeout: float | None = None,
                    on_wait: Callable[[str], None] | None = None) -> Iterator[Transaction]:
        """Stage changes; apply them all on success, none on failure.

        The project's lock is held from before the project is re-read until the
        new generation is switched in, so concurrent writers (CLI, web,
        background jobs) are serialised and none loses another's change.

        Parameters
        ----------
        purpose : str
            Shown to writers that wait for this one.
        inputs : bool
            True when the change touches input data (raising :attr:`data_version`);
            False for derived results (analysis tables) only.
        timeout, on_wait
            See :func:`geo_p2dd.lock.project_lock`.
        """
        key = str(self.path.resolve())
        open_here = _OPEN_TRANSACTIONS.__dict__.setdefault("paths", set())
        if key in open_here:
            # its commit would be overwritten by the outer one's (a lost write)
            raise ProjectError("a change of this project is already open in this thread; "
                               "make this change inside it (one transaction at a time)")
        with self.locked(purpose, timeout=timeout, on_wait=on_wait):
            open_here.add(key)
            self._capture_sites = True
            try:
                tx = Transaction(self, inputs=inputs)
                try:
                    yield tx
                except BaseException:
                    tx.abort()
                    raise
                tx.commit()
            finally:
                open_here.discard(key)
            # reload what was committed
            self.__init__(self.path)


_OPEN_TRANSACTIONS = threading.local()  # projects with a transaction open, per thread


class Transaction:
    """Staged changes to a project (see :meth:`Project.transaction`).

    A commit builds a complete new *generation* directory inside the staging
    folder — the new ``project.toml``, the new or unchanged ``layers.gpkg``
    and ``rasters/`` (unchanged files hard-linked, so no copying) — moves it
    under ``.generations/`` and then switches the ``.current`` symbolic link
    to it with one :func:`os.replace`. That rename is the single atomic step:
    a process killed at any moment leaves either the old generation or the
    new one current, never a mix (new villages with the old grid).
    """

    def __init__(self, project: Project, *, inputs: bool = True) -> None:
        self.project = project
        self.inputs = inputs
        self.staging = project.path / f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
        self.staging.mkdir()
        self.config = copy.deepcopy(project.config)
        self._layers: Path | None = None
        #: the staged results.gpkg (written fresh) and the result layers written or deleted
        self._results: Path | None = None
        self._results_done: set[str] = set()
        self._files: dict[Path, str] = {}  # staged file -> relative path in the project
        self._remove: set[str] = set()
        #: sites to store in the register at commit (None: unchanged)
        self.sites: gpd.GeoDataFrame | None = None
        #: old site id -> new id, for sites an import recognised under an older id scheme
        self.site_renames: dict[str, str] = {}
        #: who and what changes the register's sites (its history rows)
        self.register_user: str | None = None
        self.register_source: str = "cli"

    def _layers_copy(self) -> Path:
        if self._layers is None:
            self._layers = self.staging / LAYERS_NAME
            if self.project.layers_path.exists():
                shutil.copyfile(self.project.layers_path, self._layers)
        return self._layers

    def _results_file(self) -> Path:
        """The new ``results.gpkg``, staged empty: the result tables are written fresh and
        the input layers are not copied (those not written are carried over at commit)."""
        if self._results is None:
            self._results = self.stage_file(RESULTS_NAME)
        return self._results

    def write_layer(self, name: str, frame: pd.DataFrame) -> None:
        """Write (replace) a vector layer or attribute table.

        ``"sites"`` go to the register database when the transaction commits
        (:func:`geo_p2dd.registry.sync.replace_sites`: one database transaction,
        a history row per changed site, source :attr:`register_source`). The
        result tables (:data:`RESULT_LAYERS`) go to ``results.gpkg``, the rest to
        ``layers.gpkg``.
        """
        if name == "sites":
            self.sites = frame
            return
        if name in RESULT_LAYERS:
            target = self._results_file()
            self._results_done.add(name)
        else:
            target = self._layers_copy()
        if isinstance(frame, gpd.GeoDataFrame):
            frame = frame.to_crs("EPSG:4326") if frame.crs is not None else frame
            if name in ("sites", "locations"):
                geometry_type = "Point"
            else:
                geometry_type = "Unknown" if len(frame) == 0 else None
            pyogrio.write_dataframe(frame, target, layer=name, driver="GPKG", use_arrow=True,
                                    geometry_type=geometry_type)
        else:
            pyogrio.write_dataframe(pd.DataFrame(frame), target, layer=name, driver="GPKG",
                                    use_arrow=True)

    def delete_layer(self, name: str) -> None:
        """Remove a layer (nothing is copied when it is absent)."""
        if name in RESULT_LAYERS:
            self._results_file()
            self._results_done.add(name)
            return
        source = self._layers if self._layers is not None else self.project.layers_path
        if source.exists() and name in [n for n, _ in pyogrio.list_layers(source)]:
            _drop_layer(self._layers_copy(), name)

    def _finish_results(self) -> None:
        """Complete the staged ``results.gpkg``: carry over the result tables this change
        did not write or delete; none left: the new generation has no results file. A
        project whose results were kept in ``layers.gpkg`` has them removed from there
        (moved once)."""
        if self._results is None:
            return
        before = self.project.layer_names()
        for name in RESULT_LAYERS:
            if name not in self._results_done and name in before:
                self.write_layer(name, self.project.read_layer_file(name))
        if not self._results.exists():
            del self._files[self._results]
            self.remove_file(RESULTS_NAME)
        layers = self.project.layers_path
        if layers.exists():
            for name, _ in pyogrio.list_layers(layers):
                if str(name) in RESULT_LAYERS:
                    _drop_layer(self._layers_copy(), str(name))

    def stage_file(self, relative: str) -> Path:
        """A staging path for a file that will land at ``relative`` in the project."""
        relative = _check_relative(relative)
        staged = self.staging / "files" / relative.replace("/", "__")
        staged.parent.mkdir(exist_ok=True)
        self._files[staged] = relative
        self._remove.discard(relative)
        return staged

    def remove_file(self, relative: str) -> None:
        self._remove.add(_check_relative(relative))

    def record_source(self, layer: str, file: str | Path | None, *, rows: int | None = None,
                      licence: str | None = None, note: str | None = None) -> None:
        """Record where a layer came from: file, licence, import time, row count."""
        shown = str(file) if file else ""
        if file:
            try:
                shown = str(Path(file).resolve().relative_to(self.project.path.resolve()))
            except ValueError:
                shown = Path(file).name  # never an absolute server path
        entry = {"file": shown, "licence": licence or "unknown",
                 "imported": now_iso()}
        if rows is not None:
            entry["rows"] = int(rows)
        if note:
            entry["note"] = note
        if file and Path(file).exists():
            entry["sha256"] = file_sha256(file)
        self.config.setdefault("sources", {})[layer] = entry

    def commit(self) -> None:
        """Build the new generation and switch it in with one atomic rename.

        A failure before the switch removes what was built and leaves the
        project as it was; after the switch the new state is committed, and
        the tidying that follows (top-level links, old generations) is redone
        by :func:`recover` if it was interrupted.
        """
        root = self.project.path
        final: Path | None = None
        register = ExitStack()  # the register's transaction, committed after the switch
        try:
            self._finish_results()
            if self.sites is not None:
                self._stage_sites(register)
            final = self._build_generation()
            _switch_current(root, final)
        except BaseException:
            register.__exit__(*sys.exc_info())  # rolled back: the register is as it was
            if final is not None and current_generation(root) != final:
                shutil.rmtree(final, ignore_errors=True)
            self.abort()
            raise
        register.close()
        self.abort()
        _link_top_level(root, migrate=self.project.generation is None)
        _prune_generations(root)

    def _stage_sites(self, register: ExitStack) -> None:
        """Apply the sites to the register in a transaction that ``register`` will end."""
        from geo_p2dd.registry.db import write_transaction
        from geo_p2dd.registry.store import project_register
        from geo_p2dd.registry.sync import apply_plan, plan_sites

        base = self.project.sites_base
        conn = register.enter_context(write_transaction(project_register(self.project)))
        plan = plan_sites(conn, self.sites, None if base is None else base[0],
                          renames=self.site_renames)
        apply_plan(conn, plan, user=self.register_user, source=self.register_source)

    def _build_generation(self) -> Path:
        root = self.project.path
        base = self.project.generation or root
        new = self.staging / "generation"
        new.mkdir()
        # 1. the layers: staged copy, else the unchanged file of the current generation
        if self._layers is not None and self._layers.exists():
            os.replace(self._layers, new / LAYERS_NAME)
        elif (base / LAYERS_NAME).exists():
            _link_or_copy(base / LAYERS_NAME, new / LAYERS_NAME)
        # 2. every other data file: unchanged ones linked, staged ones moved in
        staged_targets = set(self._files.values())
        for relative in _data_files(base, legacy=self.project.generation is None):
            if relative in staged_targets or relative in self._remove:
                continue
            target = new / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(base / relative, target)
        for staged, relative in self._files.items():
            target = new / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        # 3. the configuration, with the new data version
        if self.inputs:
            self.config["project"]["data_version"] = self.project.file_data_version + 1
        # never commit a configuration that the next open would refuse
        settings_from_dict(self.config, file=CONFIG_NAME)
        (new / CONFIG_NAME).write_text(_dump_config(self.config), encoding="utf-8")
        _fsync_file(new / CONFIG_NAME)
        # 4. give it its place; nothing reads it until .current names it
        generations = root / GENERATIONS_DIR
        if self.project.generation is None and generations.is_dir():
            # the flat layout is the truth; generations beside it come from a copy
            # that followed the links (cp -L, shutil.copytree): set them aside
            _remove_dir(generations)
        generations.mkdir(exist_ok=True)
        number = _generation_number(self.project.generation) + 1
        final = generations / f"g{number:06d}"  # a leftover of that name was removed by recover()
        os.replace(new, final)
        _fsync_dir(generations)
        return final

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


# -- the generation layout ---------------------------------------------------------------------

GENERATIONS_DIR = ".generations"
CURRENT_LINK = ".current"
STAGING_PREFIX = ".staging-"
KEEP_GENERATIONS = 3
TOP_LEVEL = (CONFIG_NAME, LAYERS_NAME, RESULTS_NAME, RASTERS_DIR)


def current_generation(path: str | Path) -> Path | None:
    """The current generation directory of a project, None for the old flat layout."""
    link = Path(path) / CURRENT_LINK
    try:
        target = os.readlink(link)
    except OSError:
        return None
    return Path(path) / target


def generation_number(path: str | Path) -> int:
    """The number of the current generation (0 for the old flat layout); one readlink."""
    return _generation_number(current_generation(path))


def recover(path: str | Path) -> None:
    """Remove what interrupted writers left; call with the project's lock held.

    Staging folders, half-made links and generations newer than the current
    one (built, never switched in) are removed; the top-level links are made to
    point at the current generation again.
    """
    root = Path(path)
    for entry in root.iterdir():
        if entry.name.startswith(STAGING_PREFIX) or entry.name.startswith(CURRENT_LINK + ".tmp"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    current = current_generation(root)
    if current is None:
        return
    number = _generation_number(current)
    generations = root / GENERATIONS_DIR
    if generations.is_dir():
        for gen in generations.iterdir():
            if gen.name.startswith(".") or _generation_number(gen) > number:
                shutil.rmtree(gen, ignore_errors=True)
    _link_top_level(root, committed=False, migrate=False)


def _generation_number(gen: Path | None) -> int:
    if gen is None:
        return 0
    try:
        return int(gen.name[1:7])
    except ValueError:
        return 0


def _data_files(base: Path, *, legacy: bool) -> list[str]:
    """Relative paths of the data files of a generation (not its config or layers)."""
    roots = [base / RASTERS_DIR] if legacy else [base]
    # the flat layout (or a copy that followed the links) may hold a results file too
    out = [RESULTS_NAME] if legacy and (base / RESULTS_NAME).is_file() else []
    for top in roots:
        if not top.is_dir():
            continue
        for p in sorted(top.rglob("*")):
            if p.is_file():
                relative = p.relative_to(base).as_posix()
                if relative not in (CONFIG_NAME, LAYERS_NAME):
                    out.append(relative)
    return out


def _check_relative(relative: str) -> str:
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts or parts[0].startswith("."):
        raise ProjectError(f"a project file must be a plain relative path, found {relative!r}")
    return Path(relative).as_posix()


def _switch_current(root: Path, gen: Path) -> None:
    tmp = root / f"{CURRENT_LINK}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(os.path.relpath(gen, root), tmp)
    link = root / CURRENT_LINK
    if link.is_dir() and not link.is_symlink():
        _remove_dir(link)  # a copy that followed the links: the top-level files are the truth
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(root)


def _link_top_level(root: Path, *, committed: bool = True, migrate: bool = True) -> None:
    """``project.toml``, ``layers.gpkg`` and ``rasters`` at the top point into ``.current``.

    They are conveniences for people and other tools (QGIS opens
    ``layers.gpkg``); the code reads through :attr:`Project.generation`. A
    plain ``project.toml`` (edited by hand) is only replaced once a commit has
    taken it in (``committed``); plain ``layers.gpkg`` and ``rasters/`` of the
    old flat layout only when a commit has moved them into a generation
    (``migrate``).
    """
    current = current_generation(root)
    if current is None:
        return
    for name in TOP_LEVEL:
        item = root / name
        wanted = f"{CURRENT_LINK}/{name}"
        exists = (current / name).exists()
        if item.is_symlink():
            if os.readlink(item) == wanted and exists:
                continue
            if not exists:
                item.unlink()
                continue
        elif not exists:
            continue
        elif name == CONFIG_NAME and item.exists() and not committed:
            continue
        elif name != CONFIG_NAME and item.exists() and not migrate:
            continue
        if item.is_dir() and not item.is_symlink():  # a folder of the old flat layout
            _remove_dir(item)
        tmp = root / f"{STAGING_PREFIX}link-{uuid.uuid4().hex[:8]}"
        os.symlink(wanted, tmp)
        os.replace(tmp, item)


def _remove_dir(path: Path) -> None:
    """Remove a folder: renamed away first (atomic), so it is never seen half-deleted."""
    old = path.parent / f"{STAGING_PREFIX}old-{uuid.uuid4().hex[:8]}"
    os.replace(path, old)
    shutil.rmtree(old, ignore_errors=True)


def _prune_generations(root: Path) -> None:
    """Keep the newest :data:`KEEP_GENERATIONS` (readers may still be on an older one)."""
    generations = root / GENERATIONS_DIR
    gens = sorted((g for g in generations.iterdir() if not g.name.startswith(".")),
                  key=_generation_number)
    for gen in gens[:-KEEP_GENERATIONS]:
        shutil.rmtree(gen, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync_file(path)
    except OSError:  # some file systems refuse fsync on directories
        pass


def _drop_layer(gpkg: Path, name: str) -> None:
    """Remove layer ``name`` from a GeoPackage (its table and its registry rows)."""
    import sqlite3

    con = sqlite3.connect(gpkg)
    try:
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
        for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_ogr_contents"):
            con.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))
        con.execute("DELETE FROM gpkg_extensions WHERE table_name = ?", (name,))
        con.commit()
    finally:
        con.close()


def _link_or_copy(src: Path, dst: Path) -> None:
    """Share an unchanged file between generations (a hard link where the file system allows)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _dump_config(config: dict) -> str:
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return tomli_w.dumps(clean(config))


def region_grid(bounds_lonlat: tuple[float, float, float, float], resolution_m: float,
                margin_m: float = 2000.0) -> Grid:
    """The project grid for a region: its metric CRS, snapped bounds plus a margin."""
    from pyproj import Transformer

    crs = metric_crs_for(bounds_lonlat)
    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    west, south, east, north = t.transform_bounds(*bounds_lonlat)
    return Grid.from_bounds((west - margin_m, south - margin_m, east + margin_m,
                             north + margin_m), resolution_m, crs)
