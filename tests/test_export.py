"""geo_p2dd.exports: every layer in every format, read back with pyogrio; filters; metadata."""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS

from geo_p2dd.columns import describe_column
from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.exports import writers
from geo_p2dd.exports.catalogue import LAYERS
from geo_p2dd.exports.data import VILLAGE_BASE, ExportData
from geo_p2dd.exports.files import download_name, export_layer
from geo_p2dd.exports.formats import (
    DRIVERS,
    FORMATS,
    SHAPEFILE_FIELDS,
    get_format,
    shapefile_names,
    sidecar_path,
)
from geo_p2dd.exports.metadata import build_metadata, read_metadata
from geo_p2dd.exports.query import Filters


@pytest.fixture(scope="module")
def data(sample_project):
    return ExportData(sample_project)


def read_back(path, fmt: str) -> gpd.GeoDataFrame:
    """Read an exported file the way a GIS user would (pyogrio; GeoParquet with pyarrow,
    since the GDAL build shipped with pyogrio has no Parquet driver)."""
    if fmt == "parquet":
        return gpd.read_parquet(path)
    if fmt == "csv":
        return pyogrio.read_dataframe(path, X_POSSIBLE_NAMES="lon", Y_POSSIBLE_NAMES="lat",
                                      AUTODETECT_TYPE="YES")
    if fmt == "gpkg":  # a styled GeoPackage also holds QGIS's layer_styles table
        return pyogrio.read_dataframe(path, layer=data_layer(path))
    return pyogrio.read_dataframe(path)


def data_layer(path) -> str:
    return next(str(n) for n, _ in pyogrio.list_layers(path) if n != "layer_styles")


# --------------------------------------------------------------------------------------- #
# The format table
# --------------------------------------------------------------------------------------- #

def test_one_extension_driver_table_covers_every_format():
    drivers = pyogrio.list_drivers(write=True)
    assert set(FORMATS) == {"gpkg", "geojson", "shp", "csv", "kml", "kmz", "fgb", "parquet"}
    for fmt in FORMATS.values():
        for ext in fmt.extensions:
            assert DRIVERS[ext] == fmt.driver
            assert get_format(f"out/x{ext}") is fmt
        assert get_format(fmt.key) is fmt
        # every driver writes with this GDAL, except Parquet (written with pyarrow)
        assert fmt.driver in drivers or fmt.key == "parquet"
    assert get_format("villages.SHP.ZIP").key == "shp"
    with pytest.raises(InputError, match="unknown export format"):
        get_format("villages.dxf")


# --------------------------------------------------------------------------------------- #
# Every layer x every format
# --------------------------------------------------------------------------------------- #

@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_layer_in_every_format_reads_back(data, tmp_path, layer, fmt):
    expected = data.layer(layer)
    result = export_layer(data, layer, tmp_path, fmt)
    assert result.path.exists() and result.rows == len(expected) > 0
    assert result.path.name.startswith(f"99.01_{layer}_")
    assert result.path.name.endswith(FORMATS[fmt].extension)

    got = read_back(result.path, fmt)
    assert len(got) == len(expected)
    # CRS: longitude/latitude WGS 84 (CSV carries plain lon/lat columns)
    if fmt != "csv":
        assert CRS(got.crs).equals(CRS("EPSG:4326"), ignore_axis_order=True)
    # key columns, under their Shapefile names when shortened
    names = shapefile_names(expected.columns.drop("geometry")) if fmt == "shp" else {}
    info = LAYERS[layer]
    for col in (info.id_column, "gap_class" if layer == "villages" else "kode"
                if layer == "aggregates" else "status"):
        if col not in expected:
            continue
        assert sorted(got[names.get(col, col)].astype(str)) == \
            sorted(expected[col].astype(str)), col
    if layer == "villages":  # values, row by row
        key = names.get("score", "score")
        merged = expected.set_index("kode")["score"].reindex(got["kode"].astype(str))
        assert np.allclose(merged.to_numpy(float), got[key].astype(float).to_numpy(),
                           equal_nan=True)
    # geometry where the format has geometry
    assert got.geometry.notna().all()
    west, south, east, north = expected.total_bounds
    gw, gs, ge, gn = got.total_bounds
    assert abs(gw - west) < 1e-3 and abs(gn - north) < 1e-3 or fmt == "csv"
    if fmt == "csv":  # a representative point inside each feature
        assert (got["lon"].astype(float).between(west, east)).all()
        assert (got["lat"].astype(float).between(south, north)).all()

    # metadata: sources with licences, thresholds, weights, analysis date, columns
    meta = read_metadata(result.path)
    assert meta, f"{fmt} carries no metadata"
    if fmt == "kml":  # the KML Document description holds the README
        readme = meta["readme"]
        assert "Sources and licences" in readme and "CC0" in readme
        assert "Weights" in readme and "unserved_people" in readme
        return
    assert meta["layer"] == layer and meta["rows"] == len(expected)
    assert meta["analysis_date"] == data.analysis_date
    assert meta["thresholds"]["served_share"] == 0.9
    assert set(meta["weights"]) >= {"unserved_people", "nothing_planned"}
    assert meta["sources"] and all(s["licence"] for s in meta["sources"])
    assert {c["name"] for c in meta["columns"]} == set(expected.columns.drop("geometry"))
    if fmt == "csv":
        assert result.sidecar is not None and result.sidecar.exists()


def test_geopackage_metadata_is_in_gpkg_metadata(data, tmp_path):
    path = export_layer(data, "villages", tmp_path / "v.gpkg").path
    info = pyogrio.read_info(path, layer="villages")
    assert info["layer_metadata"]["ANALYSIS_DATE"] == data.analysis_date
    assert "CC0" in info["layer_metadata"]["SOURCES"]
    assert json.loads(info["layer_metadata"]["WEIGHTS"])["unserved_people"] == 0.3
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT m.mime_type, m.metadata, r.table_name FROM gpkg_metadata m "
                           "JOIN gpkg_metadata_reference r ON r.md_file_id = m.id "
                           "WHERE m.mime_type = 'application/json'").fetchall()
        ext = con.execute("SELECT extension_name FROM gpkg_extensions WHERE table_name = "
                          "'gpkg_metadata'").fetchall()
    finally:
        con.close()
    assert len(rows) == 1 and rows[0][2] == "villages"
    doc = json.loads(rows[0][1])
    assert doc["columns"][0]["name"] == "kode" and doc["columns"][0]["description_id"]
    assert ext == [("gpkg_metadata",)]


def test_shapefile_zip_has_prj_cpg_readme_and_the_name_map(data, tmp_path):
    path = export_layer(data, "villages", tmp_path, "shp").path
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert {"villages.shp", "villages.shx", "villages.dbf", "villages.prj", "villages.cpg",
                "README.txt", "metadata.json", "fields.csv"} <= names
        assert zf.read("villages.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
        fields = dict(line.split(",") for line in zf.read("fields.csv").decode().splitlines()[1:])
        readme = zf.read("README.txt").decode()
    assert fields["people_unserved"] == "ppl_unserv"
    assert fields["kecamatan_kode"] == "kec_kode"
    assert "ppl_unserv" in readme
    got = pyogrio.read_info(path)
    assert set(got["fields"]) == set(fields.values())


def test_shapefile_names_are_short_unique_and_stable(data):
    for layer in LAYERS:
        cols = list(data.layer(layer).columns.drop("geometry"))
        names = shapefile_names(cols)
        assert all(len(n) <= 10 for n in names.values())
        assert len({n.lower() for n in names.values()}) == len(cols)
        for col, short in names.items():
            if col in SHAPEFILE_FIELDS:
                assert short == SHAPEFILE_FIELDS[col]
    # names not in the table: cut to 10, collisions numbered in column order
    got = shapefile_names(["measurement_a", "measurement_b", "ppl_unserv_x",
                              "people_unserved"])
    assert got == {"measurement_a": "measuremen", "measurement_b": "measurem_1",
                   "ppl_unserv_x": "ppl_unse_1", "people_unserved": "ppl_unserv"}
    assert SHAPEFILE_FIELDS["people_unserved"] == "ppl_unserv"  # published: never change


def test_csv_has_lon_lat_and_wkt_on_request(data, tmp_path):
    plain = export_layer(data, "villages", tmp_path / "a.csv").path
    with_wkt = export_layer(data, "villages", tmp_path / "b.csv", wkt=True).path
    a = pyogrio.read_dataframe(plain, read_geometry=False)
    b = pyogrio.read_dataframe(with_wkt, read_geometry=False)
    assert {"lon", "lat"} <= set(a.columns) and "wkt" not in a.columns
    assert b["wkt"].str.startswith("MULTIPOLYGON").all()
    assert json.loads(sidecar_path(plain).read_text())["layer"] == "villages"


# --------------------------------------------------------------------------------------- #
# Filters
# --------------------------------------------------------------------------------------- #

def test_filters_region_class_score_bbox_status(data):
    villages = data.layer("villages")
    kec = Filters.parse(region="99.01.02")
    sel = data.select("villages", kec)
    assert len(sel) and sel["kode"].str.startswith("99.01.02.").all()
    assert len(sel) == (villages["kecamatan_kode"] == "99.01.02").sum()
    # codes written without dots are normalised
    assert len(data.select("villages", Filters.parse(region="990102"))) == len(sel)

    blank = data.select("villages", Filters.parse(gap_class="blank_spot,Blank spot"))
    assert len(blank) == (villages["gap_class"] == "blank_spot").sum() > 0
    locs = data.select("locations", Filters.parse(gap_class=["blank_spot"]))
    assert set(locs["village_gap_class"]) == {"blank_spot"}

    high = data.select("villages", Filters.parse(min_score="50"))
    assert (high["score"] >= 50).all() and len(high) == (villages["score"] >= 50).sum()

    w, s, e, n = villages.total_bounds
    box = (w, s, (w + e) / 2, n)
    inside = data.select("villages", Filters.parse(bbox=",".join(map(str, box))))
    assert 0 < len(inside) < len(villages)
    assert (inside.bounds["minx"] <= box[2]).all()

    planned = data.select("sites", Filters.parse(site_status="rencana,usulan"))
    assert set(planned["status"]) == {"planned", "proposed"}
    # a filter that does not apply to a layer is ignored (and reported by export_layer)
    assert len(data.select("sites", Filters.parse(gap_class="served"))) == \
        len(data.layer("sites"))
    kab = data.select("aggregates", Filters.parse(level="kabupaten"))
    assert list(kab["level"]) == ["kabupaten"]


def test_locations_unserved_holds_unserved_locations_only(data, sample_project):
    every = sample_project.read_table("location_results")
    locs = data.layer("locations_unserved")
    assert len(locs) == (every["status"] != "served").sum()
    assert set(locs["status"]) <= {"unserved", "weak", "unknown"}
    assert (locs.geometry.x.round(6) == locs["lon"].round(6)).all()


def test_locations_holds_every_location_with_its_status(data, sample_project):
    every = sample_project.read_table("location_results")
    locs = data.layer("locations")
    assert sorted(locs["location_id"]) == sorted(every["location_id"])
    assert "served" in set(locs["status"])  # the sample has served places too
    unserved = data.layer("locations_unserved")
    assert sorted(unserved["location_id"]) == sorted(
        locs.loc[locs["status"] != "served", "location_id"])
    assert list(unserved.columns) == list(locs.columns)
    blank = data.select("locations_unserved", Filters.parse(gap_class="blank_spot"))
    assert len(blank) and set(blank["village_gap_class"]) == {"blank_spot"}


@pytest.mark.parametrize("kwargs, column", [
    ({"region": "Mahakam"}, "region"),
    ({"gap_class": "bad_class"}, "class"),
    ({"min_score": "lots"}, "min_score"),
    ({"min_score": 120}, "min_score"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "115,1,114,0"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "0,-95,1,0"}, "bbox"),
    ({"site_status": "done-ish"}, "status"),
    ({"level": "desa"}, "level"),
])
def test_bad_filters_name_the_filter(kwargs, column):
    with pytest.raises(InputError) as err:
        Filters.parse(**kwargs)
    assert err.value.column == column
    assert err.value.expected


def test_download_names_say_region_layer_and_date(data):
    date = data.analysis_date[:10]
    assert download_name(data, "villages", "gpkg") == f"99.01_villages_{date}.gpkg"
    f = Filters.parse(region="99.01.03", gap_class="blank_spot")
    assert download_name(data, "villages", "shp", f) == \
        f"99.01.03_villages-blank_spot_{date}.shp.zip"
    # the class filter does not apply to sites, so it does not name them
    assert download_name(data, "sites", "csv", f) == f"99.01.03_sites_{date}.csv"


def test_metadata_names_licences_and_share_alike(sample_copy):
    sample_copy.config["sources"]["sites:towers.csv"] = {
        "file": "towers.csv", "licence": "CC BY-SA 4.0 (OpenCelliD)", "rows": 3}
    data = ExportData(sample_copy)
    meta = build_metadata(data, "sites", data.layer("sites"))
    assert "CC BY-SA 4.0 (OpenCelliD)" in meta["licences"]
    assert "share" in meta["attribution"] and "OpenCelliD" in meta["attribution"]
    assert "SAMPLE" in meta["attribution"]
    assert meta["vocabularies"]["gap class"]["blank_spot"]["en"] == "Blank spot"
    described = {c["name"]: c for c in meta["columns"]}
    assert all(c["description_en"] and c["description_id"] for c in described.values())


def test_every_village_column_is_described(data):
    missing = [c for c in data.layer("villages").columns.drop("geometry")
               if not describe_column(c)[0]]
    assert missing == []


def test_project_without_analysis(project, tmp_path):
    data = ExportData(project)
    villages = data.layer("villages")
    assert list(villages.columns) == [*VILLAGE_BASE, "geometry"]
    with pytest.raises(NotFoundError, match="analyze"):
        data.layer("locations")
    result = export_layer(data, "villages", tmp_path / "v.geojson")
    assert read_metadata(result.path)["analysis_date"] is None
    assert len(pyogrio.read_dataframe(result.path)) == 4


def test_export_never_leaves_half_a_file(data, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writers, "_write_gpkg", broken)
    with pytest.raises(OSError):
        export_layer(data, "villages", tmp_path / "v.gpkg")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------------------- #

def test_cli_export(sample_project, tmp_path):
    from geo_p2dd.cli import main

    runner = CliRunner()
    out = tmp_path / "kec.gpkg"
    res = runner.invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                               "villages", "--format", "gpkg", "--region", "99.01.02",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and out.exists()
    got = pyogrio.read_dataframe(out, layer="villages")
    assert len(got) and got["kode"].str.startswith("99.01.02.").all()

    res = runner.invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                               "sites", "--status", "installed", "--class", "blank_spot",
                               "--out", str(tmp_path / "dir"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "gpkg" and doc["ignored_filters"] == ["gap_class"]
    assert re.fullmatch(r"99\.01_sites-installed_\d{4}-\d\d-\d\d\.gpkg",
                        doc["path"].rsplit("/", 1)[-1]), doc["path"]

    res = runner.invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                               "locations_unserved", "--filter",
                               "people >= 50 AND kind IN ('settlement')", "--out",
                               str(tmp_path / "cql"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    got = pyogrio.read_dataframe(doc["path"], layer="locations_unserved")
    want = ExportData(sample_project).layer("locations_unserved")
    want = want[(want["people"] >= 50) & (want["kind"] == "settlement")]
    assert len(want) and sorted(got["location_id"]) == sorted(want["location_id"])
    assert "-filtered_" in doc["path"]
    assert read_metadata(doc["path"])["filters"]["cql2"].startswith("people >= 50")
    res = runner.invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                               "villages", "--filter", "score >> 3"])
    assert res.exit_code == 1 and "'>' at position 8" in res.output

    res = runner.invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                               "villages", "--bbox", "1,2,3"])
    assert res.exit_code == 1 and "bbox" in res.output
    res = runner.invoke(main, ["export", "--project", str(sample_project.path), "--layer",
                               "villages", "--format", "gpkg", "--out",
                               str(tmp_path / "v.shp.zip")])
    assert res.exit_code == 1 and "does not match" in res.output


def test_aggregates_without_area_layers_are_dissolved_once(tmp_path, villages_gdf, monkeypatch):
    """Kecamatan/kabupaten boundaries come from the villages when the project has none,
    and are kept in the project's cache (a whole country takes minutes to dissolve)."""
    from geo_p2dd.analysis import analyze_project
    from geo_p2dd.imports import init_project

    src = tmp_path / "desa.gpkg"
    pyogrio.write_dataframe(villages_gdf, src, layer="desa")
    project, _ = init_project(tmp_path / "p", villages=src)
    analyze_project(project)
    data = ExportData(project)
    assert data.count("aggregates") == 3 and not data.built("aggregates")
    assert data.extent("aggregates") == tuple(villages_gdf.total_bounds)
    agg = data.layer("aggregates").set_index("kode")
    assert set(agg["level"]) == {"kecamatan", "kabupaten"}
    assert agg.geometry["99.01.01"].area == pytest.approx(0.02)
    assert agg.geometry["99.01"].area == pytest.approx(0.04)
    assert len(list((project.path / "cache").glob("dissolved-*.parquet"))) == 2

    def no_union(*args, **kwargs):
        raise AssertionError("dissolved again")

    monkeypatch.setattr(shapely, "union_all", no_union)
    again = ExportData(project).layer("aggregates").set_index("kode")
    assert again.geometry["99.01.02"].equals(agg.geometry["99.01.02"])


def test_library_never_imports_flask():
    import subprocess
    import sys

    code = ("import sys, geo_p2dd.exports.files, geo_p2dd.exports.features, geo_p2dd.cli; "
            "sys.exit(1 if 'flask' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_csv_export_neutralises_formulas_and_keeps_numbers(sample_project, tmp_path):
    import csv

    sites = sample_project.read_layer("sites")
    sites["name"] = sites["name"].astype(object)
    sites.loc[sites.index[0], "name"] = '=HYPERLINK("http://x","x")'
    sites["power_dbm"] = -42.5
    data = ExportData(sample_project, sites=sites)
    path = export_layer(data, "sites", tmp_path / "sites.csv").path
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    first = next(r for r in rows if r["site_id"] == str(sites["site_id"].iloc[0]))
    assert first["name"] == '\'=HYPERLINK("http://x","x")'
    assert first["power_dbm"] == "-42.5"
    assert all(float(r["lon"]) == float(r["lon"]) for r in rows)  # coordinates are numbers
    assert not any(v.startswith(("=", "@")) for r in rows for v in r.values() if v)


def test_geoparquet_keeps_geo_and_our_metadata(data, tmp_path):
    import pyarrow.parquet as pq

    path = export_layer(data, "sites", tmp_path / "sites.parquet").path
    meta = pq.read_schema(path).metadata
    geo = json.loads(meta[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["crs"]
    assert read_metadata(path)["layer"] == "sites"
    back = gpd.read_parquet(path)
    assert len(back) == len(data.layer("sites")) and back.crs.to_epsg() == 4326
    assert [p.name for p in tmp_path.iterdir()] == ["sites.parquet"]


def test_library_uses_no_private_geopandas_api():
    from pathlib import Path

    import geo_p2dd

    root = Path(geo_p2dd.__file__).parent
    private = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
               for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"from geopandas[\w.]* import \(?_|geopandas[\w.]*\._\w", line)]
    assert private == []


def test_filter_query_keeps_every_digit():
    """The query names cached files and links: two different boxes never share one."""
    a = Filters.parse(bbox="114.1234,0.1,115.0001,1.5", min_score="12.3456")
    b = Filters.parse(bbox="114.1231,0.1,115.0001,1.5", min_score="12.3459")
    assert a.query()["bbox"] == "114.1234,0.1,115.0001,1.5"
    assert a.query()["min_score"] == "12.3456"
    assert a.query() != b.query()


# --------------------------------------------------------------------------------------- #
# Licences travel with the data
# --------------------------------------------------------------------------------------- #

def test_a_lone_csv_carries_licence_and_attribution_in_every_row(data, tmp_path):
    path = export_layer(data, "sites", tmp_path / "s.csv", sidecar=False).path
    assert not list(tmp_path.glob("*.json"))  # nothing beside it: the file alone must do
    got = pyogrio.read_dataframe(path, read_geometry=False)
    assert list(got.columns[-2:]) == ["licence", "attribution"]
    assert set(got["licence"]) == {"CC0"}
    line = got["attribution"].iloc[0]
    assert got["attribution"].nunique() == 1 and "CC0 – " in line and "sites" in line
    assert "SAMPLE" in line  # the sample is flagged in the file itself


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "csv"])
def test_every_other_format_carries_licences_and_attribution(data, tmp_path, fmt):
    path = export_layer(data, "villages", tmp_path, fmt).path
    meta = read_metadata(path)
    text = json.dumps(meta) if "readme" not in meta else meta["readme"]
    assert "CC0" in text and "Derived from:" in text


def test_attribution_line_and_licence_urls():
    from geo_p2dd.exports.metadata import attribution_line, licence_name, licence_url

    meta = {"sources": [{"name": "villages", "licence": "CC BY 4.0 (BPS)"},
                        {"name": "towers:cells.csv", "licence": "CC BY-SA 4.0 (OpenCelliD)"},
                        {"name": "sites", "licence": "CC BY 4.0"}],
            "sample": False, "generator": "geo_p2dd 1", "project": "Mahakam Ulu"}
    line = attribution_line(meta)
    assert line.startswith("Sources/sumber: CC BY 4.0 – sites, villages; CC BY-SA 4.0 – "
                           "towers.")
    assert "Share alike" in line and "SAMPLE" not in line and "Mahakam Ulu" in line
    assert licence_name("CC BY-SA 4.0 (OpenCelliD)") == "CC BY-SA 4.0"
    assert licence_url("CC BY-SA 4.0 (OpenCelliD)") == \
        "https://creativecommons.org/licenses/by-sa/4.0/"
    assert licence_url("CC0 (sample)") == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert licence_url("ODbL") == "https://opendatacommons.org/licenses/odbl/1-0/"
    assert licence_url("internal, do not share") is None
