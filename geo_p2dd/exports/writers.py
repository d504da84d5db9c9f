"""Writers: one layer frame -> one file in any format of :data:`FORMATS`, with metadata.

============  ===========================================================
format        where the metadata is
============  ===========================================================
gpkg          ``gpkg_metadata`` (GDAL metadata items and one JSON record),
              ``gpkg_data_columns`` (Indonesian alias, English title, both
              descriptions) and QGIS's ``layer_styles`` (QML and SLD, default)
geojson       a ``metadata`` member of the FeatureCollection
shp           ``README.txt``, ``metadata.json``, ``fields.csv`` in the zip
csv           ``licence`` and ``attribution`` columns in every row; a sidecar
              ``<file>.metadata.json`` (CLI) and a link on the web
kml           the KML ``Document`` description
kmz           ``README.txt`` and ``metadata.json`` inside the KMZ
fgb           FlatGeobuf header (``TITLE``, ``DESCRIPTION``, ``geo_p2dd``)
parquet       the Parquet schema's key-value metadata (``geo_p2dd``)
============  ===========================================================

The Shapefile field-name mapping used is written into every zip as
``fields.csv``. CSV text cells that a spreadsheet would run as formulas are
neutralised (:mod:`geo_p2dd.io.cells`). The GDAL build shipped with pyogrio
has no Parquet driver, so GeoParquet is written with pyarrow (GeoParquet 1.x,
WKB geometry).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo_p2dd import __version__
from geo_p2dd.columns import describe_column
from geo_p2dd.exports import styles
from geo_p2dd.exports.catalogue import LAYERS
from geo_p2dd.exports.formats import Format, get_format, shapefile_names
from geo_p2dd.exports.metadata import (
    PARQUET_METADATA_KEY,
    attribution_line,
    licence_name,
    metadata_items,
    readme_text,
)
from geo_p2dd.exports.styles import STYLE_NAME
from geo_p2dd.io.cells import neutralise_frame


def write_layer(frame: gpd.GeoDataFrame, path: str | Path, fmt: Format | str | None = None, *,
                layer: str, metadata: dict, wkt: bool = False) -> Path:
    """Write ``frame`` to ``path`` in ``fmt`` (default: from the extension) with metadata.

    The file is written next to ``path`` under a temporary name and moved into
    place at the end, so a failed export never leaves half a file.

    Parameters
    ----------
    frame : GeoDataFrame
        EPSG:4326.
    path : str or Path
        Output file.
    fmt : Format or str, optional
        A key of :data:`FORMATS`; default from the file name.
    layer : str
        Layer name inside the file.
    metadata : dict
        From :func:`build_metadata`.
    wkt : bool
        CSV only: add the geometry as WKT.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    fmt = get_format(fmt or path)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=path.parent))
    try:
        tmp = work / f"{layer}{fmt.extension}"
        writer = {"gpkg": _write_gpkg, "geojson": _write_geojson, "shp": _write_shp_zip,
                  "csv": _write_csv, "kml": _write_kml, "kmz": _write_kmz,
                  "fgb": _write_fgb, "parquet": _write_parquet}[fmt.key]
        writer(frame, tmp, layer=layer, metadata=metadata, wkt=wkt)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _geometry_type(frame: gpd.GeoDataFrame, layer: str) -> str:
    return LAYERS[layer].geometry if layer in LAYERS else "Unknown"


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes as plain ones GDAL writers accept (NaN/None for missing)."""
    out = frame.copy(deep=False)
    geom = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for c in out.columns:
        if c == geom:
            continue
        dtype = out[c].dtype
        if isinstance(dtype, pd.BooleanDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None) \
                if out[c].isna().any() else out[c].astype(bool)
        elif isinstance(dtype, pd.core.dtypes.dtypes.BaseMaskedDtype):  # Int64 and friends
            out[c] = out[c].astype("float64") if out[c].isna().any() else \
                out[c].astype(dtype.numpy_dtype)
    return out


def _write_gdal(frame, path, driver, layer, **kwargs) -> None:
    pyogrio.write_dataframe(_plain(frame), path, layer=layer, driver=driver,
                            geometry_type=_geometry_type(frame, layer),
                            promote_to_multi=_geometry_type(frame, layer) == "MultiPolygon",
                            **kwargs)


def _write_gpkg(frame, path, *, layer, metadata, wkt=False) -> None:
    items = metadata_items(metadata)
    _write_gdal(frame, path, "GPKG", layer, layer_metadata=items,
                dataset_metadata={"TITLE": metadata["title"],
                                  "ATTRIBUTION": items["ATTRIBUTION"]},
                layer_options={"IDENTIFIER": metadata["title"][:250],
                               "DESCRIPTION": metadata["description"]})
    _add_gpkg_json_metadata(path, layer, metadata)
    _add_gpkg_data_columns(path, layer, frame)
    _add_gpkg_layer_style(path, layer, {c: alias for c, alias, *_ in data_columns(frame)})


def _add_gpkg_json_metadata(path: Path, layer: str, metadata: dict) -> None:
    """One more gpkg_metadata record: the whole metadata as JSON, referenced to the table."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS gpkg_metadata (id INTEGER CONSTRAINT m_pk "
                    "PRIMARY KEY ASC NOT NULL, md_scope TEXT NOT NULL DEFAULT 'dataset', "
                    "md_standard_uri TEXT NOT NULL, mime_type TEXT NOT NULL DEFAULT "
                    "'text/xml', metadata TEXT NOT NULL DEFAULT '')")
        con.execute("CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (reference_scope TEXT "
                    "NOT NULL, table_name TEXT, column_name TEXT, row_id_value INTEGER, "
                    "timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ',"
                    "'now')), md_file_id INTEGER NOT NULL, md_parent_id INTEGER)")
        cur = con.execute("INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, "
                          "metadata) VALUES ('dataset', ?, 'application/json', ?)",
                          ("https://github.com/geo-p2dd/geo_p2dd#export-metadata",
                           json.dumps(metadata, ensure_ascii=False, indent=1)))
        con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, table_name, "
                    "md_file_id) VALUES ('table', ?, ?)", (layer, cur.lastrowid))
        for table in ("gpkg_metadata", "gpkg_metadata_reference"):
            exists = con.execute("SELECT 1 FROM gpkg_extensions WHERE table_name = ?",
                                 (table,)).fetchone()
            if not exists:
                con.execute("INSERT INTO gpkg_extensions (table_name, column_name, "
                            "extension_name, definition, scope) VALUES (?, NULL, "
                            "'gpkg_metadata', 'http://www.geopackage.org/spec121/#extension_"
                            "metadata', 'read-write')", (table,))
        con.commit()
    finally:
        con.close()


def _register_extension(con, table: str, name: str, definition: str) -> None:
    if not con.execute("SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND "
                       "extension_name = ?", (table, name)).fetchone():
        con.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, "
                    "definition, scope) VALUES (?, NULL, ?, ?, 'read-write')",
                    (table, name, definition))


def data_columns(frame: gpd.GeoDataFrame) -> list[tuple[str, str, str, str]]:
    """(column, alias, title, description) of each attribute column for ``gpkg_data_columns``:
    the Indonesian description as alias (unique within the table, as the schema requires),
    the English one as title, both in the description."""
    rows = []
    used: set[str] = set()
    for c in frame.columns:
        if c == frame.geometry.name:
            continue
        en, id_ = describe_column(c)
        alias = id_ or c
        if alias.lower() in used:
            alias = f"{alias} ({c})"
        used.add(alias.lower())
        text = f"{id_} / {en}" if id_ and en and id_ != en else (id_ or en)
        rows.append((c, alias, en or c, text))
    return rows


def _add_gpkg_data_columns(path: Path, layer: str, frame: gpd.GeoDataFrame) -> None:
    """``gpkg_data_columns`` (GeoPackage schema extension), read by GDAL and QGIS as field
    aliases and comments."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, "
                    "column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT, "
                    "mime_type TEXT, constraint_name TEXT, CONSTRAINT pk_gdc PRIMARY KEY "
                    "(table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name))")
        con.execute("DELETE FROM gpkg_data_columns WHERE table_name = ?", (layer,))
        con.executemany("INSERT INTO gpkg_data_columns (table_name, column_name, name, title, "
                        "description) VALUES (?, ?, ?, ?, ?)",
                        [(layer, *row) for row in data_columns(frame)])
        _register_extension(con, "gpkg_data_columns", "gpkg_schema",
                            "http://www.geopackage.org/spec121/#extension_schema")
        con.commit()
    finally:
        con.close()


def _add_gpkg_layer_style(path: Path, layer: str, aliases: dict[str, str]) -> None:
    """The default style in QGIS's ``layer_styles`` table (QML for QGIS, SLD for others).

    The table is not listed in ``gpkg_contents``: QGIS finds it by name, and GDAL and
    geopandas then still see a single-layer file (no "more than one layer" warning,
    no extra layer in a drag-and-drop dialog)."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        geom = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                           (layer,)).fetchone()
        con.execute("CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY "
                    "AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256), "
                    "f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
                    "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, "
                    "owner TEXT(30), ui TEXT(30), update_time DATETIME DEFAULT "
                    "(strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
        con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                    "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                    "description, owner) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, ?)",
                    (layer, geom[0] if geom else "geom", STYLE_NAME, styles.qml(layer, aliases),
                     styles.sld(layer), styles.DESCRIPTION, f"geo_p2dd {__version__}"))
        con.commit()
    finally:
        con.close()


def _write_geojson(frame, path, *, layer, metadata, wkt=False) -> None:
    _write_gdal(frame, path, "GeoJSON", layer, layer_options={
        "RFC7946": "YES", "WRITE_BBOX": "YES", "COORDINATE_PRECISION": "7",
        "DESCRIPTION": metadata["description"],
        "FOREIGN_MEMBERS_COLLECTION": json.dumps({"metadata": metadata}, ensure_ascii=False)})


def _write_fgb(frame, path, *, layer, metadata, wkt=False) -> None:
    _write_gdal(frame, path, "FlatGeobuf", layer, layer_options={
        "TITLE": metadata["title"], "DESCRIPTION": metadata["description"]},
        layer_metadata=metadata_items(metadata))


def _kml_frame(frame: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    """Placemark names for Google Earth: the village/site/location name."""
    out = frame.copy(deep=False)
    label = "nama" if "nama" in out else "name" if "name" in out else None
    if label is not None and label != "name":
        out.insert(0, "Name", out[label])
    return out


def _write_kml(frame, path, *, layer, metadata, wkt=False) -> None:
    _write_gdal(_kml_frame(frame, layer), path, "LIBKML", layer, dataset_options={
        "NAME": metadata["title"], "DESCRIPTION": readme_text(metadata)})


def _write_kmz(frame, path, *, layer, metadata, wkt=False) -> None:
    _write_gdal(_kml_frame(frame, layer), path, "LIBKML", layer, dataset_options={
        "NAME": metadata["title"], "DESCRIPTION": metadata["description"]})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        _add_metadata_files(zf, metadata)


def _add_metadata_files(zf: zipfile.ZipFile, metadata: dict) -> None:
    zf.writestr("README.txt", readme_text(metadata))
    zf.writestr("metadata.json", json.dumps(metadata, ensure_ascii=False, indent=1))


SHP_TEXT_BYTES = 254


def _write_shp_zip(frame, path, *, layer, metadata, wkt=False) -> None:
    names = shapefile_names([c for c in frame.columns if c != frame.geometry.name])
    out = _plain(frame).rename(columns=names)
    for c in names.values():  # DBF text fields hold 254 bytes
        col = out[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            too_long = col.astype("string").str.encode("utf-8").str.len() > SHP_TEXT_BYTES
            if too_long.fillna(False).any():
                out[c] = col.where(~too_long.fillna(False).to_numpy(), col.astype("string").map(
                    lambda s: s.encode("utf-8")[:SHP_TEXT_BYTES].decode("utf-8", "ignore")
                    if isinstance(s, str) else s))
    work = path.parent / f"{layer}-shp"
    work.mkdir()
    shp = work / f"{layer}.shp"
    pyogrio.write_dataframe(out, shp, layer=layer, driver="ESRI Shapefile", encoding="UTF-8",
                            geometry_type=_geometry_type(frame, layer),
                            promote_to_multi=_geometry_type(frame, layer) == "MultiPolygon")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(work.iterdir()):
            zf.write(part, part.name)
        _add_metadata_files(zf, metadata)
        zf.writestr("fields.csv", "column,shapefile_field\n" + "".join(
            f"{k},{v}\n" for k, v in names.items()))


def csv_frame(frame: gpd.GeoDataFrame, *, wkt: bool = False) -> pd.DataFrame:
    """Attributes plus ``lon``/``lat`` of a representative point (and ``wkt`` on request)."""
    geom = frame.geometry
    out = pd.DataFrame(frame.drop(columns=geom.name))
    if "lon" not in out or "lat" not in out:
        values = geom.values
        is_point = shapely.get_type_id(np.asarray(values, dtype=object)) == 0
        pts = np.where(is_point, np.asarray(values, dtype=object),
                       shapely.point_on_surface(np.asarray(values, dtype=object)))
        out["lon"] = np.round(shapely.get_x(pts), 6)
        out["lat"] = np.round(shapely.get_y(pts), 6)
    if wkt:
        out["wkt"] = shapely.to_wkt(np.asarray(geom.values, dtype=object), rounding_precision=7,
                                    trim=True)
    return out


def _write_csv(frame, path, *, layer, metadata, wkt=False) -> None:
    """CSV has no place for metadata that every tool keeps, so the licences travel in two
    last columns, the same in every row: ``licence`` (the licence names) and
    ``attribution`` (:func:`attribution_line`). A ``#`` comment line would break GDAL,
    QGIS, Excel and pandas' defaults; the columns cost ~200 bytes a row, almost nothing
    gzip-compressed."""
    table = csv_frame(frame, wkt=wkt)
    table["licence"] = "; ".join(sorted({licence_name(s["licence"])
                                         for s in metadata["sources"]})) or "unknown"
    table["attribution"] = attribution_line(metadata)
    table = neutralise_frame(_plain(table))
    pyogrio.write_dataframe(table, path, layer=layer, driver="CSV")


def _write_parquet(frame, path, *, layer, metadata, wkt=False) -> None:
    """GeoParquet by geopandas' public writer, then our metadata added to the schema's
    key-value metadata (``geo_p2dd``) beside geopandas' ``geo``."""
    import pyarrow.parquet as pq

    staging = path.with_name(f"staging-{path.name}")
    frame.to_parquet(staging, index=False, compression="zstd")
    table = pq.read_table(staging)
    staging.unlink()
    extra = {PARQUET_METADATA_KEY: json.dumps(metadata, ensure_ascii=False).encode("utf-8")}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, path, compression="zstd")
