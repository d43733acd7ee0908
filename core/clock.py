"""The clock port: the domain asks it for the time instead of calling ``datetime.now()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(slots=True)
class FixedClock:
    """A clock that stands still until told to move: for tests and replays."""

    moment: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 12, tzinfo=UTC))

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def today(clock: Clock, zone: tzinfo | None = None) -> date:
    """Today's date in ``zone`` (the location's time zone), or the system zone."""
    moment = clock.now()
    return moment.astimezone(zone).date() if zone else moment.astimezone().date()
