"""The export formats: one extension -> driver table, and Shapefile field names.

:data:`FORMATS` maps each format key to its file extensions and GDAL driver;
:func:`get_format` finds a format from a key or a file name.

Shapefile field names are at most 10 characters. They are shortened by the
fixed table :data:`SHAPEFILE_FIELDS` (stable across versions: a name, once
published, never changes); names not in it are cut to 10 characters and, if
that collides, to 8 characters plus ``_1``, ``_2``... in column order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from geo_p2dd.errors import InputError


@dataclass(frozen=True)
class Format:
    """One export format: its key, label, file extensions and GDAL driver."""

    key: str
    label: str
    extensions: tuple[str, ...]  # the first is the one written
    driver: str

    @property
    def extension(self) -> str:
        return self.extensions[0]


FORMATS: dict[str, Format] = {f.key: f for f in (
    Format("gpkg", "GeoPackage", (".gpkg",), "GPKG"),
    Format("geojson", "GeoJSON", (".geojson", ".json"), "GeoJSON"),
    Format("shp", "Shapefile (zip)", (".shp.zip", ".zip", ".shp"), "ESRI Shapefile"),
    Format("csv", "CSV", (".csv",), "CSV"),
    Format("kml", "KML", (".kml",), "LIBKML"),
    Format("kmz", "KMZ", (".kmz",), "LIBKML"),
    Format("fgb", "FlatGeobuf", (".fgb",), "FlatGeobuf"),
    Format("parquet", "GeoParquet", (".parquet", ".geoparquet"), "Parquet"),
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


def known_extension(path: str | Path) -> bool:
    """Whether ``path`` ends in an extension of :data:`FORMATS`."""
    name = Path(path).name.lower()
    return any(name.endswith(ext) for ext in DRIVERS)


#: formats that cannot carry their metadata inside the file
SIDECAR_FORMATS = ("csv",)


def sidecar_path(path: str | Path) -> Path:
    """Where the metadata of a file that cannot hold it is written."""
    return Path(f"{path}.metadata.json")


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
    "sites_damaged": "s_damaged", "sites_inactive": "s_inactive",
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
