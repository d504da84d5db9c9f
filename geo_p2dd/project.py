"""The project directory: ``project.toml``, ``layers.gpkg`` and ``rasters/``.

Every change goes through a :class:`Transaction`: new files are written into a
staging folder inside the project and moved into place only when everything
succeeded, so a failed import leaves the project byte-for-byte as it was.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import shutil
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import tomli_w

from geo_p2dd.config import Settings, default_config, settings_from_dict
from geo_p2dd.errors import NotFoundError, ProjectError
from geo_p2dd.grid import Grid, metric_crs_for

CONFIG_NAME = "project.toml"
LAYERS_NAME = "layers.gpkg"
RASTERS_DIR = "rasters"
CACHE_DIR = "cache"

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
        config_path = self.path / CONFIG_NAME
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
                              "created": now_iso()}}
        _atomic_write_text(path / CONFIG_NAME, _dump_config(_deep_merge(DEFAULT_CONFIG, config)))
        return cls(path)

    # -- reading ----------------------------------------------------------------------------
    @property
    def layers_path(self) -> Path:
        return self.path / LAYERS_NAME

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
        if not self.layers_path.exists():
            return []
        return [str(n) for n, _ in pyogrio.list_layers(self.layers_path)]

    def has_layer(self, name: str) -> bool:
        return name in self.layer_names()

    def read_layer(self, name: str, *, required: bool = True, columns: list[str] | None = None,
                   bbox: tuple[float, float, float, float] | None = None,
                   ) -> gpd.GeoDataFrame | None:
        """Read a vector layer (EPSG:4326); None when absent and not ``required``."""
        if not self.has_layer(name):
            if required:
                raise NotFoundError(f"the project {self.path} has no {name} layer; import one "
                                    f"with 'geo-p2dd import --project {self.path} {name} FILE'")
            return None
        return pyogrio.read_dataframe(self.layers_path, layer=name, columns=columns, bbox=bbox,
                                      use_arrow=True)

    def read_table(self, name: str, *, required: bool = True) -> pd.DataFrame | None:
        """Read an attribute table (no geometry) such as analysis results."""
        if not self.has_layer(name):
            if required:
                raise NotFoundError(f"the project {self.path} has no {name} table; run "
                                    f"'geo-p2dd analyze --project {self.path}' first")
            return None
        return pyogrio.read_dataframe(self.layers_path, layer=name, read_geometry=False,
                                      use_arrow=True)

    def raster_path(self, name: str) -> Path | None:
        """Path of a raster registered under ``name`` (e.g. "population", "dem")."""
        entry = self.config.get("rasters", {}).get(name)
        if not entry:
            return None
        p = self.path / entry["file"]
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
        if self.layers_path.exists():
            for name, geom in pyogrio.list_layers(self.layers_path):
                meta = pyogrio.read_info(self.layers_path, layer=name)
                layers[str(name)] = {
                    "rows": int(meta["features"]),
                    "geometry": None if geom is None else str(geom),
                    "crs": meta["crs"],
                    "extent": [round(v, 6) for v in meta["total_bounds"]]
                    if geom is not None and meta["features"] else None,
                    "source": self.source(str(name)),
                }
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
                "analysis": self.config.get("analysis")}

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Stage changes; apply them all on success, none on failure."""
        tx = Transaction(self)
        try:
            yield tx
        except BaseException:
            tx.abort()
            raise
        tx.commit()
        # reload what was committed
        self.__init__(self.path)


class Transaction:
    """Staged changes to a project (see :meth:`Project.transaction`)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.staging = project.path / f".staging-{uuid.uuid4().hex[:8]}"
        self.staging.mkdir()
        self.config = copy.deepcopy(project.config)
        self._layers: Path | None = None
        self._files: dict[Path, Path] = {}  # staged file -> final path
        self._remove: list[Path] = []

    def _layers_copy(self) -> Path:
        if self._layers is None:
            self._layers = self.staging / LAYERS_NAME
            if self.project.layers_path.exists():
                shutil.copyfile(self.project.layers_path, self._layers)
        return self._layers

    def write_layer(self, name: str, frame: pd.DataFrame) -> None:
        """Write (replace) a vector layer or attribute table."""
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
        import sqlite3

        target = self._layers_copy()
        if not target.exists():
            return
        if name in [n for n, _ in pyogrio.list_layers(target)]:
            con = sqlite3.connect(target)
            try:
                con.execute(f'DROP TABLE IF EXISTS "{name}"')
                for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_ogr_contents"):
                    con.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))
                con.execute("DELETE FROM gpkg_extensions WHERE table_name = ?", (name,))
                con.commit()
            finally:
                con.close()

    def stage_file(self, relative: str) -> Path:
        """A staging path for a file that will land at ``relative`` in the project."""
        staged = self.staging / relative.replace("/", "__")
        self._files[staged] = self.project.path / relative
        return staged

    def remove_file(self, relative: str) -> None:
        self._remove.append(self.project.path / relative)

    def record_source(self, layer: str, file: str | Path | None, *, rows: int | None = None,
                      licence: str | None = None, note: str | None = None) -> None:
        """Record where a layer came from: file, licence, import time, row count."""
        shown = str(file) if file else ""
        if file:
            try:
                shown = str(Path(file).resolve().relative_to(self.project.path.resolve()))
            except ValueError:
                shown = str(Path(file).resolve())
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
        """Move the staged files into place; if a move fails, put the old ones back."""
        config_tmp = self.staging / CONFIG_NAME
        config_tmp.write_text(_dump_config(self.config), encoding="utf-8")
        moves = list(self._files.items())
        if self._layers is not None and self._layers.exists():
            moves.append((self._layers, self.project.layers_path))
        moves.append((config_tmp, self.project.path / CONFIG_NAME))
        removals = [p for p in self._remove if p.exists() and p not in self._files.values()]
        backups = self.staging / ".replaced"
        backups.mkdir()
        undo: list[tuple[Path, Path | None]] = []  # (final, backup of the old file or None)
        made_dirs: list[Path] = []
        try:
            for i, (staged, final) in enumerate(moves):
                if not final.parent.exists():
                    final.parent.mkdir(parents=True)
                    made_dirs.append(final.parent)
                backup = None
                if final.exists():
                    backup = backups / str(i)
                    _link_or_copy(final, backup)
                os.replace(staged, final)  # atomic: either done or not
                undo.append((final, backup))
            for i, p in enumerate(removals):
                backup = backups / f"removed-{i}"
                os.replace(p, backup)
                undo.append((p, backup))
        except BaseException:
            for final, backup in reversed(undo):
                if backup is not None:
                    os.replace(backup, final)
                elif final.exists():
                    final.unlink()
            for d in reversed(made_dirs):
                shutil.rmtree(d, ignore_errors=True)
            self.abort()
            raise
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Keep the old version of a file (a hard link where the file system allows)."""
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


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def region_grid(bounds_lonlat: tuple[float, float, float, float], resolution_m: float,
                margin_m: float = 2000.0) -> Grid:
    """The project grid for a region: its metric CRS, snapped bounds plus a margin."""
    from pyproj import Transformer

    crs = metric_crs_for(bounds_lonlat)
    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    west, south, east, north = t.transform_bounds(*bounds_lonlat)
    return Grid.from_bounds((west - margin_m, south - margin_m, east + margin_m,
                             north + margin_m), resolution_m, crs)
