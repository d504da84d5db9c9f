"""Analysis beyond one machine: the zonal counting and the tower modelling as Dask tasks.

:func:`open_compute` gives a :class:`Compute` bound to a Dask cluster — an
existing one (``scheduler="tcp://host:8786"``, ``geo-p2dd analyze --scheduler``)
or a local one it starts with ``workers`` processes (``--workers N``) — or
None, the in-process path, when neither is given.

Workers read their inputs from storage every worker can open (the project
directory on a shared file system): the tasks carry file paths and windows,
never the arrays. Arrays that exist only in the client's memory (the best 4G
class of several sources, towers modelled in this run, population or DEM
resampled onto the grid) are written once into the project's cache as
``.npy`` files, which the workers memory-map.

- Zonal counting (:meth:`Compute.polygon_class_counts`): one task per window of
  :func:`geo_p2dd.zonal.count_windows`, each counting its rows with
  :func:`geo_p2dd.zonal.window_class_counts` from the cached label runs
  (``labelruns-<key>.npz``); the client adds the partials in window order with
  :func:`geo_p2dd.zonal.add_partials`, as the in-process path does, so counts
  and weighted sums are identical to it, bit for bit.
- Tower modelling (:meth:`Compute.received_power`): one task per grid tile
  (:data:`TOWER_TILE` pixels square), each running
  :func:`geo_p2dd.propagation.received_power_grid` on its tile with the towers
  that reach it (in their order, so ties go to the same tower); a tile's values
  are the whole grid's values there, so the assembled grid is identical.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from geo_p2dd import zonal
from geo_p2dd.grid import Grid

#: pixels per side of a tower-modelling tile
TOWER_TILE = 2048


@dataclass(frozen=True)
class RasterFile:
    """A single-band raster every worker can open: a ``.npy`` file or a GDAL raster (COG).

    ``kind`` is ``"npy"`` (memory-mapped) or ``"gdal"`` (rasterio, band 1,
    windows read as stored).
    """

    path: str
    kind: str = "npy"

    def read_rows(self, row0: int, row1: int) -> np.ndarray:
        """Rows ``row0`` to ``row1 - 1``, every column."""
        if self.kind == "npy":
            return np.asarray(_npy(self.path)[row0:row1])
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(self.path) as src:
            return src.read(1, window=Window(0, row0, src.width, row1 - row0))

    def array(self) -> Any:
        """The whole raster as an array-like (a memory map, or a window reader)."""
        if self.kind == "npy":
            return _npy(self.path)
        return _GdalArray(self.path)


class _GdalArray:
    """``shape`` and ``a[rows, cols]`` reads of a GDAL raster (via their bounding window)."""

    def __init__(self, path: str) -> None:
        import rasterio

        self.path = path
        with rasterio.open(path) as src:
            self.shape = (src.height, src.width)

    def __getitem__(self, key):
        import rasterio
        from rasterio.windows import Window

        rows, cols = (np.asarray(k, dtype=np.int64) for k in key)
        if rows.size == 0:
            return np.zeros(0, dtype=np.uint8)
        r0, c0 = int(rows.min()), int(cols.min())
        with rasterio.open(self.path) as src:
            block = src.read(1, window=Window(c0, r0, int(cols.max()) - c0 + 1,
                                              int(rows.max()) - r0 + 1))
        return block[rows - r0, cols - c0]


@functools.lru_cache(maxsize=8)
def _npy_cached(path: str, mtime_ns: int) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _npy(path: str) -> np.ndarray:
    return _npy_cached(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _runs_cached(path: str, mtime_ns: int) -> zonal.LabelRuns:
    return zonal.LabelRuns.load(path)


def _runs(path: str) -> zonal.LabelRuns:
    """The label runs of ``path``, read once per worker process (and per file version)."""
    return _runs_cached(path, os.stat(path).st_mtime_ns)


# -- tasks (run on the workers) ---------------------------------------------------------------


def count_window(runs_path: str, classes: RasterFile, rows: tuple[int, int], n_classes: int,
                 weights: RasterFile | None = None) -> np.ndarray:
    """One window's partial counts (a task): see :func:`geo_p2dd.zonal.window_class_counts`."""
    runs = _runs(runs_path)
    cls = classes.read_rows(*rows)
    wts = None if weights is None else weights.read_rows(*rows)
    return zonal.window_class_counts(runs, rows, cls, n_classes, weights=wts)


def model_tile(towers: Any, grid: Grid, window: tuple[int, int, int, int],
               dem: RasterFile | None, options: dict[str, Any]) -> np.ndarray:
    """Received power (dBm, float32) of one grid tile (a task)."""
    from geo_p2dd.propagation import received_power_grid

    rx, _ = received_power_grid(towers, grid, dem=None if dem is None else dem.array(),
                                window=window, **options)
    return rx


# -- the client side --------------------------------------------------------------------------


def _mapped_file(array: np.ndarray) -> str | None:
    """The ``.npy`` file ``array`` is, exactly, a memory map of (else None)."""
    base = array
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    if base is None or not getattr(base, "filename", None):
        return None
    path = Path(base.filename)
    if path.suffix != ".npy" or not path.exists():
        return None
    whole = np.load(path, mmap_mode="r", allow_pickle=False)
    same = (whole.shape == array.shape and whole.dtype == array.dtype
            and array.flags.c_contiguous and whole.flags.c_contiguous
            and array.__array_interface__["data"][0] == base.__array_interface__["data"][0]
            and base.offset == whole.offset)
    return str(path) if same else None


class Compute:
    """Analysis steps run as tasks on a Dask cluster (``client``).

    ``scratch`` is a directory every worker can read (the project's cache):
    arrays that exist only in the client's memory are written there for the
    duration of the run, then removed (:meth:`close`).
    """

    def __init__(self, client: Any, scratch: str | Path) -> None:
        self.client = client
        self.scratch = Path(scratch)
        self._written: list[Path] = []
        self._files: dict[tuple[int, str], tuple[np.ndarray, RasterFile]] = {}

    def close(self) -> None:
        """Remove the scratch files this object wrote."""
        for p in self._written:
            p.unlink(missing_ok=True)
        self._written.clear()
        self._files.clear()

    def raster_file(self, array: np.ndarray, dtype: Any = None) -> RasterFile:
        """A file the workers can read holding ``array`` (as ``dtype``).

        Its own file when it is a memory-mapped ``.npy``; else written once per
        array into ``scratch``.
        """
        key = (id(array), str(dtype))
        if key in self._files:
            return self._files[key][1]
        file = self._raster_file(array if dtype is None else np.asarray(array, dtype=dtype))
        self._files[key] = (array, file)  # keeps the array alive: its id stays its own
        return file

    def _raster_file(self, array: np.ndarray) -> RasterFile:
        mapped = _mapped_file(array)
        if mapped is not None:
            return RasterFile(mapped, "npy")
        path = self.scratch / f"dask-{uuid.uuid4().hex}.npy"
        self.scratch.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        self._written.append(path)
        return RasterFile(str(path), "npy")

    def runs_file(self, runs: zonal.LabelRuns) -> str:
        """The label runs' file (their cache file when they have one)."""
        if runs.source is not None and Path(runs.source).exists():
            return str(runs.source)
        path = self.scratch / f"dask-{uuid.uuid4().hex}.npz"
        self.scratch.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            runs.save(fh)
        self._written.append(path)
        return str(path)

    def run_class_counts(self, runs: zonal.LabelRuns, classes: RasterFile, n_classes: int,
                         weights: RasterFile | None = None) -> np.ndarray:
        """:func:`geo_p2dd.zonal.run_class_counts`, one task per window (identical result)."""
        runs_path = self.runs_file(runs)
        windows = zonal.count_windows(runs.shape)
        futures = [self.client.submit(count_window, runs_path, classes, w, int(n_classes),
                                      weights, pure=False) for w in windows]
        size = (runs.n_labels + 1) * int(n_classes)

        def results() -> Iterator[np.ndarray]:
            for f in futures:  # in window order: the same additions as in process
                yield f.result()
                f.release()

        out = zonal.add_partials(results(), size, weights is not None)
        return out.reshape(runs.n_labels + 1, int(n_classes))[1:]

    def polygon_class_counts(self, geoms: np.ndarray, classes: np.ndarray | RasterFile,
                             transform: Affine, n_classes: int, *, labels: zonal.LabelRuns,
                             weights: np.ndarray | RasterFile | None = None) -> np.ndarray:
        """:func:`geo_p2dd.zonal.polygon_class_counts` with the counting done by the cluster."""
        cls_file = classes if isinstance(classes, RasterFile) else self.raster_file(classes)
        w_file = (weights if weights is None or isinstance(weights, RasterFile)
                  else self.raster_file(weights))
        counted = self.run_class_counts(labels, cls_file, n_classes, w_file)
        cls_arr = cls_file.array() if isinstance(classes, RasterFile) else classes
        w_arr = w_file.array() if isinstance(weights, RasterFile) else weights
        return zonal.polygon_class_counts(geoms, cls_arr, transform, n_classes,
                                          weights=w_arr, labels=labels, counted=counted)

    def received_power(self, towers: Any, grid: Grid, dem: np.ndarray | None,
                       **options: Any) -> np.ndarray:
        """Received power on the grid (as ``received_power_grid(...)[0]``), tile by tile."""
        dem_file = None
        if dem is not None:
            dem_file = self.raster_file(dem, dtype=np.float64)
        from geo_p2dd.propagation import _tower_points

        tx, ty = _tower_points(towers, grid.crs)
        reach = float(options.get("max_distance_m", 0.0)) or None
        xs, ys = grid.centres()
        out = np.full(grid.shape, np.nan, dtype=np.float32)
        futures = []
        for r0 in range(0, grid.height, TOWER_TILE):
            r1 = min(grid.height, r0 + TOWER_TILE)
            for c0 in range(0, grid.width, TOWER_TILE):
                c1 = min(grid.width, c0 + TOWER_TILE)
                sel = np.ones(len(tx), dtype=bool)
                if reach is not None:  # towers whose square of reach meets the tile
                    sel = ((tx + reach >= xs[c0]) & (tx - reach <= xs[c1 - 1])
                           & (ty - reach <= ys[r0]) & (ty + reach >= ys[r1 - 1]))
                if not sel.any():
                    continue
                futures.append(((r0, r1, c0, c1), self.client.submit(
                    model_tile, towers.iloc[np.flatnonzero(sel)], grid, (r0, r1, c0, c1),
                    dem_file, options, pure=False)))
        for (r0, r1, c0, c1), f in futures:
            out[r0:r1, c0:c1] = f.result()
            f.release()
        return out


@contextlib.contextmanager
def open_compute(scheduler: str = "", workers: int = 0,
                 scratch: str | Path | None = None) -> Iterator[Compute | None]:
    """A :class:`Compute` on the cluster at ``scheduler`` or on ``workers`` local processes.

    Parameters
    ----------
    scheduler : str
        Address of a running Dask scheduler (``tcp://host:8786``); wins over ``workers``.
    workers : int
        Start a local cluster of this many single-threaded worker processes.
    scratch : path-like
        A directory every worker reads (the project's cache directory).

    Yields
    ------
    Compute or None
        None when neither is given: run in process.
    """
    if not scheduler and not workers:
        yield None
        return
    from dask.distributed import Client, LocalCluster

    if scratch is None:
        raise ValueError("a scratch directory the workers can read is needed")
    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=int(workers), threads_per_worker=1, processes=True,
                dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        compute = Compute(client, scratch)
        try:
            yield compute
        finally:
            compute.close()
