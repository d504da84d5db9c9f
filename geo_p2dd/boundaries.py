"""Administrative outlines simplified as a coverage: shared edges simplified once.

Kabupaten, kecamatan and village polygons tile a region. Simplifying each polygon on
its own moves the two copies of a shared edge differently, so gaps and overlaps
("angular shards") open between neighbours as the map zooms out. Here the polygons of
one level are first made a valid coverage (:func:`clean_coverage`: overlaps given to
one neighbour, edges matched, slivers narrower than ``gap_width`` merged into a
neighbour) and then simplified together (:func:`simplify_coverage`, GEOS's coverage
simplifier through ``shapely.coverage_simplify``): each shared edge is simplified once
and both neighbours keep the same line, at every tolerance. :func:`coverage_defects`
measures what is left (overlap and gap areas), for tests and benchmarks.
"""

from __future__ import annotations

import numpy as np
import shapely

#: slivers between neighbours narrower than this (degrees, ~10 m) are merged away
GAP_WIDTH = 1e-4


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Each geometry as a valid (multi)polygon; other parts dropped, empties kept empty."""
    geoms = shapely.make_valid(np.asarray(geoms, dtype=object))
    bad = ~np.isin(shapely.get_type_id(geoms), (3, 6))  # Polygon, MultiPolygon
    if bad.any():
        for i in np.flatnonzero(bad):
            parts = shapely.get_parts(geoms[i])
            polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
            geoms[i] = shapely.multipolygons(shapely.get_parts(polys)) if len(polys) else \
                shapely.MultiPolygon()
    return geoms


def clean_coverage(geoms, gap_width: float = GAP_WIDTH) -> np.ndarray:
    """The polygons as a valid coverage (no overlaps, identical shared edges).

    Parameters
    ----------
    geoms : array_like of shapely geometries
        Polygons of one administrative level (degrees).
    gap_width : float
        Gaps between polygons narrower than this are merged into the neighbour with the
        longest shared border; wider gaps (the sea, a lake) stay.

    Returns
    -------
    numpy.ndarray
        One polygon per input, in input order; unchanged when already a valid coverage.
    """
    geoms = _polygonal(geoms)
    if len(geoms) == 0 or shapely.coverage_is_valid(geoms):
        return geoms
    cleaned = shapely.coverage_clean(geoms, gap_width=gap_width)
    return _polygonal(cleaned)


def simplify_coverage(geoms, tolerance: float, *, clean: bool = True,
                      gap_width: float = GAP_WIDTH) -> np.ndarray:
    """Simplify polygons that tile a region together, each shared edge once.

    Parameters
    ----------
    geoms : array_like of shapely geometries
        Polygons of one level.
    tolerance : float
        Roughly the largest distance a simplified edge moves (degrees).
    clean : bool
        Make them a valid coverage first (:func:`clean_coverage`); False when the caller
        passes a cleaned coverage already.
    gap_width : float
        For cleaning, see :func:`clean_coverage`.

    Returns
    -------
    numpy.ndarray
        The simplified polygons in input order; neighbours share their edges exactly.
    """
    geoms = clean_coverage(geoms, gap_width) if clean else np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or tolerance <= 0:
        return geoms
    return shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)


def _holes(geom) -> list:
    """The holes of a (multi)polygon, as polygons."""
    return [shapely.Polygon(ring) for poly in shapely.get_parts(geom)
            for ring in poly.interiors]


def coverage_defects(geoms) -> dict[str, float]:
    """Overlap and gap areas between polygons that should tile a region (degrees²).

    ``overlap`` is the sum of the areas less the area of their union (area counted twice);
    ``gaps`` the area of the holes of the union that are not holes of a polygon itself
    (openings between neighbours). Both are 0 for a perfect coverage.
    """
    geoms = np.asarray(geoms, dtype=object)
    union = shapely.union_all(geoms)
    overlap = float(shapely.area(geoms).sum() - shapely.area(union))
    holes = _holes(union)
    gaps = 0.0
    if holes:
        inside = shapely.union_all(np.asarray(holes, dtype=object))
        # a polygon's own hole (an enclave outside the layer) is no gap between neighbours
        own = [h for g in geoms for h in _holes(g)]
        if own:
            inside = shapely.difference(inside, shapely.union_all(np.asarray(own,
                                                                              dtype=object)))
        gaps = float(shapely.area(inside))
    return {"overlap": max(overlap, 0.0), "gaps": gaps}
