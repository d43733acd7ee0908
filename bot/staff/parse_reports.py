"""Reading the period reports' commands, for :func:`bot.staff.parse.parse`: ``/ar journal
[--from] [--to] [--only charges|receipts|adjustments] [--type CODE] [--location CODE]
[--csv]`` (AR-113, AR-114, AR-128), ``/ar status [--as-of] [--location]`` (AR-160),
``/ar collections [--from] [--to] [--by payer|...] [--location]`` (AR-152), ``/ar gl
[--from] [--to]`` (AR-122) and ``/ar services [--from] [--to] [--by service|...]
[--location]`` (BI-16). Dates are YYYY-MM-DD."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.staff.words import (
    ParseError,
    account_number,
    day,
    read_options,
    tokens,
)

ONLY = ("charges", "receipts", "adjustments")
ENTRY_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,29}")
BY = ("payer", "financial_class", "patient_type", "location")
SERVICE_BY = ("service", "category", "doctor", "location")


@dataclass(frozen=True, slots=True)
class ShowJournal:
    start: date | None = None
    end: date | None = None
    only: str | None = None
    location: str | None = None
    csv: bool = False
    types: tuple[str, ...] = ()


def entry_types(text: str) -> tuple[str, ...]:
    """``CONTRACTUAL`` or ``WO_ADMIN,WO_SMALL``: entry type codes (core says which exist)."""
    codes = tuple(t.strip().upper() for t in text.split(",") if t.strip())
    for code in codes:
        if not ENTRY_TYPE.fullmatch(code):
            raise ParseError(f"{code[:40]!r} is not an entry type (like CONTRACTUAL or WO_ADMIN)")
    return codes


def _read(rest: str, names: tuple[str, ...], command: str) -> dict[str, str]:
    return read_options(tokens(rest), names, f"a /ar {command} option")


def _day(options: dict[str, str], name: str) -> date | None:
    return day(options[name], f"--{name} date") if name in options else None


def _location(options: dict[str, str]) -> str | None:
    return account_number(options["location"]) if "location" in options else None


def _by(options: dict[str, str], allowed: tuple[str, ...]) -> str:
    by = options.get("by", allowed[0]).casefold()
    if by not in allowed:
        raise ParseError(f"--by takes {', '.join(allowed)}; not {options['by']!r}")
    return by


def read_journal(rest: str, currency: str) -> ShowJournal:
    options = _read(rest, ("from", "to", "only", "location", "csv", "type"), "journal")
    only = options.get("only")
    if only is not None and only.casefold() not in ONLY:
        raise ParseError(f"--only takes {', '.join(ONLY)}; not {only!r}")
    return ShowJournal(
        start=_day(options, "from"),
        end=_day(options, "to"),
        only=only.casefold() if only is not None else None,
        location=_location(options),
        csv="csv" in options,
        types=entry_types(options.get("type", "")),
    )


@dataclass(frozen=True, slots=True)
class ShowStatus:
    as_of: date | None = None
    location: str | None = None


def read_status(rest: str, currency: str) -> ShowStatus:
    options = _read(rest, ("as-of", "location"), "status")
    return ShowStatus(as_of=_day(options, "as-of"), location=_location(options))


@dataclass(frozen=True, slots=True)
class ShowCollections:
    start: date | None = None
    end: date | None = None
    by: str = "payer"
    location: str | None = None


def read_collections(rest: str, currency: str) -> ShowCollections:
    options = _read(rest, ("from", "to", "by", "location"), "collections")
    return ShowCollections(
        _day(options, "from"), _day(options, "to"), _by(options, BY), _location(options)
    )


@dataclass(frozen=True, slots=True)
class ShowGl:
    start: date | None = None
    end: date | None = None


def read_gl(rest: str, currency: str) -> ShowGl:
    options = _read(rest, ("from", "to"), "gl")
    return ShowGl(_day(options, "from"), _day(options, "to"))


@dataclass(frozen=True, slots=True)
class ShowServices:
    start: date | None = None
    end: date | None = None
    by: str = "service"
    location: str | None = None


def read_services(rest: str, currency: str) -> ShowServices:
    options = _read(rest, ("from", "to", "by", "location"), "services")
    return ShowServices(
        _day(options, "from"), _day(options, "to"), _by(options, SERVICE_BY), _location(options)
    )
