"""Reading vector files: any format pyogrio reads, plus GeoParquet.

Readers return GeoDataFrames in EPSG:4326 (the storage CRS of every project
layer). Certain repairs are made with a :class:`RepairWarning`; anything else
raises :class:`~geo_p2dd.errors.InputError` naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from geo_p2dd.codes import in_region
from geo_p2dd.errors import InputError
from geo_p2dd.io import input_file, shown_columns

STORAGE_CRS = "EPSG:4326"
VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb", ".parquet",
                   ".geoparquet", ".kml", ".kmz", ".gml", ".tab", ".mif"}


class RepairWarning(UserWarning):
    """Input was repaired automatically; the message says what was changed."""


def repair(message: str) -> None:
    """Emit a :class:`RepairWarning` (shown by the CLI, capturable in notebooks)."""
    warnings.warn(message, RepairWarning, stacklevel=3)


#: tables GIS tools keep beside the data (QGIS's styles), never a layer to import
NOT_DATA_LAYERS = ("layer_styles",)


def list_layers(path: str | Path) -> list[str]:
    """Names of the data layers in a vector file (one name for single-layer formats;
    QGIS's ``layer_styles`` table is left out)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".geoparquet"):
        return [path.stem]
    try:
        return [str(name) for name, _ in pyogrio.list_layers(_gdal_path(path))
                if str(name) not in NOT_DATA_LAYERS]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(f"cannot open as a vector file ({exc})", file=str(path)) from exc


def _gdal_path(path: Path) -> str:
    if path.suffix.lower() == ".kmz":
        return f"/vsizip/{path}"
    return str(path)


def read_vector(
    path: str | Path,
    layer: str | None = None,
    *,
    prefer_layers: tuple[str, ...] = (),
    where_prefix: tuple[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector file into a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    path : str or Path
        GeoPackage, GeoJSON, Shapefile (also zipped), FlatGeobuf, GeoParquet, KML/KMZ, ...
    layer : str, optional
        Layer to read from a multi-layer file.
    prefer_layers : tuple of str
        Layer names to pick, in order, when ``layer`` is not given and the
        file holds several layers.
    where_prefix : (column, prefix), optional
        Keep only rows whose ``column`` equals ``prefix`` or starts with
        ``prefix + "."`` (Kemendagri code prefixes), filtered before geometries
        are decoded where the format allows.

    Raises
    ------
    InputError
        Unreadable or empty file, unknown layer, no CRS on projected-looking
        coordinates.
    """
    path = input_file(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".geoparquet"):
        gdf = _read_parquet(path, where_prefix)
    else:
        layers = list_layers(path)
        if layer is None and len(layers) > 1:
            lowered = {name.lower(): name for name in layers}
            layer = next((lowered[p] for p in prefer_layers if p in lowered), None)
            if layer is None:
                raise InputError(
                    f"the file holds several layers ({', '.join(layers)}); say which one to use",
                    file=str(path), hint="pass --layer NAME (or --villages-layer NAME)")
        if layer is None and len(layers) == 1:
            layer = layers[0]  # by name: a styled GeoPackage also holds layer_styles
        if layer is not None and layer not in layers:
            raise InputError(f"no layer named {layer!r}", file=str(path),
                             expected="one of " + ", ".join(layers), found=layer)
        try:
            gdf = pyogrio.read_dataframe(_gdal_path(path), layer=layer, use_arrow=True)
        except Exception as exc:
            raise InputError(f"cannot read as a vector file ({exc})", file=str(path)) from exc
        if where_prefix is not None and len(gdf):
            gdf = gdf[_prefix_mask(gdf, *where_prefix, path)]
    if len(gdf) == 0 and where_prefix is None:
        raise InputError("the file has no features", file=str(path))
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError("the file has no geometries", file=str(path), column="geometry",
                         expected="points or polygons (a vector layer)",
                         found="a table with columns " + shown_columns(gdf.columns),
                         hint="tables with lon/lat columns are read as sites or locations")
    if gdf.geometry.name != "geometry":
        gdf = gdf.rename_geometry("geometry")
    return to_storage_crs(gdf, path)


def _prefix_mask(df, column: str, prefix: str, path: Path) -> np.ndarray:
    from geo_p2dd.schema import match_columns, normalise_header

    if column not in df.columns:
        # the code column may carry another name in the file
        headers = [c for c in df.columns if c != "geometry"]
        from geo_p2dd.schema import VILLAGES

        found = match_columns(VILLAGES, headers).get("kode")
        if found is None:
            raise InputError("cannot filter by region: no code column", file=str(path),
                             expected="a column such as kode or KODE_DESA",
                             found=", ".join(map(normalise_header, headers)))
        column = found
    # codes written without dots (6411012006) lie in 64.11 too: see geo_p2dd.codes
    return in_region(df[column], prefix).to_numpy(bool)


def _read_parquet(path: Path, where_prefix: tuple[str, str] | None) -> gpd.GeoDataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"cannot read as GeoParquet ({exc})", file=str(path)) from exc
    if where_prefix is not None:
        column, prefix = where_prefix
        # only the attribute columns go to pandas (the code column when it is there)
        columns = [column] if column in table.column_names else \
            [c for c in table.column_names if c != "geometry"]
        table = table.filter(_prefix_mask(table.select(columns).to_pandas(), column, prefix,
                                          path))
    return _parquet_frame(table, path)


def _parquet_frame(table, path: Path) -> gpd.GeoDataFrame:
    """Decode a GeoParquet table with the CRS its ``geo`` metadata declares.

    GeoParquet: a column without a ``crs`` key is OGC:CRS84 (longitude/latitude);
    ``"crs": null`` means unknown, left to :func:`to_storage_crs` (assumed
    lon/lat with a warning only when the coordinates fit). A file without
    ``geo`` metadata but with a WKB ``geometry`` column is read the same way.
    """
    import json

    from pyproj import CRS

    raw = (table.schema.metadata or {}).get(b"geo")
    if raw is None:
        if "geometry" not in table.column_names:
            raise InputError("not a GeoParquet file: no 'geo' metadata and no geometry column",
                             file=str(path), expected="GeoParquet (geopandas to_parquet, "
                             "ogr2ogr -f Parquet)", found="columns " +
                             shown_columns(table.column_names))
        repair(f"{path}: the Parquet file has no GeoParquet metadata; its 'geometry' column "
               "was read as WKB without a declared CRS")
        geo = {"primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB",
                                                                     "crs": None}}}
    else:
        try:
            geo = json.loads(raw)
        except ValueError as exc:
            raise InputError("the GeoParquet 'geo' metadata is not valid JSON",
                             file=str(path)) from exc
    primary = geo.get("primary_column", "geometry")
    meta = geo.get("columns", {}).get(primary, {})
    if primary not in table.column_names:
        raise InputError("the GeoParquet geometry column is missing", file=str(path),
                         column=primary, found="columns " + shown_columns(table.column_names))
    try:
        crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") is not None else (
            None if "crs" in meta else CRS.from_user_input("OGC:CRS84"))
    except Exception as exc:  # pyproj.exceptions.CRSError and malformed PROJJSON
        raise InputError(f"the GeoParquet CRS cannot be read ({exc})", file=str(path),
                         column=primary) from exc
    encoding = str(meta.get("encoding", "WKB"))
    if encoding.upper() != "WKB":
        try:
            gdf = gpd.GeoDataFrame.from_arrow(table, geometry=primary)
        except Exception as exc:  # native GeoArrow encodings geopandas cannot decode
            raise InputError(f"cannot decode GeoParquet geometries encoded as {encoding} "
                             f"({exc})", file=str(path), column=primary) from exc
        return gdf.set_crs(crs, allow_override=True) if crs is not None else gdf
    try:
        geoms = shapely.from_wkb(table[primary].to_numpy(zero_copy_only=False))
    except Exception as exc:  # shapely.errors.GEOSException on corrupt WKB
        raise InputError(f"the GeoParquet geometries are not valid WKB ({exc})",
                         file=str(path), column=primary) from exc
    df = table.drop_columns([primary]).to_pandas()
    return gpd.GeoDataFrame(df, geometry=geoms, crs=crs)


def to_storage_crs(gdf: gpd.GeoDataFrame, path: str | Path) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326, refusing coordinates that are not what the CRS says.

    A layer without a CRS whose coordinates fit longitude/latitude is taken as
    EPSG:4326 with a warning. Coordinates beyond longitude/latitude in a layer
    without a CRS, or in a geographic CRS (GeoJSON without a ``crs`` member is
    read as EPSG:4326 whatever it holds), are projected metres: refused, since
    storing them as degrees puts the region anywhere on Earth.

    Raises
    ------
    InputError
        Projected-looking coordinates without a projected CRS, or coordinates
        that do not transform to finite longitude/latitude.
    """
    if len(gdf) == 0:
        return gdf.set_crs(STORAGE_CRS) if gdf.crs is None else gdf.to_crs(STORAGE_CRS)
    bounds = gdf.total_bounds
    known = bool(np.isfinite(bounds).all())  # False when no feature has a geometry
    if gdf.crs is None or gdf.crs.is_geographic:
        if known and not _looks_lonlat(bounds):
            declared = "has no CRS" if gdf.crs is None else f"says {gdf.crs.to_string()}"
            raise InputError(
                f"the coordinates look projected (metres), not longitude/latitude; the layer "
                f"{declared} (bounds {np.round(bounds, 1).tolist()})",
                file=str(path), expected="longitude -180..180 and latitude -90..90",
                hint="set the CRS in the file (e.g. ogr2ogr -a_srs EPSG:32750 fixed.gpkg "
                     "FILE; a GeoJSON without a crs member counts as EPSG:4326) or pass "
                     "a file converted to EPSG:4326")
        if gdf.crs is None:
            repair(f"{path}: the file has no CRS; the coordinates look like longitude/latitude, "
                   "so EPSG:4326 was assumed")
            return gdf.set_crs(STORAGE_CRS)
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(STORAGE_CRS)
        if known and not _looks_lonlat(gdf.total_bounds):
            raise InputError(
                "the coordinates do not transform to longitude/latitude: they do not fit "
                f"the layer's CRS (bounds {np.round(bounds, 1).tolist()})", file=str(path),
                hint="check the CRS declared in the file")
    return gdf


def _looks_lonlat(bounds) -> bool:
    west, south, east, north = bounds
    if not np.isfinite(bounds).all():
        return False
    return -180 <= west <= east <= 180 and -90 <= south <= north <= 90


def repair_polygons(gdf: gpd.GeoDataFrame, id_column: str, path: str | Path) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (keeping only polygonal parts) with a warning.

    Raises
    ------
    InputError
        For a missing or empty geometry, or a geometry that is not a polygon.
    """
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError("feature has no geometry", file=str(path), row=i + 1,
                         column=id_column, found=str(gdf[id_column].iloc[i]),
                         hint=f"{int(missing.sum())} feature(s) without geometry")
    kinds = shapely.get_type_id(geoms)
    bad_kind = ~np.isin(kinds, (3, 6, 7))  # Polygon, MultiPolygon, GeometryCollection
    if bad_kind.any():
        i = int(np.flatnonzero(bad_kind)[0])
        raise InputError("boundary is not a polygon", file=str(path), row=i + 1,
                         column="geometry", expected="Polygon or MultiPolygon",
                         found=geoms[i].geom_type)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid])
        fixed = _polygonal(fixed)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        names = gdf[id_column].astype(str).to_numpy()[invalid]
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        repair(f"{path}: {int(invalid.sum())} invalid polygon(s) repaired with make_valid "
               f"({shown})")
    geoms = _polygonal(geoms)
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Every geometry as a MultiPolygon made of its polygonal parts."""
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        if g.geom_type == "MultiPolygon":
            out[i] = g
        elif g.geom_type == "Polygon":
            out[i] = shapely.MultiPolygon([g])
        else:
            parts = shapely.get_parts(shapely.get_parts(g))
            out[i] = shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon"])
    return out
