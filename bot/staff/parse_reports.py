"""Reading ``/ar journal [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--only charges|receipts|
adjustments] [--location CODE] [--csv]`` (AR-113, AR-114, AR-128) and ``/ar status
[--as-of YYYY-MM-DD] [--location CODE]`` (AR-160) and ``/ar collections [--from] [--to]
[--by payer|financial_class|patient_type|location] [--location CODE]`` (AR-152), for
:func:`bot.staff.parse.parse`."""

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


def read_journal(rest: str, currency: str) -> ShowJournal:
    options = read_options(
        tokens(rest), ("from", "to", "only", "location", "csv", "type"), "a /ar journal option"
    )
    only = options.get("only")
    if only is not None and only.casefold() not in ONLY:
        raise ParseError(f"--only takes {', '.join(ONLY)}; not {only!r}")
    return ShowJournal(
        start=day(options["from"], "--from date") if "from" in options else None,
        end=day(options["to"], "--to date") if "to" in options else None,
        only=only.casefold() if only is not None else None,
        location=account_number(options["location"]) if "location" in options else None,
        csv="csv" in options,
        types=entry_types(options.get("type", "")),
    )


@dataclass(frozen=True, slots=True)
class ShowStatus:
    as_of: date | None = None
    location: str | None = None


def read_status(rest: str, currency: str) -> ShowStatus:
    options = read_options(tokens(rest), ("as-of", "location"), "a /ar status option")
    return ShowStatus(
        as_of=day(options["as-of"], "--as-of date") if "as-of" in options else None,
        location=account_number(options["location"]) if "location" in options else None,
    )


@dataclass(frozen=True, slots=True)
class ShowCollections:
    start: date | None = None
    end: date | None = None
    by: str = "payer"
    location: str | None = None


def read_collections(rest: str, currency: str) -> ShowCollections:
    options = read_options(
        tokens(rest), ("from", "to", "by", "location"), "a /ar collections option"
    )
    by = options.get("by", "payer").casefold()
    if by not in BY:
        raise ParseError(f"--by takes {', '.join(BY)}; not {options['by']!r}")
    return ShowCollections(
        start=day(options["from"], "--from date") if "from" in options else None,
        end=day(options["to"], "--to date") if "to" in options else None,
        by=by,
        location=account_number(options["location"]) if "location" in options else None,
    )


@dataclass(frozen=True, slots=True)
class ShowGl:
    start: date | None = None
    end: date | None = None


def read_gl(rest: str, currency: str) -> ShowGl:
    options = read_options(tokens(rest), ("from", "to"), "a /ar gl option")
    return ShowGl(
        start=day(options["from"], "--from date") if "from" in options else None,
        end=day(options["to"], "--to date") if "to" in options else None,
    )


@dataclass(frozen=True, slots=True)
class ShowServices:
    start: date | None = None
    end: date | None = None
    by: str = "service"
    location: str | None = None


def read_services(rest: str, currency: str) -> ShowServices:
    options = read_options(tokens(rest), ("from", "to", "by", "location"), "a /ar services option")
    by = options.get("by", "service").casefold()
    if by not in SERVICE_BY:
        raise ParseError(f"--by takes {', '.join(SERVICE_BY)}; not {options['by']!r}")
    return ShowServices(
        start=day(options["from"], "--from date") if "from" in options else None,
        end=day(options["to"], "--to date") if "to" in options else None,
        by=by,
        location=account_number(options["location"]) if "location" in options else None,
    )
