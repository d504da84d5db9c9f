"""Gap layers for telco partners: every layer in every common GIS format.

Four layers, each a GeoDataFrame in EPSG:4326 built from the project and its
analysis results (:meth:`ExportData.layer`, :meth:`ExportData.select`):

``villages``
    village boundaries with every analysis column (gap class, score, rank,
    per-factor contributions, people and facilities unserved).
``locations``
    settlements and public facilities that are *not* served (status unserved,
    weak or unknown), as points.
``sites``
    infrastructure sites of every status (installed, in progress, planned,
    proposed), as points.
``aggregates``
    kecamatan and kabupaten figures (column ``level``) with their boundaries.

One table, :data:`FORMATS`, maps file extensions to drivers; :func:`write_layer`
writes any of them. Every file carries its metadata (sources and licences, the
thresholds and weights used, the analysis date and a column dictionary):

============  ===========================================================
format        where the metadata is
============  ===========================================================
gpkg          ``gpkg_metadata`` (GDAL metadata items and one JSON record)
geojson       a ``metadata`` member of the FeatureCollection
shp           ``README.txt``, ``metadata.json``, ``fields.csv`` in the zip
csv           a sidecar ``<file>.metadata.json`` (and a link on the web)
kml           the KML ``Document`` description
kmz           ``README.txt`` and ``metadata.json`` inside the KMZ
fgb           FlatGeobuf header (``TITLE``, ``DESCRIPTION``, ``geo_p2dd``)
parquet       the Parquet schema's key-value metadata (``geo_p2dd``)
============  ===========================================================

Shapefile field names are at most 10 characters. They are shortened by the
fixed table :data:`SHAPEFILE_FIELDS` (stable across versions: a name, once
published, never changes); names not in it are cut to 10 characters and, if
that collides, to 8 characters plus ``_1``, ``_2``... in column order. The
mapping used is written into every zip as ``fields.csv``.

The GDAL build shipped with pyogrio has no Parquet driver, so GeoParquet is
written with pyarrow (GeoParquet 1.x, WKB geometry).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo_p2dd import __version__
from geo_p2dd.codes import CODE_RE, in_region, normalise_code
from geo_p2dd.errors import InputError, NotFoundError
from geo_p2dd.io.cells import neutralise_frame
from geo_p2dd.project import Project, now_iso
from geo_p2dd.schema import GAP_CLASSES, LOCATION_STATUS, SITE_KINDS, SITE_STATUS

CRS = "EPSG:4326"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


# --------------------------------------------------------------------------------------- #
# Formats: the one extension -> driver table
# --------------------------------------------------------------------------------------- #

@dataclass(frozen=True)
class Format:
    """One export format: its key, file extensions, GDAL driver and media type."""

    key: str
    label: str
    extensions: tuple[str, ...]  # the first is the one written
    driver: str
    media_type: str
    compressible: bool = False  # text formats worth gzip on the wire
    multi_file: bool = False

    @property
    def extension(self) -> str:
        return self.extensions[0]


FORMATS: dict[str, Format] = {f.key: f for f in (
    Format("gpkg", "GeoPackage", (".gpkg",), "GPKG", "application/geopackage+sqlite3"),
    Format("geojson", "GeoJSON", (".geojson", ".json"), "GeoJSON", "application/geo+json",
           compressible=True),
    Format("shp", "Shapefile (zip)", (".shp.zip", ".zip", ".shp"), "ESRI Shapefile",
           "application/zip", multi_file=True),
    Format("csv", "CSV", (".csv",), "CSV", "text/csv", compressible=True),
    Format("kml", "KML", (".kml",), "LIBKML", "application/vnd.google-earth.kml+xml",
           compressible=True),
    Format("kmz", "KMZ", (".kmz",), "LIBKML", "application/vnd.google-earth.kmz"),
    Format("fgb", "FlatGeobuf", (".fgb",), "FlatGeobuf", "application/flatgeobuf"),
    Format("parquet", "GeoParquet", (".parquet", ".geoparquet"), "Parquet",
           "application/vnd.apache.parquet"),
)}

#: file extension -> driver, derived from :data:`FORMATS` (longest extensions first)
DRIVERS: dict[str, str] = dict(sorted(
    ((ext, f.driver) for f in FORMATS.values() for ext in f.extensions),
    key=lambda kv: -len(kv[0])))


def get_format(value: Format | str | Path) -> Format:
    """The :class:`Format` for a key (``"gpkg"``) or a file name (``out/villages.gpkg``).

    Raises
    ------
    InputError
        When neither a known key nor a known extension is given.
    """
    if isinstance(value, Format):
        return value
    text = str(value).strip()
    key = text.lower().lstrip(".")
    if key in FORMATS:
        return FORMATS[key]
    name = Path(text).name.lower()
    for f in FORMATS.values():
        if any(name.endswith(ext) for ext in f.extensions):
            return f
    raise InputError("unknown export format", found=repr(text),
                     expected=", ".join(FORMATS) + " (or a file name ending in "
                     + ", ".join(DRIVERS) + ")")


# --------------------------------------------------------------------------------------- #
# Layers
# --------------------------------------------------------------------------------------- #

@dataclass(frozen=True)
class LayerInfo:
    """One downloadable layer."""

    name: str
    title_en: str
    title_id: str
    description_en: str
    geometry: str  # MultiPolygon or Point
    id_column: str
    code_column: str  # the Kemendagri code used by the region filter
    queryables: tuple[str, ...]  # columns that may be filtered by equality
    description_id: str = ""

    def title(self, lang: str = "id") -> str:
        return self.title_en if lang == "en" else self.title_id

    def description(self, lang: str = "id") -> str:
        return self.description_en if lang == "en" or not self.description_id else \
            self.description_id


LAYERS: dict[str, LayerInfo] = {i.name: i for i in (
    LayerInfo("villages", "Villages: connectivity gaps", "Kampung/desa: kesenjangan konektivitas",
              "Village boundaries with gap class, score, rank, each factor's contribution and "
              "the people and public facilities without usable signal.",
              "MultiPolygon", "kode", "kode",
              ("kode", "nama", "kecamatan_kode", "kecamatan", "kabupaten_kode", "kabupaten",
               "gap_class", "gap_class_planned", "in_programme"),
              "Batas kampung/desa dengan kelas kesenjangan, skor, peringkat, kontribusi tiap "
              "faktor, serta penduduk dan fasilitas publik tanpa sinyal yang layak."),
    LayerInfo("locations", "Unserved locations", "Lokasi belum terlayani",
              "Settlements, schools, health facilities and village offices without a usable "
              "signal (status unserved, weak or unknown).",
              "Point", "location_id", "village_kode",
              ("location_id", "kind", "village_kode", "kecamatan_kode", "kabupaten_kode",
               "status", "status_planned", "source", "village_gap_class"),
              "Permukiman, sekolah, fasilitas kesehatan dan kantor kampung tanpa sinyal yang "
              "layak (status belum terlayani, lemah atau belum diketahui)."),
    LayerInfo("sites", "Sites (all statuses)", "Site infrastruktur (semua status)",
              "Starlink terminals, towers, VSAT, fibre and public Wi-Fi: installed, in progress, "
              "planned and proposed, with owner agency (OPD), funding and year.",
              "Point", "site_id", "village_kode",
              ("site_id", "kind", "status", "village_kode", "kecamatan_kode", "kabupaten_kode",
               "agency", "funding", "year", "operator", "technology"),
              "Terminal Starlink, menara BTS, VSAT, serat optik dan Wi-Fi publik: terpasang, "
              "proses, rencana dan usulan, dengan OPD pemilik, sumber dana dan tahun."),
    LayerInfo("aggregates", "Kecamatan and kabupaten figures", "Rekap kecamatan dan kabupaten",
              "Villages per gap class, people and facilities unserved and sites per status, "
              "per kecamatan and kabupaten (column level).",
              "MultiPolygon", "kode", "kode",
              ("level", "kode", "nama"),
              "Jumlah kampung per kelas kesenjangan, penduduk dan fasilitas belum terlayani, "
              "serta titik layanan per status, per kecamatan dan kabupaten (kolom level)."),
)}

AGGREGATE_LEVELS = ("kecamatan", "kabupaten")


def get_layer(name: str) -> LayerInfo:
    if name not in LAYERS:
        raise NotFoundError(f"no layer {name!r}; layers: {', '.join(LAYERS)}")
    return LAYERS[name]


# --------------------------------------------------------------------------------------- #
# Column dictionary
# --------------------------------------------------------------------------------------- #

#: column -> (English, Indonesian) description
COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "kode": ("Kemendagri code (village, kecamatan or kabupaten)",
             "Kode Kemendagri (desa, kecamatan atau kabupaten)"),
    "nama": ("Name", "Nama"),
    "kecamatan_kode": ("Kecamatan (district) code", "Kode kecamatan"),
    "kecamatan": ("Kecamatan (district) name", "Nama kecamatan"),
    "kabupaten_kode": ("Kabupaten (regency) code", "Kode kabupaten"),
    "kabupaten": ("Kabupaten (regency) name", "Nama kabupaten"),
    "population": ("Village population (from the population table)", "Jumlah penduduk kampung"),
    "locations": ("Locations (settlements and facilities) in the village",
                  "Jumlah lokasi (permukiman dan fasilitas)"),
    "settlements": ("Settlements in the village", "Jumlah permukiman"),
    "people_located": ("People in the village's settlements", "Penduduk di permukiman"),
    "people_served": ("People in settlements with usable service",
                      "Penduduk di permukiman yang terlayani"),
    "people_unserved": ("People in settlements without usable service",
                        "Penduduk di permukiman yang belum terlayani"),
    "people_unknown": ("People in settlements without signal data",
                       "Penduduk di permukiman tanpa data sinyal"),
    "people_unserved_planned": ("People still unserved once sites in progress and planned work",
                                "Penduduk yang tetap belum terlayani setelah site proses/rencana"),
    "people_4g": ("People in settlements with usable 4G", "Penduduk dengan 4G yang layak"),
    "facilities": ("Public facilities (schools, health, village office)",
                   "Fasilitas publik (sekolah, kesehatan, kantor kampung)"),
    "facilities_unserved": ("Public facilities without usable service",
                            "Fasilitas publik yang belum terlayani"),
    "school_unserved": ("Schools without usable service", "Sekolah yang belum terlayani"),
    "health_unserved": ("Health facilities without usable service",
                        "Fasilitas kesehatan yang belum terlayani"),
    "village_office_unserved": ("Village office without usable service (0/1)",
                                "Kantor kampung belum terlayani (0/1)"),
    "locations_unserved": ("Locations without usable service", "Lokasi yang belum terlayani"),
    "settlements_signal": ("Settlements with a usable signal of any technology",
                           "Permukiman dengan sinyal layak (teknologi apa pun)"),
    "settlements_4g": ("Settlements with usable 4G", "Permukiman dengan 4G layak"),
    "locations_by_site": ("Locations served by a site (Starlink, Wi-Fi, VSAT, fibre)",
                          "Lokasi yang dilayani site (Starlink, Wi-Fi, VSAT, serat optik)"),
    "locations_known": ("Locations with signal data", "Lokasi dengan data sinyal"),
    "dist_service_km": ("Farthest distance from a settlement to the nearest installed service "
                        "(km)", "Jarak terjauh permukiman ke layanan terpasang terdekat (km)"),
    "no_4g_share": ("Share of people without usable 4G (0-1)",
                    "Porsi penduduk tanpa 4G layak (0-1)"),
    "served_share": ("Share of people served (0-1)", "Porsi penduduk terlayani (0-1)"),
    "served_share_planned": ("Share of people served once sites in progress and planned work "
                             "(0-1)", "Porsi penduduk terlayani setelah site proses/rencana (0-1)"),
    "remoteness_km": ("Distance from the main settlement to the region's most populated "
                      "settlement (km)", "Jarak permukiman utama ke permukiman terpadat (km)"),
    "pop_grid": ("Population from the population grid", "Penduduk menurut grid penduduk"),
    "pop_no_4g": ("Share of the grid population without usable 4G (0-1)",
                  "Porsi penduduk grid tanpa 4G layak (0-1)"),
    "gap_class": ("Gap class now: blank_spot, no_4g, partial_4g, served, unknown",
                  "Kelas kesenjangan saat ini: blank_spot, no_4g, partial_4g, served, unknown"),
    "gap_class_planned": ("Gap class once sites in progress and planned are working",
                          "Kelas kesenjangan setelah site proses dan rencana beroperasi"),
    "in_programme": ("In a BTS/Starlink programme: sites in progress or planned improve it",
                     "Masuk program BTS/Starlink: site proses/rencana memperbaikinya"),
    "score": ("Gap score 0-100 (higher = larger gap); the c_* columns add up to it",
              "Skor kesenjangan 0-100 (makin tinggi makin besar); jumlah kolom c_*"),
    "rank": ("Rank in the project (1 = largest gap)", "Peringkat di proyek (1 = kesenjangan "
             "terbesar)"),
    "reasons_id": ("Main reasons for the score (Indonesian)", "Alasan utama skor (Indonesia)"),
    "reasons_en": ("Main reasons for the score (English)", "Alasan utama skor (Inggris)"),
    "location_id": ("Stable location id", "Id lokasi"),
    "kind": ("Kind (see the vocabulary in the metadata)", "Jenis"),
    "name": ("Name", "Nama"),
    "village_kode": ("Code of the village it lies in", "Kode kampung/desa"),
    "village": ("Name of the village it lies in", "Nama kampung/desa"),
    "people": ("People (settlements; estimated when not given)",
               "Jumlah penduduk (permukiman; perkiraan bila tidak ada)"),
    "source": ("Where the location comes from (imported or derived)", "Asal data lokasi"),
    "best_4g": ("Best 4G signal class at the location", "Kelas sinyal 4G terbaik di lokasi"),
    "best_other": ("Best 2G/3G signal class at the location", "Kelas sinyal 2G/3G terbaik"),
    "served_by_site": ("Site serving the location (if any)", "Site yang melayani lokasi"),
    "nearest_site_km": ("Distance to the nearest installed site (km)",
                        "Jarak ke site terpasang terdekat (km)"),
    "status": ("Status (see the vocabulary in the metadata)", "Status"),
    "status_planned": ("Location status once sites in progress and planned work",
                       "Status lokasi setelah site proses/rencana"),
    "reason_en": ("Why the location has this status (English)", "Alasan status (Inggris)"),
    "reason_id": ("Why the location has this status (Indonesian)",
                  "Alasan status (Bahasa Indonesia)"),
    "best_source": ("Coverage source giving the best 4G signal", "Sumber sinyal 4G terbaik"),
    "nearest_tower_km": ("Distance to the nearest installed tower (km)",
                         "Jarak ke menara terpasang terdekat (km)"),
    "dist_tower_km": ("Farthest distance from a settlement to the nearest installed tower (km)",
                      "Jarak terjauh permukiman ke menara terpasang terdekat (km)"),
    "village_gap_class": ("Gap class of the village", "Kelas kesenjangan kampung"),
    "lon": ("Longitude (WGS 84); a representative point inside polygons",
            "Bujur (WGS 84); titik representatif di dalam poligon"),
    "lat": ("Latitude (WGS 84); a representative point inside polygons",
            "Lintang (WGS 84); titik representatif di dalam poligon"),
    "wkt": ("Geometry as WKT (WGS 84)", "Geometri dalam WKT (WGS 84)"),
    "site_id": ("Stable site id", "Id site"),
    "agency": ("Owner agency (OPD)", "OPD pemilik"),
    "funding": ("Funding: apbd, apbn (APBN/BAKTI), csr, other",
                "Sumber dana: apbd, apbn (APBN/BAKTI), csr, other"),
    "year": ("Year (installed or budgeted)", "Tahun (pemasangan/anggaran)"),
    "capacity_mbps": ("Capacity (Mbps)", "Kapasitas (Mbps)"),
    "service_radius_m": ("Service radius (m)", "Radius layanan (m)"),
    "height_m": ("Antenna height (m)", "Tinggi antena (m)"),
    "frequency_mhz": ("Frequency (MHz)", "Frekuensi (MHz)"),
    "power_dbm": ("Transmit power (dBm)", "Daya pancar (dBm)"),
    "operator": ("Operator", "Operator"),
    "technology": ("Radio technology (2G, 3G, 4G, 5G)", "Teknologi radio"),
    "notes": ("Notes", "Catatan"),
    "level": ("Level: kecamatan or kabupaten", "Tingkat: kecamatan atau kabupaten"),
    "villages": ("Villages", "Jumlah kampung/desa"),
    "n_in_programme": ("Villages in a BTS/Starlink programme", "Kampung masuk program"),
    "blank_spot_share": ("Share of villages that are blank spots (0-1)",
                         "Porsi kampung blank spot (0-1)"),
    "people_unserved_share": ("Share of located people unserved (0-1)",
                              "Porsi penduduk belum terlayani (0-1)"),
}

_FACTOR_DOCS = {
    "unserved_people": ("unserved people", "penduduk belum terlayani"),
    "unserved_facilities": ("unserved public facilities", "fasilitas publik belum terlayani"),
    "no_4g_share": ("share of people without 4G", "porsi penduduk tanpa 4G"),
    "distance": ("distance to the nearest service", "jarak ke layanan terdekat"),
    "remoteness": ("remoteness", "keterpencilan"),
    "nothing_planned": ("nothing planned or in progress", "belum ada rencana/proses"),
}


def describe_column(name: str) -> tuple[str, str]:
    """(English, Indonesian) description of an exported column ('' when unknown)."""
    if name in COLUMN_DOCS:
        return COLUMN_DOCS[name]
    for prefix, en, id_ in (("f_", "Normalised factor (0-1): ", "Faktor ternormalisasi (0-1): "),
                            ("c_", "Contribution to the score (points): ",
                             "Kontribusi ke skor (poin): ")):
        if name.startswith(prefix) and name[2:] in _FACTOR_DOCS:
            f_en, f_id = _FACTOR_DOCS[name[2:]]
            return en + f_en, id_ + f_id
    m = re.fullmatch(r"signal_(\w+)", name)
    if m:
        return (f"Signal class from the coverage source {m[1]}",
                f"Kelas sinyal dari sumber cakupan {m[1]}")
    m = re.fullmatch(r"pop_(unknown|none|marginal|poor|fair|good)", name)
    if m:
        return (f"Share of the grid population in 4G signal class {m[1]} (0-1)",
                f"Porsi penduduk grid pada kelas sinyal 4G {m[1]} (0-1)")
    m = re.fullmatch(r"rank_(kecamatan|kabupaten|provinsi)", name)
    if m:
        return f"Rank within the {m[1]}", f"Peringkat di dalam {m[1]}"
    m = re.fullmatch(r"(\w+)_planned", name)
    if m and m[1] in COLUMN_DOCS:
        en, id_ = COLUMN_DOCS[m[1]]
        return (f"{en}, once sites in progress and planned work",
                f"{id_}, setelah site proses/rencana beroperasi")
    m = re.fullmatch(r"sites_(installed|in_progress|planned|proposed)", name)
    if m:
        return (f"Sites {SITE_STATUS.label(m[1], 'en').lower()}",
                f"Site {SITE_STATUS.label(m[1], 'id').lower()}")
    m = re.fullmatch(r"installed_(\w+)", name)
    if m:
        return (f"Installed sites of kind {SITE_KINDS.label(m[1], 'en')}",
                f"Site terpasang jenis {SITE_KINDS.label(m[1], 'id')}")
    m = re.fullmatch(r"area_(\w+)", name)
    if m:
        return (f"Share of the village area with 4G signal class {m[1]} (0-1)",
                f"Porsi luas kampung dengan kelas sinyal 4G {m[1]} (0-1)")
    m = re.fullmatch(r"n_(\w+)", name)
    if m and m[1] in GAP_CLASSES.ids:
        return (f"Villages in gap class {GAP_CLASSES.label(m[1], 'en')}",
                f"Kampung kelas {GAP_CLASSES.label(m[1], 'id')}")
    return "", ""


# --------------------------------------------------------------------------------------- #
# Shapefile field names (stable: never change a published short name)
# --------------------------------------------------------------------------------------- #

SHAPEFILE_FIELDS: dict[str, str] = {
    "kecamatan_kode": "kec_kode", "kabupaten_kode": "kab_kode",
    "settlements": "n_settle", "people_located": "ppl_locatd", "people_served": "ppl_served",
    "people_unserved": "ppl_unserv", "people_unknown": "ppl_unknwn",
    "people_unserved_planned": "ppl_unsvpl", "people_4g": "ppl_4g",
    "facilities_unserved": "fac_unserv", "school_unserved": "sch_unserv",
    "health_unserved": "hlt_unserv", "village_office_unserved": "off_unserv",
    "locations_unserved": "loc_unserv", "settlements_signal": "set_signal",
    "settlements_4g": "set_4g", "locations_by_site": "loc_bysite",
    "locations_known": "loc_known", "dist_service_km": "dist_km", "no_4g_share": "no4g_share",
    "served_share": "serv_share", "served_share_planned": "serv_shrpl",
    "sites_installed": "s_installd", "sites_in_progress": "s_inprogr",
    "sites_planned": "s_planned", "sites_proposed": "s_proposed",
    "installed_starlink": "i_starlink", "installed_bts": "i_bts", "installed_vsat": "i_vsat",
    "installed_wifi": "i_wifi", "installed_fiber": "i_fiber", "remoteness_km": "remote_km",
    "area_unknown": "a_unknown", "area_none": "a_none", "area_marginal": "a_marginal",
    "area_poor": "a_poor", "area_fair": "a_fair", "area_good": "a_good",
    "area_no_4g": "a_no_4g", "gap_class_planned": "gap_cls_pl", "in_programme": "in_program",
    "f_unserved_people": "f_unsv_ppl", "c_unserved_people": "c_unsv_ppl",
    "f_unserved_facilities": "f_unsv_fac", "c_unserved_facilities": "c_unsv_fac",
    "f_no_4g_share": "f_no4g", "c_no_4g_share": "c_no4g",
    "f_remoteness": "f_remote", "c_remoteness": "c_remote",
    "f_nothing_planned": "f_no_plan", "c_nothing_planned": "c_no_plan",
    "rank_kecamatan": "rank_kec", "rank_kabupaten": "rank_kab",
    "locations_by_site_planned": "loc_sitepl", "dist_tower_km": "dist_twkm",
    "nearest_tower_km": "near_twkm", "best_source": "best_src",
    "location_id": "loc_id", "village_kode": "vil_kode", "served_by_site": "served_by",
    "nearest_site_km": "near_sitkm", "status_planned": "status_pl",
    "village_gap_class": "vil_gap",
    "capacity_mbps": "cap_mbps", "service_radius_m": "radius_m", "frequency_mhz": "freq_mhz",
    "n_blank_spot": "n_blank", "n_partial_4g": "n_part_4g", "n_in_programme": "n_in_prog",
    "blank_spot_share": "blank_shr", "people_unserved_share": "unserv_shr",
}


def shapefile_names(columns: Iterable[str]) -> dict[str, str]:
    """Column -> Shapefile field name (at most 10 characters, unique), stable per column.

    Names in :data:`SHAPEFILE_FIELDS` map as listed; others are cut to 10
    characters and, on a collision, to 8 characters plus ``_1``, ``_2``...
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    columns = list(columns)
    for col in columns:  # the fixed table first, so later names never steal its names
        if col in SHAPEFILE_FIELDS:
            out[col] = SHAPEFILE_FIELDS[col]
            used.add(out[col].lower())
    for col in columns:
        if col in out:
            continue
        short = col[:10]
        n = 0
        while short.lower() in used:
            n += 1
            short = f"{col[:10 - len(str(n)) - 1]}_{n}"
        out[col] = short
        used.add(short.lower())
    return {c: out[c] for c in columns}


# --------------------------------------------------------------------------------------- #
# Filters
# --------------------------------------------------------------------------------------- #

MAX_SCORE = 100.0


@dataclass(frozen=True)
class Filters:
    """What to keep of a layer. Filters that do not apply to a layer are ignored.

    Parameters
    ----------
    region : str, optional
        Kemendagri code prefix (``64.11``, ``64.11.05``): the area and everything in it.
    gap_class : tuple of str
        Gap classes (villages; locations by their village's class).
    min_score : float, optional
        Minimum gap score (villages).
    bbox : (west, south, east, north), optional
        Keep features intersecting this box (longitude/latitude).
    site_status : tuple of str
        Site statuses (sites).
    level : tuple of str
        Aggregate levels (kecamatan, kabupaten).
    equals : tuple of (column, values)
        Equality filters on a layer's queryable columns (OGC API property filters).
    """

    region: str | None = None
    gap_class: tuple[str, ...] = ()
    min_score: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    site_status: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    equals: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, *, region: str | None = None, gap_class: str | Sequence[str] | None = None,
              min_score: str | float | None = None,
              bbox: str | Sequence[float] | None = None,
              site_status: str | Sequence[str] | None = None,
              level: str | Sequence[str] | None = None) -> Filters:
        """Filters from user input (strings as typed, lists or numbers); checks every value.

        Raises
        ------
        InputError
            Naming the filter, what was expected and what was found.
        """
        return cls(region=parse_region(region), gap_class=_vocab(gap_class, GAP_CLASSES,
                                                                   "class"),
                   min_score=parse_min_score(min_score), bbox=parse_bbox(bbox),
                   site_status=_vocab(site_status, SITE_STATUS, "status"),
                   level=_levels(level))

    def applies_to(self, layer: str) -> dict[str, bool]:
        """Which of the set filters apply to ``layer`` (name -> applies)."""
        applies = {
            "region": True, "bbox": True,
            "gap_class": layer in ("villages", "locations"),
            "min_score": layer == "villages",
            "site_status": layer == "sites",
            "level": layer == "aggregates",
            "equals": True,
        }
        return {k: applies[k] for k, v in self.as_dict().items() if v not in (None, (), [])}

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "gap_class": list(self.gap_class),
                "min_score": self.min_score, "bbox": list(self.bbox) if self.bbox else None,
                "site_status": list(self.site_status), "level": list(self.level),
                "equals": {k: list(v) for k, v in self.equals}}

    def for_layer(self, layer: str) -> Filters:
        """Only the filters that apply to ``layer`` (so unrelated filters do not change a
        layer's file name, cache key or metadata)."""
        a = self.applies_to(layer)
        return Filters(region=self.region, bbox=self.bbox,
                       gap_class=self.gap_class if a.get("gap_class") else (),
                       min_score=self.min_score if a.get("min_score") else None,
                       site_status=self.site_status if a.get("site_status") else (),
                       level=self.level if a.get("level") else (), equals=self.equals)

    def query(self) -> dict[str, str]:
        """The filters as URL query parameters (as the downloads page takes them)."""
        q = {}
        if self.region:
            q["region"] = self.region
        if self.gap_class:
            q["class"] = ",".join(self.gap_class)
        if self.min_score is not None:
            q["min_score"] = f"{self.min_score:g}"
        if self.bbox:
            q["bbox"] = ",".join(f"{v:g}" for v in self.bbox)
        if self.site_status:
            q["status"] = ",".join(self.site_status)
        if self.level:
            q["level"] = ",".join(self.level)
        for k, v in self.equals:
            q[k] = ",".join(v)
        return q

    def is_empty(self) -> bool:
        return not self.query()


def parse_region(value: str | None) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    code = normalise_code(value)
    if not CODE_RE.fullmatch(code):
        raise InputError("region is not a Kemendagri code", column="region",
                         expected="a code such as 64, 64.11, 64.11.05 or 64.11.05.2001",
                         found=repr(str(value)))
    return code


def parse_min_score(value: str | float | None) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        score = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise InputError("minimum score is not a number", column="min_score",
                         expected="a number from 0 to 100", found=repr(str(value))) from None
    if not 0 <= score <= MAX_SCORE:
        raise InputError("minimum score out of range", column="min_score",
                         expected="a number from 0 to 100", found=f"{score:g}")
    return score


def parse_bbox(value: str | Sequence[float] | None) -> tuple[float, float, float, float] | None:
    """``"west,south,east,north"`` (or 6 numbers with heights) -> a checked tuple."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise InputError("bbox must be numbers", column="bbox",
                         expected="west,south,east,north in degrees, e.g. 114.5,-0.5,115.5,1.5",
                         found=repr(value if isinstance(value, str) else list(value))) from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(np.isfinite(nums)):
        raise InputError("bbox must have 4 (or 6) finite numbers", column="bbox",
                         expected="west,south,east,north", found=f"{len(nums)} value(s)")
    w, s, e, n = nums
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise InputError("bbox outside longitude/latitude range", column="bbox",
                         expected="longitudes -180..180 and latitudes -90..90",
                         found=",".join(f"{v:g}" for v in nums))
    if s > n or w > e:
        raise InputError("bbox corners in the wrong order", column="bbox",
                         expected="west <= east and south <= north (boxes across the "
                                  "antimeridian are not supported)",
                         found=",".join(f"{v:g}" for v in nums))
    return (w, s, e, n)


def _listify(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    out = []
    for item in items:
        out += [p for p in (s.strip() for s in item.split(",")) if p]
    return out


def _vocab(value, vocabulary, column: str) -> tuple[str, ...]:
    out = []
    for item in _listify(value):
        term = vocabulary.parse(item)
        if term is None:
            raise InputError(f"unknown {vocabulary.name}", column=column,
                             expected=", ".join(vocabulary.ids), found=repr(item))
        if term not in out:
            out.append(term)
    return tuple(out)


def _levels(value) -> tuple[str, ...]:
    out = []
    for item in _listify(value):
        if item.lower() not in AGGREGATE_LEVELS:
            raise InputError("unknown level", column="level",
                             expected=", ".join(AGGREGATE_LEVELS), found=repr(item))
        if item.lower() not in out:
            out.append(item.lower())
    return tuple(out)


def equality_mask(column: pd.Series, values: Sequence[str], name: str) -> np.ndarray:
    """Rows whose ``column`` equals one of ``values`` (given as text, typed by the column)."""
    col = column
    if pd.api.types.is_bool_dtype(col):
        wanted = []
        for v in values:
            t = v.strip().lower()
            if t in ("true", "1", "yes", "ya"):
                wanted.append(True)
            elif t in ("false", "0", "no", "tidak"):
                wanted.append(False)
            else:
                raise InputError("not a boolean", column=name, expected="true or false",
                                 found=repr(v))
        return col.isin(wanted).fillna(False).to_numpy(bool)
    if pd.api.types.is_numeric_dtype(col):
        try:
            nums = [float(v) for v in values]
        except ValueError:
            raise InputError("not a number", column=name, expected="a number",
                             found=repr(", ".join(values))) from None
        return col.astype(float).isin(nums).fillna(False).to_numpy(bool)
    return col.astype("string").isin(list(values)).fillna(False).to_numpy(bool)


# --------------------------------------------------------------------------------------- #
# The layers as frames
# --------------------------------------------------------------------------------------- #

VILLAGE_BASE = ("kode", "nama", "kecamatan_kode", "kecamatan", "kabupaten_kode", "kabupaten",
                "population")
VILLAGE_FIRST = ("gap_class", "gap_class_planned", "in_programme", "score", "rank",
                 "rank_kecamatan", "rank_kabupaten", "people_unserved", "facilities_unserved")
SITE_COLUMNS = ("site_id", "kind", "status", "name", "village_kode", "village", "kecamatan_kode",
                "kabupaten_kode", "agency", "funding", "year", "capacity_mbps",
                "service_radius_m", "height_m", "frequency_mhz", "power_dbm", "operator",
                "technology", "notes")


class ExportData:
    """The project's layers as exportable frames, built once and kept (thread-safe).

    Pass frames already in memory (the web app's) to avoid reading them again.

    Examples
    --------
    >>> data = ExportData(Project("data/sample"))           # doctest: +SKIP
    >>> data.select("villages", Filters.parse(gap_class="blank_spot"))  # doctest: +SKIP
    """

    def __init__(self, project: Project, *, villages: gpd.GeoDataFrame | None = None,
                 results: pd.DataFrame | None = None, locations: pd.DataFrame | None = None,
                 areas: pd.DataFrame | None = None, sites: gpd.GeoDataFrame | None = None,
                 loaded: bool = False) -> None:
        self.project = project
        self._given = {"villages": villages, "results": results, "locations": locations,
                       "areas": areas, "sites": sites}
        self._loaded = loaded
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._lock = threading.RLock()

    # -- inputs ---------------------------------------------------------------------------
    def _input(self, name: str):
        if self._given.get(name) is not None or self._loaded:
            return self._given.get(name)
        p = self.project
        if name == "villages":
            frame = p.read_layer("villages")
        elif name == "sites":
            frame = p.read_layer("sites", required=False)
        else:
            table = {"results": "village_results", "locations": "location_results",
                     "areas": "area_results"}[name]
            frame = p.read_table(table, required=False)
        self._given[name] = frame
        return frame

    @property
    def analysis(self) -> dict:
        """The ``[analysis]`` table of project.toml ({} when the results are stale/absent)."""
        return dict(self.project.config.get("analysis") or {})

    @property
    def analysed(self) -> bool:
        return bool(self.analysis) and self._input("results") is not None

    @property
    def analysis_date(self) -> str | None:
        return self.analysis.get("date")

    def _require_analysis(self, layer: str) -> None:
        if not self.analysed:
            raise NotFoundError(f"the {layer} layer needs analysis results; run 'geo-p2dd "
                                f"analyze --project {self.project.path}' first")

    # -- layers ---------------------------------------------------------------------------
    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The whole layer (all rows, all columns); cached."""
        get_layer(name)
        frame = self._frames.get(name)
        if frame is not None:
            return frame
        with self._lock:
            if name not in self._frames:
                builder = {"villages": self._villages, "locations": self._locations,
                           "sites": self._sites, "aggregates": self._aggregates}[name]
                self._frames[name] = builder()
            return self._frames[name]

    def select(self, name: str, filters: Filters | None = None) -> gpd.GeoDataFrame:
        """The layer's rows that pass ``filters`` (a view; copy before changing it)."""
        frame = self.layer(name)
        mask = filter_mask(frame, name, filters or Filters())
        return frame if mask is None else frame[mask]

    def _villages(self) -> gpd.GeoDataFrame:
        villages = self._input("villages")
        base = [c for c in VILLAGE_BASE if c in villages.columns]
        out = pd.DataFrame(villages[base]).reset_index(drop=True)
        geometry = villages.geometry.reset_index(drop=True)
        if self.analysed:
            results = self._input("results")
            extra = [c for c in results.columns if c not in out.columns]
            first = [c for c in VILLAGE_FIRST if c in extra]
            rest = [c for c in extra if c not in first]
            joined = results.set_index("kode")[first + rest].reindex(out["kode"])
            out = pd.concat([out, joined.reset_index(drop=True)], axis=1)
            if "in_programme" in out.columns:
                out["in_programme"] = out["in_programme"].astype("boolean")
            for c in ("rank", "rank_kecamatan", "rank_kabupaten"):
                if c in out.columns:
                    out[c] = out[c].astype("Int64")
        return _geo(out, geometry.values)

    def _locations(self) -> gpd.GeoDataFrame:
        self._require_analysis("locations")
        loc = pd.DataFrame(self._input("locations"))
        loc = loc[loc["status"] != "served"].reset_index(drop=True)
        villages = self._input("villages").set_index("kode")
        results = self._input("results").set_index("kode")
        vk = loc["village_kode"]
        out = loc[[c for c in ("location_id", "kind", "name", "village_kode") if c in loc]].copy()
        out["village"] = vk.map(villages["nama"])
        out["kecamatan_kode"] = vk.map(villages["kecamatan_kode"]) \
            if "kecamatan_kode" in villages else vk.str.slice(0, 8)
        out["kabupaten_kode"] = vk.map(villages["kabupaten_kode"]) \
            if "kabupaten_kode" in villages else vk.str.slice(0, 5)
        signal_cols = [c for c in loc.columns if c.startswith("signal_")]
        for c in ("people", "source", "best_4g", "best_other", "best_source", *signal_cols,
                  "served_by_site", "nearest_site_km", "nearest_tower_km", "status",
                  "status_planned", "reason_en", "reason_id"):
            if c in loc:
                out[c] = loc[c]
        out["village_gap_class"] = vk.map(results["gap_class"])
        out["lon"] = loc["lon"].astype(float)
        out["lat"] = loc["lat"].astype(float)
        return _geo(out, shapely.points(out["lon"].to_numpy(), out["lat"].to_numpy()))

    def _sites(self) -> gpd.GeoDataFrame:
        sites = self._input("sites")
        if sites is None:
            cols = {c: pd.Series([], dtype="string") for c in SITE_COLUMNS}
            return _geo(pd.DataFrame(cols), np.array([], dtype=object))
        villages = self._input("villages").set_index("kode")
        s = pd.DataFrame(sites.drop(columns=sites.geometry.name)).reset_index(drop=True)
        vk = s["village_kode"] if "village_kode" in s else pd.Series([None] * len(s),
                                                                     dtype="string")
        s["village_kode"] = vk
        s["village"] = vk.map(villages["nama"])
        s["kecamatan_kode"] = vk.map(villages["kecamatan_kode"]) \
            if "kecamatan_kode" in villages else vk.str.slice(0, 8)
        s["kabupaten_kode"] = vk.map(villages["kabupaten_kode"]) \
            if "kabupaten_kode" in villages else vk.str.slice(0, 5)
        if "year" in s:
            year = pd.to_numeric(s["year"], errors="coerce")
            s["year"] = year.round().astype("Int64")
        cols = [c for c in SITE_COLUMNS if c in s] + [c for c in s if c not in SITE_COLUMNS]
        return _geo(s[cols], sites.geometry.reset_index(drop=True).values)

    def _aggregates_table(self) -> pd.DataFrame:
        """The aggregates' attributes (cheap: no boundaries)."""
        cached = self._frames.get("aggregates:table")
        if cached is not None:
            return cached
        self._require_analysis("aggregates")
        areas = pd.DataFrame(self._input("areas"))
        areas = areas[areas["level"].isin(AGGREGATE_LEVELS)].reset_index(drop=True)
        if "n_blank_spot" in areas and "villages" in areas:
            areas["blank_spot_share"] = (areas["n_blank_spot"] /
                                         areas["villages"].replace(0, np.nan)).round(4)
        if "people_unserved" in areas and "people" in areas:
            areas["people_unserved_share"] = (areas["people_unserved"] /
                                              areas["people"].replace(0, np.nan)).round(4)
        self._frames["aggregates:table"] = areas
        return areas

    def _aggregates(self) -> gpd.GeoDataFrame:
        areas = self._aggregates_table()
        geoms = np.empty(len(areas), dtype=object)
        parts = None
        for level in AGGREGATE_LEVELS:  # kecamatan first: kabupaten may be made of them
            rows = np.flatnonzero(areas["level"].to_numpy() == level)
            if not len(rows):
                continue
            shapes = self._area_shapes(level, areas["kode"].iloc[rows], parts)
            geoms[rows] = shapes.reindex(areas["kode"].iloc[rows]).to_numpy()
            parts = shapes
        return _geo(areas, geoms)

    def _area_shapes(self, level: str, codes: pd.Series, parts: pd.Series | None = None
                     ) -> pd.Series:
        """kode -> boundary: from the project's kecamatan/kabupaten layer, else dissolved
        from the villages (or from ``parts``, the kecamatan) and kept in the project's
        cache directory, since dissolving a whole country takes minutes."""
        found = pd.Series(dtype=object)
        layer = self.project.read_layer(level, required=False, columns=["kode"])
        if layer is not None and len(layer):
            found = pd.Series(layer.geometry.values, index=layer["kode"].to_numpy())
            found = found[~found.index.duplicated()]
        missing = sorted(set(codes) - set(found.index))
        if not missing:
            return found
        width = 8 if level == "kecamatan" else 5
        cache = self._dissolve_cache(level)
        if cache is not None and cache.exists():
            made = gpd.read_parquet(cache)
            made = pd.Series(made.geometry.values, index=made["kode"].to_numpy())
            if set(missing) <= set(made.index):
                return pd.concat([found, made[missing]])
        if parts is not None and len(parts):
            geoms = np.asarray(parts.to_numpy(), dtype=object)
            key = pd.Series(parts.index.astype(str)).str.slice(0, width).to_numpy()
        else:
            villages = self._input("villages")
            geoms = np.asarray(villages.geometry.values, dtype=object)
            key = villages["kode"].str.slice(0, width).to_numpy()
        sel = np.isin(key, missing)
        made = pd.Series(geoms[sel]).groupby(key[sel]).agg(
            lambda g: shapely.union_all(shapely.make_valid(np.asarray(g.to_numpy(),
                                                                      dtype=object))))
        if cache is not None and len(made):
            tmp = cache.with_name(f".{cache.name}.{uuid.uuid4().hex[:8]}.tmp")
            gpd.GeoDataFrame({"kode": made.index.to_numpy()}, geometry=list(made.to_numpy()),
                             crs=CRS).to_parquet(tmp)
            os.replace(tmp, cache)
        return pd.concat([found, made])

    def _dissolve_cache(self, level: str) -> Path | None:
        """Where dissolved boundaries are kept (keyed by the villages' source and the
        project's files); None when the project directory is not writable."""
        villages_source = (self.project.config.get("sources") or {}).get("villages") or {}
        stamp = [str(self.project.layers_path.stat().st_mtime_ns)
                 if self.project.layers_path.exists() else "",
                 str(villages_source.get("sha256", "")), level]
        key = hashlib.sha1("|".join(stamp).encode()).hexdigest()[:16]
        try:
            return self.project.cache_dir() / f"dissolved-{level}-{key}.parquet"
        except OSError:
            return None

    # -- cheap facts (no boundaries dissolved) --------------------------------------------
    def built(self, name: str) -> bool:
        return name in self._frames

    def columns_frame(self, name: str) -> pd.DataFrame:
        """A frame with the layer's columns and types (all rows; geometry may be empty)."""
        if name == "aggregates" and not self.built(name):
            return _geo(self._aggregates_table(), np.full(len(self._aggregates_table()), None))
        return self.layer(name)

    def extent(self, name: str) -> tuple[float, float, float, float] | None:
        """Bounding box of the layer (the villages' for aggregates not yet built)."""
        frame = self.layer("villages" if name == "aggregates" and not self.built(name)
                           else name)
        if not len(frame) or frame.geometry.isna().all():
            return None
        return tuple(float(v) for v in frame.total_bounds)

    def count(self, name: str, filters: Filters | None = None) -> int:
        """Rows of the layer passing ``filters`` (aggregates counted from the table)."""
        filters = filters or Filters()
        if name == "aggregates" and not self.built(name) and filters.bbox is None:
            table = self._aggregates_table()
            mask = filter_mask(_geo(table, np.full(len(table), None)), name, filters)
            return len(table) if mask is None else int(mask.sum())
        return len(self.select(name, filters))


def _geo(frame: pd.DataFrame, geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=gpd.GeoSeries(
        np.asarray(geoms, dtype=object), crs=CRS), crs=CRS)


def filter_mask(frame: gpd.GeoDataFrame, layer: str, filters: Filters) -> np.ndarray | None:
    """Boolean mask of the rows that pass ``filters`` (None: keep everything)."""
    info = get_layer(layer)
    mask = np.ones(len(frame), dtype=bool)
    touched = False
    if filters.region:
        mask &= in_region(frame[info.code_column], filters.region).to_numpy(bool)
        touched = True
    if filters.gap_class and layer in ("villages", "locations"):
        col = "gap_class" if layer == "villages" else "village_gap_class"
        if col in frame:
            mask &= frame[col].isin(filters.gap_class).to_numpy(bool)
        else:
            mask &= False  # not analysed: no village has a class
        touched = True
    if filters.min_score is not None and layer == "villages":
        if "score" in frame:
            mask &= (frame["score"].astype(float) >= filters.min_score).fillna(False).to_numpy(
                bool)
        else:
            mask &= False
        touched = True
    if filters.site_status and layer == "sites":
        mask &= frame["status"].isin(filters.site_status).to_numpy(bool)
        touched = True
    if filters.level and layer == "aggregates":
        mask &= frame["level"].isin(filters.level).to_numpy(bool)
        touched = True
    for column, values in filters.equals:
        if column not in info.queryables or column not in frame:
            raise InputError(f"the {layer} layer cannot be filtered by {column!r}",
                             column=column, expected=", ".join(c for c in info.queryables
                                                               if c in frame))
        mask &= equality_mask(frame[column], values, column)
        touched = True
    if filters.bbox is not None:
        box = shapely.box(*filters.bbox)
        hits = frame.sindex.query(box, predicate="intersects")
        inside = np.zeros(len(frame), dtype=bool)
        inside[hits] = True
        mask &= inside
        touched = True
    return mask if touched else None


# --------------------------------------------------------------------------------------- #
# Metadata
# --------------------------------------------------------------------------------------- #

def column_dictionary(frame: pd.DataFrame, *, shapefile: bool = False) -> list[dict]:
    """One entry per column: name, type, English and Indonesian description."""
    names = [c for c in frame.columns if c != frame.geometry.name] \
        if isinstance(frame, gpd.GeoDataFrame) else list(frame.columns)
    short = shapefile_names(names)
    out = []
    for c in names:
        en, id_ = describe_column(c)
        entry = {"name": c, "type": _json_type(frame[c]), "description_en": en,
                 "description_id": id_}
        if shapefile:
            entry["shapefile_name"] = short[c]
        out.append(entry)
    return out


def _json_type(col: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(col):
        return "boolean"
    if pd.api.types.is_integer_dtype(col):
        return "integer"
    if pd.api.types.is_numeric_dtype(col):
        return "number"
    return "string"


def vocabularies() -> dict[str, dict[str, dict[str, str]]]:
    """The controlled vocabularies used by the layers (id -> labels)."""
    return {v.name: {t.id: {"id": t.label_id, "en": t.label_en} for t in v.terms}
            for v in (GAP_CLASSES, LOCATION_STATUS, SITE_STATUS, SITE_KINDS)}


def sources(project: Project) -> list[dict]:
    """Every source recorded in project.toml, with its licence."""
    out = []
    for key, entry in sorted((project.config.get("sources") or {}).items()):
        if not isinstance(entry, Mapping):
            continue
        item = {"name": key, **{k: entry[k] for k in ("file", "licence", "imported", "rows",
                                                       "sha256", "note") if k in entry}}
        item.setdefault("licence", "unknown")
        out.append(item)
    return out


def attribution(project: Project) -> str:
    """One paragraph that a user must keep with the data (licences, share-alike)."""
    licences = sorted({s["licence"] for s in sources(project)})
    text = "Derived from: " + "; ".join(
        f"{s['name']} ({s['licence']})" for s in sources(project)) + "." if licences else ""
    if any("BY-SA" in lic.upper() for lic in licences):
        text += (" Contains OpenCelliD data (CC BY-SA 4.0, opencellid.org): works derived from "
                 "it must be shared under the same licence and credit OpenCelliD.")
    if project.is_sample:
        text += " SAMPLE: fictitious data generated by geo_p2dd; do not use for decisions."
    return text.strip()


def build_metadata(data: ExportData, layer: str, frame: gpd.GeoDataFrame,
                   filters: Filters | None = None, fmt: Format | None = None) -> dict:
    """The metadata carried by every export of ``layer``."""
    info = get_layer(layer)
    p = data.project
    analysis = data.analysis
    filters = (filters or Filters()).for_layer(layer)
    bounds = [round(float(v), 6) for v in frame.total_bounds] \
        if len(frame) and not frame.geometry.isna().all() else None
    return {
        "title": f"{info.title_en} - {p.name}",
        "title_id": f"{info.title_id} - {p.name}",
        "description": info.description_en,
        "layer": layer,
        "format": fmt.key if fmt else None,
        "project": p.name,
        "region_code": p.region_code,
        "region_name": p.config["project"].get("region_name", ""),
        "sample": p.is_sample,
        "rows": int(len(frame)),
        "crs": CRS,
        "bbox": bounds,
        "filters": {k: v for k, v in filters.as_dict().items() if v not in (None, [], {})},
        "analysis_date": analysis.get("date"),
        "generated": now_iso(),
        "generator": f"geo_p2dd {__version__}",
        "thresholds": analysis.get("thresholds", p.config.get("thresholds")),
        "weights": analysis.get("weights", p.config.get("weights")),
        "service_radius_m": analysis.get("service_radius_m", p.config.get("service_radius_m")),
        "sources": sources(p),
        "licences": sorted({s["licence"] for s in sources(p)}),
        "attribution": attribution(p),
        "vocabularies": vocabularies(),
        "columns": column_dictionary(frame, shapefile=fmt is not None and fmt.key == "shp"),
    }


def readme_text(meta: dict) -> str:
    """A plain-text README for a download (English, with Indonesian titles)."""
    lines = [meta["title"], meta["title_id"], "=" * min(78, len(meta["title"])), ""]
    if meta.get("sample"):
        lines += ["SAMPLE / SAMPEL: fictitious data, not a real place. Data contoh fiktif.", ""]
    lines += [meta["description"], "",
              f"Region / wilayah: {meta['region_code']} {meta['region_name']}",
              f"Rows / baris: {meta['rows']}    CRS: {meta['crs']}",
              f"Analysis date / tanggal analisis: {meta.get('analysis_date') or 'not analysed'}",
              f"Generated / dibuat: {meta['generated']} by {meta['generator']}"]
    if meta.get("filters"):
        lines.append("Filters / filter: " + json.dumps(meta["filters"], ensure_ascii=False))
    lines += ["", "Sources and licences / sumber dan lisensi:"]
    for s in meta["sources"]:
        lines.append(f"  - {s['name']}: {s.get('file', '')} ({s['licence']}"
                     + (f", imported {s['imported']}" if s.get("imported") else "") + ")")
    if meta.get("attribution"):
        lines += ["", meta["attribution"]]
    lines += ["", "Thresholds / ambang batas: " + json.dumps(meta.get("thresholds"),
                                                               ensure_ascii=False),
              "Weights / bobot: " + json.dumps(meta.get("weights"), ensure_ascii=False), "",
              "Columns / kolom:"]
    for c in meta["columns"]:
        short = f" [{c['shapefile_name']}]" if c.get("shapefile_name") and \
            c["shapefile_name"] != c["name"] else ""
        lines.append(f"  {c['name']}{short} ({c['type']}): {c['description_en']}"
                     + (f" / {c['description_id']}" if c["description_id"] else ""))
    lines += ["", "Vocabularies / kosakata: see metadata.json.", ""]
    return "\n".join(lines)


def metadata_items(meta: dict) -> dict[str, str]:
    """GDAL metadata items (strings) for formats that store key/value metadata."""
    return {
        "TITLE": meta["title"],
        "DESCRIPTION": meta["description"],
        "ANALYSIS_DATE": meta.get("analysis_date") or "",
        "SOURCES": "; ".join(f"{s['name']}: {s['licence']}" for s in meta["sources"]),
        "ATTRIBUTION": meta.get("attribution", ""),
        "THRESHOLDS": json.dumps(meta.get("thresholds"), ensure_ascii=False),
        "WEIGHTS": json.dumps(meta.get("weights"), ensure_ascii=False),
        "geo_p2dd": json.dumps(meta, ensure_ascii=False),
    }


# --------------------------------------------------------------------------------------- #
# Writers
# --------------------------------------------------------------------------------------- #

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
    table = neutralise_frame(_plain(csv_frame(frame, wkt=wkt)))
    pyogrio.write_dataframe(table, path, layer=layer, driver="CSV")


def _write_parquet(frame, path, *, layer, metadata, wkt=False) -> None:
    import pyarrow.parquet as pq

    try:
        from geopandas.io.arrow import _geopandas_to_arrow
    except ImportError:  # pragma: no cover - older/newer geopandas
        frame.to_parquet(path, index=False)
        return
    table = _geopandas_to_arrow(frame, index=False)
    extra = {b"geo_p2dd": json.dumps(metadata, ensure_ascii=False).encode("utf-8")}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, path, compression="zstd")


#: formats that cannot carry their metadata inside the file
SIDECAR_FORMATS = ("csv",)


def sidecar_path(path: str | Path) -> Path:
    return Path(f"{path}.metadata.json")


# --------------------------------------------------------------------------------------- #
# One call: project layer -> file
# --------------------------------------------------------------------------------------- #

@dataclass
class ExportResult:
    """What :func:`export_layer` wrote."""

    path: Path
    layer: str
    format: Format
    rows: int
    metadata: dict = field(repr=False)
    sidecar: Path | None = None
    ignored_filters: list[str] = field(default_factory=list)


def file_date(data: ExportData) -> str:
    """The date in download names: the analysis date, else today (UTC)."""
    date = data.analysis_date
    if date:
        return str(date)[:10]
    return dt.datetime.now(dt.UTC).date().isoformat()


def download_name(data: ExportData, layer: str, fmt: Format | str,
                  filters: Filters | None = None) -> str:
    """``<region>_<layer>[-<classes/statuses>]_<date><ext>``, e.g.
    ``64.11_villages_2026-11-28.gpkg``."""
    fmt = get_format(fmt)
    f = (filters or Filters()).for_layer(layer)
    region = f.region or data.project.region_code or "all"
    what = layer
    extra = list(f.gap_class) + list(f.site_status) + list(f.level)
    if f.min_score is not None:
        extra.append(f"score{f.min_score:g}")
    if f.bbox is not None:
        extra.append("bbox")
    if extra:
        what += "-" + "+".join(extra)
    name = f"{region}_{what}_{file_date(data)}{fmt.extension}"
    return re.sub(r"[^\w.+\-]", "_", name)


def export_layer(project: Project | ExportData, layer: str, out: str | Path | None = None,
                 fmt: Format | str | None = None, *, filters: Filters | None = None,
                 wkt: bool = False, sidecar: bool | None = None) -> ExportResult:
    """Export one layer of a project to a file.

    Parameters
    ----------
    project : Project or ExportData
    layer : str
        villages, locations, sites or aggregates.
    out : str or Path, optional
        Output file (with a known extension), or a directory (created if needed) to
        write :func:`download_name` into; default: the current directory.
    fmt : str, optional
        A key of :data:`FORMATS`; default from ``out``'s extension, else gpkg.
    filters : Filters, optional
    wkt : bool
        CSV: add a ``wkt`` column.
    sidecar : bool, optional
        Write ``<file>.metadata.json`` beside the file; default for formats that
        cannot hold metadata (CSV).

    Examples
    --------
    >>> export_layer(Project("data/sample"), "villages", "out/villages.gpkg",
    ...              filters=Filters.parse(region="99.01.01"))   # doctest: +SKIP
    """
    data = project if isinstance(project, ExportData) else ExportData(project)
    get_layer(layer)
    filters = filters or Filters()
    out_is_file = out is not None and not Path(out).is_dir() and _known_extension(out)
    if fmt is None:
        fmt = get_format(out) if out_is_file else FORMATS["gpkg"]
    fmt = get_format(fmt)
    if out_is_file and get_format(out) != fmt:
        raise InputError("the output file's extension does not match the format",
                         column="out", expected=f"a name ending in {fmt.extension}",
                         found=str(out), hint="leave out --format to take it from the name")
    if not out_is_file:
        folder = Path(out or ".")
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / download_name(data, layer, fmt, filters)
    frame = data.select(layer, filters)
    meta = build_metadata(data, layer, frame, filters, fmt)
    path = write_layer(frame, out, fmt, layer=layer, metadata=meta, wkt=wkt)
    side = None
    if sidecar if sidecar is not None else fmt.key in SIDECAR_FORMATS:
        side = sidecar_path(path)
        side.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    ignored = [k for k, ok in filters.applies_to(layer).items() if not ok]
    return ExportResult(path=path, layer=layer, format=fmt, rows=len(frame), metadata=meta,
                        sidecar=side, ignored_filters=ignored)


def _known_extension(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(ext) for ext in DRIVERS)


def read_metadata(path: str | Path) -> dict | None:
    """The geo_p2dd metadata of an exported file (None when it has none)."""
    path = Path(path)
    fmt = get_format(path)
    side = sidecar_path(path)
    if fmt.key in ("shp", "kmz"):
        with zipfile.ZipFile(path) as zf:
            if "metadata.json" in zf.namelist():
                return json.loads(zf.read("metadata.json"))
    elif fmt.key in ("gpkg", "fgb"):
        meta = pyogrio.read_info(path).get("layer_metadata") or {}
        if "geo_p2dd" in meta:
            return json.loads(meta["geo_p2dd"])
    elif fmt.key == "geojson":
        with open(path, encoding="utf-8") as fh:
            return json.load(fh).get("metadata")
    elif fmt.key == "parquet":
        import pyarrow.parquet as pq

        raw = (pq.read_schema(path).metadata or {}).get(b"geo_p2dd")
        if raw:
            return json.loads(raw)
    if side.exists():
        return json.loads(side.read_text(encoding="utf-8"))
    if fmt.key == "kml":  # the README is the Document's description
        with open(path, encoding="utf-8") as fh:
            head = fh.read(1 << 20)
        m = re.search(r"<description><!\[CDATA\[(.*?)\]\]></description>", head, re.S)
        if m:
            return {"readme": m[1]}
    return None


# --------------------------------------------------------------------------------------- #
# GeoJSON features as text (OGC API items, streamed GeoJSON)
# --------------------------------------------------------------------------------------- #

def geojson_features(frame: gpd.GeoDataFrame, id_column: str, *, precision: int = 7,
                     extra: Sequence[str] | None = None) -> list[str]:
    """Each row as a GeoJSON Feature (a JSON string; ``id`` from ``id_column``).

    Coordinates are rounded to ``precision`` decimals (7: about 1 cm). ``extra``
    is a JSON fragment per feature added after the properties (e.g. links).
    """
    if not len(frame):
        return []
    geom = frame.geometry
    arr = np.asarray(geom.values, dtype=object)
    arr = shapely.transform(arr, lambda c: np.round(c, precision))
    geometries = shapely.to_geojson(arr)
    props = pd.DataFrame(frame.drop(columns=geom.name))
    lines = props.to_json(orient="records", lines=True, force_ascii=False,
                          double_precision=10).splitlines()
    ids = [json.dumps(str(v), ensure_ascii=False) for v in frame[id_column].to_numpy()]
    tails = extra if extra is not None else [""] * len(lines)
    return [f'{{"type":"Feature","id":{i},"geometry":{g if g is not None else "null"},'
            f'"properties":{p}{t}}}'
            for i, g, p, t in zip(ids, geometries, lines, tails, strict=True)]
