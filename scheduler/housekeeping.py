"""Month-end and clean-up jobs: the month-end ATB snapshot (AR-150), small-balance
write-offs within each payer's tolerance (AR-055), and the expiry of write-off and refund
requests nobody decided (AR-088).

A small balance is what is left open on an account for one payer after the rest was
paid: a few cents of rounding, a copay short by a dollar. Chasing it costs more than it
brings, so when every such item is past due by :data:`SETTLE_DAYS` and the account's
open amount for that payer is within the payer's tolerance, it is written off (entry
type ``WO_SMALL``, reason ``SMALL_BALANCE``) through the write-off service, which posts
it, audits it and lists it in the write-off report (AR-061). Each item's write-off
carries a key of its own, so a re-run posts nothing twice. Disputed items and accounts
with unapplied credit (which should be applied first) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals import expire_stale, pending_older_than
from core.auth import Actor
from core.clock import Clock
from core.db import Database
from core.db.metadata import day_number, to_day
from core.ledger.items import open_on_day
from core.ledger.tables import ar_item, customer_account
from core.money import Money
from core.services.writeoffs import write_off
from core.snapshots import take_atb_snapshot
from scheduler.ports import Ports
from scheduler.report import JobReport

SETTLE_DAYS = 30
"""Days past due before a small balance is written off: time for the last payment."""
SMALL_BALANCE_JOB = Actor.system("small-balance")
SNAPSHOT_JOB = Actor.system("atb-snapshot")
EXPIRY_JOB = Actor.system("approvals-expiry")


@dataclass(frozen=True, slots=True)
class SmallBalance:
    account_id: int
    number: str
    payer: str
    item_ids: tuple[int, ...]
    open: Money


async def small_balances(
    conn: AsyncConnection, as_of: date, tolerances: dict[str, int]
) -> list[SmallBalance]:
    """Per account and payer, open amounts within the payer's tolerance whose items are
    all past due by :data:`SETTLE_DAYS`, found in one query."""
    if not tolerances:
        return []
    day = to_day(as_of)
    on = open_on_day(day)
    i = ar_item
    payer = func.coalesce(i.c.payer, "self")
    items = (
        select(
            i.c.account_id,
            payer.label("payer"),
            i.c.id,
            on.open_minor.label("open"),
            day_number(i.c.due_day).label("due"),
            on.disputed.label("disputed"),
            i.c.amount_minor,
        )
        .select_from(on.items)
        .where(on.posted, on.open_minor != 0)
        .subquery("open_items")
    )
    credits = (
        select(items.c.account_id).where(items.c.amount_minor < 0).distinct().subquery("credits")
    )
    within = or_(
        *(and_(items.c.payer == p, func.sum(items.c.open) <= t) for p, t in tolerances.items())
    )
    rows = await conn.execute(
        select(
            items.c.account_id,
            customer_account.c.number,
            customer_account.c.currency,
            items.c.payer,
            func.sum(items.c.open).label("open"),
        )
        .join(customer_account, customer_account.c.id == items.c.account_id)
        .outerjoin(credits, credits.c.account_id == items.c.account_id)
        .where(items.c.amount_minor > 0, credits.c.account_id.is_(None))
        .group_by(
            items.c.account_id,
            customer_account.c.number,
            customer_account.c.currency,
            items.c.payer,
        )
        .having(
            func.max(items.c.due) < day - SETTLE_DAYS,
            func.max(case((items.c.disputed.is_(True), 1), else_=0)) == 0,
            within,
        )
        .order_by(items.c.account_id, items.c.payer)
    )
    found = rows.all()
    if not found:
        return []
    ids = await conn.execute(
        select(items.c.account_id, items.c.payer, items.c.id)
        .where(items.c.amount_minor > 0, items.c.account_id.in_([r.account_id for r in found]))
        .order_by(items.c.id)
    )
    by_key: dict[tuple[int, str], list[int]] = {}
    for account_id, p, item_id in ids:
        by_key.setdefault((account_id, p), []).append(item_id)
    return [
        SmallBalance(
            r.account_id,
            r.number,
            r.payer,
            tuple(by_key[(r.account_id, r.payer)]),
            Money(int(r.open), r.currency),
        )
        for r in found
    ]


async def small_balance_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Write off each small balance found, item by item, once (AR-055)."""
    async with db.read() as conn:
        found = await small_balances(conn, as_of, dict(ports.small_balances))
    lines = tuple(f"{s.number:<12} {s.payer:<16} {s.open!s:>10}" for s in found)
    if dry_run:
        return JobReport(f"dry run: {len(found)} small balances would be written off", lines)
    posted = 0
    for balance in found:
        for item_id in balance.item_ids:
            entries = await write_off(
                db,
                SMALL_BALANCE_JOB,
                account_id=balance.account_id,
                key=f"small-balance:{item_id}",
                on=as_of,
                reason="SMALL_BALANCE",
                note=f"small balance within the {balance.payer} tolerance (AR-055)",
                item_id=item_id,
                entry_type="WO_SMALL",
                source="scheduler",
            )
            posted += len(entries)
    return JobReport(f"{len(found)} small balances written off ({posted} entries)", lines)


def month_end(as_of: date) -> date:
    """The last month-end before ``as_of``: on a month's last day that month is not over
    (the job runs in the small hours, before the day's postings), so it is the one before."""
    return as_of.replace(day=1) - timedelta(days=1)


def snapshot_period(as_of: date) -> str:
    return month_end(as_of).strftime("%Y-%m")


async def atb_snapshot_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Keep the ATB as of the last month-end (AR-150)."""
    end = month_end(as_of)
    if dry_run:
        return JobReport(f"dry run: would keep the ATB as of {end.isoformat()}")
    kept = await take_atb_snapshot(
        db, as_of=end, currency=ports.currency, actor=SNAPSHOT_JOB.label, rule=ports.aging
    )
    return JobReport(
        f"ATB as of {end.isoformat()} kept: {Money(kept.total_minor, kept.currency)} "
        f"on {kept.accounts} accounts",
        tuple(
            f"{b.label:<10} {Money(b.amount_minor, kept.currency)!s:>14} {b.percent:>7}% "
            f"{b.accounts:>7}"
            for b in kept.buckets
        ),
    )


async def approvals_expiry_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Expire the write-off and refund requests pending longer than
    ``approval_expiry_days``: a stale request is refused when pressed (its message then
    says it expired), and the requester asks again with today's figures."""
    days = ports.approval_expiry_days
    if days <= 0:
        return JobReport("requests never expire (ARBOT_APPROVAL_EXPIRY_DAYS=0)")
    older_than = timedelta(days=days)
    if dry_run:
        stale = await pending_older_than(db, older_than)
        return JobReport(
            f"dry run: {len(stale)} requests pending over {days} days would expire",
            tuple(f"request {r}" for r in stale),
        )
    expired = await expire_stale(db, EXPIRY_JOB, older_than=older_than)
    return JobReport(
        f"{len(expired)} requests pending over {days} days expired",
        tuple(f"request {r}" for r in expired),
    )
