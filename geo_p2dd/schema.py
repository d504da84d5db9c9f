"""The canonical layers, their columns and the controlled vocabularies.

Every vocabulary term has a stable id (used in files and code) and labels in
Bahasa Indonesia (``id``) and English (``en``). Readers map the spellings that
agencies actually use (``terpasang``, ``Sudah Terpasang``, ``on air``...) to ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from geo_p2dd.i18n import N_, gettext

LANGS = ("id", "en")


@dataclass(frozen=True)
class Term:
    """One term of a vocabulary: its id, labels and accepted spellings."""

    id: str
    label_id: str
    label_en: str
    synonyms: tuple[str, ...] = ()

    def label(self, lang: str = "id") -> str:
        """Label in ``lang`` ("id" or "en")."""
        return self.label_en if lang == "en" else self.label_id


@dataclass(frozen=True)
class Vocabulary:
    """An ordered set of terms with a forgiving parser."""

    name: str
    terms: tuple[Term, ...]
    _lookup: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for t in self.terms:
            for spelling in (t.id, t.label_id, t.label_en, *t.synonyms):
                self._lookup[_norm(spelling)] = t.id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.terms)

    def parse(self, value: object) -> str | None:
        """Return the term id for ``value`` or None when it is not recognised."""
        if value is None:
            return None
        key = _norm(str(value))
        return self._lookup.get(key) if key else None

    def label(self, term_id: str, lang: str = "id") -> str:
        for t in self.terms:
            if t.id == term_id:
                return t.label(lang)
        return str(term_id)

    def labels(self, lang: str = "id") -> dict[str, str]:
        return {t.id: t.label(lang) for t in self.terms}

    def describe(self) -> str:
        """The accepted values, for error messages."""
        return ", ".join(f"{t.id} ({t.label_id})" for t in self.terms)


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-/\.]+", " ", text.strip().lower()).strip()


SITE_KINDS = Vocabulary(
    "site kind",
    (
        Term("starlink", "Starlink", "Starlink", ("satelit starlink", "vsat starlink")),
        Term("bts", "BTS / menara", "BTS / tower",
             ("menara", "tower", "menara bts", "bts 4g", "bts bakti", "macro", "cell")),
        Term("vsat", "VSAT", "VSAT", ("satelit", "satellite", "vsat bakti")),
        Term("fiber", "Serat optik", "Fibre",
             ("fibre", "fo", "fiber optik", "serat optik", "kabel")),
        Term("wifi", "Wi-Fi publik", "Public Wi-Fi",
             ("wi fi", "hotspot", "wifi publik", "wifi desa", "wifi kampung", "akses internet",
              "wi fi kampung", "wi fi desa", "wi fi publik")),
    ),
)

SITE_STATUS = Vocabulary(
    "site status",
    (
        Term("installed", "Terpasang", "Installed",
             ("terpasang", "sudah terpasang", "sudah", "selesai", "aktif", "on air", "operasional",
              "done", "active", "sudah dilaksanakan", "beroperasi")),
        Term("in_progress", "Proses", "In progress",
             ("proses", "dalam proses", "sedang", "sedang dilaksanakan", "berjalan", "ongoing",
              "progress", "in progress", "pembangunan", "konstruksi", "pengerjaan")),
        Term("planned", "Rencana", "Planned",
             ("rencana", "direncanakan", "akan dilaksanakan", "akan", "plan", "planned",
              "dianggarkan")),
        Term("proposed", "Usulan", "Proposed",
             ("usulan", "usul", "diusulkan", "proposal", "proposed", "pengajuan")),
        # the site exists and is counted in the register, but serves nobody
        Term("damaged", "Rusak", "Damaged",
             ("rusak", "rusak berat", "rusak ringan", "perlu perbaikan", "broken", "damaged",
              "faulty")),
        Term("inactive", "Tidak aktif", "Inactive",
             ("tidak aktif", "non aktif", "nonaktif", "mati", "tidak beroperasi",
              "tidak berfungsi", "off air", "inactive", "offline", "putus")),
    ),
)
#: statuses of sites that exist but serve nobody (counted in the register, not in coverage)
OUT_OF_SERVICE = ("damaged", "inactive")

FUNDING = Vocabulary(
    "funding source",
    (
        Term("apbd", "APBD", "APBD (regional budget)",
             ("apbd kabupaten", "apbd provinsi", "apbd kab", "apbd prov", "daerah")),
        Term("apbn", "APBN / BAKTI", "APBN / BAKTI (national)",
             ("apbn", "bakti", "bakti kominfo", "apbn bakti", "kominfo", "komdigi", "pusat")),
        Term("csr", "CSR", "CSR (company)", ("swasta", "corporate", "perusahaan")),
        Term("dana_desa", "Dana Desa", "Dana Desa (village fund)",
             ("dana desa", "dana kampung", "dd", "apbdes", "apbkam", "apbkampung",
              "apb desa", "apb kampung", "village fund")),
        Term("other", "Lainnya", "Other",
             ("lain", "lain lain", "lainnya", "swadaya", "hibah")),
    ),
)

LOCATION_KINDS = Vocabulary(
    "location kind",
    (
        Term("settlement", "Permukiman", "Settlement",
             ("pemukiman", "permukiman", "dusun", "rt", "kampung", "desa", "lamin", "hamlet")),
        Term("school", "Sekolah", "School",
             ("sekolah", "sd", "smp", "sma", "smk", "mi", "mts", "paud", "tk", "pendidikan")),
        Term("health", "Fasilitas kesehatan", "Health facility",
             ("puskesmas", "pustu", "posyandu", "polindes", "poskesdes", "klinik", "kesehatan",
              "faskes", "health post", "clinic", "hospital", "rumah sakit", "rs")),
        Term("village_office", "Kantor kampung/desa", "Village office",
             ("kantor desa", "kantor kampung", "kantor petinggi", "balai desa", "balai kampung",
              "office", "kantor")),
        # a register site (Starlink, VSAT, Wi-Fi, fibre) not at a named facility
        Term("public_access", "Titik akses publik", "Public access point",
             ("titik akses publik", "akses publik", "public access", "titik akses")),
        Term("other", "Lainnya", "Other", ("lain", "lainnya")),
    ),
)

#: where a location's position comes from, best evidence first (geo_p2dd.locations)
LOCATION_SOURCES = Vocabulary(
    "location source",
    (
        Term("imported", "Diimpor", "Imported", ("impor", "import")),
        Term("register", "Register infrastruktur", "Infrastructure register",
             ("register", "registry", "site")),
        Term("estimate", "Perkiraan", "Estimate",
             ("perkiraan", "estimasi", "estimated", "derived")),
    ),
)

TECHNOLOGIES = ("2G", "3G", "4G", "5G")

#: mobile operators in Indonesia; the id is the short code of their columns (``dbm_tsel4g``)
OPERATORS = Vocabulary(
    "operator",
    (
        Term("tsel", "Telkomsel", "Telkomsel", ("telkomsel", "telkomsel (10)", "mnc 10")),
        Term("isat", "Indosat Ooredoo Hutchison", "Indosat Ooredoo Hutchison",
             ("indosat", "indosat (im3)", "im3", "indosat ooredoo", "ooredoo", "ioh")),
        Term("xl", "XL Axiata", "XL Axiata", ("xl", "xl (axis)", "axis", "xlsmart",
                                               "xl smart")),
        Term("sf", "Smartfren", "Smartfren", ("smartfren",)),
        Term("tri", "Tri (3)", "Tri (3)", ("tri", "3", "hutchison", "tri (3)")),
        Term("esia", "Esia", "Esia", ("esia",)),
    ),
)

def operator_code(operator: str) -> str:
    """A short code of an operator for column names (``Telkomsel`` -> ``tsel``).

    Known Indonesian operators have fixed codes (the ids of
    :data:`OPERATORS`); others are their first four letters or
    digits (``"Net 1"`` -> ``net1``); no operator is ``any``.
    """
    known = OPERATORS.parse(operator)
    if known is not None:
        return known
    return re.sub(r"[^a-z0-9]+", "", str(operator or "").lower())[:4] or "any"


#: how a coverage source knows the signal (the ``ev_<source>`` columns)
EVIDENCE = Vocabulary(
    "evidence",
    (
        Term("modelled", "Dimodelkan", "Modelled", ("model", "tower model")),
        Term("measured", "Diukur", "Measured", ("drive test", "measurement", "ookla")),
        Term("reported", "Dilaporkan", "Reported", ("operator map", "report", "laporan")),
    ),
)
#: coverage evidence that is imported as tiles beside the coverage rasters (``import ookla``)
EVIDENCE_KINDS = ("ookla",)

SIGNAL_CLASSES = Vocabulary(
    "signal class",
    (
        Term("none", "Tidak ada sinyal", "No signal", ("blank", "no signal", "0")),
        Term("marginal", "Sangat lemah", "Marginal", ("sangat lemah",)),
        Term("poor", "Lemah", "Poor", ("lemah", "weak")),
        Term("fair", "Sedang", "Fair", ("sedang", "cukup")),
        Term("good", "Baik", "Good", ("kuat", "strong", "baik")),
    ),
)
# Integer codes stored in class rasters: 0 is "unknown" (nodata), never "no signal".
SIGNAL_CODES = {"unknown": 0, "none": 1, "marginal": 2, "poor": 3, "fair": 4, "good": 5}
CODE_TO_SIGNAL = {v: k for k, v in SIGNAL_CODES.items()}

#: gap classes of a village, worst first. The one home of their names and definitions:
#: the README, the map legend, the printed summary and ``analyze`` all show these
#: (:data:`GAP_DEFINITIONS`, translated by :mod:`geo_p2dd.i18n`).
GAP_CLASSES = Vocabulary(
    "gap class",
    (
        Term("blank_spot", "Blank spot", "Blank spot", ("blankspot", "blank")),
        Term("public_access_only", "Akses publik saja", "Public access only",
             ("akses publik saja", "public access only", "public access")),
        Term("no_4g", "Ada sinyal, belum 4G", "Signal, not 4G", ("signal not 4g", "2g 3g")),
        Term("partial_4g", "4G sebagian", "Partial 4G", ("partial",)),
        Term("served", "Terlayani 4G", "Served", ("4g", "terlayani")),
        Term("unknown", "Data sinyal belum ada", "No signal data", ("unknown",)),
    ),
)

#: what each gap class means (English msgids; Indonesian in translations/id/locations.po).
#: The README's class definitions, the map legend, the printed summary and ``analyze``
#: show these words (:func:`gap_definition`); tests check they agree.
GAP_DEFINITIONS = {
    "blank_spot": N_("no usable mobile signal and no public internet access at any location"),
    "public_access_only": N_("no usable mobile signal; public internet access (Starlink, "
                             "VSAT, Wi-Fi or fibre) within its service radius of some "
                             "locations"),
    "no_4g": N_("a usable 2G/3G signal at some settlement, no usable 4G at any"),
    "partial_4g": N_("usable 4G for some but fewer than the served share of the people"),
    "served": N_("usable 4G for at least the served share of the people"),
    "unknown": N_("no signal data at any location and no public internet access"),
}


def gap_definition(gap_class: str, lang: str = "id") -> str:
    """What ``gap_class`` means, in ``lang`` (the one home of the definitions)."""
    return gettext(GAP_DEFINITIONS[gap_class], lang)


LOCATION_STATUS = Vocabulary(
    "location status",
    (
        Term("unserved", "Tidak terlayani", "Unserved"),
        Term("weak", "Sinyal lemah", "Weak"),
        Term("served", "Terlayani", "Served"),
        Term("unknown", "Belum diketahui", "Unknown"),
    ),
)

PUBLIC_FACILITIES = ("school", "health", "village_office")


@dataclass(frozen=True)
class Column:
    """A canonical column and the header spellings accepted for it."""

    name: str
    required: bool
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerSpec:
    """A canonical layer: its name, geometry type and columns."""

    name: str
    geometry: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


VILLAGES = LayerSpec(
    "villages",
    "MultiPolygon",
    (
        Column("kode", True, ("kode_desa", "kd_desa", "kode_kampung", "kode_kemendagri", "kdepum",
                              "kode_wilayah", "code", "id_desa", "desa_kode", "kode_kel")),
        Column("nama", True, ("nama_desa", "nm_desa", "nama_kampung", "desa", "kampung", "name",
                              "namobj", "wadmkd", "nama_kel", "kelurahan")),
        Column("kecamatan_kode", False, ("kode_kec", "kd_kec", "kode_kecamatan")),
        Column("kecamatan", False, ("nama_kec", "nm_kec", "nama_kecamatan", "wadmkc")),
        Column("kabupaten_kode", False, ("kode_kab", "kd_kab", "kode_kabupaten")),
        Column("kabupaten", False, ("nama_kab", "nm_kab", "nama_kabupaten", "wadmkk")),
        Column("population", False, ("penduduk", "jumlah_penduduk", "jml_penduduk", "jiwa", "pop",
                                     "populasi")),
    ),
)

AREAS = LayerSpec(  # kecamatan / kabupaten boundaries
    "areas",
    "MultiPolygon",
    (
        Column("kode", True, ("kode_kec", "kd_kec", "kode_kab", "kd_kab", "kode_wilayah", "code")),
        Column("nama", True, ("nama_kec", "nm_kec", "nama_kab", "nm_kab", "name", "wadmkc",
                              "wadmkk")),
    ),
)

LOCATIONS = LayerSpec(
    "locations",
    "Point",
    (
        Column("location_id", False, ("id", "id_lokasi", "fid_lokasi")),
        Column("kind", True, ("jenis", "tipe", "type", "kategori", "jenis_lokasi")),
        Column("name", True, ("nama", "nama_lokasi", "lokasi", "nama_fasilitas")),
        Column("village_kode", False, ("kode_desa", "kode_kampung", "kd_desa", "kode")),
        Column("village", False, ("desa", "kampung", "nama_desa", "nama_kampung")),
        Column("people", False, ("penduduk", "jiwa", "jumlah_penduduk", "population", "kk_jiwa")),
    ),
)

SITES = LayerSpec(
    "sites",
    "Point",
    (
        Column("site_id", False, ("id", "id_site", "id_lokasi", "kode_site")),
        Column("kind", True, ("jenis", "tipe", "type", "jenis_infrastruktur", "teknologi_akses",
                              "jenis_perangkat")),
        Column("name", True, ("nama", "nama_lokasi", "lokasi", "nama_site", "site")),
        Column("status", True, ("status_pekerjaan", "keterangan_status", "progres", "progress")),
        Column("village_kode", False, ("kode_desa", "kode_kampung", "kd_desa")),
        Column("village", False, ("desa", "kampung", "nama_desa", "nama_kampung")),
        Column("agency", False, ("opd", "instansi", "dinas", "pelaksana", "pemilik", "owner")),
        Column("funding", False, ("sumber_dana", "sumber_anggaran", "dana", "funding")),
        Column("year", False, ("tahun", "tahun_pemasangan", "tahun_pasang")),
        Column("capacity_mbps", False, ("kapasitas", "kapasitas_mbps", "bandwidth", "mbps")),
        Column("service_radius_m", False, ("radius", "radius_m", "jangkauan", "jangkauan_m")),
        Column("operator", False, ("operator", "provider", "penyedia", "net")),
        Column("technology", False, ("teknologi", "radio", "tech", "generasi")),
        Column("height_m", False, ("tinggi", "tinggi_menara", "height", "tinggi_m")),
        Column("frequency_mhz", False, ("frekuensi", "frequency", "freq", "frekuensi_mhz")),
        Column("power_dbm", False, ("daya", "power", "eirp", "daya_dbm")),
        Column("notes", False, ("keterangan", "catatan", "note", "remarks")),
        # the budget of the work (geo_p2dd.budget): amounts in rupiah, year, SIPD code
        Column("budget_idr", False, ("pagu", "pagu_anggaran", "anggaran", "nilai_anggaran",
                                     "jumlah_anggaran", "nilai_kontrak", "nilai_pagu",
                                     "anggaran_rp", "pagu_rp", "budget")),
        Column("realised_idr", False, ("realisasi", "realisasi_anggaran", "nilai_realisasi",
                                       "realisasi_keuangan", "realisasi_rp", "realised")),
        Column("budget_year", False, ("tahun_anggaran", "ta", "tahun_pagu")),
        Column("sipd_code", False, ("kode_sub_kegiatan", "kode_subkegiatan", "kode_sipd",
                                    "sipd", "kode_sub_kegiatan_sipd")),
    ),
)

# field evidence: signal reports and measurements (the ``reports`` layer, geo_p2dd.reports_layer)
REPORT_SOURCES = Vocabulary(
    "report source",
    (
        Term("measured", "Diukur", "Measured",
             ("pengukuran", "ukur", "measurement", "drive test", "speedtest", "aplikasi",
              "opencellid", "alat ukur")),
        Term("reported", "Dilaporkan", "Reported",
             ("laporan", "lapor", "laporan warga", "warga", "aduan", "pengaduan", "report")),
    ),
)

#: what a report saw: a technology, or no signal at all
TECHNOLOGY_SEEN = Vocabulary(
    "technology seen",
    (
        Term("none", "Tidak ada sinyal", "No signal",
             ("tidak ada", "tidak ada sinyal", "tanpa sinyal", "no signal", "no service",
              "blank", "blank spot", "blankspot", "kosong", "sos", "0g", "nihil")),
        Term("2G", "2G", "2G", ("gsm", "edge", "gprs", "e", "g", "2g gsm")),
        Term("3G", "3G", "3G", ("umts", "wcdma", "hspa", "hspa+", "h", "h+", "3g+", "cdma",
                                 "2g 3g")),
        Term("4G", "4G", "4G", ("lte", "4g lte", "4g+", "lte a", "4g lte a")),
        Term("5G", "5G", "5G", ("nr", "5g nr")),
    ),
)

REPORTS = LayerSpec(
    "reports",
    "Point",
    (
        Column("report_id", False, ("id", "id_laporan", "no_laporan")),
        Column("village_kode", False, ("kode_desa", "kode_kampung", "kd_desa")),
        Column("village", False, ("desa", "kampung", "nama_desa", "nama_kampung")),
        Column("operator", False, ("provider", "penyedia", "kartu", "net")),
        Column("technology", False, ("jaringan", "sinyal", "teknologi", "act", "radio", "tech",
                                     "network", "kondisi_sinyal", "status_sinyal")),
        Column("rsrp_dbm", False, ("rsrp", "signal", "dbm", "signal_dbm", "kuat_sinyal",
                                   "kekuatan_sinyal", "rsrp_dbm")),
        Column("reported_at", False, ("tanggal", "measured_at", "waktu", "date", "timestamp",
                                      "tgl", "tanggal_laporan", "created")),
        Column("reporter", False, ("pelapor", "nama_pelapor", "petugas", "surveyor")),
        Column("notes", False, ("keterangan", "catatan", "note", "remarks")),
        Column("source", False, ("sumber", "jenis_laporan")),
    ),
)

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "bujur", "koordinat_x", "bt", "lon_dd")
LAT_NAMES = ("lat", "latitude", "y", "lintang", "koordinat_y", "ls", "lu", "lat_dd")


def normalise_header(name: str) -> str:
    """Lower-case a header and fold spaces, dashes and dots into underscores."""
    return re.sub(r"[\s\-\./]+", "_", str(name).strip().lower()).strip("_")


def match_columns(spec: LayerSpec, headers: list[str]) -> dict[str, str]:
    """Map canonical column names to the headers found (canonical -> found header)."""
    found = {normalise_header(h): h for h in headers}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for col in spec.columns:
        for candidate in (col.name, *col.synonyms):
            key = normalise_header(candidate)
            if key in found and found[key] not in used:
                mapping[col.name] = found[key]
                used.add(found[key])
                break
    # second pass: headers that carry a suffix, e.g. kode_kemendagri_2025, population_2010
    for col in spec.columns:
        if col.name in mapping:
            continue
        for candidate in (col.name, *col.synonyms):
            key = normalise_header(candidate) + "_"
            hit = next((h for k, h in found.items() if k.startswith(key) and h not in used), None)
            if hit is not None:
                mapping[col.name] = hit
                used.add(hit)
                break
    return mapping
