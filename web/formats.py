"""How each export format travels over HTTP: its media type and whether to gzip it.

The library's format table (:data:`geo_p2dd.exports.formats.FORMATS`) knows
files and drivers; what only responses need lives here, keyed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo_p2dd.exports.formats import Format


@dataclass(frozen=True)
class WireFormat:
    """A format on the wire: media type, and whether it is text worth compressing."""

    media_type: str
    compressible: bool = False


WIRE: dict[str, WireFormat] = {
    "gpkg": WireFormat("application/geopackage+sqlite3"),
    "geojson": WireFormat("application/geo+json", compressible=True),
    "shp": WireFormat("application/zip"),
    "csv": WireFormat("text/csv", compressible=True),
    "kml": WireFormat("application/vnd.google-earth.kml+xml", compressible=True),
    "kmz": WireFormat("application/vnd.google-earth.kmz"),
    "fgb": WireFormat("application/flatgeobuf"),
    "parquet": WireFormat("application/vnd.apache.parquet"),
}


def wire(fmt: Format) -> WireFormat:
    """The :class:`WireFormat` of an export format."""
    return WIRE[fmt.key]
