"""Tests for geo_p2dd.zonal: GDAL-identical label runs, counts, and the label cache."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio.features import rasterize

from geo_p2dd import zonal


def gdal_labels(geoms, transform, shape) -> np.ndarray:
    """The reference: rasterio (GDAL) burning labels 1..n in order, pixel-centre rule."""
    shapes = [(g, i + 1) for i, g in enumerate(geoms) if not g.is_empty]
    if not shapes:
        return np.zeros(shape, dtype=np.int32)
    return rasterize(shapes, out_shape=shape, transform=transform, dtype="int32", fill=0)


def star(rng, cx, cy, r, n=12):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.3, 1.0, n) * r
    return shapely.Polygon(np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)])


def random_polygons(rng, transform, shape, n=30):
    """Random valid polygons on the grid: some with holes, some multipart, overlapping."""
    height, width = shape
    px = abs(transform.a)
    out = []
    for k in range(n):
        cx = transform.c + rng.uniform(-2, width + 2) * transform.a
        cy = transform.f + rng.uniform(-2, height + 2) * transform.e
        p = shapely.make_valid(star(rng, cx, cy, rng.uniform(0.5, 15) * px))
        if k % 5 == 0 and p.area > 30 * px * px:  # a hole
            p = p.difference(p.centroid.buffer(1.5 * px))
        if k % 7 == 0:  # a second part
            p = shapely.union(p, star(rng, cx + 20 * transform.a, cy, 4 * px))
        if k % 11 == 0:  # entirely outside the grid
            p = shapely.affinity.translate(p, xoff=(width + 40) * transform.a)
        out.append(p)
    return np.array(out, dtype=object)


TRANSFORMS = [
    Affine(1.0, 0, 0, 0, -1.0, 60),
    Affine(0.1, 0, 10.0, 0, -0.1, 20.0),
    Affine(0.002, 0, 94.96, 0, -0.002, 6.1),
    Affine(250.0, 0, 300_000.0, 0, -250.0, 9_000_000.0),
    Affine(0.5, 0, -3.0, 0, 0.5, -40.0),  # south-up
]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_grid_matches_rasterio_random(transform, seed):
    rng = np.random.default_rng(seed)
    shape = (60, 80)
    geoms = random_polygons(rng, transform, shape)
    assert (zonal.label_grid(geoms, transform, shape)
            == gdal_labels(geoms, transform, shape)).all()


def lattice_polygons(rng, transform, shape, n=25):
    """Rectangles and triangles with vertices on pixel corners and pixel centres: ties
    everywhere (edges through pixel centres, horizontal edges on row centres), both
    orientations, overlapping."""
    height, width = shape
    out = []
    for k in range(n):
        c0, r0 = rng.integers(-3, width), rng.integers(-3, height)
        w, h = rng.integers(1, 12), rng.integers(1, 12)
        xs = np.array([c0, c0 + w, c0 + w, c0]) + (0.5 if k % 3 == 0 else 0.0)
        ys = np.array([r0, r0, r0 + h, r0 + h]) + (0.5 if k % 4 == 0 else 0.0)
        if k % 5 == 0:
            xs = np.array([c0, c0 + w, c0 + w / 2.0])
            ys = np.array([r0, r0, r0 + h]) + 0.5
        ring = np.c_[transform.c + xs * transform.a, transform.f + ys * transform.e]
        if k % 2:
            ring = ring[::-1]
        out.append(shapely.Polygon(ring))
    return np.array(out, dtype=object)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_label_grid_matches_rasterio_on_ties(transform, seed):
    rng = np.random.default_rng(100 + seed)
    shape = (40, 50)
    geoms = lattice_polygons(rng, transform, shape)
    assert (zonal.label_grid(geoms, transform, shape)
            == gdal_labels(geoms, transform, shape)).all()


def test_label_grid_polygon_with_holes_and_parts():
    t = Affine(1, 0, 0, 0, -1, 30)
    outer = shapely.box(2, 2, 28, 28)
    holes = [shapely.box(5.5, 5.5, 10.5, 10.5).exterior.coords,
             shapely.box(15, 15, 20, 22).exterior.coords]
    with_holes = shapely.Polygon(outer.exterior.coords, holes)
    island = shapely.box(6.2, 6.2, 9.7, 9.7)  # inside the first hole: a second village
    multi = shapely.MultiPolygon([shapely.box(0, 0, 1.6, 1.6), shapely.box(29, 29, 30, 30)])
    geoms = np.array([with_holes, island, multi], dtype=object)
    got = zonal.label_grid(geoms, t, (30, 30))
    assert (got == gdal_labels(geoms, t, (30, 30))).all()
    assert set(np.unique(got)) == {0, 1, 2, 3}


def test_label_grid_overlaps_last_polygon_wins():
    t = Affine(1, 0, 0, 0, -1, 20)
    a = shapely.box(0, 0, 12, 20)
    b = shapely.box(8, 0, 20, 20)  # overlaps a over 4 columns
    c = shapely.box(10, 5, 11.2, 15)  # inside both
    for geoms in ([a, b, c], [c, b, a], [b, c, a]):
        geoms = np.array(geoms, dtype=object)
        assert (zonal.label_grid(geoms, t, (20, 20)) == gdal_labels(geoms, t, (20, 20))).all()


def test_label_grid_invalid_multipolygon_parts_burn_separately():
    """GDAL burns MultiPolygon parts one by one: overlapping parts stay filled."""
    t = Affine(1, 0, 0, 0, -1, 20)
    bad = shapely.MultiPolygon([shapely.box(2, 2, 12, 12), shapely.box(6, 6, 16, 16)])
    bowtie = shapely.Polygon([(0, 18), (8, 20), (8, 18), (0, 20)])  # self-intersecting
    twice = shapely.Polygon([(12, 8), (19, 8), (19, 15), (12, 15), (12.5, 8.5), (18.5, 8.5),
                             (18.5, 14.5), (12.5, 14.5)])  # winds twice: even-odd leaves a hole
    geoms = np.array([bad, bowtie, shapely.box(10, 0, 18, 4), twice], dtype=object)
    assert (zonal.label_grid(geoms, t, (20, 20)) == gdal_labels(geoms, t, (20, 20))).all()


def test_label_grid_edge_cases():
    t = Affine(1, 0, 0, 0, -1, 10)
    assert (zonal.label_grid(np.array([], dtype=object), t, (10, 10)) == 0).all()
    empty = shapely.MultiPolygon()
    tiny = shapely.box(3.1, 3.1, 3.4, 3.4)  # no pixel centre
    outside = shapely.box(20, 20, 30, 30)
    gc = shapely.GeometryCollection([shapely.box(0, 0, 4, 4), shapely.LineString([(0, 0),
                                                                                  (5, 5)])])
    geoms = np.array([empty, tiny, outside, gc], dtype=object)
    got = zonal.label_grid(geoms, t, (10, 10))
    assert set(np.unique(got)) == {0, 4}
    # only polygonal parts are burned (GDAL would draw the line too)
    polygonal = geoms.copy()
    polygonal[3] = shapely.box(0, 0, 4, 4)
    assert (got == gdal_labels(polygonal, t, (10, 10))).all()
    with pytest.raises(ValueError, match="rotated"):
        zonal.label_runs(geoms, Affine(1, 0.1, 0, 0, -1, 10), (10, 10))


def test_label_runs_same_with_one_or_two_workers_and_tiny_chunks(monkeypatch):
    rng = np.random.default_rng(7)
    t = TRANSFORMS[1]
    shape = (120, 150)
    geoms = random_polygons(rng, t, shape, n=200)
    ref = gdal_labels(geoms, t, shape)
    for workers in (1, 2):
        monkeypatch.setattr(zonal, "_workers", lambda w=workers: w)
        for block in (1 << 18, 64):
            monkeypatch.setattr(zonal, "BLOCK_COORDS", block)
            runs = zonal.label_runs(geoms, t, shape)
            assert (runs.to_grid() == ref).all()
            assert (runs.pixel_counts() == np.bincount(ref.ravel(), minlength=201)[1:]).all()


def test_many_neighbours_with_sliver_overlaps():
    """A tessellation whose cells overlap their neighbours by thin slivers (as the
    published desa boundaries do): labels as GDAL, each pixel counted once."""
    rng = np.random.default_rng(3)
    t = Affine(0.01, 0, 100.0, 0, -0.01, 1.0)
    shape = (100, 100)
    pts = shapely.points(rng.uniform(100.0, 101.0, 300), rng.uniform(0.0, 1.0, 300))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts),
                                                       extend_to=shapely.box(99, -1, 102, 2)))
    cells = shapely.intersection(cells, shapely.box(100.0, 0.0, 101.0, 1.0))
    geoms = shapely.buffer(cells, 0.004, join_style="mitre")  # slivers between neighbours
    geoms = np.array([g for g in geoms if not g.is_empty], dtype=object)
    runs = zonal.label_runs(geoms, t, shape)
    ref = gdal_labels(geoms, t, shape)
    assert len(runs.fix_pos) > 0  # overlaps were resolved pixel by pixel
    assert (runs.to_grid() == ref).all()
    classes = rng.integers(0, 6, shape).astype(np.uint8)
    counts = zonal.run_class_counts(runs, classes, 6)
    assert counts.sum() == (ref > 0).sum()  # nobody twice, nobody lost


# -- counting ---------------------------------------------------------------------------------


def brute_counts(labels, classes, n, k, weights=None):
    out = np.zeros((n + 1, k))
    w = np.ones(labels.shape) if weights is None else np.nan_to_num(weights, nan=0.0)
    np.add.at(out, (labels.ravel(), classes.ravel()), w.ravel())
    return out[1:]


@pytest.mark.parametrize("chunk", [1 << 20, 7])
def test_run_class_counts_match_dense_and_brute_force(monkeypatch, chunk):
    monkeypatch.setattr(zonal, "CHUNK_PIXELS", chunk)
    rng = np.random.default_rng(11)
    t = TRANSFORMS[0]
    shape = (60, 80)
    geoms = random_polygons(rng, t, shape)
    runs = zonal.label_runs(geoms, t, shape)
    grid = runs.to_grid()
    classes = rng.integers(0, 6, shape).astype(np.uint8)
    weights = rng.uniform(0, 10, shape)
    weights[rng.random(shape) < 0.1] = np.nan  # NaN population counts as nothing
    n = len(geoms)
    expected = brute_counts(grid, classes, n, 6)
    got = zonal.run_class_counts(runs, classes, 6)
    assert got.dtype == np.int64 and (got == expected).all()
    assert (zonal.count_classes(grid, classes, n, 6)[1:] == expected).all()
    wexp = brute_counts(grid, classes, n, 6, weights)
    assert np.allclose(zonal.run_class_counts(runs, classes, 6, weights=weights), wexp)
    assert np.allclose(zonal.count_classes(grid, classes, n, 6, weights=weights)[1:], wexp)


def test_counts_keep_unknown_as_its_own_class():
    """Class 0 (unknown / nodata) is counted, never merged into 'no signal' (1)."""
    t = Affine(1, 0, 0, 0, -1, 4)
    geoms = np.array([shapely.box(0, 0, 4, 4)], dtype=object)
    classes = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 1, 1], [5, 5, 1, 1]], dtype=np.uint8)
    counts = zonal.polygon_class_counts(geoms, classes, t, 6)
    assert counts.tolist() == [[4, 8, 0, 0, 0, 4]]


def test_counts_refuse_classes_out_of_range():
    t = Affine(1, 0, 0, 0, -1, 4)
    geoms = np.array([shapely.box(0, 0, 4, 4)], dtype=object)
    classes = np.full((4, 4), 7, dtype=np.uint8)
    with pytest.raises(ValueError, match="class values"):
        zonal.polygon_class_counts(geoms, classes, t, 6)
    with pytest.raises(ValueError, match="do not match"):
        zonal.run_class_counts(zonal.label_runs(geoms, t, (4, 4)), classes[:3], 6)


def test_villages_without_pixel_centres_get_overlap_weighted_pixels():
    t = Affine(1, 0, 0, 0, -1, 4)
    classes = np.array([[1, 2, 3, 4]] * 4, dtype=np.uint8)
    inside_one = shapely.box(1.1, 1.1, 1.4, 1.4)  # inside pixel (row 2, col 1): class 2
    straddling = shapely.box(2.4, 0.2, 3.4, 0.4)  # 60% in col 2 (class 3), 40% in col 3 (4)
    big = shapely.box(0, 2, 4, 4)  # has pixel centres: counted normally
    geoms = np.array([inside_one, straddling, big], dtype=object)
    counts = zonal.polygon_class_counts(geoms, classes, t, 6)
    assert counts[2].tolist() == [0, 2, 2, 2, 2, 0]
    frac = counts / counts.sum(axis=1, keepdims=True)
    assert np.allclose(frac[0], [0, 0, 1, 0, 0, 0])
    assert np.allclose(frac[1], [0, 0, 0, 0.6, 0.4, 0])
    weights = np.full((4, 4), 10.0)
    wc = zonal.polygon_class_counts(geoms, classes, t, 6, weights=weights)
    assert np.isclose(wc[0].sum(), 10.0 * 0.09)  # share of the pixel times its people
    # a dense label grid works too
    dense = zonal.polygon_class_counts(geoms, classes, t, 6, labels=zonal.label_grid(
        geoms, t, (4, 4)))
    assert np.allclose(dense, counts)


# -- cache ------------------------------------------------------------------------------------


def test_label_runs_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(5)
    t = TRANSFORMS[2]
    geoms = random_polygons(rng, t, (60, 80))
    runs = zonal.label_runs(geoms, t, (60, 80))
    with open(tmp_path / "r.npz", "wb") as fh:
        runs.save(fh)
    back = zonal.LabelRuns.load(tmp_path / "r.npz")
    assert back.shape == runs.shape and back.n_labels == runs.n_labels
    assert (back.to_grid() == runs.to_grid()).all()


def _count_calls(monkeypatch, name: str) -> list:
    """Wrap ``zonal.<name>`` so each call appends to the returned list (it still runs)."""
    calls: list = []
    real = getattr(zonal, name)

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(zonal, name, counting)
    return calls


def test_cached_label_grid_reuse_and_invalidation(tmp_path, monkeypatch):
    rng = np.random.default_rng(9)
    t = TRANSFORMS[1]
    shape = (60, 80)
    geoms = random_polygons(rng, t, shape)
    real = zonal.label_runs
    calls = _count_calls(monkeypatch, "label_runs")
    first = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326")
    assert len(calls) == 1 and len(list(tmp_path.glob("labelruns-*.npz"))) == 1
    again = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326")
    assert len(calls) == 1  # from the cache
    assert (again.to_grid() == first.to_grid()).all()
    classes = rng.integers(0, 6, shape).astype(np.uint8)
    assert (zonal.polygon_class_counts(geoms, classes, t, 6, labels=again)
            == zonal.polygon_class_counts(geoms, classes, t, 6, labels=real(geoms, t, shape))
            ).all()
    # boundaries changed -> burned again
    moved = geoms.copy()
    moved[3] = shapely.affinity.translate(moved[3], xoff=t.a * 2)
    zonal.cached_label_grid(tmp_path, moved, t, shape, "EPSG:4326")
    assert len(calls) == 2
    # same coordinates, a feature split differently -> burned again
    regrouped = np.array([shapely.MultiPolygon(list(shapely.get_parts(geoms[:2]))),
                          *geoms[2:]], dtype=object)
    zonal.cached_label_grid(tmp_path, regrouped, t, shape, "EPSG:4326")
    assert len(calls) == 3
    # grid changed (shape, transform, CRS) -> burned again
    zonal.cached_label_grid(tmp_path, geoms, t, (61, 80), "EPSG:4326")
    zonal.cached_label_grid(tmp_path, geoms, t @ Affine.translation(1, 0), shape, "EPSG:4326")
    zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:32650")
    assert len(calls) == 6
    # only the most recent CACHE_KEEP files are kept
    assert len(list(tmp_path.glob("labelruns-*.npz"))) == zonal.CACHE_KEEP
    # a damaged file is burned again and replaced
    key = zonal.cache_key(geoms, t, shape, "EPSG:4326")
    (tmp_path / f"labelruns-{key}.npz").write_bytes(b"not a zip")
    fixed = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326")
    assert len(calls) == 7 and (fixed.to_grid() == first.to_grid()).all()
    assert zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326") is not None
    assert len(calls) == 7
    # no cache directory: always burned, nothing written
    zonal.cached_label_grid(None, geoms, t, shape, "EPSG:4326")
    assert len(calls) == 8


def test_label_grid_key_of_identified_geometries_is_kept(tmp_path, monkeypatch):
    rng = np.random.default_rng(11)
    t = TRANSFORMS[1]
    shape = (60, 80)
    geoms = random_polygons(rng, t, shape)
    hashed = _count_calls(monkeypatch, "cache_key")
    first = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326", identity=("f", 1))
    assert len(hashed) == 1 and len(list(tmp_path.glob("labelkey-*.txt"))) == 1
    # the same identity: the kept key, no hashing of the geometries, the same label grid
    again = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326", identity=("f", 1))
    assert len(hashed) == 1 and (again.to_grid() == first.to_grid()).all()
    assert len(list(tmp_path.glob("labelruns-*.npz"))) == 1
    # another identity (a new file of the same boundaries): hashed, the same label grid file
    other = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326", identity=("g", 2))
    assert len(hashed) == 2 and (other.to_grid() == first.to_grid()).all()
    assert len(list(tmp_path.glob("labelruns-*.npz"))) == 1
    # another grid under the same identity is another key; a damaged key file is replaced
    zonal.cached_label_grid(tmp_path, geoms, t, (61, 80), "EPSG:4326", identity=("f", 1))
    assert len(hashed) == 3
    for f in tmp_path.glob("labelkey-*.txt"):
        f.write_text("../../etc")
    fixed = zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326", identity=("f", 1))
    assert len(hashed) == 4 and (fixed.to_grid() == first.to_grid()).all()
    assert zonal.cached_label_grid(tmp_path, geoms, t, shape, "EPSG:4326",
                                   identity=("f", 1)) is not None
    assert len(hashed) == 4


def test_old_dense_cache_files_are_removed(tmp_path):
    (tmp_path / "labels-0123456789abcdef.npy").write_bytes(b"x" * 10)
    t = Affine(1, 0, 0, 0, -1, 4)
    geoms = np.array([shapely.box(0, 0, 4, 4)], dtype=object)
    zonal.cached_label_grid(tmp_path, geoms, t, (4, 4), "EPSG:4326")
    assert not list(tmp_path.glob("labels-*.npy"))
