"""Property-based tests of imports: any file either imports or is refused with our error.

For generated CSV, XLSX, GeoJSON and GeoTIFF files, ``import_layer`` either
succeeds or raises a :class:`~geo_p2dd.errors.GeoP2DDError` (never another
exception, which the CLI would report as a bug), and a refused import leaves
every file of the project byte for byte as it was.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import rasterio
from affine import Affine
from conftest import snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_p2dd.errors import GeoP2DDError
from geo_p2dd.imports import import_layer, init_project
from geo_p2dd.io.vector import RepairWarning
from geo_p2dd.project import Project

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

HEADERS = ["nama", "jenis", "kode_desa", "kampung", "kode", "penduduk", "bujur", "lon", "tahun",
           "site_id", "", "x;y", "Kapasitas (Mbps)"]
CELLS = ["", "Starlink", "BTS", "terpasang", "rencana", "usulan", "99.01.01.2001", "9901022002",
         "99.01", "Satu", "Empat", "114.05", "0.05", "114,15", "-0.05", "2024", "1e308", "inf",
         "-inf", "nan", "NaN", "1e999", "0", "-1", "=2020+4", "\"quoted, text\"", "a\tb",
         "Kampung Café", "漢字", " 99.01.02.2001 ", "LTE", "510", "10", "1.5e-400"]
POINT_KINDS = ["sites", "locations", "population", "towers"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, _boundaries_bytes) -> Path:
    """A tiny project (four villages) made once; each example works on a copy."""
    source = tmp_path_factory.mktemp("inputs") / "batas.gpkg"
    source.write_bytes(_boundaries_bytes)
    path = tmp_path_factory.mktemp("pristine") / "proj"
    init_project(path, villages=source)
    return path


def _attempt(pristine: Path, work: Path, kind: str, file: Path, **opts) -> None:
    """Import ``file`` into a fresh copy of the project; a refusal must change nothing."""
    project_dir = work / "proj"
    if project_dir.exists():
        shutil.rmtree(project_dir)
    shutil.copytree(pristine, project_dir, symlinks=True)
    before = snapshot(project_dir)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RepairWarning)
            import_layer(Project(project_dir), kind, file, **opts)
    except GeoP2DDError:
        assert snapshot(project_dir) == before


def _work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("example")


# valid sheets of every point kind; examples start from them and spoil some cells
BASES = {
    "sites": (["nama lokasi", "jenis", "status", "kode_desa", "kampung", "tahun", "bujur",
               "lintang"],
              [["Starlink Satu", "Starlink", "terpasang", "99.01.01.2001", "Satu", "2024",
                "114.05", "0.05"],
               ["BTS Tiga", "BTS", "rencana", "99.01.02.2001", "Tiga", "2026", "114.25",
                "0.05"]]),
    "locations": (["nama", "jenis", "kampung", "penduduk", "bujur", "lintang"],
                  [["Dusun Satu", "permukiman", "Satu", "120", "114.05", "0.05"],
                   ["SD Dua", "sekolah", "99.01.01.2002", "", "114.15", "0.05"]]),
    "population": (["kode", "penduduk"], [["99.01.01.2001", "1.234"], ["9901022002", "56"]]),
    "towers": (["radio", "mcc", "net", "area", "cell", "lon", "lat", "range"],
               [["LTE", "510", "10", "1", "11", "114.05", "0.05", "3000"],
                ["GSM", "510", "1", "1", "12", "114.30", "0.02", "5000"]]),
}
POINT_KINDS = list(BASES)


TEXT_CELLS = st.sampled_from(CELLS)


@st.composite
def sheets(draw, cells=TEXT_CELLS):
    """(kind, header, rows): a valid sheet with some cells, headings and rows spoilt."""
    kind = draw(st.sampled_from(POINT_KINDS))
    header, base = BASES[kind]
    header = [draw(st.sampled_from(HEADERS)) if draw(st.booleans()) and
              draw(st.integers(0, 9)) == 0 else h for h in header]
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        row = list(draw(st.sampled_from(base)))
        for j in range(len(row)):
            if draw(st.integers(0, 9)) == 0:
                row[j] = draw(cells)
        rows.append(row[:draw(st.integers(len(row) - 1, len(row)))])
    return kind, header, rows


@SETTINGS
@given(sheet=sheets(), sep=st.sampled_from([",", ";", "\t", "|"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
def test_any_csv_imports_or_is_refused(pristine, tmp_path_factory, sheet, sep, encoding):
    kind, header, rows = sheet
    work = _work(tmp_path_factory)
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    path = work / "data.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _attempt(pristine, work, kind, path)


@SETTINGS
@given(data=st.binary(max_size=300), kind=st.sampled_from(POINT_KINDS + ["villages"]),
       suffix=st.sampled_from([".csv", ".xlsx", ".geojson", ".gpkg", ".parquet"]))
def test_any_bytes_import_or_are_refused(pristine, tmp_path_factory, data, kind, suffix):
    work = _work(tmp_path_factory)
    path = work / f"data{suffix}"
    path.write_bytes(data)
    _attempt(pristine, work, kind, path)


xlsx_cells = st.one_of(st.sampled_from(CELLS), st.none(), st.integers(-10**12, 10**12),
                       st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@SETTINGS
@given(sheet=sheets(cells=xlsx_cells))
def test_any_xlsx_imports_or_is_refused(pristine, tmp_path_factory, sheet):
    kind, header, rows = sheet
    work = _work(tmp_path_factory)
    wb = openpyxl.Workbook()
    for r in [header, *rows]:
        wb.active.append(r)
    path = work / "data.xlsx"
    wb.save(path)
    _attempt(pristine, work, kind, path)


coordinate = st.one_of(st.floats(113.9, 114.5), st.floats(-1e7, 1e7),
                       st.sampled_from([0.0, 180.0, -90.0, 1e300]))
codes = st.sampled_from(["99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01", "99.01.01",
                         "99.01.02", "", "ABC", "9901012001", "99.01.01.2001"])


VILLAGE_CODES = ["99.01.01.2001", "99.01.01.2002", "99.01.02.2001", "99.01.02.2002"]
AREA_CODES = {"villages": VILLAGE_CODES, "kecamatan": ["99.01.01", "99.01.02"],
              "kabupaten": ["99.01"], "sites": VILLAGE_CODES, "locations": VILLAGE_CODES,
              "coverage": ["99.01.01", "99.01.02"]}


@st.composite
def geojson_layers(draw):
    """(kind, collection): boundaries, points or coverage polygons, some parts spoilt."""
    kind = draw(st.sampled_from(list(AREA_CODES)))
    good = AREA_CODES[kind]
    features = []
    count = len(good) if kind in ("kecamatan", "kabupaten") else 4
    for i in range(draw(st.integers(0, count))):
        x0, y0 = 114.0 + 0.1 * i, 0.0
        size = 0.1
        if draw(st.integers(0, 5)) == 0:
            x0, y0, size = draw(coordinate), draw(coordinate), draw(
                st.sampled_from([0.0, 0.05, 1e6]))
        shape = "Point" if kind in ("sites", "locations") else "Polygon"
        if draw(st.integers(0, 5)) == 0:
            shape = draw(st.sampled_from(["Polygon", "Point", "LineString", None]))
        ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
        geometry = {"Polygon": {"type": "Polygon", "coordinates": [ring]},
                    "Point": {"type": "Point", "coordinates": [x0 + size / 2, y0 + size / 2]},
                    "LineString": {"type": "LineString", "coordinates": ring[:2]},
                    None: None}[shape]
        props = {"kode": good[i % len(good)], "nama": f"Tempat {i}", "jenis": "sekolah",
                 "status": "terpasang", "kelas": "baik", "dbm": "-90"}
        for key in list(props):
            if draw(st.integers(0, 7)) == 0:
                props[key] = draw(st.one_of(codes, st.sampled_from(CELLS)))
        if draw(st.integers(0, 6)) == 0:
            props.pop(draw(st.sampled_from(sorted(props))))
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return kind, {"type": "FeatureCollection", "features": features}


@SETTINGS
@given(layer=geojson_layers())
def test_any_geojson_imports_or_is_refused(pristine, tmp_path_factory, layer):
    kind, collection = layer
    work = _work(tmp_path_factory)
    path = work / "data.geojson"
    path.write_text(json.dumps(collection))
    _attempt(pristine, work, kind, path)


@SETTINGS
@given(dtype=st.sampled_from(["uint8", "int16", "float32", "float64"]),
       values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                 st.integers(-40000, 70000)), min_size=1, max_size=12),
       shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
       crs=st.sampled_from([None, "EPSG:4326", "EPSG:4326", "EPSG:32750"]),
       nodata=st.sampled_from([None, 0, -1, -9999]),
       kind=st.sampled_from(["coverage", "population-raster", "dem"]),
       values_kind=st.sampled_from([None, "dbm", "classes"]))
def test_any_raster_imports_or_is_refused(pristine, tmp_path_factory, dtype, values, shape,
                                          crs, nodata, kind, values_kind):
    work = _work(tmp_path_factory)
    n = shape[0] * shape[1]
    info = np.finfo(dtype) if dtype.startswith("float") else np.iinfo(dtype)
    raw = np.resize(np.asarray(values, dtype=np.float64), n)
    if not dtype.startswith("float"):
        raw = np.clip(np.nan_to_num(raw, nan=0, posinf=info.max, neginf=info.min),
                      info.min, info.max)
    with np.errstate(over="ignore", invalid="ignore"):  # float64 -> float32 overflows to inf
        array = raw.astype(dtype).reshape(shape)
    if nodata is not None and not (info.min <= nodata <= info.max):
        nodata = None
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1,
               "dtype": dtype, "nodata": nodata,
               "transform": Affine(0.05, 0, 114.0, 0, -0.05, 0.1) if crs != "EPSG:32750" else
               Affine(500, 0, 200000, 0, -500, 10000000)}
    if crs:
        profile["crs"] = crs
    path = work / "data.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    opts = {"values": values_kind} if kind == "coverage" and values_kind else {}
    _attempt(pristine, work, kind, path, **opts)
