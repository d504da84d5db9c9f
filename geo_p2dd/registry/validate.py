"""Validation of register fields: one value at a time, every error naming its field.

Vocabulary fields (``kind``, ``status``, ``funding``) accept the ids and the
spellings of :mod:`geo_p2dd.schema` and store the id; numbers must be numbers
within their range; ``village_kode`` is a Kemendagri village code (any
spelling :func:`geo_p2dd.codes.normalise_code` reads); ``sipd_code`` is a SIPD
*kode sub kegiatan* such as ``2.16.02.2.02.0001``. A bad value raises
:class:`geo_p2dd.errors.InputError` whose ``column`` is the field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from geo_p2dd.codes import normalise_code
from geo_p2dd.errors import InputError
from geo_p2dd.schema import FUNDING, SITE_KINDS, SITE_STATUS, TECHNOLOGIES, Vocabulary

#: a village code in dotted form (province.kabupaten.kecamatan.village)
VILLAGE_CODE_RE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
#: SIPD kode sub kegiatan: urusan.bidang.program.kegiatan(2 parts).sub kegiatan;
#: "X" stands for the cross-cutting (penunjang) urusan and bidang
SIPD_CODE_RE = re.compile(r"^[0-9X]\.[0-9X]{2}\.\d{2}\.\d\.\d{2}\.\d{4}$")
SIPD_EXAMPLE = "2.16.02.2.02.0001"
#: fields kept by the database itself, never set by a caller
SYSTEM_FIELDS = ("version", "created_at", "updated_at", "deleted_at")
#: fields every new site must have
REQUIRED = ("kind", "name", "status", "lon", "lat")
#: numeric fields: (lowest, highest, whole numbers only)
NUMBERS: dict[str, tuple[float, float, bool]] = {
    "year": (1990, 2100, True),
    "budget_year": (1990, 2100, True),
    "budget_idr": (0, 1e15, True),
    "realised_idr": (0, 1e15, True),
    "capacity_mbps": (0, 1e6, False),
    "service_radius_m": (0, 1e5, False),
    "height_m": (0, 500, False),
    "frequency_mhz": (100, 100_000, False),
    "power_dbm": (-50, 100, False),
    "lon": (-180, 180, False),
    "lat": (-90, 90, False),
}
VOCABULARIES: dict[str, Vocabulary] = {"kind": SITE_KINDS, "status": SITE_STATUS,
                                       "funding": FUNDING}
TEXTS = ("name", "agency", "operator", "notes")
MAX_ID = 200


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _error(field: str, message: str, expected: str, value: object) -> InputError:
    return InputError(message, column=field, expected=expected, found=repr(value))


def _number(field: str, value: object) -> int | float:
    lo, hi, whole = NUMBERS[field]
    kind = "a whole number" if whole else "a number"
    expected = f"{kind} from {lo:g} to {hi:g}"
    if isinstance(value, bool):
        raise _error(field, f"{field} is not a number", expected, value)
    try:
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) \
            else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _error(field, f"{field} is not a number", expected, value) from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise _error(field, f"{field} is out of range", expected, value)
    if whole:
        if number != int(number):
            raise _error(field, f"{field} is not a whole number", expected, value)
        return int(number)
    return number


def _vocabulary(field: str, value: object) -> str:
    vocabulary = VOCABULARIES[field]
    term = vocabulary.parse(value)
    if term is None:
        raise _error(field, f"unknown {vocabulary.name}", f"one of {vocabulary.describe()}",
                     value)
    return term


def _text(field: str, value: object) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _error(field, f"{field} is not text", "text", value)
    return str(value).strip()


def _village_kode(field: str, value: object) -> str:
    code = normalise_code(value)
    if not VILLAGE_CODE_RE.fullmatch(code):
        raise _error(field, "not a village code", "a Kemendagri village code such as "
                     "64.11.01.2006", value)
    return code


def _sipd_code(field: str, value: object) -> str:
    code = str(value).strip()
    if not SIPD_CODE_RE.fullmatch(code):
        raise _error(field, "not a SIPD sub-activity code (kode sub kegiatan)",
                     f"a code shaped like {SIPD_EXAMPLE}", value)
    return code


def _technology(field: str, value: object) -> str:
    tech = str(value).strip().upper()
    if tech not in TECHNOLOGIES:
        raise _error(field, "unknown mobile technology", f"one of {', '.join(TECHNOLOGIES)}",
                     value)
    return tech


def _extra(field: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(field, f"{field} is not an object", "a JSON object", value)
    return dict(value)


def _site_id(field: str, value: object) -> str:
    text = _text(field, value)
    if len(text) > MAX_ID or any(ord(c) < 32 for c in text):
        raise _error(field, "not a usable site id", f"at most {MAX_ID} printable characters",
                     value)
    return text


CHECKS: dict[str, Callable[[str, object], Any]] = {
    "id": _site_id,
    **{name: _vocabulary for name in VOCABULARIES},
    **{name: _number for name in NUMBERS},
    **{name: _text for name in TEXTS},
    "village_kode": _village_kode,
    "sipd_code": _sipd_code,
    "technology": _technology,
    "extra": _extra,
}
#: every field a caller may set
FIELDS = tuple(CHECKS)


def clean_field(field: str, value: object) -> Any:
    """The stored form of one field's value (None for a blank optional value).

    Parameters
    ----------
    field : str
        A register field (one of :data:`FIELDS`).
    value : object
        The value as given (text from a form, a JSON value, a cell).

    Returns
    -------
    object
        The value to store.

    Raises
    ------
    InputError
        Naming the field (``column``), what was expected and what was found.
    """
    if field in SYSTEM_FIELDS:
        raise _error(field, f"{field} is kept by the register and cannot be set",
                     f"one of {', '.join(FIELDS)}", field)
    check = CHECKS.get(field)
    if check is None:
        raise _error(field, f"unknown field {field!r}", f"one of {', '.join(FIELDS)}", field)
    if _is_blank(value):
        if field in REQUIRED or field == "id":
            raise _error(field, f"{field} is required", "a value", value)
        return None
    cleaned = check(field, value)
    if field in REQUIRED and cleaned == "":
        raise _error(field, f"{field} is required", "a value", value)
    return cleaned


def clean_site(values: Mapping[str, object], *, partial: bool = False) -> dict[str, Any]:
    """Validate a new site (``partial=False``) or the fields of a change (``partial=True``).

    Parameters
    ----------
    values : mapping
        Field → value.
    partial : bool
        A change names only some fields; a new site must have every required one.

    Returns
    -------
    dict
        Field → stored value.

    Raises
    ------
    InputError
        For the first bad or missing field (its ``column``).
    """
    cleaned = {field: clean_field(field, value) for field, value in values.items()}
    if not partial:
        for field in REQUIRED:
            if field not in cleaned:
                raise _error(field, f"{field} is required", "a value", None)
    if partial and "id" in cleaned:
        raise _error("id", "a site's id cannot be changed", "the other fields", cleaned["id"])
    return cleaned


#: the latest "today" in Indonesia (WIT, UTC+9): a status date after it is in the future
INDONESIA_EAST = dt.timezone(dt.timedelta(hours=9))


def indonesia_today() -> dt.date:
    """Today's date in Indonesia's easternmost zone (the latest "today" in Indonesia)."""
    return dt.datetime.now(INDONESIA_EAST).date()


def clean_status_date(value: object, today: dt.date | None = None) -> dt.date:
    """The date a status change took effect: a ``YYYY-MM-DD`` date, not in the future.

    Parameters
    ----------
    value : str or date
        The date given.
    today : date, optional
        Today (default: today in Indonesia's easternmost time zone, so no one in
        Indonesia is refused their own today).

    Raises
    ------
    InputError
        Not a date, or after today; ``column`` is ``status_date``.
    """
    field = "status_date"
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise _error(field, "not a date", "a date as YYYY-MM-DD", value) from None
    today = today or indonesia_today()
    if day > today:
        raise _error(field, "the date of a status change cannot be in the future",
                     f"a date on or before {today.isoformat()}", value)
    return day
