"""The column dictionary: what each column of the exported layers means.

:data:`COLUMN_DOCS` and :func:`describe_column` give an English and an
Indonesian description for every column the layers carry (including the
families ``f_*``, ``c_*``, ``signal_*``, ``*_planned``...);
:func:`column_dictionary` lists a table's columns with their types, and
:func:`vocabularies` the controlled vocabularies of :mod:`geo_p2dd.schema`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from geo_p2dd.schema import GAP_CLASSES, LOCATION_STATUS, SITE_KINDS, SITE_STATUS

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
    "licence": ("Licences of the sources (CSV: the same in every row)",
                "Lisensi sumber data (CSV: sama di setiap baris)"),
    "attribution": ("Sources and licences to credit (CSV: the same in every row)",
                    "Sumber dan lisensi yang wajib dicantumkan (CSV: sama di setiap baris)"),
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
    "budget_idr": ("Budget (pagu), rupiah", "Pagu anggaran (rupiah)"),
    "realised_idr": ("Amount realised, rupiah", "Realisasi anggaran (rupiah)"),
    "budget_year": ("Budget year", "Tahun anggaran"),
    "sipd_code": ("SIPD sub-activity code (kode sub kegiatan)", "Kode sub kegiatan SIPD"),
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
    m = re.fullmatch(r"sites_(\w+)", name)
    if m and m[1] in SITE_STATUS.ids:
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


def column_dictionary(frame: pd.DataFrame, *,
                      short_names: Mapping[str, str] | None = None) -> list[dict]:
    """One entry per column: name, type, English and Indonesian description.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        The table described (a GeoDataFrame's geometry column is left out).
    short_names : mapping, optional
        Column -> the name it has in the file (Shapefile fields), added as
        ``shapefile_name``.
    """
    names = [c for c in frame.columns if c != frame.geometry.name] \
        if isinstance(frame, gpd.GeoDataFrame) else list(frame.columns)
    out = []
    for c in names:
        en, id_ = describe_column(c)
        entry = {"name": c, "type": json_type(frame[c]), "description_en": en,
                 "description_id": id_}
        if short_names is not None:
            entry["shapefile_name"] = short_names[c]
        out.append(entry)
    return out


def json_type(col: pd.Series) -> str:
    """The JSON Schema type of a column: boolean, integer, number or string."""
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
