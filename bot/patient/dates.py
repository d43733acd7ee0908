"""Dates of birth as patients type them.

ISO 8601 (``1980-04-12``) always works. Otherwise the common forms of the patient's
locale: day, month and year in the order the locale writes them (``4/12/1980`` in the
US, ``12/4/1980`` in Spanish), with ``/``, ``-``, ``.`` or spaces between, and month
names or abbreviations in the patient's language (``April 12, 1980``, ``12 de abril de
1980``). A two-digit year is refused rather than guessed: 04/12/80 could be 1880 or 1980
for a centenarian's chart and we never guess at identity.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from babel.dates import get_date_format, get_month_names

ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
NUMERIC = re.compile(r"^(\d{1,4})[/.\- ]+(\d{1,2})[/.\- ]+(\d{1,4})$")
WORDS = re.compile(r"[^\W\d_]+|\d+")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _month_day_order(locale: str) -> bool:
    """True where the locale writes the month before the day (en_US)."""
    pattern = get_date_format("short", locale=locale).pattern.lower()
    return pattern.find("m") < pattern.find("d")


def _months(locale: str) -> dict[str, int]:
    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_month_names(width, locale=locale).items():
            names[_plain(name).rstrip(".")] = number
    return names


def _build(year: int, month: int, day: int, today: date) -> date | None:
    if year < 1000:
        return None
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return value if date(1880, 1, 1) <= value <= today else None


def parse_birth_date(text: str, locale: str, today: date) -> date | None:
    """The date ``text`` names, or None when it is not a plausible date of birth."""
    cleaned = text.strip().rstrip(".")
    if iso := ISO.match(cleaned):
        return _build(int(iso[1]), int(iso[2]), int(iso[3]), today)
    if numeric := NUMERIC.match(cleaned):
        a, b, c = numeric.groups()
        if len(a) == 4:
            return _build(int(a), int(b), int(c), today)
        month, day = (a, b) if _month_day_order(locale) else (b, a)
        return _build(int(c), int(month), int(day), today) if len(c) == 4 else None
    return _with_month_name(cleaned, locale, today)


def _with_month_name(text: str, locale: str, today: date) -> date | None:
    months = _months(locale) | _months("en_US")
    words = [w for w in WORDS.findall(_plain(text)) if w not in ("de", "del", "of", "the")]
    month = [months[w] for w in words if w in months]
    numbers = [int(w) for w in words if w.isdigit()]
    if len(month) != 1 or len(numbers) != 2 or len(words) != 3:
        return None
    day, year = sorted(numbers)
    return _build(year, month[0], day, today)
