"""The days a report covers, as a person asks for them (``--from``, ``--to``), and the
checks every period-report makes of them (the journal, collections, the GL, services)."""

from __future__ import annotations

from datetime import date, timedelta

from core.errors import ValidationError

MAX_DAYS = 366
"""The longest period one report covers."""


def last_month(today: date) -> tuple[date, date]:
    """The month before ``today``'s."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def period(
    start: date | None,
    end: date | None,
    today: date,
    *,
    otherwise: tuple[date, date] | None = None,
) -> tuple[date, date]:
    """The days asked for: none, ``otherwise`` (by default yesterday); ``start`` alone,
    from it to today; ``end`` alone, that day; both, from one to the other."""
    if start is None and end is None:
        yesterday = today - timedelta(days=1)
        return otherwise or (yesterday, yesterday)
    if start is None:
        assert end is not None
        return end, end
    return start, end or today


def check_period(start: date, end: date, what: str) -> None:
    """Refuse a period that ends before it starts, or one longer than :data:`MAX_DAYS`
    (``what``: "a journal", "an analysis" ... in the refusal)."""
    if end < start:
        raise ValidationError(f"the period ends ({end}) before it starts ({start})")
    if (end - start).days >= MAX_DAYS:
        raise ValidationError(f"{what} covers at most {MAX_DAYS} days; ask for less")
