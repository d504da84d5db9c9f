"""Kemendagri region codes: one normal form and one "within a region" test.

Codes have fixed-width segments: province ``64``, kabupaten ``64.11``,
kecamatan ``64.11.01``, village ``64.11.01.2006``. Files also write them without
dots (``6411012006``), with spaces (``64 11 01 2006``) or as floats read from a
spreadsheet (``6411012006.0``); :func:`normalise_code` turns all of them into
the dotted form and :func:`in_region` compares in that form, so ``64.11``
holds ``64.11.01.2006`` and ``6411012006`` but never ``64.110...``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: a code in normal (dotted) form, any level
CODE_RE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")

_FLOAT_TAIL = r"^(\d+)\.0$"
_SPACED = r"^(\d{2})\s+(\d{2})(?:\s+(\d{2})(?:\s+(\d{4}))?)?$"
_DOTLESS = ((r"^(\d{2})(\d{2})(\d{2})(\d{4})$", r"\1.\2.\3.\4"),
            (r"^(\d{2})(\d{2})(\d{2})$", r"\1.\2.\3"),
            (r"^(\d{2})(\d{2})$", r"\1.\2"))


def normalise_code(value: object) -> str:
    """A Kemendagri code in dotted form.

    Parameters
    ----------
    value : object
        A code as found in a file or typed by a user.

    Returns
    -------
    str
        ``6411012006``, ``64 11 01 2006`` and ``6411012006.0`` give
        ``64.11.01.2006``; text that is not a code is returned stripped.

    Examples
    --------
    >>> normalise_code("6411"), normalise_code(" 64 11 01 "), normalise_code(6411012006.0)
    ('64.11', '64.11.01', '64.11.01.2006')
    """
    text = str(value).strip()
    text = re.sub(_FLOAT_TAIL, r"\1", text)
    spaced = re.fullmatch(_SPACED, text)
    if spaced:
        return ".".join(g for g in spaced.groups() if g)
    for pattern, dotted in _DOTLESS:
        if re.fullmatch(pattern, text):
            return re.sub(pattern, dotted, text)
    return text


def normalise_codes(codes: pd.Series) -> pd.Series:
    """:func:`normalise_code` over a Series (vectorised; missing values stay missing)."""
    s = codes.astype("string").str.strip()
    s = s.str.replace(_FLOAT_TAIL, r"\1", regex=True)
    s = s.str.replace(_SPACED, lambda m: ".".join(g for g in m.groups() if g), regex=True)
    for pattern, dotted in _DOTLESS:
        s = s.str.replace(pattern, dotted, regex=True)
    return s


def in_region(codes: pd.Series, region: str | None) -> pd.Series:
    """True where a code is ``region`` or lies inside it (``64.11`` -> ``64.11.*``).

    Parameters
    ----------
    codes : Series
        Codes in any form :func:`normalise_code` reads; missing codes are outside.
    region : str or None
        A code in any such form; empty or None means everywhere.

    Returns
    -------
    Series of bool
        Aligned with ``codes``.
    """
    if region is None or str(region).strip() == "":
        return pd.Series(np.ones(len(codes), dtype=bool), index=codes.index)
    region = normalise_code(region)
    s = codes.astype("string").str.strip()
    hit = ((s == region) | s.str.startswith(region + ".")).fillna(False)
    # codes not yet in dotted form (dotless, spaced, floats): normalise only those
    odd = ~hit & ~s.str.match(r"\d{2}(\.|$)").fillna(True)
    if odd.any():
        fixed = normalise_codes(s[odd])
        hit[odd] = ((fixed == region) | fixed.str.startswith(region + ".")).fillna(False)
    return hit.astype(bool)


def region_sql(region: str, column: str = "kode") -> str | None:
    """:func:`in_region` as an SQL filter on stored (normalised) codes, for a reader's ``where``.

    Parameters
    ----------
    region : str
        A code in any form :func:`normalise_code` reads.
    column : str
        The code column (a plain identifier).

    Returns
    -------
    str or None
        ``kode = '64.11' OR substr(kode, 1, 6) = '64.11.'``; None when ``region`` is
        not a code (nothing to filter on safely).

    Examples
    --------
    >>> region_sql("6411")
    "kode = '64.11' OR substr(kode, 1, 6) = '64.11.'"
    """
    code = normalise_code(region)
    if not CODE_RE.match(code) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
        return None
    return f"{column} = '{code}' OR substr({column}, 1, {len(code) + 1}) = '{code}.'"
