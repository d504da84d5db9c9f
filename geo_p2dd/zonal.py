"""Per-polygon class counts on a raster grid, fast enough for all of Indonesia.

The method: burn polygon labels onto the raster's own grid once (a *label grid*,
valid while the boundaries and the grid are unchanged, so it can be cached), then
count (label, class) pairs with ``np.bincount`` in row chunks on both cores.
Every pixel is counted once, for the polygon whose label it carries, so sliver
overlaps between neighbours are never counted twice. A polygon too small to
contain any pixel centre gets the pixels it touches instead.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from geo_p2dd.grid import colrow_to_xy, xy_to_colrow

CHUNK_PIXELS = 8_000_000


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def label_grid(geoms: np.ndarray, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Burn polygon labels (1..n, 0 = outside) onto a grid by the pixel-centre rule.

    A scanline rasteriser with no sorting: every ring edge adds ``+label`` or
    ``-label`` (by its direction, rings oriented exterior-counter-clockwise) at
    the first pixel centre right of where it crosses each row centre; a running
    sum along each row then yields the label inside a polygon and 0 outside.
    A second running sum counts the polygons covering each pixel; pixels covered
    by several (sliver overlaps of published boundaries) are resolved point by
    point, the last polygon winning as in GDAL.

    Parameters
    ----------
    geoms : ndarray of shapely geometries
        Valid polygons already in the grid's CRS.
    transform : Affine
        The grid's transform (north-up).
    shape : (rows, cols)

    Returns
    -------
    ndarray of int32, ``shape``
    """
    height, width = shape
    acc = np.zeros((height, width + 1), dtype=np.int32)
    cover = np.zeros((height, width + 1), dtype=np.int8)
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms):
        flip = transform.a * transform.e > 0  # south-up grid: rows run the other way
        n_parts = _workers() * 4 if len(geoms) > 1000 else 1
        bounds = np.linspace(0, len(geoms), n_parts + 1).astype(int)

        def crossings(k: int):
            lo, hi = bounds[k], bounds[k + 1]
            return _crossings(geoms[lo:hi], lo, transform, height, width, flip)

        with ThreadPoolExecutor(_workers()) as pool:
            for flat, sign, label in pool.map(crossings, range(n_parts)):
                _scatter_add(acc.reshape(-1), flat, sign * label)
                _scatter_add(cover.reshape(-1), flat, sign.astype(np.int8))
    odd = _running_sums(acc, cover, width)
    labels = acc[:, :width]
    if len(odd):
        _resolve_overlaps(labels, odd, geoms, transform, width)
    return labels


def _crossings(geoms: np.ndarray, first_label: int, transform: Affine, height: int, width: int,
               flip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where ring edges cross row centres: flat pixel index, sign and label of each crossing."""
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (3, 6)).all():
        from geo_p2dd.io.vector import _polygonal

        geoms = _polygonal(geoms)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    n_int = shapely.get_num_interior_rings(parts)
    rings, ring_of_part = shapely.get_rings(parts, return_index=True)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    # the first ring of each part is its exterior
    exterior = np.ones(len(rings), dtype=bool)
    starts = np.cumsum(n_int + 1) - (n_int + 1)
    exterior[:] = False
    exterior[starts] = True
    x, y = coords[:, 0], coords[:, 1]
    same = ring_idx[1:] == ring_idx[:-1]
    cross = np.where(same, x[:-1] * y[1:] - x[1:] * y[:-1], 0.0)
    area = np.bincount(ring_idx[:-1], weights=cross, minlength=len(rings))
    ring_sign = np.where((area > 0) == exterior, 1, -1).astype(np.int32)
    if flip:
        ring_sign = -ring_sign
    ring_label = (part_of[ring_of_part] + 1 + first_label).astype(np.int32)
    px = (x - transform.c) / transform.a
    py = (y - transform.f) / transform.e
    e = np.flatnonzero(same)
    x0, y0, x1, y1 = px[e], py[e], px[e + 1], py[e + 1]
    r = ring_idx[e]
    lo = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), 0, height).astype(np.int64)
    hi = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), 0, height).astype(np.int64)
    n = hi - lo
    keep = np.flatnonzero(n > 0)
    n = n[keep]
    offsets = np.cumsum(n) - n
    edge = np.repeat(keep, n)
    row = lo[edge] + (np.arange(int(n.sum()), dtype=np.int64) - np.repeat(offsets, n))
    ey0, ey1, ex0 = y0[edge], y1[edge], x0[edge]
    xc = ex0 + (row + 0.5 - ey0) * ((x1[edge] - ex0) / (ey1 - ey0))
    col = np.clip(np.ceil(xc - 0.5), 0, width).astype(np.int64)
    # an edge running down the rows is a left side (for counter-clockwise exteriors)
    sign = np.where(ey1 > ey0, 1, -1).astype(np.int32) * ring_sign[r[edge]]
    flat = row * (width + 1) + col
    order = np.argsort(flat, kind="stable")  # locality for the scatter-add
    return flat[order], sign[order], ring_label[r[edge]][order]


def _scatter_add(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """target[index] += values, where ``index`` is sorted and may repeat."""
    if len(index) == 0:
        return
    np.add.at(target, index, values.astype(target.dtype, copy=False))


def _running_sums(acc: np.ndarray, cover: np.ndarray, width: int) -> np.ndarray:
    """Cumulative sums along rows, in place; returns flat indices covered more than once."""
    height = acc.shape[0]
    step = max(1, CHUNK_PIXELS // acc.shape[1])

    def run(a: int) -> np.ndarray:
        b = min(height, a + step)
        np.cumsum(acc[a:b], axis=1, out=acc[a:b])
        np.cumsum(cover[a:b], axis=1, out=cover[a:b])
        c = cover[a:b, :width]
        rows, cols = np.nonzero((c > 1) | (c < 0))
        return (rows + a) * width + cols

    with ThreadPoolExecutor(_workers()) as pool:
        parts = list(pool.map(run, range(0, height, step)))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _resolve_overlaps(labels, flat_idx, geoms, transform, width) -> None:
    rows, cols = np.divmod(flat_idx, width)
    xs, ys = colrow_to_xy(transform, cols + 0.5, rows + 0.5)
    tree = shapely.STRtree(geoms)
    pt, poly = tree.query(shapely.points(xs, ys), predicate="within")
    best = np.zeros(len(flat_idx), dtype=np.int32)
    np.maximum.at(best, pt, (poly + 1).astype(np.int32))
    labels[rows, cols] = best


def count_classes(
    labels: np.ndarray,
    classes: np.ndarray,
    n_labels: int,
    n_classes: int,
    *,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Count (or sum ``weights`` of) pixels per label and class.

    Parameters
    ----------
    labels : ndarray of int32, (rows, cols)
        Label grid from :func:`label_grid` (0 = no polygon); may be a memmap.
    classes : ndarray of small ints, (rows, cols)
        Class index per pixel, 0..n_classes-1.
    n_labels : int
        Number of polygons.
    n_classes : int
    weights : ndarray of float, optional
        Per-pixel weights (e.g. population); NaN counts as 0.

    Returns
    -------
    ndarray, (n_labels + 1, n_classes)
        Row 0 holds pixels outside every polygon.
    """
    height, width = labels.shape
    step = max(1, CHUNK_PIXELS // max(width, 1))
    starts = list(range(0, height, step))
    size = (n_labels + 1) * n_classes

    def part(a: int) -> np.ndarray:
        b = min(height, a + step)
        lab = np.asarray(labels[a:b]).ravel()
        cls = np.asarray(classes[a:b]).ravel()
        idx = lab * np.int32(n_classes)
        idx += cls.astype(np.int32, copy=False)
        if weights is None:
            return np.bincount(idx, minlength=size)
        w = np.nan_to_num(np.asarray(weights[a:b], dtype=np.float64).ravel(), nan=0.0)
        return np.bincount(idx, weights=w, minlength=size)

    total = np.zeros(size, dtype=np.float64 if weights is not None else np.int64)
    with ThreadPoolExecutor(_workers()) as pool:
        for counts in pool.map(part, starts):
            total += counts
    return total.reshape(n_labels + 1, n_classes)


def touched_counts(
    geoms: np.ndarray,
    which: np.ndarray,
    classes: np.ndarray,
    transform: Affine,
    n_classes: int,
    *,
    weights: np.ndarray | None = None,
) -> dict[int, np.ndarray]:
    """Class counts from every pixel each polygon touches (for polygons with no pixel centre).

    Returns a mapping polygon index -> counts (n_classes,).
    """
    height, width = classes.shape
    out: dict[int, np.ndarray] = {}
    for i in which:
        g = geoms[i]
        minx, miny, maxx, maxy = g.bounds
        c0, r0 = xy_to_colrow(transform, minx, maxy)
        c1, r1 = xy_to_colrow(transform, maxx, miny)
        ra, rb = int(np.floor(min(r0, r1))), int(np.ceil(max(r0, r1))) + 1
        ca, cb = int(np.floor(min(c0, c1))), int(np.ceil(max(c0, c1))) + 1
        ra, rb, ca, cb = max(ra, 0), min(rb, height), max(ca, 0), min(cb, width)
        counts = np.zeros(n_classes, dtype=np.float64)
        if ra < rb and ca < cb:
            mask = rasterize([(g, 1)], out_shape=(rb - ra, cb - ca),
                             transform=transform @ Affine.translation(ca, ra), all_touched=True,
                             dtype="uint8").astype(bool)
            cls = np.asarray(classes[ra:rb, ca:cb])[mask].astype(np.int64)
            if weights is None:
                counts += np.bincount(cls, minlength=n_classes)[:n_classes]
            else:
                w = np.nan_to_num(np.asarray(weights[ra:rb, ca:cb], dtype=float)[mask])
                counts += np.bincount(cls, weights=w, minlength=n_classes)[:n_classes]
        out[int(i)] = counts
    return out


def polygon_class_counts(
    geoms: np.ndarray,
    classes: np.ndarray,
    transform: Affine,
    n_classes: int,
    *,
    weights: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Class counts per polygon (n, n_classes); every polygon gets a value.

    Polygons that contain no pixel centre are counted from the pixels they touch.
    Pass a cached ``labels`` grid to skip rasterising.
    """
    if labels is None:
        labels = label_grid(geoms, transform, classes.shape)
    counts = count_classes(labels, classes, len(geoms), n_classes, weights=weights)[1:]
    if weights is None:
        empty = np.flatnonzero(counts.sum(axis=1) == 0)
    else:
        empty = np.flatnonzero(count_classes(labels, classes, len(geoms), n_classes)[1:]
                               .sum(axis=1) == 0)
    if len(empty):
        counts = counts.astype(np.float64)
        for i, c in touched_counts(geoms, empty, classes, transform, n_classes,
                                   weights=weights).items():
            counts[i] = c
    return counts


def cache_key(geoms: np.ndarray, transform: Affine, shape: tuple[int, int], crs: str) -> str:
    """A key that changes when the boundaries or the grid change."""
    h = hashlib.sha1()
    h.update(repr((tuple(transform)[:6], shape, str(crs))).encode())
    h.update(b"".join(shapely.to_wkb(geoms)))
    return h.hexdigest()[:16]


def cached_label_grid(cache_dir: Path | None, geoms: np.ndarray, transform: Affine,
                      shape: tuple[int, int], crs: str) -> np.ndarray:
    """The label grid for (boundaries, grid), from ``cache_dir`` when present.

    The cache file is a plain ``.npy`` read as a memory map, written atomically.
    """
    if cache_dir is None:
        return label_grid(geoms, transform, shape)
    path = Path(cache_dir) / f"labels-{cache_key(geoms, transform, shape, crs)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    labels = label_grid(geoms, transform, shape)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, labels)
    os.replace(tmp, path)
    return labels
