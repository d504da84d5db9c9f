"""geo_p2dd.codes: one normal form for Kemendagri codes and one region predicate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_p2dd.codes import CODE_RE, in_region, normalise_code, normalise_codes, region_sql


@pytest.mark.parametrize("raw, expected", [
    ("64.11.01.2006", "64.11.01.2006"), ("6411012006", "64.11.01.2006"),
    (" 6411 ", "64.11"), ("641101", "64.11.01"), ("6411012006.0", "64.11.01.2006"),
    (6411012006.0, "64.11.01.2006"), ("64 11 01 2006", "64.11.01.2006"), ("64 11", "64.11"),
    ("64", "64"), ("Long Apari", "Long Apari"), ("64.110", "64.110"),
])
def test_normalise_code(raw, expected):
    assert normalise_code(raw) == expected
    assert normalise_codes(pd.Series([raw], dtype=object)).iloc[0] == expected


def test_normal_forms_are_codes():
    assert all(CODE_RE.match(normalise_code(c)) for c in ("64", "6411", "641101", "6411012006"))
    assert not CODE_RE.match("64.110")


CODES = pd.Series(["64.11.01.2006", "64.11", "64.110.1", "64.12.01.2001", "6411022001",
                   " 64 11 03 2002 ", "6411042003.0", None, "64.1101", "64"],
                  index=np.arange(10) * 3)


@pytest.mark.parametrize("region", ["64.11", "6411", " 64 11 "])
def test_in_region_any_form_no_false_prefix(region):
    got = in_region(CODES, region)
    assert got.dtype == bool and got.index.equals(CODES.index)
    assert got.tolist() == [True, True, False, False, True, True, True, False, False, False]


def test_in_region_lower_levels_and_province():
    assert in_region(CODES, "64.11.01").tolist() == [True] + [False] * 9
    assert in_region(CODES, "641102").tolist() == [False] * 4 + [True] + [False] * 5
    assert in_region(CODES, "64").sum() == 9  # all but the missing code


@pytest.mark.parametrize("region", [None, "", "  "])
def test_empty_region_is_everything(region):
    assert in_region(CODES, region).tolist() == [True] * 10


def test_string_and_object_dtypes_agree():
    for dtype in ("string", object):
        assert in_region(CODES.astype(dtype), "64.11").sum() == 5


@pytest.mark.parametrize("region", ["64", "6411", "64.11.01", " 64 11 "])
def test_region_sql_selects_what_in_region_selects(region):
    """The SQL form (a reader's ``where``) agrees with in_region on stored codes."""
    import sqlite3

    codes = ["64", "64.11", "64.11.01", "64.11.01.2006", "64.11.02.2001", "64.110.01",
             "64.1", "65.11.01.2006", "64.12.01.2001", None]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (kode TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(c,) for c in codes])
    got = {r[0] for r in db.execute(f"SELECT kode FROM t WHERE {region_sql(region)}")}
    s = pd.Series(codes, dtype="string")
    assert got == set(s[in_region(s, region)])


def test_region_sql_refuses_what_is_not_a_code():
    assert region_sql("64'; DROP TABLE t; --") is None
    assert region_sql("nonsense") is None
    assert region_sql("64.11", column="kode; x") is None
