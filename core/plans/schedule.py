"""Plan offers: how a balance splits into interest-free instalments (AR-059, BI-22).

The clinic's policy says from what balance a plan is offered, into how many
instalments, and the smallest instalment it accepts. An offer splits the balance
exactly: the parts are equal to the cent and the cents left over go one each to the
first instalments (largest remainder), so the schedule always adds up to the balance.
Instalments fall due every ``interval_months`` from the first due date, on the same
day of the month (or the month's last day when it is shorter).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from core.errors import ValidationError
from core.money import Money


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    """Which plans are offered; interest-free. ``first_due_days`` is how long after
    enrolment the first instalment falls due."""

    min_balance_minor: int = 10000
    counts: tuple[int, ...] = (3, 6, 12)
    min_instalment_minor: int = 2500
    interval_months: int = 1
    first_due_days: int = 14

    def __post_init__(self) -> None:
        if not self.counts or any(c < 2 or c > 120 for c in self.counts):
            raise ValidationError("a plan policy needs instalment counts between 2 and 120")
        if self.min_balance_minor < 0 or self.min_instalment_minor < 1:
            raise ValidationError(
                "a plan policy's minimum balance and instalment must be positive"
            )
        if not 1 <= self.interval_months <= 12:
            raise ValidationError("instalments fall due every 1 to 12 months")
        if not 0 <= self.first_due_days <= 90:
            raise ValidationError("the first instalment falls due 0 to 90 days after enrolment")

    def first_due(self, enrolled_on: date) -> date:
        return enrolled_on + timedelta(days=self.first_due_days)


@dataclass(frozen=True, slots=True)
class PlanOffer:
    """``count`` instalments of (due date, amount) adding up to ``total``."""

    count: int
    instalments: tuple[tuple[date, Money], ...]
    total: Money


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day when it has fewer days."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def split(total_minor: int, count: int) -> list[int]:
    """``total_minor`` in ``count`` parts that differ by at most one minor unit, the
    larger parts first; they always add up to the total."""
    base, left = divmod(total_minor, count)
    return [base + 1 if i < left else base for i in range(count)]


def plan_offers(balance: Money, policy: PlanPolicy, first_due: date) -> list[PlanOffer]:
    """The plans ``policy`` offers for ``balance``, fewest instalments first; none when
    the balance is under the policy's minimum, and no count whose instalment would be
    under the minimum instalment."""
    if balance.minor < max(policy.min_balance_minor, 1):
        return []
    offers = []
    for count in sorted(set(policy.counts)):
        parts = split(balance.minor, count)
        if parts[-1] < policy.min_instalment_minor:
            continue
        schedule = tuple(
            (add_months(first_due, i * policy.interval_months), Money(minor, balance.currency))
            for i, minor in enumerate(parts)
        )
        offers.append(PlanOffer(count, schedule, balance))
    return offers
