"""The downloadable layers: names, titles, geometry, id and code columns.

``villages``
    village boundaries with every analysis column (gap class, score, rank,
    per-factor contributions, people and facilities unserved).
``locations_unserved``
    settlements and public facilities that are *not* served (status unserved,
    weak or unknown), as points.
``locations``
    every settlement and public facility with its status (served too), as points.
``sites``
    infrastructure sites of every status (installed, in progress, planned,
    proposed), as points.
``aggregates``
    kecamatan and kabupaten figures (column ``level``) with their boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo_p2dd.errors import NotFoundError

#: the CRS of every layer and file
CRS = "EPSG:4326"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


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
               "gap_class", "gap_class_planned", "in_programme", "ops_4g"),
              "Batas kampung/desa dengan kelas kesenjangan, skor, peringkat, kontribusi tiap "
              "faktor, serta penduduk dan fasilitas publik tanpa sinyal yang layak."),
    LayerInfo("locations_unserved", "Unserved locations", "Lokasi belum terlayani",
              "Settlements, schools, health facilities and village offices without a usable "
              "signal (status unserved, weak or unknown).",
              "Point", "location_id", "village_kode",
              ("location_id", "kind", "village_kode", "kecamatan_kode", "kabupaten_kode",
               "status", "status_planned", "source", "village_gap_class"),
              "Permukiman, sekolah, fasilitas kesehatan dan kantor kampung tanpa sinyal yang "
              "layak (status belum terlayani, lemah atau belum diketahui)."),
    LayerInfo("locations", "Locations (all statuses)", "Lokasi (semua status)",
              "Settlements, schools, health facilities and village offices with their "
              "status: served, unserved, weak or unknown.",
              "Point", "location_id", "village_kode",
              ("location_id", "kind", "village_kode", "kecamatan_kode", "kabupaten_kode",
               "status", "status_planned", "source", "village_gap_class"),
              "Permukiman, sekolah, fasilitas kesehatan dan kantor kampung dengan statusnya: "
              "terlayani, belum terlayani, lemah atau belum diketahui."),
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
#: the point layers of locations (their village's gap class filters them too)
LOCATION_LAYERS = ("locations_unserved", "locations")


def get_layer(name: str) -> LayerInfo:
    if name not in LAYERS:
        raise NotFoundError(f"no layer {name!r}; layers: {', '.join(LAYERS)}")
    return LAYERS[name]
