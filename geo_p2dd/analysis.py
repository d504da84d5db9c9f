"""Run the whole analysis on a project and store the results.

``analyze_project`` reads the layers, computes coverage at every location (now,
and after the sites in progress and planned), aggregates per village, scores
and ranks the gaps, aggregates per kecamatan/kabupaten, and writes attribute
tables keyed by code into ``results.gpkg`` in one atomic transaction:

- ``village_results`` (one row per village, keyed by ``kode``),
- ``location_results`` (one row per location, with lon/lat),
- ``area_results`` (one row per kecamatan, kabupaten, province and the whole),
- modelled coverage rasters in ``rasters/`` for the map overlay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.enums import Resampling

from geo_p2dd import coverage as cov
from geo_p2dd import evidence, scoring, zonal
from geo_p2dd import locations as places
from geo_p2dd.config import DEFAULTS, Settings
from geo_p2dd.io.raster import read_on_grid, write_array_cog
from geo_p2dd.locations import derive_settlements  # noqa: F401  (its former home)
from geo_p2dd.project import Project, now_iso
from geo_p2dd.reports_layer import read_reports
from geo_p2dd.schema import CODE_TO_SIGNAL, GAP_CLASSES, PUBLIC_FACILITIES, SITE_STATUS

CLASS_NAMES = tuple(CODE_TO_SIGNAL[code] for code in sorted(CODE_TO_SIGNAL))
GAP_ORDER = GAP_CLASSES.ids  # the schema's vocabularies are the only lists
SITE_STATUSES = SITE_STATUS.ids

#: the views of the analysis: column suffix -> statuses of the sites counted. Now (installed),
#: with the pipeline (in progress and planned: ``*_planned`` columns) and with the
#: proposals too (usulan: ``*_proposed`` columns)
VIEWS: dict[str, tuple[str, ...]] = {
    "": ("installed",),
    "_planned": ("installed", *cov.PIPELINE),
    "_proposed": ("installed", *cov.PIPELINE, "proposed"),
}
#: per-village working figures of each view (the later views' are dropped once classed)
VIEW_FIGURES = ("settlements_signal", "settlements_4g", "locations_by_site",
                "people_public_access", "share_4g", "locations_known", "served_share")
#: per-location columns kept for the later views
VIEW_COLUMNS = ("status", "by_site", "best_4g", "best_other", "site_m")
#: the stages of an analysis, in order (``progress`` callbacks name the one starting)
STAGES = ("load", "settlements", "model towers", "locations", "evidence", "villages",
          "area shares", "score", "write")
#: ``progress(stage, fraction)``: the stage starting and the fraction of stages done
Progress = Callable[[str, float], None]


def _previous_view(suffix: str) -> str:
    keys = list(VIEWS)
    return keys[keys.index(suffix) - 1]


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
        """Villages per class now, with the pipeline and with proposals; per area; totals
        (for ``analyze --json``).

        ``per_area`` lists kecamatan for one kabupaten, kabupaten for one province and
        provinces beyond (``area_level`` says which): a national project prints 38
        lines, not 7,000. ``per_kecamatan`` is kept for one kabupaten's callers.
        """
        v = self.villages
        out = {"villages": len(v)}
        for suffix in VIEWS:
            out[f"per_class{suffix}"] = {c: int((v[f"gap_class{suffix}"] == c).sum())
                                         for c in GAP_ORDER}
        out.update({
            "in_programme": int(v["in_programme"].sum()),
            "people_unserved": int(round(v["people_unserved"].sum())),
            "people_unserved_planned": int(round(v["people_unserved_planned"].sum())),
            "people_unserved_proposed": int(round(v["people_unserved_proposed"].sum())),
            "facilities_unserved": int(v["facilities_unserved"].sum()),
        })
        level = area_level(v)
        out["area_level"] = level
        out["per_area"] = _area_rows(self.areas, level)
        out["per_kecamatan"] = _area_rows(self.areas, "kecamatan") if level == "kecamatan" \
            else []
        out["timings_s"] = {k: round(t, 3) for k, t in self.timings.items()}
        return out


def area_level(villages: pd.DataFrame) -> str:
    """The level of the per-area table: kecamatan within one kabupaten, kabupaten within
    one province, else province."""
    kode = villages["kode"].astype(str)
    if kode.str.slice(0, 2).nunique() > 1:
        return "provinsi"
    if kode.str.slice(0, 5).nunique() > 1:
        return "kabupaten"
    return "kecamatan"


def _area_rows(areas: pd.DataFrame, level: str) -> list[dict]:
    rows = areas[areas["level"] == level]
    return [{"kode": r["kode"], "nama": r["nama"], "villages": int(r["villages"]),
             **{c: int(r[f"n_{c}"]) for c in GAP_ORDER},
             **{f"{c}_planned": int(r[f"n_{c}_planned"]) for c in GAP_ORDER},
             "in_programme": int(r["n_in_programme"]),
             "people_unserved": int(round(r["people_unserved"])),
             "people_unserved_planned": int(round(r["people_unserved_planned"])),
             "facilities_unserved": int(r["facilities_unserved"])}
            for _, r in rows.iterrows()]


def analyze_project(project: Project, *, write: bool = True, scheduler: str | None = None,
                    workers: int | None = None,
                    progress: Progress | None = None) -> AnalysisResult:
    """Analyse ``project`` and (by default) store the results in it atomically.

    When writing, the project's lock is held from reading the inputs to storing
    the results, so results always match the inputs they record
    (``analysis.data_version``); a concurrent import waits for it.

    ``scheduler`` (a Dask scheduler address) or ``workers`` (local Dask worker
    processes), else ``[compute]`` of the settings, run the tower modelling and
    the area shares as Dask tasks (:mod:`geo_p2dd.distributed`); the results
    are the same as in process.

    ``progress(stage, fraction)``, when given, is called as each of :data:`STAGES`
    starts (fraction of the stages done, 0 to 1) and with ``("done", 1.0)`` at the end.
    """
    from geo_p2dd.distributed import open_compute

    conf = project.settings.compute
    scheduler = conf.scheduler if scheduler is None else scheduler
    workers = conf.workers if workers is None else workers
    with open_compute(scheduler, workers, project.cache_dir()) as compute:
        if not write:
            return _analyze(project, write=False, compute=compute, progress=progress)
        with project.locked("analyze"):
            return _analyze(project, write=True, compute=compute, progress=progress)


def _analyze(project: Project, *, write: bool, compute=None,
             progress: Progress | None = None) -> AnalysisResult:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    stages = STAGES if write else STAGES[:-1]
    if progress is not None:
        progress(stages[0], 0.0)

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = now - t0
        t0 = now
        if progress is not None and name in stages:
            done = stages.index(name) + 1
            progress(stages[done] if done < len(stages) else "done", done / len(stages))

    settings = project.settings
    villages = project.read_layer("villages")
    sites = project.read_layer("sites", required=False)
    if sites is None:
        sites = gpd.GeoDataFrame({"site_id": [], "kind": [], "name": [], "status": [],
                                  "village_kode": [], "technology": []}, geometry=[],
                                 crs="EPSG:4326")
    imported = project.read_layer("locations", required=False)
    lap("load")
    grid = project.grid
    pop_path = project.raster_path("population")
    # where people are: imported > register sites > population-grid estimates (snapped)
    locs = places.build_locations(villages, imported, sites, pop_path, settings, grid.crs)
    lap("settlements")

    thresholds = settings.thresholds.rsrp_dbm
    imported_cov = [cov.load_source(e, project.file(e["file"]), thresholds, project.cache_dir())
                    for e in project.coverage_entries()]
    dem = None
    dem_path = project.raster_path("dem")
    has_towers = len(sites) and (sites["kind"] == "bts").any()
    if dem_path is not None and has_towers:
        dem = read_on_grid(dem_path, grid, resampling=Resampling.bilinear)
    # the sources of each view: modelled towers of the view's statuses (re-modelled only
    # when the view adds towers)
    modelled: dict[str, list] = {}
    previous: tuple[str, ...] = ()
    for suffix, statuses in VIEWS.items():
        adds = has_towers and (sites["kind"].eq("bts") & sites["status"].isin(
            [s for s in statuses if s not in previous])).any()
        modelled[suffix] = cov.model_towers(sites, grid, settings, dem, statuses, compute) \
            if adds else (modelled[_previous_view(suffix)] if previous else [])
        previous = statuses
    modelled_now = modelled[""]
    per_operator = cov.model_operators(
        sites, grid, settings, dem, locs, next((s for s in modelled_now if s.is_4g), None),
        compute) if has_towers else []
    lap("model towers")

    # measured grids (Ookla tiles) count in every view; each operator's own model (sampled
    # at these locations only) says who serves today
    gridded = cov.ookla_sources(project.read_layer("ookla", required=False), settings)
    measured = per_operator + gridded

    def view_coverage(points: gpd.GeoDataFrame, suffix: str, today: list) -> pd.DataFrame:
        return cov.locations_coverage(points, sites, imported_cov + modelled[suffix] + today,
                                      grid.crs, settings, statuses=VIEWS[suffix])

    per_view = {}
    previous = ()
    for suffix, statuses in VIEWS.items():
        added = [s for s in statuses if s not in previous]
        if previous and not sites["status"].isin(added).any():  # the same sites: the same
            per_view[suffix] = per_view[_previous_view(suffix)]
        else:
            per_view[suffix] = view_coverage(locs, suffix, measured if not suffix else gridded)
        previous = statuses
    lap("locations")

    # --- field evidence (geo_p2dd.evidence): reports add locations, measured beats modelled ---
    ev = evidence.apply_reports(
        locs, per_view[""], {k: f for k, f in per_view.items() if k},
        read_reports(project, villages), villages, settings, grid.crs,  # with verified ones
        lambda extra: (view_coverage(extra, "", gridded),
                       {k: view_coverage(extra, k, gridded) for k in VIEWS if k}))
    locs = ev.locations
    per_view = {"": ev.now, **ev.later}
    lap("evidence")
    # --- end of field evidence ---

    loc_table = pd.DataFrame(locs.drop(columns="geometry"))
    loc_table["people_est"] = places.people_at_locations(loc_table, villages)
    loc_table = loc_table.join(per_view[""])
    for suffix in VIEWS:
        if suffix:
            loc_table = loc_table.join(per_view[suffix][list(VIEW_COLUMNS)].add_suffix(suffix))
    usable = settings.thresholds.usable_code
    vil = _village_figures(villages, loc_table, sites, locs.geometry.to_crs(grid.crs),
                           usable=usable, seat=settings.project.seat_kode)
    lap("villages")

    area = _area_shares(project, villages, imported_cov + modelled_now, grid, pop_path,
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
        "position_note": loc_table["position_note"].fillna(""),
        "position_note_id": loc_table["position_note_id"].fillna(""),
        "best_4g": [CLASS_NAMES[int(c)] for c in loc_table["best_4g"]],
        "best_other": [CLASS_NAMES[int(c)] for c in loc_table["best_other"]],
        "best_source": loc_table["best_source"],
        **cov.signal_columns(per_view[""], imported_cov + modelled_now + measured),
        "served_by_site": loc_table["by_site"], "nearest_site_km":
            np.round(loc_table["site_m"] / 1000.0, 2),
        "nearest_tower_km": np.round(loc_table["tower_m"] / 1000.0, 2),
        "status": loc_table["status"], "status_planned": loc_table["status_planned"],
        "status_proposed": loc_table["status_proposed"],
        # the pipeline view's signal and public access (what a what-if adds to)
        "best_4g_planned": [CLASS_NAMES[int(c)] for c in loc_table["best_4g_planned"]],
        "best_other_planned": [CLASS_NAMES[int(c)] for c in loc_table["best_other_planned"]],
        "served_by_site_planned": loc_table["by_site_planned"],
        "reason_en": loc_table["reason_en"], "reason_id": loc_table["reason_id"],
        "lon": np.round(locs.geometry.x.to_numpy(), 6),
        "lat": np.round(locs.geometry.y.to_numpy(), 6)})
    loc_out = loc_out.assign(**evidence.output_columns(loc_table))  # field evidence
    vil = vil.join(cov.village_signal_summary(per_view[""], imported_cov + modelled_now + measured,
                                              loc_table["village_kode"],
                                              loc_table["kind"] == "settlement", usable))
    result = AnalysisResult(vil.reset_index(), loc_out, areas, timings, ev.conflicts)
    if write:
        _write(project, result, modelled_now, grid)
        lap("write")
    return result


def _village_figures(villages: gpd.GeoDataFrame, loc: pd.DataFrame, sites: gpd.GeoDataFrame,
                     geom_m: gpd.GeoSeries, usable: int = DEFAULTS.thresholds.usable_code,
                     seat: str | None = None) -> pd.DataFrame:
    """Per-village figures of every view (:data:`VIEWS`).

    Mobile figures (4G, signal) and public-access figures (locations within the
    service radius of a Starlink, VSAT, Wi-Fi or fibre site) are kept apart; the
    gap class reads both. Distances and remoteness are measured from each
    village's main settlement (:func:`geo_p2dd.locations.main_settlements`);
    remoteness to the main settlement of ``seat`` (the regency seat's village
    code, ``[project] seat_kode``), else of the project's most populated village.
    """
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
    src = loc["source"] if "source" in loc.columns else pd.Series("imported", index=loc.index)
    v["settlements_estimated"] = by_village((is_settle & src.eq("estimate")).astype(int)
                                            ).astype(int)
    v["locations_register"] = by_village(src.eq("register").astype(int)).astype(int)
    v["people_located"] = by_village(people.where(is_settle, 0.0))
    v["people_served"] = by_village(people.where(is_settle & served, 0.0))
    v["people_unserved"] = by_village(people.where(is_settle & ~served & known, 0.0))
    v["people_unknown"] = by_village(people.where(is_settle & ~known, 0.0))
    v["people_unserved_planned"] = by_village(people.where(is_settle & ~served_later & known,
                                                           0.0))
    if "status_proposed" in loc.columns:
        v["people_unserved_proposed"] = by_village(people.where(
            is_settle & loc["status_proposed"].ne("served") & known, 0.0))
    v["people_4g"] = by_village(people.where(is_settle & (loc["best_4g"] >= usable), 0.0))
    v["facilities"] = by_village(is_fac.astype(int)).astype(int)
    # unknown signal is not "unserved" (as for people)
    v["facilities_unserved"] = by_village((is_fac & ~served & known).astype(int)).astype(int)
    for kind in PUBLIC_FACILITIES:
        v[f"{kind}_unserved"] = by_village((loc["kind"].eq(kind) & ~served & known).astype(int)
                                           ).astype(int)
    v["locations_unserved"] = by_village((~served & known).astype(int)).astype(int)
    v["locations_known"] = by_village(known.astype(int)).astype(int)
    tot = v["people_located"]
    # per view: mobile (4G share, any usable signal) and public access, kept apart
    for suffix in VIEWS:
        if f"best_4g{suffix}" not in loc.columns:
            continue
        b4 = loc[f"best_4g{suffix}"]
        bo = loc[f"best_other{suffix}"]
        site = loc[f"by_site{suffix}"] != ""
        any_signal = (b4 >= usable) | (bo >= usable)
        four_g = is_settle & (b4 >= usable)
        known_4g = is_settle & (b4 > 0)
        v[f"settlements_signal{suffix}"] = by_village((is_settle & any_signal).astype(int)
                                                      ).astype(int)
        v[f"settlements_4g{suffix}"] = by_village(four_g.astype(int)).astype(int)
        v[f"locations_by_site{suffix}"] = by_village(site.astype(int)).astype(int)
        v[f"people_public_access{suffix}"] = by_village(people.where(is_settle & site, 0.0))
        # share of people with usable 4G among those whose 4G signal is known (by people,
        # else by settlements): unknown is not "no 4G"
        tot_4g = by_village(people.where(known_4g, 0.0))
        share_p = by_village(people.where(four_g, 0.0)) / tot_4g.replace(0, np.nan)
        share_s = v[f"settlements_4g{suffix}"] / by_village(known_4g.astype(int)).replace(
            0, np.nan)
        v[f"share_4g{suffix}"] = share_p.fillna(share_s).clip(0, 1)
        status = loc[f"status{suffix}"]
        v[f"locations_known{suffix}"] = by_village(status.ne("unknown").astype(int)
                                                   ).astype(int)
        v[f"served_share{suffix}"] = (by_village(people.where(is_settle & status.eq("served"),
                                                              0.0)) /
                                      tot.replace(0, np.nan)).fillna(
            by_village((is_settle & status.eq("served")).astype(int)) /
            v["settlements"].replace(0, np.nan))
    v["no_4g_share"] = 1.0 - v["share_4g"]
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
    # the main settlement (the one notion, geo_p2dd.locations): distances and remoteness
    main = places.main_settlements(loc, loc["people_est"])
    at_main = loc.loc[main.to_numpy()]
    # distance to the nearest service from the main settlement: 0 where it is served,
    # else to the nearest installed site (towers included)
    service_m = np.where(at_main["status"].eq("served"), 0.0, at_main["site_m"])
    v["dist_service_km"] = pd.Series(service_m / 1000.0, index=main.index).reindex(v.index)
    v["dist_tower_km"] = pd.Series(at_main["tower_m"].to_numpy() / 1000.0,
                                   index=main.index).reindex(v.index)
    if len(main):
        pts = geom_m.loc[main.to_numpy()]
        p = people.loc[main.to_numpy()].to_numpy()
        codes = main.index.to_numpy()
        at_seat = np.flatnonzero(codes == seat) if seat else []
        centre = pts.values[at_seat[0] if len(at_seat) else int(np.argmax(p))]
        v["remoteness_km"] = pd.Series(shapely.distance(pts.values, centre) / 1000.0,
                                       index=codes).reindex(v.index)
    else:
        v["remoteness_km"] = np.nan
    return v


def gap_class(v: pd.DataFrame, served_share: float, suffix: str = "") -> pd.Series:
    """The gap class of each village of ``v`` in one view (public; see :func:`_gap_class`).

    ``v`` holds ``share_4g``, ``settlements_signal``, ``locations_by_site`` and
    ``locations_known`` with ``suffix`` (per village, as :func:`_village_figures`).
    """
    return _gap_class(v, served_share, suffix)


def _gap_class(v: pd.DataFrame, served_share: float, suffix: str = "") -> pd.Series:
    """The gap class of each village in one view (definitions: schema.GAP_DEFINITIONS).

    Mobile first: served (usable 4G for at least ``served_share`` of the people),
    partial 4G, signal but not 4G; then public access only (no usable mobile signal,
    some location within a public-access site's radius); unknown (no signal data,
    no public access); else blank spot.
    """
    share_4g = v[f"share_4g{suffix}"].fillna(0)
    any_signal = v[f"settlements_signal{suffix}"] > 0
    public = v[f"locations_by_site{suffix}"] > 0
    no_data = v[f"locations_known{suffix}"] == 0
    cls = np.select(
        [share_4g >= served_share, share_4g > 0, any_signal, public, no_data],
        ["served", "partial_4g", "no_4g", "public_access_only", "unknown"],
        default="blank_spot")
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
    # the villages as read from the project's layers file: its identity stands for the
    # geometries while it holds (an analysis hard-links it into the next generation)
    st = project.layers_path.stat()
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, "villages")
    labels = zonal.cached_label_grid(project.cache_dir(), geoms, ref.transform, classes.shape,
                                     ref.crs, identity=identity)
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


def improves(before: pd.Series, after: pd.Series) -> pd.Series:
    """Whether the class ``after`` is better than ``before`` (worst first in
    :data:`GAP_ORDER`; a known class is better than unknown; served cannot improve)."""
    order = {c: i for i, c in enumerate(GAP_ORDER)}
    order["unknown"] = -1  # unknown -> any class is progress too
    return (after.map(order) > before.map(order)) & (before != "served")


def _score(v: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    threshold = settings.thresholds.served_share
    for suffix in VIEWS:
        if f"share_4g{suffix}" in v.columns:
            v[f"gap_class{suffix}"] = _gap_class(v, threshold, suffix)
    if "gap_class_proposed" not in v.columns:
        v["gap_class_proposed"] = v["gap_class_planned"]
    # the later views' working figures are not stored (each column costs every page and
    # download of the results); the classes, the people and the served shares are
    v = v.drop(columns=[c for c in v.columns if c.endswith(("_planned", "_proposed"))
                        and c.rsplit("_", 1)[0] in VIEW_FIGURES
                        and c not in ("locations_by_site_planned", "served_share_planned")])
    # in programme: the pipeline (in progress, planned) improves the class or serves people
    v["in_programme"] = improves(v["gap_class"], v["gap_class_planned"]) | \
        (v["people_unserved_planned"] < v["people_unserved"])
    v["in_proposals"] = improves(v["gap_class_planned"], v["gap_class_proposed"]) | \
        (v.get("people_unserved_proposed", v["people_unserved_planned"]) <
         v["people_unserved_planned"])
    # remoteness: distance from the village's main settlement to the seat
    raw = pd.DataFrame(index=v.index)
    raw["unserved_people"] = v["people_unserved"]
    raw["unserved_facilities"] = v["facilities_unserved"]
    raw["no_4g_share"] = v["no_4g_share"]
    raw["distance"] = v["dist_service_km"]
    raw["remoteness"] = v.get("remoteness_km")
    # nothing planned: a gap with no site installed, in progress or planned in the kampung
    # (a kampung with its own Starlink is not a kampung without a plan)
    has_sites = (v["sites_installed"] + v["sites_in_progress"] + v["sites_planned"]) > 0
    raw["nothing_planned"] = ((v["gap_class"] != "served") & ~v["in_programme"]
                              & ~has_sites).astype(float)
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
    reasons = scoring.explain_all_langs(v, shown, ("id", "en"))
    v["reasons_id"] = reasons["id"]
    v["reasons_en"] = reasons["en"]
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
    flags = {f"n_{c}{suffix}": (v[f"gap_class{suffix}"] == c).to_numpy()
             for c in GAP_ORDER for suffix in VIEWS}
    flags["n_in_programme"] = v["in_programme"].to_numpy()
    int_cols = {"facilities": "facilities", "facilities_unserved": "facilities_unserved",
                **{f"sites_{s}": f"sites_{s}" for s in SITE_STATUSES}}
    float_cols = {"people": "people_located", "people_unserved": "people_unserved",
                  "people_unserved_planned": "people_unserved_planned",
                  "people_unserved_proposed": "people_unserved_proposed",
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
        if name_col:  # the first known name at or after each position (one pass)
            at = np.where(pd.notna(given), np.arange(len(given)), len(given))
            first_known = np.minimum.accumulate(at[::-1])[::-1] if len(at) else at
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
                    if a < b and first_known[a] < b:
                        nama = given[first_known[a]]
            if level == "region":
                nama = project.settings.project.region_name or project.name
            row = {"level": level, "kode": code, "nama": nama, "villages": b - a}
            for suffix in VIEWS:
                for c in GAP_ORDER:
                    row[f"n_{c}{suffix}"] = int(counted[f"n_{c}{suffix}"][gi])
            row["n_in_programme"] = int(counted["n_in_programme"][gi])
            for k in float_cols:
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
            "register_version": project.register_version,  # the register read (web status)
        }
