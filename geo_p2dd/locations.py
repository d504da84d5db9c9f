"""Where people are: every location from the best evidence available, saying which.

A village is served when the places where its people live and meet are served, so
the analysis needs those places. They come from three sources, best first, and each
location records its source (:data:`geo_p2dd.schema.LOCATION_SOURCES`):

1. ``imported`` — settlements and facilities imported into the ``locations`` layer.
2. ``register`` — public-access sites of the register (Starlink, VSAT, Wi-Fi, fibre:
   the kinds that serve by radius). Whoever put such a site put it where people are,
   so it is, or stands at, a location of its kampung: the facility the sheet names
   (its ``facility`` column, else its name or notes: "Starlink SD Negeri 1 ...",
   "Kantor Kampung ...") or else a public access point (``public_access``). Every
   status counts, damaged and inactive too: a broken terminal still marks the school
   it was put at (which it then does not serve). Towers (BTS) do not: a mast stands
   on a hill, not among the houses. A register location within
   :data:`SAME_PLACE_M` of an imported location of its kampung adds nothing and is
   left out.
3. ``estimate`` — settlements estimated from the population grid (the most populated
   cells, :func:`derive_settlements`), only for kampung without an imported
   settlement. A 1 km cell's centre can lie kilometres from the houses, which left
   Starlinks with a 300 m radius reaching nobody; so each register site of a kampung
   pulls the most populated estimated settlement of that kampung within ``[locations]
   snap_km`` to its position (each estimate moves at most once; an estimate at the
   village centre, made where the grid shows nobody, moves at any distance) and the
   location says so in ``position_note``.

The *main settlement* of a kampung (:func:`main_settlements`) is its most populated
settlement among these locations (ties: the first). It is the one notion used both
when an import places a row without coordinates (:func:`main_settlement_points`) and
when the analysis measures distances and remoteness, so a row placed "at the main
settlement" is 0 km from the main settlement the analysis measures from.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.windows import from_bounds

from geo_p2dd import zonal
from geo_p2dd.config import RADIUS_KINDS, Settings
from geo_p2dd.grid import colrow_to_xy
from geo_p2dd.i18n import N_, format_number, gettext
from geo_p2dd.schema import LOCATION_KINDS, PUBLIC_FACILITIES

#: a register location this close (m) to an imported location of its kampung is that location
#: (GPS readings of one place by two agencies; less than the default Wi-Fi radius)
SAME_PLACE_M = 250.0

#: location columns every source fills
COLUMNS = ("location_id", "kind", "name", "village_kode", "people", "source",
           "position_note", "position_note_id")

SNAP_NOTE = N_("estimated settlement moved %(km)s km to register site %(site)s")
AT_SITE_NOTE = N_("estimated settlement at register site %(site)s")
GRID_NOTE = N_("estimated from the population grid")
CENTRE_NOTE = N_("estimated at the village centre (no populated grid cell)")


def _notes(msgid: str, **values) -> tuple[str, str]:
    """(English, Indonesian) of a note."""
    return (gettext(msgid, "en", **values), gettext(msgid, "id", **values))


# -- register sites as locations --------------------------------------------------------------

def _facility_spellings() -> list[tuple[str, str]]:
    """(normalised spelling, kind) of the public facilities, longest spelling first."""
    pairs = []
    for term in LOCATION_KINDS.terms:
        if term.id not in PUBLIC_FACILITIES:
            continue
        for spelling in (term.id, term.label_id, term.label_en, *term.synonyms):
            pairs.append((_words(spelling), term.id))
    pairs += [("sd negeri", "school"), ("sekolah dasar", "school"),
              ("puskesmas pembantu", "health")]
    return sorted(set(pairs), key=lambda p: -len(p[0]))


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", str(text).lower().replace("_", " ")))


def facility_kind(*texts: object) -> str | None:
    """The public facility kind a site's texts name (school, health, village_office), or None.

    The first text naming one wins (give the sheet's facility column first, then the
    site's name and notes); words are matched whole ("SD Negeri 1" is a school,
    "Sdr." is not).

    >>> facility_kind(None, "Starlink SD Negeri 001 Long Apari")
    'school'
    >>> facility_kind("", "VSAT Kantor Kampung Tiong Ohang", "")
    'village_office'
    >>> facility_kind("Starlink Long Pahangai") is None
    True
    """
    spellings = _facility_spellings()
    for text in texts:
        if text is None or (isinstance(text, float) and np.isnan(text)):
            continue
        words = f" {_words(text)} "
        for spelling, kind in spellings:
            if spelling and f" {spelling} " in words:
                return kind
    return None


def register_locations(sites: gpd.GeoDataFrame | None, imported: gpd.GeoDataFrame | None,
                       metric_crs: str) -> gpd.GeoDataFrame:
    """One location per position of a public-access site (source ``register``).

    Parameters
    ----------
    sites : GeoDataFrame or None
        The register (``sites`` layer): ``site_id``, ``kind``, ``name``,
        ``village_kode``, optional ``facility`` and ``notes``.
    imported : GeoDataFrame or None
        The imported locations; a site within :data:`SAME_PLACE_M` of one of its
        kampung adds no location.
    metric_crs : str
        A metric CRS for distances (the project grid's).

    Returns
    -------
    GeoDataFrame
        :data:`COLUMNS`, one row per distinct site position, id ``site-<site_id>`` of
        the first site there; kind the named facility, else ``public_access``.
    """
    s = public_access_sites(sites)
    if not len(s):
        return _empty()
    if imported is not None and len(imported):
        near = _nearest_same_village(s, imported, metric_crs)
        s = s[~(near <= SAME_PLACE_M)]
    facility = s["facility"] if "facility" in s.columns else pd.Series(None, index=s.index)
    notes = s["notes"] if "notes" in s.columns else pd.Series(None, index=s.index)
    kinds, names = [], []
    for f, name, note in zip(facility, s["name"], notes, strict=True):
        kind = facility_kind(f, name, note)
        kinds.append(kind or "public_access")
        given = f if isinstance(f, str) and f.strip() else name
        names.append(str(given))
    return gpd.GeoDataFrame({
        "location_id": ["site-" + str(i) for i in s["site_id"]], "kind": kinds, "name": names,
        "village_kode": s["village_kode"].to_numpy(), "people": np.nan, "source": "register",
        "position_note": "", "position_note_id": ""},
        geometry=s.geometry.to_crs("EPSG:4326").values, crs="EPSG:4326")


def public_access_sites(sites: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The register's public-access sites with a position and a kampung, one per position.

    Kinds of :data:`geo_p2dd.config.RADIUS_KINDS`, any status; of several sites at one
    position of one kampung the first is kept.
    """
    if sites is None or not len(sites):
        return _empty()
    s = sites[sites["kind"].isin(RADIUS_KINDS) & sites["village_kode"].notna()]
    s = s[~(shapely.is_missing(s.geometry.values) | shapely.is_empty(s.geometry.values))]
    if not len(s):
        return s
    key = pd.Series([f"{p.x:.6f},{p.y:.6f}" for p in s.geometry.to_crs("EPSG:4326").values],
                    index=s.index)
    return s[~(key + "|" + s["village_kode"].astype(str)).duplicated()]


def _nearest_same_village(points: gpd.GeoDataFrame, others: gpd.GeoDataFrame,
                          metric_crs: str) -> np.ndarray:
    """Distance (m) from each of ``points`` to the nearest of ``others`` in its village."""
    a = points.geometry.to_crs(metric_crs).values
    b = others.geometry.to_crs(metric_crs).values
    out = np.full(len(a), np.inf)
    tree = shapely.STRtree(b)
    va = points["village_kode"].to_numpy()
    vb = others["village_kode"].to_numpy()
    i, j = tree.query(a, predicate="dwithin", distance=SAME_PLACE_M)
    same = va[i] == vb[j]
    if same.any():
        d = shapely.distance(a[i[same]], b[j[same]])
        np.minimum.at(out, i[same], d)
    return out


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=float if c == "people" else object)
                             for c in COLUMNS}, geometry=[], crs="EPSG:4326")


# -- estimates ---------------------------------------------------------------------------------

def derive_settlements(villages: gpd.GeoDataFrame, population_path, settings: Settings,
                       need: np.ndarray) -> gpd.GeoDataFrame:
    """Estimated settlement points (source ``estimate``) for the villages where ``need``.

    From the population grid: the most populated cells of the village (at least
    ``settings.settlements.min_people_per_cell``, at most ``max_per_village``);
    people are scaled to the village population when known. Without a grid, or
    with no populated cell, the village's representative point carries the
    village population. Locations are named "Permukiman <village> (perkiraan n)"
    and ``position_note`` says how each was estimated.
    """
    sel = villages[need]
    rows = []
    settle = settings.settlements
    if population_path is not None and len(sel):
        with rasterio.open(population_path) as src:
            geoms = sel.geometry.to_crs(src.crs).values
            west, south, east, north = shapely.total_bounds(geoms)
            # every cell the bounds reach (round_offsets().round_lengths() could drop the
            # last column/row, whose centre may lie in a village)
            w = from_bounds(west, south, east, north, src.transform)
            c0, r0 = int(np.floor(w.col_off)), int(np.floor(w.row_off))
            window = rasterio.windows.Window(c0, r0, int(np.ceil(w.col_off + w.width)) - c0,
                                             int(np.ceil(w.row_off + w.height)) - r0)
            try:
                window = window.intersection(
                    rasterio.windows.Window(0, 0, src.width, src.height))
            except rasterio.errors.WindowError:  # the grid does not reach these villages
                window = rasterio.windows.Window(0, 0, 0, 0)
            pop = src.read(1, window=window, boundless=False).astype(np.float64)
            if src.nodata is not None:
                pop[pop == src.nodata] = 0.0
            pop = np.nan_to_num(pop, nan=0.0)
            wt = src.window_transform(window)
            crs = src.crs
        labels = zonal.label_grid(geoms, wt, pop.shape)
        flat_l = labels.ravel()
        flat_p = pop.ravel()
        ok = (flat_l > 0) & (flat_p >= settle.min_people_per_cell)
        idx = np.flatnonzero(ok)
        order = np.lexsort((-flat_p[idx], flat_l[idx]))
        idx = idx[order]
        lab = flat_l[idx]
        rank_in = np.arange(len(idx)) - np.searchsorted(lab, lab)
        idx = idx[rank_in < settle.max_per_village]
        r, c = np.divmod(idx, pop.shape[1])
        xs, ys = colrow_to_xy(wt, c + 0.5, r + 0.5)
        pts = gpd.GeoSeries(shapely.points(xs, ys), crs=crs).to_crs("EPSG:4326")
        for k, (i, p, g) in enumerate(zip(flat_l[idx] - 1, flat_p[idx], pts.values,
                                          strict=True)):
            rows.append((int(i), float(p), g, k))
    df = pd.DataFrame(rows, columns=["i", "people", "geometry", "k"])
    codes = sel["kode"].to_numpy()
    names = sel["nama"].to_numpy()
    pop_known = sel["population"].to_numpy(dtype=float)
    # no populated cell: the village's representative point (of those villages only)
    missing = np.setdiff1d(np.arange(len(sel)), df["i"].to_numpy(dtype=int)) if len(df) \
        else np.arange(len(sel))
    if len(missing):
        extra = pd.DataFrame({"i": missing, "people": pop_known[missing],
                              "geometry": shapely.point_on_surface(
                                  np.asarray(sel.geometry.values)[missing]),
                              "k": 0})
        df = pd.concat([df, extra], ignore_index=True) if len(df) else extra
    df["n"] = df.groupby("i").cumcount() + 1
    total = df.groupby("i")["people"].transform("sum")
    target = pop_known[df["i"].to_numpy()]
    scale = np.where(np.isfinite(target) & (total > 0), target / total, 1.0)
    df["people"] = np.round(df["people"] * scale, 1)
    at_centre = df["i"].isin(missing).to_numpy()
    grid_note, centre_note = _notes(GRID_NOTE), _notes(CENTRE_NOTE)
    return gpd.GeoDataFrame({
        "location_id": [f"derived-{codes[i]}-{n}" for i, n in zip(df["i"], df["n"],
                                                                  strict=True)],
        "kind": "settlement",
        "name": [f"Permukiman {names[i]} (perkiraan {n})" for i, n in zip(df["i"], df["n"],
                                                                           strict=True)],
        "village_kode": codes[df["i"].to_numpy()],
        "people": df["people"].to_numpy(),
        "source": "estimate",
        "position_note": np.where(at_centre, centre_note[0], grid_note[0]),
        "position_note_id": np.where(at_centre, centre_note[1], grid_note[1])},
        geometry=np.asarray(df["geometry"].to_numpy(), dtype=object), crs="EPSG:4326")


def snap_estimates(estimates: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, metric_crs: str,
                   snap_km: float) -> gpd.GeoDataFrame:
    """Move estimated settlements onto the register sites of their kampung.

    Every (estimate, site) pair of one kampung closer than ``snap_km`` is a
    candidate, and so is every pair whose estimate stands at the village centre (no
    populated grid cell: no evidence of position at all). Each site takes the most
    populated estimate within reach (ties: the
    nearer, then the first), each estimate moves once: the kampung's main settlement,
    when a site stands within ``snap_km`` of it, is where that site is. A moved
    estimate gets the site's position and a ``position_note`` naming the site and
    the distance.

    Parameters
    ----------
    estimates : GeoDataFrame
        Settlements with ``source == "estimate"`` (others are returned unchanged).
    sites : GeoDataFrame
        Register locations or sites: ``village_kode``, ``name``, Point geometry.
    """
    out = estimates.copy()
    est = np.flatnonzero((out["source"] == "estimate").to_numpy())
    if not len(est) or sites is None or not len(sites):
        return out
    a = out.geometry.iloc[est].to_crs(metric_crs).values
    b = sites.geometry.to_crs(metric_crs).values
    # candidate pairs: an estimate and a site of the same kampung
    pairs = pd.DataFrame({"i": np.arange(len(est)),
                          "v": out["village_kode"].to_numpy()[est]}).merge(
        pd.DataFrame({"j": np.arange(len(b)), "v": sites["village_kode"].to_numpy()}), on="v")
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    d = shapely.distance(a[i], b[j])
    # an estimate at the village centre has no position evidence at all: any site of
    # its kampung is better, whatever the distance
    centre = (out["position_note"].to_numpy()[est] == gettext(CENTRE_NOTE, "en"))[i]
    keep = (d <= snap_km * 1000.0) | centre
    i, j, d = i[keep], j[keep], d[keep]
    people = pd.to_numeric(out["people"], errors="coerce").fillna(0.0).to_numpy()[est]
    order = np.lexsort((j, i, d, -people[i]))
    taken_e, taken_s = set(), set()
    geoms = out.geometry.values.copy()
    note_en = out["position_note"].to_numpy(dtype=object).copy()
    note_id = out["position_note_id"].to_numpy(dtype=object).copy()
    site_geoms = sites.geometry.to_crs("EPSG:4326").values
    names = sites["name"].to_numpy()
    for k in order:
        e, s = int(i[k]), int(j[k])
        if e in taken_e or s in taken_s:
            continue
        taken_e.add(e)
        taken_s.add(s)
        row = est[e]
        geoms[row] = site_geoms[s]
        km = d[k] / 1000.0
        if d[k] < 1.0:  # a row the import placed at this settlement
            note_en[row], note_id[row] = _notes(AT_SITE_NOTE, site=names[s])
        else:
            note_en[row], note_id[row] = (
                gettext(SNAP_NOTE, "en", km=format_number(km, "en", 1), site=names[s]),
                gettext(SNAP_NOTE, "id", km=format_number(km, "id", 1), site=names[s]))
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs="EPSG:4326"))
    out["position_note"] = note_en
    out["position_note_id"] = note_id
    return out


# -- all locations -----------------------------------------------------------------------------

def build_locations(villages: gpd.GeoDataFrame, imported: gpd.GeoDataFrame | None,
                    sites: gpd.GeoDataFrame | None, population_path, settings: Settings,
                    metric_crs: str) -> gpd.GeoDataFrame:
    """The locations of every village, best evidence first (see the module docstring).

    Returns
    -------
    GeoDataFrame
        Imported locations, then register locations, then (snapped) estimates, all
        with :data:`COLUMNS` (``source`` imported | register | estimate), only those
        of ``villages``, index 0..n-1.
    """
    parts = []
    has_settlement: set = set()
    if imported is not None and len(imported):
        imp = imported.copy()
        imp["source"] = "imported"
        for c in ("position_note", "position_note_id"):
            imp[c] = imp[c].fillna("") if c in imp.columns else ""
        parts.append(imp)
        has_settlement = set(imp.loc[imp["kind"] == "settlement", "village_kode"])
    reg = register_locations(sites, imported, metric_crs)
    if len(reg):
        parts.append(reg)
    need = ~villages["kode"].astype(object).isin(has_settlement).to_numpy()
    if need.any():
        est = derive_settlements(villages, population_path, settings, need)
        est = snap_estimates(est, public_access_sites(sites), metric_crs,
                             settings.locations.snap_km)
        parts.append(est)
    if not parts:
        return _empty()
    locs = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    locs = locs[locs["village_kode"].astype(object).isin(
        villages["kode"].to_numpy(dtype=object))].reset_index(drop=True)
    return locs


def people_at_locations(locs: pd.DataFrame, villages: pd.DataFrame) -> pd.Series:
    """People per location: given, else the village population shared among its settlements.

    Settlements without a head count share what the village population leaves after
    the counted ones; other kinds (facilities, public access points) hold nobody
    (NaN).
    """
    people = pd.to_numeric(locs.get("people"), errors="coerce")
    if people is None:
        people = pd.Series(np.nan, index=locs.index)
    settle = locs["kind"] == "settlement"
    pop = villages.set_index("kode")["population"]
    known = people.where(settle).groupby(locs["village_kode"]).sum(min_count=1)
    unknown_n = (settle & people.isna()).groupby(locs["village_kode"]).sum()
    rest = (pop.reindex(unknown_n.index) - known.reindex(unknown_n.index).fillna(0)).clip(lower=0)
    share = rest / unknown_n.replace(0, np.nan)
    fill = locs["village_kode"].map(share)
    return pd.Series(np.where(settle, people.fillna(fill), np.nan), index=locs.index)


def main_settlements(locs: pd.DataFrame, people: pd.Series) -> pd.Series:
    """The main settlement of each village: its most populated settlement (ties: the first).

    Returns
    -------
    Series
        Index ``village_kode``, values the index labels of ``locs``.
    """
    settle = locs[locs["kind"] == "settlement"]
    if not len(settle):
        return pd.Series([], dtype=object)
    frame = pd.DataFrame({"v": settle["village_kode"].to_numpy(),
                          "p": people.loc[settle.index].fillna(0.0).to_numpy(),
                          "pos": np.arange(len(settle))}, index=settle.index)
    frame = frame.sort_values(["v", "p", "pos"], ascending=[True, False, True],
                              kind="mergesort")
    first = frame.drop_duplicates("v")
    return pd.Series(first.index.to_numpy(), index=first["v"].to_numpy())


def main_settlement_points(villages: gpd.GeoDataFrame, imported: gpd.GeoDataFrame | None,
                           sites: gpd.GeoDataFrame | None, population_path,
                           settings: Settings, metric_crs: str) -> gpd.GeoDataFrame:
    """Each village's main settlement as the analysis will find it, one row per village.

    For an import placing rows without coordinates: the locations of
    :func:`build_locations` (from the project's current layers), the main settlement
    of :func:`main_settlements`. Columns ``village_kode``, ``kind`` ("settlement"),
    ``people``.
    """
    locs = build_locations(villages, imported, sites, population_path, settings, metric_crs)
    people = people_at_locations(locs, villages)
    main = main_settlements(locs, people)
    rows = locs.loc[main.to_numpy()]
    return gpd.GeoDataFrame({"village_kode": rows["village_kode"].to_numpy(),
                             "kind": "settlement",
                             "people": people.loc[main.to_numpy()].to_numpy()},
                            geometry=rows.geometry.values, crs="EPSG:4326")


def project_main_settlements(project) -> gpd.GeoDataFrame:
    """:func:`main_settlement_points` of a :class:`~geo_p2dd.project.Project` as it stands."""
    villages = project.read_layer("villages")
    grid = project.grid
    crs = grid.crs if grid is not None else villages.estimate_utm_crs()
    return main_settlement_points(villages, project.read_layer("locations", required=False),
                                  project.read_layer("sites", required=False),
                                  project.raster_path("population"), project.settings, crs)
