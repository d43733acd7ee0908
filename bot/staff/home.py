"""The App Home tab: what a staff member sees when they open arbot in Slack (BI-15,
BI-20): today's totals and the aged trial balance for the locations they work at,
and the write-offs and refunds waiting for their decision.

Slack sends ``app_home_opened`` each time the tab is opened; arbot answers by
publishing that user's home view (``views.publish``). A Slack user who is not an
arbot staff user gets a tab saying so, with no figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff.render import message
from bot.staff.services import Services
from core.approvals import pending_for
from core.approvals.model import Request
from core.auth import Actor, Permission, load_staff
from core.clock import today
from core.dashboard import Totals, today_totals
from core.errors import NotFound
from core.ledger.accounts import load_account
from core.ledger.aging import AtbBucket, AtbQuery, aged_trial_balance
from core.money import Money

PENDING_SHOWN = 5


@dataclass(frozen=True, slots=True)
class PendingLine:
    request: Request
    account_number: str
    amount: Money | None


@dataclass(frozen=True, slots=True)
class AtbSummary:
    buckets: tuple[tuple[str, Money, int], ...]
    total: Money


async def home_view(services: Services, slack_user: str) -> dict[str, Any]:
    """The home view for ``slack_user``, as ``views.publish`` takes it."""
    async with services.db.read() as conn:
        try:
            staff = await load_staff(conn, slack_user_id=slack_user)
        except NotFound:
            return message("home_unknown", services.locale, slack_user=slack_user)
        on = today(services.clock)
        allowed = staff.permissions
        totals: Totals | None = None
        if Permission.VIEW_ACCOUNTS in allowed:
            totals = await today_totals(
                conn, day=on, locations=staff.locations, currency=services.settings.currency
            )
        pending = await pending_for(conn, staff)
        shown = [await pending_line(conn, r) for r in pending[:PENDING_SHOWN]]
        atb = None
        if Permission.VIEW_REPORTS in allowed:
            query = services.aging.query(on, services.settings.currency)
            atb = await atb_summary(conn, staff, query)
    return message(
        "home", services.locale, staff=staff, on=on, totals=totals,
        pending=shown, pending_count=len(pending), atb=atb,
    )  # fmt: skip


async def pending_line(conn: AsyncConnection, request: Request) -> PendingLine:
    account = await load_account(conn, account_id=request.account_id)
    return PendingLine(request, account.number, request.amount)


async def atb_summary(conn: AsyncConnection, staff: Actor, query: AtbQuery) -> AtbSummary:
    """The ATB's buckets for the staff member's locations (all when unrestricted), added
    up: an account belongs to one location, so accounts add up too. ``query`` ages by
    the office's rule (AR-194)."""
    currency = query.currency
    places = [None] if staff.locations is None else sorted(staff.locations)
    sums: dict[str, list[int]] = {}
    for place in places:
        report = await aged_trial_balance(conn, replace(query, location=place))
        for bucket in report.buckets:
            add(sums, bucket)
    buckets = tuple((label, Money(s[0], currency), s[1]) for label, s in sums.items())
    return AtbSummary(buckets, Money(sum(s[0] for s in sums.values()), currency))


def add(sums: dict[str, list[int]], bucket: AtbBucket) -> None:
    slot = sums.setdefault(bucket.label, [0, 0])
    slot[0] += bucket.amount_minor
    slot[1] += bucket.accounts
