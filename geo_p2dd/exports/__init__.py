"""Gap layers for telco partners: every layer in every common GIS format.

One concept per module:

:mod:`~geo_p2dd.exports.catalogue`
    the four layers (villages, locations, sites, aggregates) and the CRS.
:mod:`~geo_p2dd.exports.query`
    filters (region, gap class, score, bbox, status, level) and row masks.
:mod:`~geo_p2dd.exports.cql2`
    CQL2 text filters and ``sortby`` (OGC API - Features Part 3).
:mod:`~geo_p2dd.exports.data`
    :class:`~geo_p2dd.exports.data.ExportData`: the layers as frames.
:mod:`~geo_p2dd.exports.formats`
    the format table (extension -> driver) and Shapefile field names.
:mod:`~geo_p2dd.exports.metadata`
    sources, licences, attribution, README; reading metadata back.
:mod:`~geo_p2dd.exports.styles`
    default styles (QGIS QML, OGC SLD 1.1) in the web map's colours.
:mod:`~geo_p2dd.exports.writers`
    one frame -> one file, metadata inside (GeoPackages: column aliases and styles).
:mod:`~geo_p2dd.exports.files`
    :func:`~geo_p2dd.exports.files.export_layer`: project layer -> named file.
:mod:`~geo_p2dd.exports.features`
    GeoJSON features as text (OGC API).

The column dictionary lives beside the schema, in :mod:`geo_p2dd.columns`.
"""
