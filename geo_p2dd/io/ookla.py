"""Ookla open data: Speedtest performance tiles as a table of tiles.

Ookla publishes its "Global Fixed and Mobile Network Performance Maps" each
quarter as zoom-16 Web Mercator tiles (about 610 m at the equator), one row per
tile with a test: ``quadkey``, ``avg_d_kbps``, ``avg_u_kbps``, ``avg_lat_ms``,
``tests`` and ``devices``, as GeoParquet (tile polygons in WKT or WKB) or
Shapefile. The licence is CC BY-NC-SA 4.0: credit "Speedtest® by Ookla® Global
Fixed and Mobile Network Performance Maps", non-commercial use only, and
derived data shared under the same licence (:data:`OOKLA_LICENCE`).

:func:`read_ookla` reads such a file (the geometry from the quadkey when the file
has none, e.g. a plain Parquet or CSV extract), checks every row and returns
the tiles in a canonical shape: ``quadkey``, ``dl_mbps``, ``ul_mbps``,
``lat_ms``, ``tests``, ``devices``, ``type`` (mobile or fixed). The quadkey maths
(:func:`quadkey_to_tile`, :func:`tile_bounds`, :func:`lonlat_to_tile`) is the
Bing Maps tile system Ookla uses.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_p2dd.errors import InputError
from geo_p2dd.io import shown_columns
from geo_p2dd.schema import normalise_header

#: the licence and credit recorded with an Ookla import
OOKLA_LICENCE = ("CC BY-NC-SA 4.0 (Speedtest® by Ookla® Global Fixed and Mobile Network "
                 "Performance Maps; non-commercial use only, share alike)")
#: the tile types Ookla publishes
OOKLA_TYPES = ("mobile", "fixed")
#: Ookla's columns -> ours (with the factor from its unit to ours)
COLUMNS = {"avg_d_kbps": ("dl_mbps", 1e-3), "avg_u_kbps": ("ul_mbps", 1e-3),
           "avg_lat_ms": ("lat_ms", 1.0), "tests": ("tests", 1.0), "devices": ("devices", 1.0)}
#: largest latitude of the Web Mercator square (degrees)
MAX_LAT = 85.05112878
_QUADKEY = re.compile(r"[0-3]{1,23}")


def quadkey_to_tile(quadkey: str) -> tuple[int, int, int]:
    """``"1322"`` -> tile (x, y, zoom) of the Bing Maps tile system."""
    x = y = 0
    z = len(quadkey)
    for i, digit in enumerate(quadkey):
        mask = 1 << (z - i - 1)
        d = int(digit)
        if d & 1:
            x |= mask
        if d & 2:
            y |= mask
    return x, y, z


def tile_to_quadkey(x: int, y: int, z: int) -> str:
    """Tile (x, y, zoom) -> its quadkey (the inverse of :func:`quadkey_to_tile`)."""
    digits = []
    for i in range(z, 0, -1):
        mask = 1 << (i - 1)
        digits.append(str((1 if x & mask else 0) + (2 if y & mask else 0)))
    return "".join(digits)


def tile_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of a Web Mercator tile."""
    n = 2 ** z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def lonlat_to_tile(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile column and row at zoom ``z`` of each longitude/latitude (vectorised)."""
    n = 2 ** z
    lat = np.clip(np.asarray(lat, float), -MAX_LAT, MAX_LAT)
    x = np.floor((np.asarray(lon, float) + 180.0) / 360.0 * n).astype(np.int64)
    s = np.sin(np.radians(lat))
    y = np.floor((0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)) * n).astype(np.int64)
    return np.clip(x, 0, n - 1), np.clip(y, 0, n - 1)


def tile_type(path: str | Path, given: str | None = None) -> str:
    """mobile or fixed: as given, else from the file name (Ookla names its files
    ``..._performance_mobile_tiles...``), else mobile."""
    if given:
        if given not in OOKLA_TYPES:
            raise InputError("unknown Ookla tile type", file=str(path), column="type",
                             expected=" or ".join(OOKLA_TYPES), found=repr(given))
        return given
    name = Path(path).name.lower()
    return "fixed" if "fixed" in name else "mobile"


def read_ookla(path: str | Path, layer: str | None = None, *,
               kind: str | None = None) -> gpd.GeoDataFrame:
    """Read an Ookla open data tile file as canonical tiles (EPSG:4326 polygons).

    Parameters
    ----------
    path : path-like
        GeoParquet, Parquet without geometry, Shapefile, GeoPackage, GeoJSON or CSV.
    layer : str, optional
        Layer of a multi-layer file.
    kind : {"mobile", "fixed"}, optional
        The tile type; default from the file name (see :func:`tile_type`).

    Returns
    -------
    GeoDataFrame
        ``quadkey``, ``dl_mbps``, ``ul_mbps``, ``lat_ms``, ``tests``, ``devices``,
        ``type``; the geometry is the tile's square computed from its quadkey
        (the file's own polygons are the same squares, so they are not trusted).

    Raises
    ------
    InputError
        A missing column, a quadkey that is not one, tiles of different zoom levels,
        a value that is not a number or is negative; naming the file, row and column.
    """
    path = Path(path)
    frame = _read_any(path, layer)
    cols = {normalise_header(c): c for c in frame.columns if c != "geometry"}
    wanted = ("quadkey", *COLUMNS)
    missing = [c for c in wanted if c not in cols]
    if missing:
        raise InputError("not an Ookla open data tile file: columns missing", file=str(path),
                         column=missing[0], expected=", ".join(wanted),
                         found=shown_columns(cols.values()))
    qk = frame[cols["quadkey"]].astype("string").str.strip()
    bad = ~qk.fillna("").str.fullmatch(_QUADKEY)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy(bool))[0])
        raise InputError("not a quadkey", file=str(path), row=i + 1, column=cols["quadkey"],
                         expected="digits 0-3 (a zoom-16 tile has 16)",
                         found=repr(frame[cols["quadkey"]].iloc[i]))
    lengths = qk.str.len()
    if len(qk) and lengths.nunique() > 1:
        i = int(np.flatnonzero((lengths != lengths.iloc[0]).to_numpy(bool))[0])
        raise InputError("tiles of different zoom levels", file=str(path), row=i + 1,
                         column=cols["quadkey"],
                         expected=f"quadkeys of {int(lengths.iloc[0])} digits like row 1",
                         found=f"{int(lengths.iloc[i])} digits")
    out = pd.DataFrame({"quadkey": qk.to_numpy(dtype=object)})
    for name, (ours, factor) in COLUMNS.items():
        raw = frame[cols[name]]
        values = pd.to_numeric(raw, errors="coerce")
        wrong = (values.isna() & raw.notna()) | (values < 0)
        if wrong.any():
            i = int(np.flatnonzero(wrong.to_numpy(bool))[0])
            raise InputError("not a number of at least 0", file=str(path), row=i + 1,
                             column=cols[name], expected="a number >= 0",
                             found=repr(raw.iloc[i]))
        out[ours] = values.to_numpy(float) * factor
    for c in ("tests", "devices"):
        out[c] = out[c].fillna(0).round().astype(np.int64)
    out["type"] = tile_type(path, kind)
    tiles = [quadkey_to_tile(q) for q in out["quadkey"]]
    boxes = [tile_bounds(*t) for t in tiles]
    geoms = shapely.box(*np.array(boxes, dtype=float).reshape(-1, 4).T) if boxes else []
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(np.asarray(geoms, dtype=object),
                                                        crs="EPSG:4326"), crs="EPSG:4326")


def _read_any(path: Path, layer: str | None) -> pd.DataFrame:
    """The file's rows (a GeoParquet's geometry is dropped: the quadkey is the geometry)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".geoparquet"):
        return pd.read_parquet(path)  # WKT/WKB geometry stays a plain column
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"quadkey": str})
    from geo_p2dd.io.vector import read_vector

    return pd.DataFrame(read_vector(path, layer))
