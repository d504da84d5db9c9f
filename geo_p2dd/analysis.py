"""Run the whole analysis on a project and store the results.

``analyze_project`` reads the layers, computes coverage at every location (now,
and after the sites in progress and planned), aggregates per village, scores
and ranks the gaps, aggregates per kecamatan/kabupaten, and writes attribute
tables keyed by code into ``layers.gpkg`` in one atomic transaction:

- ``village_results`` (one row per village, keyed by ``kode``),
- ``location_results`` (one row per location, with lon/lat),
- ``area_results`` (one row per kecamatan, kabupaten, province and the whole),
- modelled coverage rasters in ``rasters/`` for the map overlay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from geo_p2dd import coverage as cov
from geo_p2dd import evidence, scoring, zonal
from geo_p2dd.config import DEFAULTS, Settings
from geo_p2dd.grid import colrow_to_xy
from geo_p2dd.io.raster import read_on_grid, write_array_cog
from geo_p2dd.project import Project, now_iso
from geo_p2dd.schema import CODE_TO_SIGNAL, GAP_CLASSES, PUBLIC_FACILITIES, SITE_STATUS

CLASS_NAMES = tuple(CODE_TO_SIGNAL[code] for code in sorted(CODE_TO_SIGNAL))
GAP_ORDER = GAP_CLASSES.ids  # the schema's vocabularies are the only lists
SITE_STATUSES = SITE_STATUS.ids


@dataclass
class AnalysisResult:
    """What :func:`analyze_project` computed (also written into the project)."""

    villages: pd.DataFrame
    locations: pd.DataFrame
    areas: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    #: locations where field evidence overturned the model (geo_p2dd.evidence.conflicts)
    conflicts: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> dict:
        """Villages per class, per kecamatan, and totals (for ``analyze --json``)."""
        v = self.villages
        per_class = {c: int((v["gap_class"] == c).sum()) for c in GAP_ORDER}
        kec = self.areas[self.areas["level"] == "kecamatan"]
        return {
            "villages": len(v),
            "per_class": per_class,
            "in_programme": int(v["in_programme"].sum()),
            "people_unserved": int(round(v["people_unserved"].sum())),
            "facilities_unserved": int(v["facilities_unserved"].sum()),
            "per_kecamatan": [
                {"kode": r.kode, "nama": r.nama, "villages": int(r.villages),
                 **{c: int(getattr(r, f"n_{c}")) for c in GAP_ORDER},
                 "people_unserved": int(round(r.people_unserved)),
                 "facilities_unserved": int(r.facilities_unserved)}
                for r in kec.itertuples()],
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def derive_settlements(villages: gpd.GeoDataFrame, population_path, settings: Settings,
                       need: np.ndarray) -> gpd.GeoDataFrame:
    """Settlement points for villages that have none in the locations layer.

    From the population grid: the most populated cells of the village (at least
    ``settings.settlements.min_people_per_cell``, at most ``max_per_village``);
    people are scaled to the village population when known. Without a grid, or
    with no populated cell, the village's representative point carries the
    village population.
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
    covered = set(df["i"]) if len(df) else set()
    missing = [i for i in range(len(sel)) if i not in covered]
    if missing:
        extra = pd.DataFrame({"i": missing, "people": pop_known[missing],
                              "geometry": sel.geometry.representative_point().values[missing],
                              "k": 0})
        df = pd.concat([df, extra], ignore_index=True) if len(df) else extra
    df["n"] = df.groupby("i").cumcount() + 1
    total = df.groupby("i")["people"].transform("sum")
    target = pop_known[df["i"].to_numpy()]
    scale = np.where(np.isfinite(target) & (total > 0), target / total, 1.0)
    df["people"] = np.round(df["people"] * scale, 1)
    source = np.where(df["i"].isin(missing), "derived: village centre",
                      "derived: population grid")
    return gpd.GeoDataFrame({
        "location_id": [f"derived-{codes[i]}-{n}" for i, n in zip(df["i"], df["n"],
                                                                  strict=True)],
        "kind": "settlement",
        "name": [f"Permukiman {names[i]} (perkiraan {n})" for i, n in zip(df["i"], df["n"],
                                                                           strict=True)],
        "village_kode": codes[df["i"].to_numpy()],
        "people": df["people"].to_numpy(),
        "source": source}, geometry=np.asarray(df["geometry"].to_numpy(), dtype=object),
        crs="EPSG:4326")


def analyze_project(project: Project, *, write: bool = True, scheduler: str | None = None,
                    workers: int | None = None) -> AnalysisResult:
    """Analyse ``project`` and (by default) store the results in it atomically.

    When writing, the project's lock is held from reading the inputs to storing
    the results, so results always match the inputs they record
    (``analysis.data_version``); a concurrent import waits for it.

    ``scheduler`` (a Dask scheduler address) or ``workers`` (local Dask worker
    processes), else ``[compute]`` of the settings, run the tower modelling and
    the area shares as Dask tasks (:mod:`geo_p2dd.distributed`); the results
    are the same as in process.
    """
    from geo_p2dd.distributed import open_compute

    conf = project.settings.compute
    scheduler = conf.scheduler if scheduler is None else scheduler
    workers = conf.workers if workers is None else workers
    with open_compute(scheduler, workers, project.cache_dir()) as compute:
        if not write:
            return _analyze(project, write=False, compute=compute)
        with project.locked("analyze"):
            return _analyze(project, write=True, compute=compute)


def _analyze(project: Project, *, write: bool, compute=None) -> AnalysisResult:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = now - t0
        t0 = now

    settings = project.settings
    villages = project.read_layer("villages")
    sites = project.read_layer("sites", required=False)
    if sites is None:
        sites = gpd.GeoDataFrame({"site_id": [], "kind": [], "name": [], "status": [],
                                  "village_kode": [], "technology": []}, geometry=[],
                                 crs="EPSG:4326")
    locations = project.read_layer("locations", required=False)
    lap("load")
    grid = project.grid
    pop_path = project.raster_path("population")
    has_settlement = set()
    if locations is not None and len(locations):
        has_settlement = set(locations.loc[locations["kind"] == "settlement", "village_kode"])
    need = ~villages["kode"].astype(object).isin(has_settlement).to_numpy()
    derived = derive_settlements(villages, pop_path, settings, need) if need.any() else None
    parts = [x for x in (locations, derived) if x is not None and len(x)]
    locs = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    locs = locs[locs["village_kode"].astype(object).isin(set(villages["kode"]))
                ].reset_index(drop=True)
    lap("settlements")

    thresholds = settings.thresholds.rsrp_dbm
    imported = [cov.load_source(e, project.file(e["file"]), thresholds, project.cache_dir())
                for e in project.coverage_entries()]
    dem = None
    dem_path = project.raster_path("dem")
    has_towers = len(sites) and (sites["kind"] == "bts").any()
    if dem_path is not None and has_towers:
        dem = read_on_grid(dem_path, grid, resampling=Resampling.bilinear)
    modelled_now = cov.model_towers(sites, grid, settings, dem, ("installed",), compute) \
        if has_towers else []
    pipeline = ("installed", *cov.PIPELINE)
    modelled_later = cov.model_towers(sites, grid, settings, dem, pipeline, compute) \
        if has_towers and sites["status"].isin(cov.PIPELINE).any() else modelled_now
    per_operator = cov.model_operators(
        sites, grid, settings, dem, locs, next((s for s in modelled_now if s.is_4g), None),
        compute) if has_towers else []
    lap("model towers")

    measured = cov.ookla_sources(project.read_layer("ookla", required=False), settings)
    measured = per_operator + measured
    now = cov.locations_coverage(locs, sites, imported + modelled_now + measured, grid.crs,
                                 settings)
    # (per-operator models are sampled at these locations only; measured grids anywhere)
    gridded = [m for m in measured if m.at_points is None]
    later = cov.locations_coverage(locs, sites, imported + modelled_later + gridded, grid.crs,
                                   settings, statuses=pipeline)
    lap("locations")

    # --- field evidence (geo_p2dd.evidence): reports add locations, measured beats modelled ---
    ev = evidence.apply_reports(
        locs, now, later, project.read_layer("reports", required=False), villages, settings,
        grid.crs, lambda extra: (
            cov.locations_coverage(extra, sites, imported + modelled_now + gridded, grid.crs,
                                   settings),
            cov.locations_coverage(extra, sites, imported + modelled_later + gridded, grid.crs,
                                   settings, statuses=pipeline)))
    locs, now, later = ev.locations, ev.now, ev.later
    lap("evidence")
    # --- end of field evidence ---

    loc_table = _location_people(locs, villages)
    loc_table = loc_table.join(now).join(later[["status", "by_site"]].add_suffix("_planned"))
    usable = settings.thresholds.usable_code
    vil = _village_figures(villages, loc_table, sites, locs.geometry.to_crs(grid.crs),
                           usable=usable, seat=settings.project.seat_kode)
    lap("villages")

    area = _area_shares(project, villages, imported + modelled_now, grid, pop_path,
                        usable=usable, compute=compute)
    vil = vil.join(area)
    lap("area shares")

    vil = _score(vil, settings)
    areas = _aggregate(vil, project)
    lap("score")

    loc_out = pd.DataFrame({
        "location_id": loc_table["location_id"], "kind": loc_table["kind"],
        "name": loc_table["name"], "village_kode": loc_table["village_kode"],
        "people": loc_table["people_est"], "source": loc_table["source"],
        "best_4g": [CLASS_NAMES[int(c)] for c in loc_table["best_4g"]],
        "best_other": [CLASS_NAMES[int(c)] for c in loc_table["best_other"]],
        "best_source": loc_table["best_source"],
        **cov.signal_columns(now, imported + modelled_now + measured),
        "served_by_site": loc_table["by_site"], "nearest_site_km":
            np.round(loc_table["site_m"] / 1000.0, 2),
        "nearest_tower_km": np.round(loc_table["tower_m"] / 1000.0, 2),
        "status": loc_table["status"], "status_planned": loc_table["status_planned"],
        "reason_en": loc_table["reason_en"], "reason_id": loc_table["reason_id"],
        "lon": np.round(locs.geometry.x.to_numpy(), 6),
        "lat": np.round(locs.geometry.y.to_numpy(), 6)})
    loc_out = loc_out.assign(**evidence.output_columns(loc_table))  # field evidence
    vil = vil.join(cov.village_signal_summary(now, imported + modelled_now + measured,
                                              loc_table["village_kode"],
                                              loc_table["kind"] == "settlement", usable))
    result = AnalysisResult(vil.reset_index(), loc_out, areas, timings, ev.conflicts)
    if write:
        _write(project, result, modelled_now, grid)
        lap("write")
    return result


def _location_people(locs: gpd.GeoDataFrame, villages: gpd.GeoDataFrame) -> pd.DataFrame:
    """People per location: given, else the village population shared among its settlements."""
    t = pd.DataFrame(locs.drop(columns="geometry"))
    people = pd.to_numeric(t.get("people"), errors="coerce")
    settle = t["kind"] == "settlement"
    pop = villages.set_index("kode")["population"]
    known = people.where(settle).groupby(t["village_kode"]).sum(min_count=1)
    unknown_n = (settle & people.isna()).groupby(t["village_kode"]).sum()
    rest = (pop.reindex(unknown_n.index) - known.reindex(unknown_n.index).fillna(0)).clip(lower=0)
    share = (rest / unknown_n.replace(0, np.nan))
    fill = t["village_kode"].map(share)
    t["people_est"] = np.where(settle, people.fillna(fill), np.nan)
    if "source" not in t.columns:
        t["source"] = "imported"
    t["source"] = t["source"].fillna("imported")
    return t


def _village_figures(villages: gpd.GeoDataFrame, loc: pd.DataFrame, sites: gpd.GeoDataFrame,
                     geom_m: gpd.GeoSeries, usable: int = DEFAULTS.thresholds.usable_code,
                     seat: str | None = None) -> pd.DataFrame:
    """Per-village figures; remoteness is measured to the main settlement of ``seat``
    (the regency seat's village code, ``[project] seat_kode``), else to the project's
    most populated settlement."""
    v = pd.DataFrame(villages.drop(columns="geometry")).set_index("kode")
    g = loc.groupby("village_kode")
    people = loc["people_est"].fillna(0.0)
    is_settle = loc["kind"] == "settlement"
    is_fac = loc["kind"].isin(PUBLIC_FACILITIES)
    served = loc["status"] == "served"
    served_later = loc["status_planned"] == "served"
    known = loc["status"] != "unknown"

    # each location's village as an integer code, factorised once: grouping by the strings
    # again for every figure cost more than the sums (same groups, same sums)
    vk_codes, vk_names = pd.factorize(loc["village_kode"])
    vk_in = vk_codes >= 0

    def by_village(values: pd.Series) -> pd.Series:
        sums = values[vk_in].groupby(vk_codes[vk_in]).sum()
        sums.index = vk_names[sums.index]
        return sums.reindex(v.index).fillna(0)

    v["locations"] = g.size().reindex(v.index).fillna(0).astype(int)
    v["settlements"] = by_village(is_settle.astype(int)).astype(int)
    v["people_located"] = by_village(people.where(is_settle, 0.0))
    v["people_served"] = by_village(people.where(is_settle & served, 0.0))
    v["people_unserved"] = by_village(people.where(is_settle & ~served & known, 0.0))
    v["people_unknown"] = by_village(people.where(is_settle & ~known, 0.0))
    v["people_unserved_planned"] = by_village(people.where(is_settle & ~served_later & known,
                                                           0.0))
    v["people_4g"] = by_village(people.where(is_settle & (loc["best_4g"] >= usable), 0.0))
    v["facilities"] = by_village(is_fac.astype(int)).astype(int)
    # unknown signal is not "unserved" (as for people)
    v["facilities_unserved"] = by_village((is_fac & ~served & known).astype(int)).astype(int)
    for kind in PUBLIC_FACILITIES:
        v[f"{kind}_unserved"] = by_village((loc["kind"].eq(kind) & ~served & known).astype(int)
                                           ).astype(int)
    v["locations_unserved"] = by_village((~served & known).astype(int)).astype(int)
    # signal at settlements (any technology, usable) and sites serving them
    any_signal = (loc["best_4g"] >= usable) | (loc["best_other"] >= usable)
    v["settlements_signal"] = by_village((is_settle & any_signal).astype(int)).astype(int)
    v["settlements_4g"] = by_village((is_settle & (loc["best_4g"] >= usable)).astype(int))
    v["locations_by_site"] = by_village((loc["by_site"] != "").astype(int)).astype(int)
    v["locations_by_site_planned"] = by_village((loc["by_site_planned"] != "").astype(int)
                                                ).astype(int)
    v["locations_known"] = by_village(known.astype(int)).astype(int)
    # distances from settlements to the nearest installed service
    settle_m = loc["site_m"].where(is_settle)
    v["dist_service_km"] = (settle_m.groupby(loc["village_kode"]).max() / 1000.0).reindex(
        v.index)
    settle_t = loc["tower_m"].where(is_settle)
    v["dist_tower_km"] = (settle_t.groupby(loc["village_kode"]).max() / 1000.0).reindex(
        v.index)
    # share of people without 4G (by people, else by settlements) among those whose 4G
    # signal is known: unknown is not "no 4G"
    tot = v["people_located"]
    known_4g = is_settle & (loc["best_4g"] > 0)
    tot_4g = by_village(people.where(known_4g, 0.0))
    share_people = 1.0 - v["people_4g"] / tot_4g.replace(0, np.nan)
    share_settle = 1.0 - v["settlements_4g"] / by_village(known_4g.astype(int)).replace(0, np.nan)
    v["no_4g_share"] = share_people.fillna(share_settle).clip(0, 1)
    v["served_share"] = (v["people_served"] / tot.replace(0, np.nan)).fillna(
        by_village((is_settle & served).astype(int)) / v["settlements"].replace(0, np.nan))
    # (people unknown now but served by a pipeline site count as served)
    v["served_share_planned"] = (by_village(people.where(is_settle & served_later, 0.0)) /
                                 tot.replace(0, np.nan)).fillna(
        by_village((is_settle & served_later).astype(int)) / v["settlements"].replace(0, np.nan))
    # sites by status and kind
    if len(sites):
        counts = sites.groupby(["village_kode", "status"]).size().unstack(fill_value=0)
        kinds = sites[sites["status"] == "installed"].groupby(["village_kode", "kind"]).size(
            ).unstack(fill_value=0)
    else:
        counts = kinds = pd.DataFrame()
    for s in SITE_STATUSES:
        v[f"sites_{s}"] = (counts[s].reindex(v.index).fillna(0).astype(int)
                           if s in counts.columns else 0)
    for k in ("starlink", "bts", "vsat", "wifi", "fiber"):
        v[f"installed_{k}"] = (kinds[k].reindex(v.index).fillna(0).astype(int)
                               if k in kinds.columns else 0)
    # main settlement and remoteness (distance to the project's most populated settlement)
    settle = loc[is_settle].assign(p=people[is_settle])
    main = settle.sort_values(["village_kode", "p"], ascending=[True, False]).drop_duplicates(
        "village_kode")
    if len(main):
        pts = geom_m.loc[main.index]
        at_seat = main.index[main["village_kode"].to_numpy() == seat] if seat else []
        centre = pts.loc[at_seat[0]] if len(at_seat) else pts.loc[main["p"].idxmax()]
        v["remoteness_km"] = pd.Series(shapely.distance(pts.values, centre) / 1000.0,
                                       index=main["village_kode"].to_numpy()).reindex(v.index)
    else:
        v["remoteness_km"] = np.nan
    return v


def _gap_class(v: pd.DataFrame, served_share: float, suffix: str = "") -> pd.Series:
    share = v[f"served_share{suffix}"].fillna(0)
    any_signal = v["settlements_signal"] > 0
    any_served = (share > 0) | (v[f"locations_by_site{suffix}"] > 0)
    no_data = v["locations_known"] == 0
    cls = np.select(
        [share >= served_share, any_served, any_signal, no_data & ~any_served],
        ["served", "partial_4g", "no_4g", "unknown"], default="blank_spot")
    return pd.Series(cls, index=v.index)


def _area_shares(project: Project, villages: gpd.GeoDataFrame, sources: list,
                 grid, pop_path, usable: int = DEFAULTS.thresholds.usable_code,
                 compute=None) -> pd.DataFrame:
    """Area (and population) shares per 4G signal class on the reference grid.

    With ``compute`` (:class:`geo_p2dd.distributed.Compute`) the pixels are
    counted as Dask tasks (identical counts and sums).
    """
    counter = zonal.polygon_class_counts if compute is None else compute.polygon_class_counts
    four_g = [s for s in sources if s.is_4g]
    out = pd.DataFrame(index=villages["kode"])
    if not four_g:
        for name in CLASS_NAMES:
            out[f"area_{name}"] = np.nan
        out["area_no_4g"] = np.nan
        return out
    ref = next((s for s in four_g if not s.modelled), four_g[0])
    classes = cov.best_of_classes(four_g, ref.transform, ref.crs, ref.classes.shape)
    geoms = villages.geometry.to_crs(ref.crs).values
    labels = zonal.cached_label_grid(project.cache_dir(), geoms, ref.transform, classes.shape,
                                     ref.crs)
    counts = counter(geoms, classes, ref.transform, len(CLASS_NAMES), labels=labels)
    total = counts.sum(axis=1)
    known = total - counts[:, 0]
    for i, name in enumerate(CLASS_NAMES):
        out[f"area_{name}"] = np.where(total > 0, counts[:, i] / np.maximum(total, 1), np.nan)
    no4g = counts[:, 1:usable].sum(axis=1)
    out["area_no_4g"] = np.where(known > 0, no4g / np.maximum(known, 1), np.nan)
    if pop_path is not None:
        pop = cov.population_on(pop_path, ref.transform, ref.crs, classes.shape)
        pc = counter(geoms, classes, ref.transform, len(CLASS_NAMES), labels=labels,
                     weights=pop)
        ptot = pc.sum(axis=1)
        pknown = ptot - pc[:, 0]
        out["pop_grid"] = np.round(ptot, 1)
        for i, name in enumerate(CLASS_NAMES):  # population share per 4G signal class
            out[f"pop_{name}"] = np.where(ptot > 0, pc[:, i] / np.maximum(ptot, 1e-9), np.nan)
        out["pop_no_4g"] = np.where(pknown > 0, pc[:, 1:usable].sum(axis=1) /
                                    np.maximum(pknown, 1e-9), np.nan)
    return out


def _score(v: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    threshold = settings.thresholds.served_share
    v["gap_class"] = _gap_class(v, threshold)
    v["gap_class_planned"] = _gap_class(v, threshold, "_planned")
    order = {c: i for i, c in enumerate(GAP_ORDER)}
    order["unknown"] = -1  # unknown -> any class is progress too
    v["in_programme"] = (v["gap_class_planned"].map(order) > v["gap_class"].map(order)) & \
        (v["gap_class"] != "served") | (v["people_unserved_planned"] < v["people_unserved"])
    # remoteness: distance from the village's main settlement to the seat
    raw = pd.DataFrame(index=v.index)
    raw["unserved_people"] = v["people_unserved"]
    raw["unserved_facilities"] = v["facilities_unserved"]
    raw["no_4g_share"] = v["no_4g_share"]
    raw["distance"] = v["dist_service_km"]
    raw["remoteness"] = v.get("remoteness_km")
    raw["nothing_planned"] = ((v["gap_class"] != "served") & ~v["in_programme"]).astype(float)
    norm = scoring.normalise(raw)
    score, contrib = scoring.weighted_score(norm, settings.weights)
    v["score"] = score.round(2)
    for k in contrib.columns:
        v[f"f_{k}"] = norm[k].round(4)
        v[f"c_{k}"] = contrib[k].round(2)
    frame = v.reset_index()
    v["rank"] = scoring.rank(frame).to_numpy()
    v["rank_kabupaten"] = scoring.rank(frame, by="kabupaten_kode").to_numpy()
    v["rank_kecamatan"] = scoring.rank(frame, by="kecamatan_kode").to_numpy()
    shown = contrib.round(2)  # the reasons quote the stored contributions
    v["reasons_id"] = scoring.explain_all(v, shown, "id")
    v["reasons_en"] = scoring.explain_all(v, shown, "en")
    return v


def _aggregate(v: pd.DataFrame, project: Project) -> pd.DataFrame:
    """Per kecamatan, kabupaten, province and the whole project."""
    v = v.reset_index()
    v["provinsi_kode"] = v["kode"].str.slice(0, 2)
    rows = []
    names = {}
    for level in ("kecamatan", "kabupaten"):
        areas = project.read_layer(level, required=False, columns=["kode", "nama"])
        if areas is not None:
            names.update(dict(zip(areas["kode"], areas["nama"], strict=True)))
    levels = [("kecamatan", "kecamatan_kode"), ("kabupaten", "kabupaten_kode"),
              ("provinsi", "provinsi_kode")]
    v["_all"] = project.region_code or "all"
    levels.append(("region", "_all"))
    # the groups of each level as slices of one stable sort (as groupby(sort=True) iterates:
    # sorted keys, rows in their order, missing keys dropped); counts summed per slice with
    # reduceat, people with the same per-group sum pandas uses (NaN as 0)
    flags = {f"n_{c}": (v["gap_class"] == c).to_numpy() for c in GAP_ORDER}
    flags["n_in_programme"] = v["in_programme"].to_numpy()
    int_cols = {"facilities": "facilities", "facilities_unserved": "facilities_unserved",
                **{f"sites_{s}": f"sites_{s}" for s in SITE_STATUSES}}
    float_cols = {"people": "people_located", "people_unserved": "people_unserved",
                  "people_unserved_planned": "people_unserved_planned",
                  "people_4g": "people_4g"}
    as_float = {out: np.nan_to_num(v[col].to_numpy(dtype=np.float64), nan=0.0)
                for out, col in float_cols.items()}
    as_int = {out: v[col].to_numpy() for out, col in int_cols.items()}
    for level, key in levels:
        keys, uniques = pd.factorize(v[key], sort=True)
        present = np.flatnonzero(keys >= 0)
        order = present[np.argsort(keys[present], kind="stable")]
        bounds = np.searchsorted(keys[order], np.arange(len(uniques) + 1))
        starts = bounds[:-1]
        name_col = {"kecamatan": "kecamatan", "kabupaten": "kabupaten"}.get(level)
        given = v[name_col].to_numpy(dtype=object)[order] if name_col else None
        counted = {k: np.add.reduceat(f[order].astype(np.int64), starts) if len(order) else []
                   for k, f in flags.items()}
        summed = {k: np.add.reduceat(a[order], starts) if len(order) else []
                  for k, a in as_int.items()}
        floats = {k: a[order] for k, a in as_float.items()}
        for gi, code in enumerate(uniques):
            a, b = int(bounds[gi]), int(bounds[gi + 1])
            nama = names.get(code)
            if not nama:
                nama = code
                if name_col:
                    known = [x for x in given[a:b] if not pd.isna(x)]
                    if known:
                        nama = known[0]
            if level == "region":
                nama = project.settings.project.region_name or project.name
            row = {"level": level, "kode": code, "nama": nama, "villages": b - a}
            for c in GAP_ORDER:
                row[f"n_{c}"] = int(counted[f"n_{c}"][gi])
            row["n_in_programme"] = int(counted["n_in_programme"][gi])
            for k in ("people", "people_unserved", "people_unserved_planned", "people_4g"):
                row[k] = float(floats[k][a:b].sum())
            row["facilities"] = int(summed["facilities"][gi])
            row["facilities_unserved"] = int(summed["facilities_unserved"][gi])
            for s in SITE_STATUSES:
                row[f"sites_{s}"] = int(summed[f"sites_{s}"][gi])
            rows.append(row)
    return pd.DataFrame(rows)


def _write(project: Project, result: AnalysisResult, modelled: list, grid) -> None:
    used = project.settings.to_dict()  # the effective settings, defaults included
    with project.transaction("analyze", inputs=False) as tx:
        tx.write_layer("village_results", result.villages)
        tx.write_layer("location_results", result.locations)
        tx.write_layer("area_results", result.areas)
        tx.write_layer("evidence_conflicts", result.conflicts)  # field evidence
        files = []
        for src in modelled:
            name = "modelled_4g" if src.is_4g else "modelled_2g3g"
            relative = f"rasters/{name}.tif"
            write_array_cog(src.classes, grid, tx.stage_file(relative), nodata=0)
            files.append({"name": name, "file": relative, "technology": src.technology})
        tx.config["analysis"] = {
            "date": now_iso(),
            "thresholds": used["thresholds"],
            "weights": used["weights"],
            "service_radius_m": used["service_radius_m"],
            "propagation": used["propagation"],
            "evidence": used["evidence"],  # field evidence
            "modelled": files,
            "villages": len(result.villages),
            "data_version": project.data_version,
        }
