"""Importing files into a project: villages, areas, population, points, rasters.

Each ``import_*`` function works inside a :class:`~geo_p2dd.project.Transaction`
and returns an :class:`ImportReport`; :func:`import_layer` and
:func:`init_project` wrap them so that a failure changes nothing.
"""

from __future__ import annotations

import csv
import getpass
import math
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_p2dd.errors import InputError, NotFoundError, RowProblem
from geo_p2dd.grid import Grid
from geo_p2dd.io import shown_columns
from geo_p2dd.io.raster import (
    RasterLimits,
    check_raster,
    checked_values,
    raster_limits,
    rasterise_polygons,
    value_range,
    write_array_cog,
    write_cog,
)
from geo_p2dd.io.table import ROW_COLUMN, TABLE_SUFFIXES, read_table, sheet_names
from geo_p2dd.io.vector import list_layers, read_vector, repair_polygons
from geo_p2dd.layers import (
    MergeCounts,
    PointImport,
    areas_from_frame,
    is_opencellid,
    merge_points,
    normalise_code,
    points_from_input,
    population_from_table,
    reconcile_site_ids,
    towers_from_opencellid,
    villages_from_frame,
)
from geo_p2dd.project import RESULT_LAYERS, Project, Transaction, region_grid
from geo_p2dd.schema import LOCATIONS, SIGNAL_CLASSES, SIGNAL_CODES, SITES, normalise_header

KINDS = ("villages", "kecamatan", "kabupaten", "locations", "sites", "towers", "coverage",
         "population", "population-raster", "dem", "reports", "ookla")
MAX_GRID_CELLS = 40_000_000
POPULATION_TABLE_SOURCE = "population_table"
REJECTED_SHOWN = 20  # rejected rows an import report lists one by one


def rejection_reason(problem: RowProblem) -> str:
    """A rejection's column and reason without the row's own values, for counting.

    Quoted values and parenthesised details are elided: ``unknown village 'X'``
    and ``unknown village 'Y'`` are one reason.
    """
    reason = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", problem.reason)
    reason = re.sub(r"\([^()]*\)", "(…)", reason)
    return f"column {problem.column!r}: {reason}" if problem.column else reason


@dataclass
class ImportReport:
    """What one import did, in terms a user can check."""

    kind: str
    file: str
    rows: int = 0
    unit: str = "row"  # what ``rows`` counts: rows of a table or layer, cells of a raster
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self, max_rejected: int | None = REJECTED_SHOWN) -> list[str]:
        """The report as text lines; beyond ``max_rejected`` rejections, counts per reason.

        Parameters
        ----------
        max_rejected : int or None
            Rejected rows listed one per line (None: all of them).
        """
        head = f"{self.kind}: {self.file}: {self.rows:,} {self.unit}(s)"
        if self.added or self.updated or self.unchanged:
            head += (f"; {self.added} added, {self.updated} updated, {self.unchanged} unchanged")
        if self.rejected:
            head += f", {len(self.rejected):,} rejected"
        if self.skipped:
            head += f", {self.skipped} outside the region skipped"
        out = [head]
        out += [f"  {n}" for n in self.notes]
        shown = self.rejected if max_rejected is None else self.rejected[:max_rejected]
        out += [f"  rejected {r}" for r in shown]
        if len(shown) < len(self.rejected):
            out.append(f"  ... and {len(self.rejected) - len(shown):,} more; rejected rows by "
                       "reason:")
            counts = Counter(rejection_reason(r) for r in self.rejected)
            out += [f"    {n:,} x {reason}" for reason, n in counts.most_common()]
        return out

    def write_rejected(self, path: str | Path) -> None:
        """Write every rejected row (row, column, reason) to a UTF-8 CSV file."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "column", "reason"])
            writer.writerows([r.row, r.column or "", r.reason] for r in self.rejected)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "file": self.file, "rows": self.rows, "unit": self.unit,
                "added": self.added,
                "updated": self.updated, "unchanged": self.unchanged, "skipped": self.skipped,
                "rejected": [{"row": r.row, "column": r.column, "reason": r.reason}
                             for r in self.rejected], "notes": self.notes}


def import_user(user: str | None = None) -> str | None:
    """Who an import is recorded as in the register's history: ``user``, else the OS user."""
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return None


class Staged:
    """Layers as they stand inside a transaction (staged ones first)."""

    def __init__(self, tx: Transaction, user: str | None = None) -> None:
        self.tx = tx
        self.user = user
        self.frames: dict[str, gpd.GeoDataFrame] = {}

    def get(self, name: str, required: bool = True):
        if name in self.frames:
            return self.frames[name]
        frame = self.tx.project.read_layer(name, required=False)
        if frame is None and required:
            raise NotFoundError(f"import villages first: the project has no {name} layer")
        return frame

    def put(self, name: str, frame) -> None:
        self.frames[name] = frame
        self.tx.write_layer(name, frame)


def _hint_sheets(exc: InputError, path: Path, layer: str | None) -> None:
    """A workbook of several sheets read without --layer: name the others in the error."""
    if layer is not None or path.suffix.lower() not in (".xlsx", ".xlsm"):
        return
    names = sheet_names(path)
    if len(names) > 1:
        more = (f"the first sheet {names[0]!r} was read; this workbook also has sheets "
                f"{', '.join(repr(n) for n in names[1:])}: name one with --layer")
        exc.hint = f"{exc.hint}; {more}" if exc.hint else more


def _vector_or_table(path: Path, layer: str | None):
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_table(path, sheet=layer)
    return read_vector(path, layer)


def import_areas(st: Staged, level: str, path: Path, layer: str | None,
                 region: str | None) -> ImportReport:
    gdf = read_vector(path, layer, prefer_layers=(level,))
    areas = areas_from_frame(gdf, file=str(path), region=region, level=level)
    st.put(level, areas)
    st.tx.record_source(level, path, rows=len(areas))
    return ImportReport(level, str(path), rows=len(areas))


def import_villages(st: Staged, path: Path, layer: str | None = None, region: str | None = None,
                    ) -> ImportReport:
    """Replace the villages layer; set the region, metric CRS and project grid."""
    gdf = read_vector(path, layer, prefer_layers=("desa", "villages", "kampung", "village"),
                      where_prefix=("kode", region) if region else None)
    villages = villages_from_frame(gdf, file=str(path), region=region,
                                   kecamatan=st.get("kecamatan", required=False),
                                   kabupaten=st.get("kabupaten", required=False))
    old = st.get("villages", required=False)
    if old is not None and "population" in old.columns and villages["population"].isna().all():
        # keep a population table imported earlier
        villages["population"] = villages["kode"].map(old.set_index("kode")["population"])
    st.put("villages", villages)
    report = ImportReport("villages", str(path), rows=len(villages))
    cfg = st.tx.config
    if region:
        cfg["project"]["region_code"] = region
    elif not cfg["project"].get("region_code"):
        prefixes = villages["kabupaten_kode"].dropna().unique()
        if len(prefixes) == 1:
            cfg["project"]["region_code"] = str(prefixes[0])
    _set_grid(cfg, tuple(villages.total_bounds))
    report.notes.append(f"metric CRS {cfg['grid']['crs']}, grid {cfg['grid']['width']} x "
                        f"{cfg['grid']['height']} cells of {cfg['grid']['transform'][0]:.0f} m")
    st.tx.record_source("villages", path, rows=len(villages))
    return report


def _set_grid(cfg: dict, bounds: tuple[float, float, float, float]) -> None:
    res = float(cfg["grid"]["resolution_m"])  # always set: defaults from geo_p2dd.config
    grid = region_grid(bounds, res)
    if grid.width * grid.height > MAX_GRID_CELLS:
        res = res * math.sqrt(grid.width * grid.height / MAX_GRID_CELLS)
        res = float(math.ceil(res / 10) * 10)
        grid = region_grid(bounds, res)
    cfg["grid"] = {"resolution_m": cfg["grid"]["resolution_m"], **grid.to_dict()}


def import_population_table(st: Staged, path: Path, layer: str | None = None) -> ImportReport:
    """Join a per-village population table into the villages layer."""
    table = read_table(path, sheet=layer) if path.suffix.lower() in TABLE_SUFFIXES else \
        read_vector(path, layer)
    population = population_from_table(table, file=str(path))
    villages = st.get("villages").copy()
    villages["population"] = villages["kode"].map(population)
    st.put("villages", villages)
    report = ImportReport("population", str(path), rows=len(population))
    joined = int(villages["population"].notna().sum())
    missing = villages.loc[villages["population"].isna(), ["kode", "nama"]]
    unknown = sorted(set(population.index) - set(villages["kode"]))
    report.notes.append(f"population joined for {joined} of {len(villages)} villages "
                        f"(total {int(np.nansum(villages['population'])):,})")
    if len(missing):
        shown = ", ".join(f"{k} {n}" for k, n in missing.head(10).itertuples(index=False))
        report.notes.append(f"no population for {len(missing)} village(s): {shown}")
    if unknown:
        report.notes.append(f"{len(unknown)} code(s) in the table are not villages of the "
                            f"project: {', '.join(unknown[:10])}")
    # not "population": that key is the population raster's (rasters.population)
    st.tx.record_source(POPULATION_TABLE_SOURCE, path, rows=len(population))
    return report


@dataclass
class PointsRead:
    """A sites or locations file read and merged into the recorded layer (nothing stored)."""

    kind: str  # the layer: sites or locations
    result: PointImport
    merged: gpd.GeoDataFrame
    counts: MergeCounts
    renames: dict[str, str]
    licence: str | None
    rows: int
    #: the ids of the file's rows as merged (after older ids were recognised)
    file_ids: tuple[str, ...] = ()


def read_points(kind: str, path: Path, *, existing: gpd.GeoDataFrame | None,
                villages: gpd.GeoDataFrame,
                settlements: gpd.GeoDataFrame | Callable[[], gpd.GeoDataFrame] | None = None,
                layer: str | None = None, lon: str | None = None, lat: str | None = None,
                licence: str | None = None) -> PointsRead:
    """Read sites, locations or towers from ``path`` and merge them into ``existing``.

    ``settlements`` (or a function giving them, called only when a row has no
    coordinates) are the villages' main settlements, where such rows are placed.

    Rows are checked one by one (rejected with row, column and reason); sites
    recognised under an older id get their current id (``renames``).
    """
    frame = _vector_or_table(path, layer)
    if kind == "towers" or (kind == "sites" and is_opencellid(list(frame.columns))):
        if not is_opencellid(list(frame.columns)):
            raise InputError("not an OpenCelliD export", file=str(path),
                             expected="columns radio, mcc, net, area, cell, lon, lat",
                             found=shown_columns(c for c in frame.columns
                                                 if c not in (ROW_COLUMN, "geometry")),
                             hint="import other tower lists as 'sites' with kind bts")
        result = towers_from_opencellid(frame, file=str(path), villages=villages)
        licence = licence or "CC BY-SA 4.0 (OpenCelliD)"
        spec_kind = "sites"
    else:
        spec = SITES if kind == "sites" else LOCATIONS
        try:
            result = points_from_input(frame, spec, file=str(path), villages=villages, lon=lon,
                                       lat=lat, settlements=settlements)
        except InputError as exc:
            _hint_sheets(exc, path, layer)
            raise
        spec_kind = kind
    id_col = "site_id" if spec_kind == "sites" else "location_id"
    new = result.layer
    renames: dict[str, str] = {}
    if spec_kind == "sites":  # older id schemes and agency-less rows are recognised
        before = None if existing is None else existing["site_id"].astype(str).tolist()
        existing, new = reconcile_site_ids(existing, new)
        if before is not None:  # the register keeps each site's history under its new id
            renames = {a: b for a, b in zip(before, existing["site_id"].astype(str),
                                            strict=True) if a != b}
            for column in existing.columns:  # register columns the file lacks are kept
                if column not in new.columns:
                    new[column] = None
    merged, counts = merge_points(existing, new, id_col)
    return PointsRead(spec_kind, result, merged, counts, renames, licence, len(frame),
                      tuple(new[id_col].astype(str)))


def import_points(st: Staged, kind: str, path: Path, layer: str | None = None,
                  lon: str | None = None, lat: str | None = None,
                  licence: str | None = None) -> ImportReport:
    """Merge sites or locations (or towers) by stable id into the project.

    Sites go to the register database when the transaction commits.
    """
    read = read_points(kind, path, existing=st.get("sites" if kind != "locations"
                                                   else "locations", required=False),
                       villages=st.get("villages"),
                       settlements=lambda: _main_settlements(st, st.get("villages")),
                       layer=layer, lon=lon, lat=lat, licence=licence)
    if read.kind == "sites":
        st.tx.site_renames.update(read.renames)
        st.tx.register_source = "import"
        st.tx.register_user = st.tx.register_user or import_user(st.user)
    st.put(read.kind, read.merged)
    counts, result = read.counts, read.result
    report = ImportReport(kind, str(path), rows=read.rows, added=counts.added,
                          updated=counts.updated, unchanged=counts.unchanged,
                          skipped=result.skipped, rejected=result.rejected)
    st.tx.record_source(f"{read.kind}:{path.name}", path, rows=len(result.layer),
                        licence=read.licence)
    return report


def import_reports(st: Staged, path: Path, layer: str | None = None, lon: str | None = None,
                   lat: str | None = None, licence: str | None = None) -> ImportReport:
    """Merge signal reports and measurements (the ``reports`` layer) by report id."""
    from geo_p2dd.reports_layer import reports_from_input

    villages = st.get("villages")
    frame = _vector_or_table(path, layer)
    try:
        result = reports_from_input(frame, file=str(path), villages=villages,
                                    settlements=lambda: _main_settlements(st, villages),
                                    thresholds=st.tx.project.settings.thresholds.rsrp_dbm,
                                    lon=lon, lat=lat)
    except InputError as exc:
        _hint_sheets(exc, path, layer)
        raise
    merged, counts = merge_points(st.get("reports", required=False), result.layer, "report_id")
    st.put("reports", merged)
    report = ImportReport("reports", str(path), rows=len(frame), added=counts.added,
                          updated=counts.updated, unchanged=counts.unchanged,
                          rejected=result.rejected)
    measured = int((result.layer["source"] == "measured").sum())
    report.notes.append(f"{len(result.layer)} report(s): {measured} measured, "
                        f"{len(result.layer) - measured} reported"
                        + (f"; {result.placed} placed at their kampung's main settlement"
                           if result.placed else ""))
    st.tx.record_source(f"reports:{path.name}", path, rows=len(result.layer), licence=licence)
    return report


def _main_settlements(st: Staged, villages: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Each village's main settlement as the analysis will find it (rows without
    coordinates are placed there): :func:`geo_p2dd.locations.main_settlement_points` over
    the layers and population grid as they stand in this transaction."""
    from geo_p2dd.config import settings_from_dict
    from geo_p2dd.locations import main_settlement_points

    cfg = st.tx.config
    settings = settings_from_dict(cfg)
    grid = cfg.get("grid", {})
    crs = Grid.from_dict(grid).crs if "transform" in grid else villages.estimate_utm_crs()
    return main_settlement_points(villages, st.get("locations", required=False),
                                  st.get("sites", required=False), _population_path(st),
                                  settings, crs)


def _population_path(st: Staged) -> Path | None:
    """The population grid of this transaction: staged by it, else the project's."""
    entry = st.tx.config.get("rasters", {}).get("population")
    if not entry:
        return None
    staged = {rel: p for p, rel in getattr(st.tx, "_files", {}).items()}  # staged here
    path = staged.get(entry["file"]) or st.tx.project.file(entry["file"])
    return path if Path(path).exists() else None


def import_raster(st: Staged, kind: str, path: Path, *, operator: str = "",
                  technology: str = "4G", values: str | None = None, name: str | None = None,
                  licence: str | None = None) -> ImportReport:
    """Store a coverage, population or DEM raster in the project as a COG.

    The raster is stored on its own grid (not warped), so its size is checked
    as declared; implausible values become nodata (see :func:`checked_values`).
    """
    cfg = st.tx.config
    limits = raster_limits(cfg)
    profile = check_raster(path, max_cells=limits.max_cells)
    report = ImportReport(kind, str(path), rows=profile["width"] * profile["height"],
                          unit="cell")
    if kind == "coverage":
        if values is None:
            values = "dbm" if np.dtype(profile["dtype"]).kind == "f" else "classes"
        if values not in ("dbm", "classes"):
            raise InputError("unknown coverage value type", expected="dbm or classes",
                             found=values)
        name = name or _slug(f"coverage {operator} {technology}")
        relative = f"rasters/{name}.tif"
        _store_raster(st, path, relative, values, limits, categorical=values == "classes")
        entries = [c for c in cfg.get("coverage", []) if c["name"] != name]
        entries.append({"name": name, "file": relative, "operator": operator,
                        "technology": technology, "values": values})
        cfg["coverage"] = entries
        report.notes.append(f"stored as {relative} ({values}, {operator or 'any operator'} "
                            f"{technology}, {profile['crs']})")
        st.tx.record_source(name, path, licence=licence)
    else:
        name = {"population-raster": "population", "dem": "dem"}[kind]
        relative = f"rasters/{name}.tif"
        _store_raster(st, path, relative, name, limits, categorical=False)
        cfg.setdefault("rasters", {})[name] = {"file": relative, "crs": profile["crs"]}
        report.notes.append(f"stored as {relative} ({profile['crs']})")
        st.tx.record_source(name, path, licence=licence)
    return report


def _store_raster(st: Staged, path: Path, relative: str, values: str, limits: RasterLimits,
                  *, categorical: bool) -> None:
    """Stage ``path`` as a COG at ``relative``, implausible values set to nodata first."""
    staged = st.tx.stage_file(relative)
    work = staged.with_name(staged.stem + ".checked.tif")
    try:
        source = checked_values(path, work, values, limits)
        write_cog(source, staged, categorical=categorical)
    finally:
        work.unlink(missing_ok=True)


def import_coverage_polygons(st: Staged, path: Path, layer: str | None = None, *,
                             operator: str = "", technology: str = "4G",
                             licence: str | None = None) -> ImportReport:
    """Rasterise operator coverage polygons (a signal class or dBm column) onto the grid."""
    gdf = read_vector(path, layer)
    grid = Grid.from_dict(st.tx.config["grid"])
    cols = {normalise_header(c): c for c in gdf.columns if c != "geometry"}
    class_col = next((cols[c] for c in ("class", "kelas", "signal", "sinyal", "kualitas",
                                        "signal_class") if c in cols), None)
    dbm_col = next((cols[c] for c in ("dbm", "rsrp", "rsrp_dbm", "signal_dbm") if c in cols),
                   None)
    from geo_p2dd.signal import rsrp_class

    if class_col is not None or dbm_col is not None:
        # a missing geometry or a line would silently burn nothing
        gdf = repair_polygons(gdf, class_col or dbm_col, path)
    if class_col is None and dbm_col is not None:
        _refuse_implausible_dbm(gdf[dbm_col], path, raster_limits(st.tx.config))
    if class_col is not None:
        codes = []
        for i, v in enumerate(gdf[class_col]):
            term = SIGNAL_CLASSES.parse(v)
            if term is None:
                raise InputError(f"unknown signal class {v!r}", file=str(path), row=i + 1,
                                 column=class_col, expected=SIGNAL_CLASSES.describe())
            codes.append(SIGNAL_CODES[term])
        codes = np.array(codes)
    elif dbm_col is not None:
        dbm = pd.to_numeric(gdf[dbm_col], errors="coerce").to_numpy(float)
        codes = rsrp_class(dbm, st.tx.project.settings.thresholds.rsrp_dbm)
    else:
        raise InputError("coverage polygons need a signal column", file=str(path),
                         expected="a column class/kelas (good, fair, poor, marginal, none) or "
                                  "dbm/rsrp", found=shown_columns(cols.values()))
    array = rasterise_polygons(gdf, codes, grid, fill=SIGNAL_CODES["none"])
    name = _slug(f"coverage {operator} {technology}")
    relative = f"rasters/{name}.tif"
    write_array_cog(array, grid, st.tx.stage_file(relative), nodata=0, categorical=True)
    entries = [c for c in st.tx.config.get("coverage", []) if c["name"] != name]
    entries.append({"name": name, "file": relative, "operator": operator,
                    "technology": technology, "values": "classes"})
    st.tx.config["coverage"] = entries
    st.tx.record_source(name, path, rows=len(gdf), licence=licence,
                        note="operator polygons rasterised onto the project grid; outside the "
                             "polygons counts as no signal")
    return ImportReport("coverage", str(path), rows=len(gdf),
                        notes=[f"rasterised onto the project grid as {relative}"])


def import_ookla(st: Staged, path: Path, layer: str | None = None, *,
                 licence: str | None = None) -> ImportReport:
    """Ookla open data tiles as coverage evidence, clipped to the project's villages.

    The tiles of the file's type (mobile or fixed, see
    :func:`geo_p2dd.io.ookla.tile_type`) replace those of that type already in
    the project's ``ookla`` layer; the source is recorded with Ookla's licence
    (CC BY-NC-SA 4.0) unless another is given.
    """
    from geo_p2dd.io.ookla import OOKLA_LICENCE, read_ookla

    tiles = read_ookla(path, layer)
    villages = st.get("villages")
    hits = np.unique(villages.sindex.query(tiles.geometry.values, predicate="intersects")[0]) \
        if len(tiles) else np.array([], dtype=int)
    kept = tiles.iloc[hits].reset_index(drop=True)
    kind = str(tiles["type"].iloc[0]) if len(tiles) else "mobile"
    existing = st.get(OOKLA_LAYER, required=False)
    if existing is not None and len(existing):
        others = existing[existing["type"] != kind]
        kept = gpd.GeoDataFrame(pd.concat([others, kept], ignore_index=True), crs="EPSG:4326")
    st.put(OOKLA_LAYER, kept)
    st.tx.record_source(f"ookla_{kind}", path, rows=len(hits), licence=licence or OOKLA_LICENCE,
                        note="Ookla open data tiles (zoom 16) inside the project's villages")
    return ImportReport("ookla", str(path), rows=len(tiles), added=len(hits),
                        skipped=len(tiles) - len(hits),
                        notes=[f"{len(hits)} {kind} tiles inside the project's villages, "
                               f"{len(tiles) - len(hits)} outside them left out"])


#: the layer holding Ookla tiles
OOKLA_LAYER = "ookla"


def _refuse_implausible_dbm(values: pd.Series, path: Path, limits: RasterLimits) -> None:
    """Refuse a dBm column holding a value that is not a number in the plausible range."""
    dbm = pd.to_numeric(values, errors="coerce").to_numpy(float)
    low, high, unit = value_range("dbm", limits)
    implausible = ~(np.isfinite(dbm) & (dbm >= low) & (dbm <= high))
    if implausible.any():  # inf dBm would rasterise as good signal
        i = int(np.flatnonzero(implausible)[0])
        raise InputError("signal strength is not a plausible dBm value", file=str(path),
                         row=i + 1, column=str(values.name),
                         expected=f"{low:g}..{high:g} {unit}", found=repr(values.iloc[i]),
                         hint=f"{int(implausible.sum())} feature(s) affected")


# well-known sources, recognised by file name when no licence is given:
# (kinds they can be, pattern in the lower-cased file name, the credit recorded)
KNOWN_SOURCES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("population-raster",), r"ghs[-_ ]?pop",
     "CC BY 4.0 (GHS-POP, European Commission JRC)"),
    (("population-raster",), r"worldpop", "CC BY 4.0 (WorldPop, University of Southampton)"),
    (("towers", "sites", "reports"), r"opencellid", "CC BY-SA 4.0 (OpenCelliD)"),
    (("population",), r"(^|[^a-z])(bps|census|sensus)([^a-z]|$)",
     "BPS (Badan Pusat Statistik), with attribution"),
)
#: init's inputs that take a licence (``--licence KIND=TEXT``)
INIT_INPUTS = ("villages", "kecamatan", "kabupaten", "population", "population-raster",
               "locations", "sites", "towers", "coverage", "dem")


def known_licence(kind: str, path: str | Path) -> str | None:
    """The credit of a well-known source (GHS-POP, WorldPop, OpenCelliD, BPS) by file name.

    Parameters
    ----------
    kind : str
        The import kind (see :data:`KINDS`).
    path : str or Path
        The file imported; only its name is looked at.

    Returns
    -------
    str or None
        The licence and credit to record, or None when the source is not recognised.
    """
    name = Path(path).name.lower()
    for kinds, pattern, credit in KNOWN_SOURCES:
        if kind in kinds and re.search(pattern, name):
            return credit
    return None


def parse_licences(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["towers=CC BY-SA 4.0", ...]`` as ``{"towers": "CC BY-SA 4.0"}`` for :func:`init_project`.

    Raises
    ------
    InputError
        A value without ``KIND=``, or a KIND init does not take.
    """
    out: dict[str, str] = {}
    for value in values:
        kind, sep, text = str(value).partition("=")
        kind = kind.strip().replace("_", "-")
        if not sep or not text.strip() or kind not in INIT_INPUTS:
            raise InputError("a licence must name the input it belongs to", column="--licence",
                             expected=f"KIND=LICENCE with KIND one of {', '.join(INIT_INPUTS)}",
                             found=repr(value))
        out[kind] = text.strip()
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def run_import(st: Staged, kind: str, path: str | Path, **opts) -> ImportReport:
    """Dispatch one import by kind (see :data:`KINDS`)."""
    path = Path(path)
    layer = opts.get("layer")
    licence = opts.get("licence") or known_licence(kind, path)
    region = normalise_code(opts["region"]) if opts.get("region") else None
    if kind not in KINDS:
        raise InputError(f"unknown layer kind {kind!r}", expected=", ".join(KINDS))
    if kind == "villages":
        report = import_villages(st, path, layer, region)
    elif kind in ("kecamatan", "kabupaten"):
        report = import_areas(st, kind, path, layer, region)
        villages = st.get("villages", required=False)
        if villages is not None:  # refresh names
            names = dict(zip(st.frames[kind]["kode"], st.frames[kind]["nama"], strict=True))
            villages = villages.copy()
            villages[kind] = villages[f"{kind}_kode"].map(names).fillna(villages[kind])
            st.put("villages", villages)
    elif kind == "population":
        report = import_population_table(st, path, layer)
    elif kind == "reports":
        report = import_reports(st, path, layer, opts.get("lon"), opts.get("lat"),
                                licence=licence)
    elif kind in ("sites", "locations", "towers"):
        report = import_points(st, kind, path, layer, opts.get("lon"), opts.get("lat"),
                               licence=licence)
    elif kind == "ookla":
        report = import_ookla(st, path, layer, licence=licence)
    elif kind == "coverage" and path.suffix.lower() not in (".tif", ".tiff", ".vrt", ".img",
                                                            ".asc", ".nc", ".jp2"):
        report = import_coverage_polygons(st, path, layer, operator=opts.get("operator", ""),
                                          technology=opts.get("technology", "4G"),
                                          licence=licence)
    else:
        report = import_raster(st, kind, path, operator=opts.get("operator", ""),
                               technology=opts.get("technology", "4G"),
                               values=opts.get("values"), licence=licence)
    if licence and kind in ("villages", "kecamatan", "kabupaten", "population"):
        key = POPULATION_TABLE_SOURCE if kind == "population" else kind
        st.tx.config["sources"][key]["licence"] = licence
    return report


def import_layer(project: Project, kind: str, path: str | Path, *, user: str | None = None,
                 **opts) -> ImportReport:
    """Import one file into ``project``; on any error the project is left unchanged.

    Sites go into the register database (one transaction, a history row per
    changed site, source ``import``, recorded as ``user`` or the OS user).
    """
    with project.transaction(f"import {kind}") as tx:
        report = run_import(Staged(tx, user), kind, path, **opts)
        _invalidate_analysis(tx)
    return report


RESULT_TABLES = RESULT_LAYERS  # kept in results.gpkg (geo_p2dd.project)


def _invalidate_analysis(tx: Transaction) -> None:
    """Results computed from the old inputs are removed: nothing shows stale figures."""
    if tx.config.pop("analysis", None) is not None or any(
            tx.project.has_layer(t) for t in RESULT_TABLES):
        for table in RESULT_TABLES:
            tx.delete_layer(table)


def init_project(
    path: str | Path,
    *,
    villages: str | Path,
    name: str = "",
    region: str | None = None,
    villages_layer: str | None = None,
    kecamatan: str | Path | None = None,
    kecamatan_layer: str | None = None,
    kabupaten: str | Path | None = None,
    kabupaten_layer: str | None = None,
    population: str | Path | None = None,
    population_raster: str | Path | None = None,
    locations: str | Path | None = None,
    sites: str | Path | None = None,
    towers: str | Path | None = None,
    coverage: list[str | Path] | tuple = (),
    dem: str | Path | None = None,
    lon: str | None = None,
    lat: str | None = None,
    licences: dict[str, str] | None = None,
) -> tuple[Project, list[ImportReport]]:
    """Create a project from files. Nothing is left behind if any file fails.

    Areas (kecamatan, kabupaten) are taken from the villages file too when it
    holds layers of those names. ``licences`` maps an input (``villages``,
    ``population-raster``, ``towers``... see :data:`INIT_INPUTS`) to the licence
    recorded with it, as ``import --licence`` does; inputs without one get the
    credit of a well-known source (:func:`known_licence`) or "unknown".
    """
    path = Path(path)
    region = normalise_code(region) if region else None
    licences = dict(licences or {})
    unknown = sorted(set(licences) - set(INIT_INPUTS))
    if unknown:
        raise InputError(f"no input {unknown[0]!r} to give a licence to", column="licences",
                         expected=", ".join(INIT_INPUTS), found=", ".join(unknown))
    existed = path.exists()
    created = path  # the outermost directory this call creates (removed on failure)
    while not created.parent.exists():
        created = created.parent
    # on failure remove only what this call made, never a user's own rasters/ or cache/
    made = {n for n in ("project.toml", "layers.gpkg", "results.gpkg", "rasters", "cache",
                        ".lock", ".current", ".generations")
            if not (path / n).exists() and not (path / n).is_symlink()}
    project = Project.create(path, name=name, region_code=region or "")
    reports: list[ImportReport] = []
    try:
        with project.transaction() as tx:
            st = Staged(tx)
            villages = Path(villages)
            file_layers = [] if villages.suffix.lower() in (".parquet", ".geoparquet") else \
                [n.lower() for n in list_layers(villages)]
            for level, given, given_layer in (("kecamatan", kecamatan, kecamatan_layer),
                                              ("kabupaten", kabupaten, kabupaten_layer)):
                if given is not None:
                    reports.append(run_import(st, level, given, layer=given_layer,
                                              region=region, licence=licences.get(level)))
                elif level in file_layers:
                    reports.append(run_import(st, level, villages, layer=level, region=region,
                                              licence=licences.get(level,
                                                                   licences.get("villages"))))
            reports.append(run_import(st, "villages", villages, layer=villages_layer,
                                      region=region, licence=licences.get("villages")))
            if not name:
                tx.config["project"]["name"] = _default_name(st)
            tx.config["project"]["region_name"] = _region_name(st, tx.config)
            steps = [("population", population), ("population-raster", population_raster),
                     ("dem", dem), ("locations", locations), ("sites", sites),
                     ("towers", towers)]
            steps += [("coverage", c) for c in coverage]
            for kind, given in steps:
                if given is not None:
                    reports.append(run_import(st, kind, given, lon=lon, lat=lat,
                                              licence=licences.get(kind)))
    except BaseException:
        if existed:
            for p in path.iterdir():
                if p.name in made or p.name.startswith(".staging-"):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        else:
            shutil.rmtree(created, ignore_errors=True)
        raise
    return Project(path), reports


def _region_name(st: Staged, cfg: dict) -> str:
    code = cfg["project"].get("region_code", "")
    for level in ("kabupaten", "kecamatan"):
        areas = st.get(level, required=False)
        if areas is not None and code in set(areas["kode"]):
            return str(areas.set_index("kode").loc[code, "nama"])
    villages = st.get("villages")
    if code in set(villages["kode"]):
        return str(villages.set_index("kode").loc[code, "nama"])
    names = villages["kabupaten"].dropna().unique()
    if len(names) == 1:
        return str(names[0])
    return code or _many_regions(villages)


def _many_regions(villages: gpd.GeoDataFrame) -> str:
    """A name for a project spanning several kabupaten."""
    provinces = villages["kode"].str.slice(0, 2).unique()
    if len(provinces) > 1:
        return f"Indonesia ({len(provinces)} provinsi)"
    return f"Provinsi {provinces[0]}"


def _default_name(st: Staged) -> str:
    villages = st.get("villages")
    names = villages["kabupaten"].dropna().unique()
    if len(names) != 1:
        kabupaten = villages["kabupaten_kode"].dropna().unique()
        if len(names) == 0 and len(kabupaten) == 1:  # one kabupaten known only by its code
            return f"Wilayah {kabupaten[0]}"
        return _many_regions(villages)
    name = str(names[0])
    return name if name.lower().startswith(("kabupaten", "kota", "kab.")) else f"Kabupaten {name}"
