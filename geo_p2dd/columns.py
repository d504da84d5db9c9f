"""The column dictionary: what each column of the exported layers means.

:data:`COLUMN_DOCS` and :func:`describe_column` give an English and an
Indonesian description for every column the layers carry (including the
families ``f_*``, ``c_*``, ``signal_*``, ``*_planned``, the per-source ``dbm_*``,
``cls_*``, ``ev_*`` and Ookla ``dl_*``/``ul_*``/``ms_*``/``tests_*``...);
:func:`column_dictionary` lists a table's columns with their types, and
:func:`vocabularies` the controlled vocabularies of :mod:`geo_p2dd.schema`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from geo_p2dd.schema import (
    EVIDENCE,
    GAP_CLASSES,
    LOCATION_STATUS,
    OPERATORS,
    SITE_KINDS,
    SITE_STATUS,
)

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
    "dist_service_km": ("Distance from the main settlement to the nearest installed service "
                        "(km; 0 when it is served)", "Jarak permukiman utama ke layanan "
                        "terpasang terdekat (km; 0 bila terlayani)"),
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
    "gap_class": ("Gap class now: " + ", ".join(GAP_CLASSES.ids),
                  "Kelas kesenjangan saat ini: " + ", ".join(GAP_CLASSES.ids)),
    "gap_class_proposed": ("Gap class once sites in progress, planned and proposed work",
                           "Kelas kesenjangan setelah site proses, rencana dan usulan "
                           "beroperasi"),
    "in_proposals": ("Proposed sites (usulan) would improve it beyond the pipeline",
                     "Site usulan akan memperbaikinya melebihi site proses/rencana"),
    "settlements_estimated": ("Settlements estimated from the population grid (perkiraan)",
                              "Permukiman perkiraan dari grid penduduk"),
    "locations_register": ("Locations taken from the register's sites",
                           "Lokasi yang diambil dari site register"),
    "share_4g": ("Share of people with usable 4G (0-1; mobile only)",
                 "Porsi penduduk dengan 4G layak (0-1; seluler saja)"),
    "people_public_access": ("People at settlements within a public-access site's radius "
                             "(Starlink, VSAT, Wi-Fi, fibre; not mobile coverage)",
                             "Penduduk permukiman dalam radius site akses publik (Starlink, "
                             "VSAT, Wi-Fi, serat optik; bukan cakupan seluler)"),
    "position_note": ("How the location's position was found (estimates, moves)",
                      "Asal posisi lokasi (perkiraan, pemindahan)"),
    "position_note_id": ("How the location's position was found, in Indonesian",
                         "Asal posisi lokasi (Bahasa Indonesia)"),
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
    "evidence": ("Where the signal comes from: modelled, measured (field reports replace the "
                 "model) or reported (reports too few to replace it)",
                 "Asal sinyal: model, terukur (laporan lapangan menggantikan model) atau "
                 "dilaporkan (laporan belum cukup untuk menggantikan model)"),
    "evidence_reports": ("Field reports within the evidence radius",
                         "Jumlah laporan lapangan dalam radius bukti"),
    "evidence_periods": ("Different days (or hours) among those reports",
                         "Jumlah hari (atau jam) berbeda di antara laporan itu"),
    "modelled_4g": ("4G signal class the model gave (before field evidence)",
                    "Kelas sinyal 4G menurut model (sebelum bukti lapangan)"),
    "status_modelled": ("Location status the model gave (before field evidence)",
                        "Status lokasi menurut model (sebelum bukti lapangan)"),
    "best_source": ("Coverage source giving the best 4G signal", "Sumber sinyal 4G terbaik"),
    "nearest_tower_km": ("Distance to the nearest installed tower (km)",
                         "Jarak ke menara terpasang terdekat (km)"),
    "dist_tower_km": ("Distance from the main settlement to the nearest installed tower (km)",
                      "Jarak permukiman utama ke menara terpasang terdekat (km)"),
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
    "ops_4g": ("Operators with usable 4G at a settlement of the village, by their own "
               "coverage maps (empty: no operator's 4G coverage imported)",
               "Jumlah operator dengan 4G layak di permukiman kampung, menurut peta cakupan "
               "operator (kosong: belum ada peta cakupan 4G operator)"),
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
    m = SOURCE_COLUMN.fullmatch(name)
    if m:
        return _source_column(m[1], m[2])
    if name == "ops_4g":
        return COLUMN_DOCS["ops_4g"]
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
    if m and (base := describe_column(m[1]))[0]:
        en, id_ = base
        return (f"{en}, once sites in progress and planned work",
                f"{id_}, setelah site proses/rencana beroperasi")
    m = re.fullmatch(r"(\w+)_proposed", name)
    if m and (base := describe_column(m[1]))[0]:
        en, id_ = base
        return (f"{en}, once sites in progress, planned and proposed work",
                f"{id_}, setelah site proses/rencana/usulan beroperasi")
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


#: a per-coverage-source column: measure and source key (``dbm_tsel4g``, ``dl_okm``)
SOURCE_COLUMN = re.compile(r"(dbm|cls|ev|dl|ul|ms|tests)_([a-z0-9]{2,6})")

_SOURCE_MEASURES = {
    "dbm": ("Signal (RSRP, dBm, 0.1) from {src}; empty where unknown or the source holds "
            "classes only; villages: the best at their settlements",
            "Sinyal (RSRP, dBm, 0,1) dari {src}; kosong bila tidak diketahui atau sumbernya "
            "hanya kelas; kampung: yang terbaik di permukimannya"),
    "cls": ("Signal class from {src} (good, fair, poor, marginal, none, unknown); villages: "
            "the best at their settlements",
            "Kelas sinyal dari {src} (good, fair, poor, marginal, none, unknown); kampung: "
            "yang terbaik di permukimannya"),
    "ev": ("How {src} knows: modelled (tower model), measured (measured raster, drive test, "
           "Ookla) or reported (operator map, field report)",
           "Cara {src} mengetahui: modelled (model menara), measured (pengukuran, drive "
           "test, Ookla) atau reported (peta operator, laporan lapangan)"),
    "dl": ("Average download speed (Mbps) of {src}; villages: the best at their settlements",
           "Kecepatan unduh rata-rata (Mbps) dari {src}; kampung: yang terbaik di "
           "permukimannya"),
    "ul": ("Average upload speed (Mbps) of {src}", "Kecepatan unggah rata-rata (Mbps) dari {src}"),
    "ms": ("Average latency (ms) of {src}", "Latensi rata-rata (ms) dari {src}"),
    "tests": ("Speed tests in the tile of {src}", "Jumlah tes kecepatan di ubin {src}"),
}


def source_label(key: str) -> tuple[str, str]:
    """(English, Indonesian) name of the coverage source behind a column key
    (``tsel4g`` -> Telkomsel 4G coverage; see :func:`geo_p2dd.coverage.source_keys`)."""
    if key in ("mod4g", "mod3g"):
        tech = "4G" if key == "mod4g" else "2G/3G"
        return f"the tower model ({tech})", f"model menara ({tech})"
    if key in ("okm", "okf"):
        kind_en, kind_id = ("mobile", "seluler") if key == "okm" else ("fixed", "tetap")
        return (f"Ookla open data tiles ({kind_en}; CC BY-NC-SA 4.0)",
                f"ubin data terbuka Ookla ({kind_id}; CC BY-NC-SA 4.0)")
    m = re.fullmatch(r"m([a-z0-9]{1,4})([2-5])", key)
    if m:
        operator = OPERATORS.label(m[1], "en") if m[1] in OPERATORS.ids else m[1]
        return (f"{operator}'s own towers, modelled ({m[2]}G)",
                f"menara {operator} sendiri, dimodelkan ({m[2]}G)")
    m = re.fullmatch(r"([a-z0-9]+?)([2-5]g)", key)
    if not m:
        return f"coverage source {key}", f"sumber cakupan {key}"
    operator = OPERATORS.label(m[1], "en") if m[1] in OPERATORS.ids else \
        ("any operator" if m[1] == "any" else m[1])
    return (f"{operator} {m[2].upper()} coverage", f"cakupan {m[2].upper()} {operator}")


def _source_column(measure: str, key: str) -> tuple[str, str]:
    en, id_ = _SOURCE_MEASURES[measure]
    src_en, src_id = source_label(key)
    return en.format(src=src_en), id_.format(src=src_id)


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
            for v in (GAP_CLASSES, LOCATION_STATUS, SITE_STATUS, SITE_KINDS, EVIDENCE)}
