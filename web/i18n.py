"""Languages: Bahasa Indonesia by default, English by a visible switch.

Message ids are English; the Indonesian catalogue is assembled from the
``web/translations/id/*.po`` files (one per area of the app) and compiled at
install time into ``web/translations/id/LC_MESSAGES/messages.mo``
(``python -m web.i18n``); compiled catalogues are never committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import current_app, request

from geo_p2dd import i18n as numbers  # the one home of number formats (Babel)

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANG_COOKIE = "lang"


def select_locale() -> str:
    """?lang=xx, else the cookie, else the configured default (Indonesian)."""
    langs = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in langs:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in langs:
        return cookie
    return current_app.config["DEFAULT_LANGUAGE"]


def compile_catalogues(root: Path = TRANSLATIONS) -> list[Path]:
    """Merge each language's ``*.po`` parts and write ``LC_MESSAGES/messages.mo``."""
    written = []
    for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        merged = Catalog(locale=lang_dir.name, domain="messages")
        for po in sorted(lang_dir.glob("*.po")):
            with open(po, "rb") as fh:
                part = read_po(fh, locale=lang_dir.name)
            for message in part:
                if message.id and message.string:
                    if message.id in merged and merged[message.id].string != message.string:
                        raise SystemExit(f"{po}: {message.id!r} translated differently in "
                                         "another part")
                    merged.add(message.id, message.string)
        out = lang_dir / "LC_MESSAGES" / "messages.mo"
        out.parent.mkdir(exist_ok=True)
        with open(out, "wb") as fh:
            write_mo(fh, merged)
        written.append(out)
    return written


def _lang() -> str:
    from flask import g

    return g.get("lang") or current_app.config["DEFAULT_LANGUAGE"]


def format_int(value) -> str:
    """12.345 in Indonesian, 12,345 in English; '–' for missing values."""
    return numbers.format_int(value, _lang())


def format_pct(value, digits: int = 0) -> str:
    """A share 0..1 as a percentage in the locale's format."""
    return numbers.format_pct(value, _lang(), digits)


def format_km(value) -> str:
    """A distance in km with one decimal in the locale's format."""
    return numbers.format_km(value, _lang())


if __name__ == "__main__":  # pragma: no cover
    for path in compile_catalogues():
        print(f"compiled {path}", file=sys.stderr)
