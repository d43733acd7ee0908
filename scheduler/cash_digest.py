"""The daily cash digest (job ``cash-digest``): each morning, about the day before.

It tells the billing office what came in and what was adjusted, by payer and method
(AR-170), which messages to patients could not be delivered (bot blocked, invalid
number: AR-179), which payments cash application left unapplied (AR-139) and which
accounts are in credit, largest first, for a supervisor to review (AR-056), in
``ARBOT_CASH_DIGEST_CHANNEL``, once per day however often the job runs
(``scheduler.digests.post_all``). Failed deliveries name the account, the channel and
the reason, never the phone number or chat.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.dashboard import CreditBalance, Unapplied, credit_balances, unapplied_payments
from core.db import Database
from core.digests import ALL, DigestDraft
from core.ledger.tables import customer_account
from core.patients.outbox import failed_sends
from core.reports.cash import CashDay, cash_day
from scheduler.digests import Planned, post_all
from scheduler.pacing import system_zone
from scheduler.ports import DigestSettings, Ports
from scheduler.report import JobReport

SHOWN = 10
"""Failed deliveries and unapplied payments listed one by one; the rest are counted."""
UNAPPLIED_READ = 50


@dataclass(frozen=True, slots=True)
class FailedLine:
    account: str | None
    """The account's number (no account: a message to someone not yet linked)."""
    channel: str
    kind: str
    failure: str


@dataclass(frozen=True, slots=True)
class CashView:
    """What the cash digest shows (the template's ``view``)."""

    day: date
    cash: CashDay
    failed: tuple[FailedLine, ...]
    failed_count: int
    failed_by: tuple[tuple[str, str, int], ...]
    """(channel, failure, how many), most first."""
    unapplied: tuple[Unapplied, ...]
    unapplied_count: int
    unapplied_more: bool
    """More than :data:`UNAPPLIED_READ` payments are unapplied (the count is a floor)."""
    credits: tuple[CreditBalance, ...] = ()
    credits_count: int = 0
    credits_more: bool = False
    """More than :data:`UNAPPLIED_READ` accounts are in credit (the count is a floor)."""


def day_bounds(day: date, settings: DigestSettings) -> tuple[datetime, datetime]:
    """The moments ``day`` starts and ends where the clinic is."""
    zone = settings.zone or system_zone()
    start = datetime.combine(day, time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)


async def _numbers(conn: AsyncConnection, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await conn.execute(
        select(customer_account.c.id, customer_account.c.number).where(
            customer_account.c.id.in_(sorted(ids))
        )
    )
    return {account_id: number for account_id, number in rows}


async def cash_view(db: Database, ports: Ports, day: date) -> CashView:
    start, end = day_bounds(day, ports.digests)
    async with db.read() as conn:
        cash = await cash_day(conn, day, ports.currency)
        failed = await failed_sends(conn, start, end)
        numbers = await _numbers(conn, {f.account_id for f in failed if f.account_id})
        unapplied = await unapplied_payments(conn, limit=UNAPPLIED_READ + 1)
        credits = await credit_balances(conn, limit=UNAPPLIED_READ + 1)
    lines = tuple(
        FailedLine(
            numbers.get(f.account_id) if f.account_id else None, f.channel, f.kind, f.failure
        )
        for f in failed
    )
    by = Counter((f.channel, f.failure) for f in failed)
    return CashView(
        day=day,
        cash=cash,
        failed=lines[:SHOWN],
        failed_count=len(lines),
        failed_by=tuple((c, f, n) for (c, f), n in by.most_common()),
        unapplied=tuple(unapplied[:SHOWN]),
        unapplied_count=min(len(unapplied), UNAPPLIED_READ),
        unapplied_more=len(unapplied) > UNAPPLIED_READ,
        credits=tuple(credits[:SHOWN]),
        credits_count=min(len(credits), UNAPPLIED_READ),
        credits_more=len(credits) > UNAPPLIED_READ,
    )


async def cash_digest_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Post the cash digest of the day before ``as_of`` once."""
    channel = ports.digests.cash_channel
    if not channel:
        return JobReport("no channel for the cash digest: set ARBOT_CASH_DIGEST_CHANNEL")
    render = ports.staff_render
    if render is None:
        return JobReport("no staff message templates were given: no cash digest")
    day = as_of - timedelta(days=1)
    view = await cash_view(db, ports, day)
    draft = DigestDraft(
        "cash",
        day.isoformat(),
        ALL,
        day,
        ports.currency,
        channel,
        view.cash.received.minor,
        view.cash.paying_accounts,
    )
    locale = ports.digests.locale
    plan = Planned(draft, lambda digest_id: render("digest_cash", locale, view=view))
    return await post_all(db, ports, [plan], "cash digest", dry_run)
