"""Numbers in the library's texts: our fast path writes exactly what Babel writes."""

from __future__ import annotations

import math
import random

import pytest
from babel.numbers import format_decimal

from geo_p2dd.i18n import format_int, format_number, format_numbers


@pytest.mark.parametrize("lang", ["id", "en"])
def test_numbers_are_written_exactly_as_babel_writes_them(lang):
    rng = random.Random(7)
    values = ([rng.uniform(-2e6, 2e6) for _ in range(3000)]
              + [round(rng.uniform(0, 100), 2) for _ in range(3000)]
              + [round(rng.uniform(0, 100), 3) for _ in range(3000)]
              # floats next to a rounding boundary (the float's text is not a tie)
              + [math.nextafter(k / 20, d) for k in range(-60, 60) for d in (-1e9, 1e9)]
              + [math.nextafter(k / 200, d) for k in range(-60, 60) for d in (-1e9, 1e9)]
              + [0.05, 0.15, 0.25, 0.35, 1.45, 2.675, 0.0, -0.0, 1e-9, 999.95, 1e15,
                 1.5e16, 2.5e-7, 123456789.125])
    for digits in (0, 1, 2):  # many at once: the same texts
        assert format_numbers(values + [float("nan"), float("inf")], lang, digits) == [
            format_number(v, lang, digits) for v in values] + ["–", "–"]
    assert format_numbers([], lang) == []
    for v in values:
        for digits in (1, 2):
            pattern = "#,##0." + "0" * digits
            assert format_number(v, lang, digits) == format_decimal(v, format=pattern,
                                                                    locale=lang), (v, digits)
        assert format_int(v, lang) == format_decimal(round(v), format="#,##0", locale=lang), v


def test_missing_and_infinite_values():
    assert format_number(float("nan"), "id") == "–" and format_int(None, "en") == "–"
    assert format_number(float("inf"), "en") == format_decimal(float("inf"), format="#,##0.0",
                                                               locale="en")
