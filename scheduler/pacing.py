"""Quiet hours and sending rates: when a message that does not answer the patient may go
out, and how many can go before the day's window closes (issue 6).

Each location sends within its own hours in its own time zone (default 08:00-21:00 in
the system's zone). A channel sends at its provider's pace: a Twilio long code about one
message a second, Telegram about thirty. So the most that can still go today on a
channel is its rate times the seconds left in the window; dunning queues no more than
that, and what does not fit is decided again tomorrow.
"""

from __future__ import annotations

import asyncio
import time as clock_time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo

from core.dunning import OpenLocations, SendingHours

DEFAULT_RATES: Mapping[str, float] = {"sms": 1.0, "telegram": 30.0}
"""Messages per second per channel: a Twilio long code, Telegram's bot limit."""


def system_zone() -> tzinfo:
    """The machine's local zone (``TZ``): where no location zone is configured."""
    zone = datetime.now(UTC).astimezone().tzinfo
    return zone if zone is not None else UTC


def default_hours() -> SendingHours:
    return SendingHours(system_zone())


def window(hours: SendingHours, now: datetime) -> tuple[datetime, datetime]:
    """Today's sending window at a location (today in its zone), as aware moments."""
    local = now.astimezone(hours.zone)
    start = datetime.combine(local.date(), hours.start, tzinfo=hours.zone)
    end = datetime.combine(local.date(), hours.end, tzinfo=hours.zone)
    if hours.end == time(23, 59, 59):
        end += timedelta(seconds=1)
    return start, end


def is_open(hours: SendingHours, now: datetime) -> bool:
    start, end = window(hours, now)
    return start <= now < end


def seconds_left(hours: SendingHours, now: datetime) -> float:
    """Sending seconds left today: the whole window before it opens, none after."""
    start, end = window(hours, now)
    return max(0.0, (end - max(now, start)).total_seconds())


@dataclass(frozen=True, slots=True)
class Capacity:
    """What may be queued today: per channel, per (location, channel) with ``None`` for
    every location without hours of its own, and where the window has not closed."""

    per_channel: Mapping[str, int]
    per_location: Mapping[tuple[str | None, str], int]
    still_open: OpenLocations


def capacity(
    hours: Mapping[str, SendingHours],
    default: SendingHours,
    now: datetime,
    rates: Mapping[str, float] = DEFAULT_RATES,
) -> Capacity:
    """How many messages each channel can still send today, overall and per location.

    Overall, a channel gets its rate times the longest time left anywhere: windows in
    different zones may overlap, and counting them once errs on the side of queueing
    less than could be sent."""
    left = {location: seconds_left(h, now) for location, h in hours.items()}
    default_left = seconds_left(default, now)
    longest = max([default_left, *left.values()])
    per_location: dict[tuple[str | None, str], int] = {}
    for channel, rate in rates.items():
        for location, seconds in left.items():
            per_location[(location, channel)] = int(rate * seconds)
        per_location[(None, channel)] = int(rate * default_left)
    return Capacity(
        per_channel={channel: int(rate * longest) for channel, rate in rates.items()},
        per_location=per_location,
        still_open=OpenLocations(
            frozenset(loc for loc, seconds in left.items() if seconds > 0),
            frozenset(hours),
            default_left > 0,
        ),
    )


def open_now(
    hours: Mapping[str, SendingHours], default: SendingHours, now: datetime
) -> OpenLocations:
    """Where messages may go out at ``now``."""
    return OpenLocations(
        frozenset(loc for loc, h in hours.items() if is_open(h, now)),
        frozenset(hours),
        is_open(default, now),
    )


@dataclass(slots=True)
class Pace:
    """Keeps each channel at its rate: :meth:`wait` returns when the next message on
    ``channel`` may go. Time is the event loop's own (monotonic), not the job's clock:
    pacing is about the provider's limits now, whatever day the job is run for."""

    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    _next: dict[str, float] = field(default_factory=dict)

    async def wait(self, channel: str) -> None:
        rate = self.rates.get(channel, 1.0)
        now = clock_time.monotonic()
        due = self._next.get(channel, now)
        if due > now:
            await asyncio.sleep(due - now)
        self._next[channel] = max(due, now) + 1.0 / rate
