"""Tests for geo_p2dd.io.vector: every input format, CRS handling, repairs, refusals."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geo_p2dd.errors import InputError
from geo_p2dd.io.vector import (
    RepairWarning,
    list_layers,
    read_vector,
    repair_polygons,
    to_storage_crs,
)
from geo_p2dd.layers import villages_from_frame

METRIC = "EPSG:32650"


def _write(gdf: gpd.GeoDataFrame, fmt: str, directory):
    """Write ``gdf`` in one of the accepted formats and return the path."""
    if fmt == "parquet":
        path = directory / "villages.parquet"
        gdf.to_parquet(path)
        return path
    if fmt == "shp.zip":
        shp = directory / "shp" / "villages.shp"
        shp.parent.mkdir()
        pyogrio.write_dataframe(gdf, shp, driver="ESRI Shapefile")
        path = directory / "villages.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for part in shp.parent.iterdir():
                zf.write(part, part.name)
        return path
    driver = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile",
              "fgb": "FlatGeobuf", "kml": "KML"}[fmt]
    path = directory / f"villages.{fmt}"
    pyogrio.write_dataframe(gdf, path, driver=driver)
    return path


FORMATS = ["gpkg", "geojson", "shp", "shp.zip", "fgb", "parquet", "kml"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_villages(fmt, tmp_path, villages_gdf):
    path = _write(villages_gdf, fmt, tmp_path)
    gdf = read_vector(path)
    assert gdf.crs.to_epsg() == 4326
    villages = villages_from_frame(gdf, file=str(path))
    assert villages["kode"].tolist() == villages_gdf["kode"].tolist()
    assert villages["nama"].tolist() == villages_gdf["nama"].tolist()
    expected_area = villages_gdf.to_crs(METRIC).area.to_numpy()
    np.testing.assert_allclose(villages.to_crs(METRIC).area.to_numpy(), expected_area,
                               rtol=1e-6)
    assert (villages.geometry.geom_type == "MultiPolygon").all()


@pytest.mark.parametrize("fmt", ["gpkg", "parquet", "shp"])
def test_projected_input_is_returned_in_lonlat(fmt, tmp_path, villages_gdf):
    path = _write(villages_gdf.to_crs(METRIC), fmt, tmp_path)
    gdf = read_vector(path)
    assert gdf.crs.to_epsg() == 4326
    for got, want in zip(gdf.geometry, villages_gdf.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(want),
                                    tolerance=1e-7)


def test_no_crs_on_lonlat_coordinates_is_assumed_4326(tmp_path, villages_gdf):
    path = tmp_path / "noprj.shp"
    pyogrio.write_dataframe(villages_gdf, path, driver="ESRI Shapefile")
    path.with_suffix(".prj").unlink()
    with pytest.warns(RepairWarning, match="no CRS.*EPSG:4326 was assumed"):
        gdf = read_vector(path)
    assert gdf.crs.to_epsg() == 4326
    assert gdf.total_bounds.tolist() == pytest.approx([114.0, 0.0, 114.4, 0.1])


def test_no_crs_on_projected_coordinates_is_refused(tmp_path, villages_gdf):
    """UTM numbers without a .prj: refuse, naming the file and what was found."""
    path = tmp_path / "utm.shp"
    pyogrio.write_dataframe(villages_gdf.to_crs(METRIC), path, driver="ESRI Shapefile")
    path.with_suffix(".prj").unlink()
    utm_west = villages_gdf.to_crs(METRIC).total_bounds[0]
    with pytest.raises(InputError) as info:
        read_vector(path)
    text = str(info.value)
    assert str(path) in text
    assert "no CRS" in text
    assert "not longitude/latitude" in text
    assert f"{utm_west:.1f}" in text  # the bounds found are shown
    assert "EPSG:4326" in text  # how to fix it


def test_to_storage_crs_refuses_projected_without_crs():
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(500000, 10000, 510000, 20000)])
    with pytest.raises(InputError, match="no CRS"):
        to_storage_crs(gdf, "x.gpkg")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.gpkg"
    path.write_bytes(b"")
    with pytest.raises(InputError) as info:
        read_vector(path)
    assert str(path) in str(info.value)
    assert "empty" in str(info.value)


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "garbage.gpkg"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError) as info:
        read_vector(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)
    assert "cannot open" in str(info.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_vector(tmp_path / "nope.gpkg")


def test_layer_without_features_is_refused(tmp_path, villages_gdf):
    path = tmp_path / "none.gpkg"
    pyogrio.write_dataframe(villages_gdf.iloc[:0], path, driver="GPKG",
                            geometry_type="MultiPolygon")
    with pytest.raises(InputError, match="no features"):
        read_vector(path)


def test_table_without_geometry_is_refused(tmp_path):
    """A CSV given where boundaries are expected: an InputError, not an AttributeError."""
    path = tmp_path / "villages.csv"
    path.write_text("kode,nama\n99.01.01.2001,Satu\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_vector(path)
    text = str(info.value)
    assert str(path) in text
    assert "no geometries" in text
    assert "kode, nama" in text  # what was found


def test_multi_layer_file(tmp_path, boundaries_gpkg):
    assert list_layers(boundaries_gpkg) == ["desa", "kecamatan", "kabupaten"]
    with pytest.raises(InputError) as info:
        read_vector(boundaries_gpkg)
    assert "desa, kecamatan, kabupaten" in str(info.value)
    assert "--layer" in str(info.value)
    assert len(read_vector(boundaries_gpkg, prefer_layers=("villages", "desa"))) == 4
    assert len(read_vector(boundaries_gpkg, "kecamatan")) == 2
    with pytest.raises(InputError) as info:
        read_vector(boundaries_gpkg, "kampung")
    assert info.value.found == "kampung"
    assert "desa" in info.value.expected


@pytest.mark.parametrize("fmt", ["gpkg", "parquet"])
@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("99.01", 3), ("99.01.02", 1), ("99.02", 1), ("99.02.01.2001", 1), ("98", 0)],
)
def test_where_prefix(fmt, prefix, expected, tmp_path, villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[3, "kode"] = "99.02.01.2001"
    path = _write(gdf, fmt, tmp_path)
    got = read_vector(path, where_prefix=("kode", prefix))
    assert len(got) == expected
    assert all(k == prefix or k.startswith(prefix + ".") for k in got["kode"])


@pytest.mark.parametrize("fmt", ["gpkg", "parquet"])
def test_where_prefix_finds_synonym_column_and_undotted_codes(fmt, tmp_path, villages_gdf):
    """Codes written without dots (a repair) still lie in their region."""
    gdf = villages_gdf.rename(columns={"kode": "KODE_DESA", "nama": "NAMA_DESA"})
    gdf["KODE_DESA"] = [" 9901012001", "9901012002", "99.01.02.2001", "9902022002"]
    path = _write(gdf, fmt, tmp_path)
    got = read_vector(path, where_prefix=("kode", "99.01"))
    assert sorted(got["KODE_DESA"].str.strip()) == ["99.01.02.2001", "9901012001",
                                                     "9901012002"]


def test_bow_tie_is_made_valid(villages_gdf):
    bow_tie = shapely.Polygon([(114.0, 0.0), (114.1, 0.1), (114.1, 0.0), (114.0, 0.1)])
    assert not bow_tie.is_valid
    gdf = villages_gdf.copy()
    gdf.loc[0, "geometry"] = bow_tie
    with pytest.warns(RepairWarning, match=r"1 invalid polygon\(s\) repaired.*99\.01\.01\.2001"):
        fixed = repair_polygons(gdf, "kode", "bowtie.gpkg")
    geom = fixed.geometry.iloc[0]
    assert geom.is_valid and geom.geom_type == "MultiPolygon"
    # two triangles, each half of a 0.1 x 0.05 rectangle: 2 * 0.0025 square degrees
    assert len(geom.geoms) == 2
    assert geom.area == pytest.approx(0.005)
    # valid neighbours are untouched
    assert fixed.geometry.iloc[1].equals(villages_gdf.geometry.iloc[1])


def test_repair_refuses_points(villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[2, "geometry"] = shapely.Point(114.25, 0.05)
    with pytest.raises(InputError) as info:
        repair_polygons(gdf, "kode", "points.gpkg")
    e = info.value
    assert (e.file, e.row, e.column) == ("points.gpkg", 3, "geometry")
    assert e.expected == "Polygon or MultiPolygon" and e.found == "Point"
    assert "points.gpkg" in str(e) and "row 3" in str(e)


def test_repair_refuses_missing_geometry(villages_gdf):
    gdf = villages_gdf.copy()
    gdf.loc[1, "geometry"] = None
    with pytest.raises(InputError) as info:
        repair_polygons(gdf, "kode", "holes.gpkg")
    assert info.value.row == 2
    assert info.value.found == "99.01.01.2002"
    assert "no geometry" in str(info.value)


def test_polygons_become_multipolygons_and_collections_keep_polygons(villages_gdf):
    gdf = villages_gdf.copy()
    collection = shapely.GeometryCollection([shapely.box(114.0, 0.0, 114.1, 0.1),
                                             shapely.LineString([(114, 0), (115, 1)])])
    gdf.loc[0, "geometry"] = collection
    out = repair_polygons(gdf, "kode", "x.gpkg")
    assert (out.geometry.geom_type == "MultiPolygon").all()
    assert out.geometry.iloc[0].area == pytest.approx(0.01)


def test_crs_less_geojson_in_metres_is_refused(tmp_path, villages_gdf):
    """GeoJSON without a crs member is read as EPSG:4326: UTM metres must not pass as degrees."""
    path = tmp_path / "kec_utm.geojson"
    utm = villages_gdf.to_crs(METRIC)
    path.write_text(utm.set_crs(None, allow_override=True).to_json())
    with pytest.raises(InputError) as info:
        read_vector(path)
    text = str(info.value)
    assert str(path) in text and "look projected (metres)" in text
    assert "says EPSG:4326" in text and f"{utm.total_bounds[0]:.1f}" in text
    assert "set the CRS in the file" in text


def test_layer_with_all_geometries_missing_is_not_called_projected():
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[None], crs="EPSG:4326")
    assert to_storage_crs(gdf, "x.gpkg").crs.to_epsg() == 4326


# --- GeoParquet CRS (issue #14) --------------------------------------------------------------

def _plain_geoparquet(path, gdf, crs_entry):
    """GeoParquet as other tools write it: WKB bytes, the CRS only in the 'geo' metadata."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    column = {"encoding": "WKB", "geometry_types": []}
    if crs_entry != "absent":
        column["crs"] = crs_entry
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}
    table = pa.table({"kode": gdf["kode"].tolist(), "nama": gdf["nama"].tolist(),
                      "geometry": pa.array(shapely.to_wkb(gdf.geometry.values), pa.binary())})
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)
    return path


@pytest.mark.parametrize("where_prefix", [None, ("kode", "99.01")])
def test_geoparquet_declared_crs_is_read_and_reprojected(where_prefix, tmp_path, villages_gdf):
    utm = villages_gdf.to_crs(METRIC)
    path = _plain_geoparquet(tmp_path / "desa.parquet", utm, utm.crs.to_json_dict())
    gdf = read_vector(path, where_prefix=where_prefix)
    assert gdf.crs.to_epsg() == 4326
    assert gdf.total_bounds.tolist() == pytest.approx([114.0, 0.0, 114.4, 0.1], abs=1e-6)


def test_geoparquet_without_crs_key_is_crs84(tmp_path, villages_gdf):
    path = _plain_geoparquet(tmp_path / "desa.parquet", villages_gdf, "absent")
    gdf = read_vector(path, where_prefix=("kode", "99.01.02"))
    assert gdf["kode"].tolist() == ["99.01.02.2001", "99.01.02.2002"]
    assert gdf.total_bounds.tolist() == pytest.approx([114.2, 0.0, 114.4, 0.1])


def test_geoparquet_with_unknown_crs_in_metres_is_refused(tmp_path, villages_gdf):
    path = _plain_geoparquet(tmp_path / "desa.parquet", villages_gdf.to_crs(METRIC), None)
    with pytest.raises(InputError, match=r"look projected \(metres\).*has no CRS"):
        read_vector(path, where_prefix=("kode", "99.01"))
