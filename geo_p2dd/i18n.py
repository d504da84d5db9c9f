"""Library texts in Bahasa Indonesia (default) or English: one gettext domain, Babel numbers.

Message ids are English; the Indonesian catalogue is ``geo_p2dd/translations/id/*.po``
(one part per area), compiled at install into
``geo_p2dd/translations/id/LC_MESSAGES/geo_p2dd.mo`` by ``python -m geo_p2dd.i18n``
(the Makefile does it with the web app's catalogue); compiled catalogues are never
committed. Without a compiled catalogue (a plain ``pip install``) the ``.po`` parts
are read directly, so the library still speaks Indonesian.

Numbers, percentages and dates are formatted by Babel for the language's locale
(``12.345`` and ``12,3%`` in Indonesian, ``12,345`` and ``12.3%`` in English); these
are the only number formatters of the project (``web.i18n`` delegates here).

>>> gettext("People without service", "id")                    # doctest: +SKIP
'Penduduk belum terlayani'
>>> format_int(12345.4, "id"), format_pct(0.1234, "en", 1)
('12.345', '12.3%')
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import gettext as _gettext
import math
import sys
from pathlib import Path

import numpy as np
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from geo_p2dd.io.atomic import atomic_path

LANGS = ("id", "en")
DEFAULT_LANG = "id"
DOMAIN = "geo_p2dd"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
MISSING = "–"


def check_lang(lang: str) -> str:
    """``lang`` when it is one of :data:`LANGS`, else a ValueError naming the choices."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    return lang


def merged_catalogue(lang_dir: Path, domain: str = DOMAIN) -> Catalog:
    """The ``*.po`` parts of one language merged into one catalogue.

    Raises
    ------
    ValueError
        A msgid is translated differently in two parts (names both files).
    """
    merged = Catalog(locale=lang_dir.name, domain=domain)
    origin: dict[str, Path] = {}
    for po in sorted(lang_dir.glob("*.po")):
        with open(po, "rb") as fh:
            part = read_po(fh, locale=lang_dir.name)
        for message in part:
            if not (message.id and message.string):
                continue
            if message.id in merged and merged[message.id].string != message.string:
                raise ValueError(f"{po}: {message.id!r} is translated differently in "
                                 f"{origin[message.id]}")
            merged.add(message.id, message.string)
            origin[message.id] = po
    return merged


def compile_catalogues(root: Path = TRANSLATIONS, domain: str = DOMAIN) -> list[Path]:
    """Merge each language's ``*.po`` parts and write ``LC_MESSAGES/<domain>.mo``."""
    written = []
    for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        out = lang_dir / "LC_MESSAGES" / f"{domain}.mo"
        out.parent.mkdir(exist_ok=True)
        with atomic_path(out, fsync=False) as tmp, open(tmp, "wb") as fh:
            write_mo(fh, merged_catalogue(lang_dir, domain))
        written.append(out)
    return written


@functools.lru_cache(maxsize=4)
def translations(lang: str) -> _gettext.NullTranslations:
    """The library's translations for ``lang`` (English: the msgids themselves)."""
    lang_dir = TRANSLATIONS / check_lang(lang)
    if lang == "en" or not lang_dir.is_dir():
        return _gettext.NullTranslations()
    mo = lang_dir / "LC_MESSAGES" / f"{DOMAIN}.mo"
    parts = list(lang_dir.glob("*.po"))
    if mo.is_file() and all(mo.stat().st_mtime_ns >= p.stat().st_mtime_ns for p in parts):
        with open(mo, "rb") as fh:
            return Translations(fh, domain=DOMAIN)
    # not compiled (or older than its sources): read the catalogue as it is
    import io

    buf = io.BytesIO()
    write_mo(buf, merged_catalogue(lang_dir))
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def gettext(message: str, lang: str = DEFAULT_LANG, **values) -> str:
    """``message`` (an English msgid) in ``lang``, with ``%(name)s`` placeholders filled."""
    text = translations(lang).gettext(message)
    return text % values if values else text


def N_(message: str) -> str:  # noqa: N802 (the customary name of gettext's marker)
    """Mark ``message`` for the catalogue where it is defined; translate it where it is used."""
    return message


def _missing(value) -> bool:
    try:
        return value is None or value != value
    except (TypeError, ValueError):
        return True


def _formatted(value: float, pattern: str, lang: str) -> str:
    """``babel.numbers.format_decimal``/``format_percent`` of ``value`` with ``pattern``.

    The same text, with the pattern parsed and the locale loaded once, and each
    (value, pattern, language) formatted once: the analysis formats several
    numbers for each of 83,246 villages in two languages.
    """
    # -0.0 equals 0 as a cache key but Babel prints it "-0": its sign is part of the key
    return _formatted_once(value, value == 0 and math.copysign(1.0, value) < 0, pattern, lang)


@functools.lru_cache(maxsize=1 << 16)
def _formatted_once(value: float, negative_zero: bool, pattern: str, lang: str) -> str:
    from babel.numbers import parse_pattern

    return parse_pattern(pattern).apply(value, _babel_locale(lang))


@functools.lru_cache(maxsize=8)
def _babel_locale(lang: str):
    from babel import Locale

    return Locale.parse(check_lang(lang))


def format_int(value, lang: str = DEFAULT_LANG) -> str:
    """A whole number: ``12.345`` in Indonesian, ``12,345`` in English; '–' when missing."""
    if _missing(value):
        return MISSING
    try:
        return _fast_decimal(round(float(value)), 0, check_lang(lang))
    except (TypeError, ValueError, OverflowError):
        return MISSING


def format_number(value, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A number with ``digits`` decimals in the locale's format ('–' when missing)."""
    if _missing(value):
        return MISSING
    return _fast_decimal(float(value), digits, check_lang(lang))


def _fast_decimal(value: float, digits: int, lang: str) -> str:
    """Babel's ``#,##0[.0…]`` for ``lang``, about 20x faster (the analysis formats
    several numbers per village in two languages: 83,246 villages nationally).

    Rounded like Babel (the decimal text of the float, half to even) and written
    with the locale's group and decimal symbols taken from Babel; identical output
    (tested against ``babel.numbers``).
    """
    if not math.isfinite(value):
        return _formatted(value, "#,##0" + ("." + "0" * digits if digits > 0 else ""), lang)
    if isinstance(value, int) and digits == 0:
        return f"{value:,d}".translate(_symbols(lang))
    text = repr(value)
    point = text.find(".")
    if "e" in text or point < 0 or len(text) - point - 1 == digits + 1 and text[-1] == "5":
        # a tie at the last shown digit (or an exponent): round the decimal text itself
        exact = decimal.Decimal(text).quantize(_QUANTUM[digits], decimal.ROUND_HALF_EVEN)
        return f"{exact:,.{digits}f}".translate(_symbols(lang))
    # otherwise the float rounds as its decimal text does: a rounding boundary strictly
    # between the two would be a shorter (or nearer) text of the same float, which repr
    # would have given
    return f"{value:,.{digits}f}".translate(_symbols(lang))


_QUANTUM = {d: decimal.Decimal(1).scaleb(-d) for d in range(7)}


def format_numbers(values, lang: str = DEFAULT_LANG, digits: int = 1,
                   missing: str = MISSING) -> list[str]:
    """:func:`format_number` of each of ``values`` (the same texts), for many at once.

    Python's float formatting writes each value; only a value whose decimal text may be
    a tie at the last shown digit (found with numpy, a superset of the ties) goes through
    :func:`format_number`. The locale's symbols are swapped in one pass over all texts.

    Parameters
    ----------
    values : array_like of float
    lang : str
    digits : int
        Decimals shown (0-6).
    missing : str
        The text of a missing or non-finite value.
    """
    lang = check_lang(lang)
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return []
    finite = np.isfinite(x)
    scaled = np.where(finite, x, 0.0) * 10.0 ** (digits + 1)
    nearest = np.round(scaled)
    tie = finite & (np.abs(nearest) % 10 == 5) & (
        np.abs(scaled - nearest) <= 1e-6 * np.maximum(1.0, np.abs(scaled)))
    tie |= finite & (np.abs(x) >= 1e15)  # repr with an exponent
    pattern = f"{{:,.{digits}f}}".format
    texts = [pattern(v) if ok else "" for v, ok in zip(x.tolist(), finite.tolist(),
                                                       strict=True)]
    joined = "\x00".join(texts).translate(_symbols(lang)).split("\x00")
    for i in np.flatnonzero(tie).tolist():
        joined[i] = format_number(float(x[i]), lang, digits)
    for i in np.flatnonzero(~finite).tolist():
        joined[i] = missing
    return joined


@functools.lru_cache(maxsize=8)
def _symbols(lang: str) -> dict[int, str]:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return str.maketrans({",": get_group_symbol(lang), ".": get_decimal_symbol(lang)})


def format_pct(value, lang: str = DEFAULT_LANG, digits: int = 0) -> str:
    """A share 0..1 as a percentage: ``12,3%`` in Indonesian ('–' when missing)."""
    if _missing(value):
        return MISSING
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return _formatted(float(value), pattern, check_lang(lang))


def format_km(value, lang: str = DEFAULT_LANG) -> str:
    """A distance in km with one decimal: ``3,5 km`` in Indonesian ('–' when missing)."""
    text = format_number(value, lang, 1)
    return text if text == MISSING else f"{text} km"


def format_date(value, lang: str = DEFAULT_LANG) -> str:
    """An ISO date (or datetime text) written out: ``29 November 2026``; '–' when empty."""
    from babel.dates import format_date as babel_date

    if not value:
        return MISSING
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return babel_date(day, format="long", locale=check_lang(lang))


if __name__ == "__main__":  # pragma: no cover
    for path in compile_catalogues():
        print(f"compiled {path}", file=sys.stderr)
