"""Gap scoring: factors -> normalised 0..1 -> weighted 0..100 score, rank, reasons.

Pure functions over pandas objects; no I/O. Every village keeps each factor's
contribution in score points, so a rank can be explained factor by factor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geo_p2dd.errors import InputError
from geo_p2dd.i18n import N_, format_int, format_number, format_numbers, gettext

FACTORS = ("unserved_people", "unserved_facilities", "no_4g_share", "distance", "remoteness",
           "nothing_planned")

#: factor -> label (an English msgid; Indonesian in geo_p2dd/translations/id/analysis.po)
FACTOR_LABELS = {
    "unserved_people": N_("Unserved people"),
    "unserved_facilities": N_("Unserved public facilities"),
    "no_4g_share": N_("Share of people without 4G"),
    "distance": N_("Distance to nearest service"),
    "remoteness": N_("Remoteness"),
    "nothing_planned": N_("Nothing planned yet"),
}

DEFAULT_DISTANCE_CAP_KM = 30.0


def factor_label(name: str, lang: str = "id") -> str:
    """Label of a factor in Indonesian ("id") or English ("en")."""
    return gettext(FACTOR_LABELS[name], lang)


def normalise(raw: pd.DataFrame, *, distance_cap_km: float = DEFAULT_DISTANCE_CAP_KM
              ) -> pd.DataFrame:
    """Normalise raw factors to 0..1.

    Parameters
    ----------
    raw : DataFrame
        Columns ``unserved_people``, ``unserved_facilities`` (counts),
        ``no_4g_share`` (0..1), ``distance`` and ``remoteness`` (km),
        ``nothing_planned`` (0/1). Missing columns or all-NaN columns mean the
        factor is not available.
    distance_cap_km : float
        Distances at or beyond this count as 1.

    Returns
    -------
    DataFrame
        One column per available factor, values in 0..1 (NaN -> 0).

    Examples
    --------
    >>> raw = pd.DataFrame({"unserved_people": [0, 50, 100], "distance": [0, 15, 60]})
    >>> normalise(raw).round(2).to_dict("list")
    {'unserved_people': [0.0, 0.5, 1.0], 'distance': [0.0, 0.5, 1.0]}
    """
    out = {}
    for name in FACTORS:
        if name not in raw.columns or raw[name].isna().all():
            continue
        x = raw[name].astype(float)
        if (x < 0).any():
            raise InputError(f"factor {name} has negative values", column=name,
                             found=str(float(x.min())))
        if name in ("unserved_people", "unserved_facilities", "remoteness"):
            top = x.max()
            v = x / top if top > 0 else x * 0.0
        elif name == "distance":
            v = (x / distance_cap_km).clip(upper=1.0)
        else:
            v = x.clip(0.0, 1.0)
        out[name] = v.fillna(0.0)
    return pd.DataFrame(out, index=raw.index)


def weighted_score(normalised: pd.DataFrame, weights: Mapping[str, float]
                   ) -> tuple[pd.Series, pd.DataFrame]:
    """Score 0..100 and each factor's contribution in points (they add up to the score).

    ``weights`` per factor, such as ``project.settings.weights``. Weights of
    factors that are not available are dropped and the rest rescaled.
    """
    unknown = set(weights) - set(FACTORS)
    if unknown:
        raise InputError(f"unknown weight(s) {', '.join(sorted(unknown))}",
                         expected=", ".join(FACTORS))
    used = {k: float(weights.get(k, 0.0)) for k in normalised.columns}
    if any(w < 0 for w in used.values()):
        raise InputError("weights must not be negative", found=str(used))
    total = sum(used.values())
    if total <= 0:
        raise InputError("the weights of the available factors add up to 0",
                         found=str(used), hint="set [weights] in project.toml")
    contrib = pd.DataFrame({k: normalised[k] * (100.0 * w / total) for k, w in used.items()},
                           index=normalised.index)
    return contrib.sum(axis=1), contrib


def rank(df: pd.DataFrame, score: str = "score", *, by: str | None = None,
         tie: tuple[str, ...] = ("people_unserved",), key: str = "kode",
         unknown_last: str | None = "gap_class") -> pd.Series:
    """Rank 1 = largest gap; ties broken by ``tie`` columns (descending) then ``key``.

    With ``by``, ranks restart within each group (e.g. kecamatan). Rows whose
    ``unknown_last`` column (the gap class) is ``"unknown"`` rank after every other
    row whatever their score: a village without signal data is not a known gap, and
    its distance and remoteness alone must not put it ahead of villages measured as
    blank spots.

    >>> df = pd.DataFrame({"kode": ["a", "b", "c"], "score": [40.0, 90.0, 10.0],
    ...                    "people_unserved": [5, 0, 1],
    ...                    "gap_class": ["blank_spot", "unknown", "no_4g"]})
    >>> rank(df).tolist()
    [1, 3, 2]
    """
    frame = df
    cols = [score, *tie, key]
    ascending = [False] * (1 + len(tie)) + [True]
    if unknown_last is not None and unknown_last in df.columns:
        frame = df.assign(_unknown=(df[unknown_last] == "unknown").to_numpy())
        cols, ascending = ["_unknown", *cols], [True, *ascending]
    order = frame.sort_values(cols, ascending=ascending, kind="mergesort")
    if by is None:
        ranks = pd.Series(np.arange(1, len(order) + 1), index=order.index)
    else:
        ranks = order.groupby(by, sort=False, dropna=False).cumcount() + 1
    return ranks.reindex(df.index).astype(int)


def explain(row: pd.Series, contributions: dict[str, float], lang: str = "id",
            top: int = 3) -> list[str]:
    """The main reasons of a village's score, largest contribution first."""
    parts = sorted(((v, k) for k, v in contributions.items() if v > 0.05), reverse=True)
    out = []
    for value, name in parts[:top]:
        out.append(f"{factor_label(name, lang)}: {_fact(name, row, lang)} (+{value:.1f})")
    return out


def explain_all(frame: pd.DataFrame, contributions: pd.DataFrame, lang: str = "id",
                top: int = 3) -> list[str]:
    """:func:`explain` of every row of ``frame``, joined with "; " (the same texts).

    Vectorised over villages: each factor's text is made once per row that shows
    it and the top factors are chosen with one sort, instead of a Python loop of
    sorting and formatting per village (83,246 villages in two languages).

    Parameters
    ----------
    frame : DataFrame
        The villages, with the columns :func:`_fact` reads.
    contributions : DataFrame
        One column per factor (score points), aligned with ``frame``.
    """
    return explain_all_langs(frame, contributions, (lang,), top)[lang]


def explain_all_langs(frame: pd.DataFrame, contributions: pd.DataFrame,
                      langs: tuple[str, ...] = ("id", "en"), top: int = 3,
                      ) -> dict[str, list[str]]:
    """:func:`explain_all` in each of ``langs``: the factors are chosen once for all.

    The texts are assembled as arrays of strings: each shown contribution's
    ``(+x.x)`` is formatted once per distinct value, and the parts are added
    position by position (the shown factors come first in each row's order),
    not in a Python loop over villages.
    """
    n = len(frame)
    if n == 0:
        return {lang: [] for lang in langs}
    # columns by name descending, then a stable sort by value descending: ties between
    # equal values keep the larger name first, as sorted(..., reverse=True) does
    names = sorted(contributions.columns, reverse=True)
    values = contributions[names].to_numpy(dtype=float)
    shown = values > 0.05  # NaN is never shown
    order = np.argsort(-np.where(shown, values, -np.inf), axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(shown, order, axis=1)  # position k of a row is shown
    facts_of = frame[[c for c in _FACT_COLUMNS if c in frame.columns]]  # not every column
    rows_of, points_of = {}, {}
    for j in range(len(names)):
        rows = np.flatnonzero(shown[:, j] & (order == j).any(axis=1))
        rows_of[j] = rows
        distinct, which = np.unique(values[rows, j], return_inverse=True)
        points_of[j] = np.array([f" (+{x:.1f})" for x in distinct.tolist()],
                                dtype=object)[which.ravel()]
    out = {}
    for lang in langs:
        texts = np.full((n, len(names)), None, dtype=object)
        for j, name in enumerate(names):
            rows = rows_of[j]
            facts = np.array(_facts(name, facts_of.iloc[rows], lang), dtype=object)
            texts[rows, j] = (factor_label(name, lang) + ": ") + facts + points_of[j]
        joined = np.full(n, "", dtype=object)
        for k in range(order.shape[1]):
            at = np.flatnonzero(picked[:, k])  # a prefix of each row's positions
            part = texts[at, order[at, k]]
            joined[at] = part if k == 0 else joined[at] + "; " + part
        out[lang] = joined.tolist()
    return out


#: the columns :func:`_facts` reads
_FACT_COLUMNS = ("people_unserved", "facilities_unserved", "no_4g_share", "dist_service_km",
                 "remoteness_km")


def _facts(name: str, rows: pd.DataFrame, lang: str) -> list[str]:
    """:func:`_fact` of ``name`` for each of ``rows``."""
    def column(col: str, default: float) -> np.ndarray:
        if col not in rows.columns:
            return np.full(len(rows), default, dtype=float)
        return pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=float)

    if name == "unserved_people":
        people = column("people_unserved", 0.0)
        template = gettext("%(n)s people", lang)
        return [template % {"n": n} for n in format_numbers(np.round(people) + 0.0, lang, 0)]
    if name == "unserved_facilities":
        return [gettext("%(n)s facilities", lang, n=int(f))
                for f in column("facilities_unserved", 0.0)]
    if name == "no_4g_share":
        return [f"{100 * float(x):.0f}%" for x in column("no_4g_share", 0.0)]
    if name in ("distance", "remoteness"):
        km = column("dist_service_km" if name == "distance" else "remoteness_km", np.nan)
        return [f"{text} km" for text in format_numbers(km, lang, 1, missing="?")]
    return [gettext("no site planned or in progress", lang)] * len(rows)


def _fact(name: str, row: pd.Series, lang: str) -> str:
    if name == "unserved_people":
        return gettext("%(n)s people", lang,
                       n=format_int(row.get("people_unserved", 0) or 0, lang))
    if name == "unserved_facilities":
        return gettext("%(n)s facilities", lang, n=int(row.get("facilities_unserved", 0)))
    if name == "no_4g_share":
        return f"{100 * float(row.get('no_4g_share', 0)):.0f}%"
    if name in ("distance", "remoteness"):
        value = row.get("dist_service_km" if name == "distance" else "remoteness_km", np.nan)
        shown = format_number(value, lang, 1) if value is not None and np.isfinite(
            float(value)) else "?"
        return f"{shown} km"
    return gettext("no site planned or in progress", lang)
