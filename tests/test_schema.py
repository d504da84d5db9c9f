"""Tests for geo_p2dd.schema: vocabularies, header matching, canonical layers."""

from __future__ import annotations

import pytest

from geo_p2dd import schema
from geo_p2dd.schema import (
    AREAS,
    CODE_TO_SIGNAL,
    FUNDING,
    LOCATION_KINDS,
    LOCATIONS,
    SIGNAL_CODES,
    SITE_KINDS,
    SITE_STATUS,
    SITES,
    VILLAGES,
    match_columns,
    normalise_header,
)

ALL_VOCABULARIES = [v for v in vars(schema).values() if isinstance(v, schema.Vocabulary)]


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        # the four Indonesian status terms of the P2DD reports (README, DESIGN)
        ("terpasang", "installed"),
        ("proses", "in_progress"),
        ("rencana", "planned"),
        ("usulan", "proposed"),
        # case, surrounding spaces and punctuation do not matter
        ("  TERPASANG ", "installed"),
        ("Sudah Terpasang", "installed"),
        ("Dalam-Proses", "in_progress"),
        ("in_progress", "in_progress"),
        ("Planned", "planned"),
        ("diusulkan", "proposed"),
    ],
)
def test_site_status_spellings(spelling, expected):
    assert SITE_STATUS.parse(spelling) == expected


@pytest.mark.parametrize("value", ["hilang", "", "   ", None, "terpasang x"])
def test_unknown_status_is_none(value):
    assert SITE_STATUS.parse(value) is None


@pytest.mark.parametrize(
    ("vocab", "spelling", "expected"),
    [
        (SITE_KINDS, "Starlink", "starlink"),
        (SITE_KINDS, "Menara BTS", "bts"),
        (SITE_KINDS, "Wifi Kampung", "wifi"),
        (SITE_KINDS, "Serat Optik", "fiber"),
        (FUNDING, "APBN/BAKTI", "apbn"),
        (FUNDING, "Dana Desa", "dana_desa"),
        (FUNDING, "APBKam", "dana_desa"),
        (FUNDING, "Swadaya", "other"),
        (SITE_STATUS, "Rusak", "damaged"),
        (SITE_STATUS, "rusak berat", "damaged"),
        (SITE_STATUS, "Tidak Aktif", "inactive"),
        (SITE_STATUS, "mati", "inactive"),
        (SITE_STATUS, "aktif", "installed"),
        (FUNDING, "apbd", "apbd"),
        (FUNDING, "CSR", "csr"),
        (LOCATION_KINDS, "Puskesmas", "health"),
        (LOCATION_KINDS, "SD", "school"),
        (LOCATION_KINDS, "Kantor Kampung", "village_office"),
        (LOCATION_KINDS, "dusun", "settlement"),
    ],
)
def test_vocabulary_spellings(vocab, spelling, expected):
    assert vocab.parse(spelling) == expected


@pytest.mark.parametrize("vocab", ALL_VOCABULARIES, ids=lambda v: v.name)
def test_every_spelling_parses_to_its_own_term(vocab):
    """No synonym of one term is shadowed by another term of the same vocabulary."""
    assert len(set(vocab.ids)) == len(vocab.ids)
    for term in vocab.terms:
        for spelling in (term.id, term.label_id, term.label_en, *term.synonyms):
            assert vocab.parse(spelling) == term.id, (vocab.name, spelling)


def test_labels_in_both_languages():
    assert SITE_STATUS.label("installed", "id") == "Terpasang"
    assert SITE_STATUS.label("installed", "en") == "Installed"
    assert SITE_STATUS.labels("en") == {"installed": "Installed", "in_progress": "In progress",
                                        "planned": "Planned", "proposed": "Proposed",
                                        "damaged": "Damaged", "inactive": "Inactive"}
    # an id the vocabulary does not know is shown as it is
    assert SITE_STATUS.label("nonsense") == "nonsense"


def test_describe_lists_every_id():
    text = SITE_STATUS.describe()
    for term_id in ("installed", "in_progress", "planned", "proposed"):
        assert term_id in text
    assert "Terpasang" in text


def test_signal_codes_zero_is_unknown_not_none():
    assert SIGNAL_CODES["unknown"] == 0
    assert SIGNAL_CODES["none"] == 1
    assert CODE_TO_SIGNAL == {v: k for k, v in SIGNAL_CODES.items()}
    assert len(set(SIGNAL_CODES.values())) == len(SIGNAL_CODES)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Nama Lokasi", "nama_lokasi"),
        ("KODE-DESA", "kode_desa"),
        (" sumber.dana ", "sumber_dana"),
        ("lat/lon", "lat_lon"),
        ("__kode__", "kode"),
    ],
)
def test_normalise_header(header, expected):
    assert normalise_header(header) == expected


@pytest.mark.parametrize(
    ("headers", "kode", "nama"),
    [
        (["kode", "nama"], "kode", "nama"),
        (["KODE_DESA", "NAMA_DESA"], "KODE_DESA", "NAMA_DESA"),
        (["kd_desa", "nm_desa"], "kd_desa", "nm_desa"),
        (["Kode Kampung", "Nama Kampung"], "Kode Kampung", "Nama Kampung"),
        # suffixed headers (second pass), as in the real census CSV
        (["kode_kemendagri_2025", "nama_kemendagri_2025"], "kode_kemendagri_2025",
         "nama_kemendagri_2025"),
    ],
)
def test_match_village_columns(headers, kode, nama):
    mapping = match_columns(VILLAGES, headers)
    assert mapping.get("kode") == kode
    assert mapping.get("nama") == nama


def test_match_columns_uses_each_header_once():
    # for locations "id" names the location id and "kode" the village code;
    # no header is given to two canonical columns
    mapping = match_columns(LOCATIONS, ["id", "nama", "jenis", "kode"])
    assert mapping == {"location_id": "id", "name": "nama", "kind": "jenis",
                       "village_kode": "kode"}
    assert len(set(mapping.values())) == len(mapping)


def test_match_population_suffix():
    mapping = match_columns(VILLAGES, ["kode_kemendagri_2025", "population_2010"])
    assert mapping == {"kode": "kode_kemendagri_2025", "population": "population_2010"}


def test_match_site_columns_from_indonesian_headers():
    headers = ["nama lokasi", "jenis", "status", "kode_desa", "OPD", "sumber dana", "tahun",
               "keterangan"]
    mapping = match_columns(SITES, headers)
    assert mapping == {"name": "nama lokasi", "kind": "jenis", "status": "status",
                       "village_kode": "kode_desa", "agency": "OPD", "funding": "sumber dana",
                       "year": "tahun", "notes": "keterangan"}


def test_required_columns():
    assert {c.name for c in VILLAGES.columns if c.required} == {"kode", "nama"}
    assert {c.name for c in AREAS.columns if c.required} == {"kode", "nama"}
    assert {c.name for c in SITES.columns if c.required} == {"kind", "name", "status"}
    assert {c.name for c in LOCATIONS.columns if c.required} == {"kind", "name"}
    with pytest.raises(KeyError):
        VILLAGES.column("nonexistent")
