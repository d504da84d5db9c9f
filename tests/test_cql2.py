"""CQL2 text filters and sortby over frames: every operator against pandas, and errors that
name the bad token."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_p2dd.errors import InputError
from geo_p2dd.exports.cql2 import filter_mask, parse, parse_sortby, sort_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "kode": ["64.11.05.2001", "64.11.05.2002", "64.11.01.2001", "64.11.02.2003", "x"],
        "nama": ["Long Apari", "Tiong Ohang", "Ujoh Bilang", "Long Bagun", "O'Brien"],
        "kecamatan_kode": ["64.11.05", "64.11.05", "64.11.01", "64.11.02", None],
        "no_4g_share": [0.9, 0.4, 0.5, np.nan, 1.0],
        "score": [80.5, 20.0, 55.0, 61.0, 10.0],
        "rank": pd.array([1, 4, 3, 2, None], dtype="Int64"),
        "in_programme": pd.array([True, False, None, True, False], dtype="boolean"),
    })


def rows(frame: pd.DataFrame, text: str) -> list[str]:
    return list(frame["kode"][filter_mask(frame, text)])


def test_the_issue_example(frame):
    assert rows(frame, "no_4g_share >= 0.5 AND kecamatan_kode = '64.11.05'") == \
        ["64.11.05.2001"]


@pytest.mark.parametrize("text, expected", [
    ("score = 20", [1]), ("score <> 20", [0, 2, 3, 4]), ("score < 55", [1, 4]),
    ("score <= 55", [1, 2, 4]), ("score > 61", [0]), ("score >= 61", [0, 3]),
    ("nama = 'O''Brien'", [4]), ("\"score\" > 60.9", [0, 3]), ("score > -1e1", [0, 1, 2, 3, 4]),
    ("score < 30 OR score > 70", [0, 1, 4]),
    ("NOT (score < 30 OR score > 70)", [2, 3]),
    ("score > 10 AND (kecamatan_kode = '64.11.05' OR kecamatan_kode = '64.11.02')",
     [0, 1, 3]),
    ("kecamatan_kode IN ('64.11.01', '64.11.02')", [2, 3]),
    ("kecamatan_kode NOT IN ('64.11.01', '64.11.02')", [0, 1]),  # null: unknown, left out
    ("rank IN (1, 2)", [0, 3]),
    ("score BETWEEN 20 AND 61", [1, 2, 3]), ("score NOT BETWEEN 20 AND 61", [0, 4]),
    ("nama LIKE 'Long%'", [0, 3]), ("nama NOT LIKE '%o%'", [4]), ("nama LIKE '_jo%'", [2]),
    ("kecamatan_kode IS NULL", [4]), ("no_4g_share IS NOT NULL", [0, 1, 2, 4]),
    ("in_programme = TRUE", [0, 3]), ("in_programme <> FALSE", [0, 3]),
    ("NOT in_programme = TRUE", [1, 4]),  # unknown stays unknown under NOT
    ("no_4g_share > 0.45", [0, 2, 4]), ("NOT no_4g_share > 0.45", [1]),
    ("score > rank", [0, 1, 2, 3]), ("score>=80.5", [0]),
    ("score > 10 and kode like '64.%'", [0, 1, 2, 3]),
])
def test_operators_match_pandas(frame, text, expected):
    assert list(np.flatnonzero(filter_mask(frame, text))) == expected


@pytest.mark.parametrize("text, found", [
    ("score >> 3", "'>' at position 8"),
    ("score = 3 AND", "the end of the filter"),
    ("(score > 3", "the end of the filter"),
    ("score > 3)", "')' at position 10"),
    ("score ! 3", "'!' at position 7"),
    ("score = 'x'", "'x' at position 9"),
    ("nope = 3", "'nope' at position 1"),
    ("score IN (1, 2", "the end of the filter"),
    ("kode = 64.11", "64.11 at position 8"),
    ("score", "the end of the filter"),
    ("in_programme < TRUE", "<"),
    ("score IS 3", "'3' at position 10"),
    ("kode = 'unterminated", "closing quote"),
])
def test_errors_name_the_bad_token(frame, text, found):
    with pytest.raises(InputError) as info:
        filter_mask(frame, text)
    assert info.value.column == "filter"
    assert found in str(info.value), str(info.value)


def test_empty_too_long_and_too_deep_filters_are_refused():
    for text in ("", "   ", "(" * 60 + "a = 1" + ")" * 60, "NOT " * 2000 + "a = 1",
                 "a = 1 OR " * 2000 + "a = 1"):
        with pytest.raises(InputError):
            parse(text)


def test_sortby_descending_ascending_and_missing_last(frame):
    keys = parse_sortby("-no_4g_share,nama", list(frame.columns))
    assert keys == [("no_4g_share", False), ("nama", True)]
    assert list(sort_frame(frame, keys)["kode"]) == [
        "x", "64.11.05.2001", "64.11.01.2001", "64.11.05.2002", "64.11.02.2003"]
    assert parse_sortby("+score", frame.columns) == [("score", True)]
    assert parse_sortby("score DESC", frame.columns) == [("score", False)]
    with pytest.raises(InputError, match="'-nothing'"):
        parse_sortby("-score,-nothing", list(frame.columns))
    with pytest.raises(InputError, match="sortby"):
        parse_sortby("score,,nama", list(frame.columns))
