"""Gap scoring: factors -> normalised 0..1 -> weighted 0..100 score, rank, reasons.

Pure functions over pandas objects; no I/O. Every village keeps each factor's
contribution in score points, so a rank can be explained factor by factor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geo_p2dd.errors import InputError

FACTORS = ("unserved_people", "unserved_facilities", "no_4g_share", "distance", "remoteness",
           "nothing_planned")

FACTOR_LABELS = {
    "unserved_people": ("Penduduk belum terlayani", "Unserved people"),
    "unserved_facilities": ("Fasilitas publik belum terlayani", "Unserved public facilities"),
    "no_4g_share": ("Porsi penduduk tanpa 4G", "Share of people without 4G"),
    "distance": ("Jarak ke layanan terdekat", "Distance to nearest service"),
    "remoteness": ("Keterpencilan", "Remoteness"),
    "nothing_planned": ("Belum ada rencana", "Nothing planned yet"),
}

DEFAULT_DISTANCE_CAP_KM = 30.0


def factor_label(name: str, lang: str = "id") -> str:
    """Label of a factor in Indonesian ("id") or English ("en")."""
    label_id, label_en = FACTOR_LABELS[name]
    return label_en if lang == "en" else label_id


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
         tie: tuple[str, ...] = ("people_unserved",), key: str = "kode") -> pd.Series:
    """Rank 1 = largest gap; ties broken by ``tie`` columns (descending) then ``key``.

    With ``by``, ranks restart within each group (e.g. kecamatan).
    """
    cols = [score, *tie, key]
    order = df.sort_values(cols, ascending=[False] * (1 + len(tie)) + [True], kind="mergesort")
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


def _fact(name: str, row: pd.Series, lang: str) -> str:
    en = lang == "en"
    if name == "unserved_people":
        return f"{_num(row.get('people_unserved', 0), lang)} {'people' if en else 'jiwa'}"
    if name == "unserved_facilities":
        return (f"{int(row.get('facilities_unserved', 0))} "
                f"{'facilities' if en else 'fasilitas'}")
    if name == "no_4g_share":
        return f"{100 * float(row.get('no_4g_share', 0)):.0f}%"
    if name == "distance":
        return f"{_dec(row.get('dist_service_km', np.nan), lang)} km"
    if name == "remoteness":
        return f"{_dec(row.get('remoteness_km', np.nan), lang)} km"
    return "no site planned or in progress" if en else "belum ada site rencana/proses"


def _num(value, lang: str) -> str:
    text = f"{int(round(float(value or 0))):,}"
    return text if lang == "en" else text.replace(",", ".")


def _dec(value, lang: str) -> str:
    if value is None or not np.isfinite(float(value)):
        return "?"
    text = f"{float(value):.1f}"
    return text if lang == "en" else text.replace(".", ",")
