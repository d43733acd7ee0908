"""Bad debt by rule: moving accounts out of active A/R once collecting has run its course
(AR-060, AR-062, AR-110).

When dunning has gone to its last level it flags the account for collections (its
status becomes ``in_collections``). The office's :class:`BadDebtRule` says when such an
account is written off to bad debt by itself: its oldest open charge is at least so
many days past due, what it owes is at least so much, and (by default) it has been in
collections for a while -- dunning finished and nothing came of it. A disputed charge
holds the whole account back, and so does an unapplied credit (it should be applied
first).

The transfer writes off everything open, oldest charge first, as ``WO_BAD_DEBT``
entries (reason ``UNCOLLECTIBLE``, bad-debt expense 6200) through the write-off service
(:func:`core.services.writeoffs.write_off_in`), and marks the account ``bad_debt``
(AR-062) in the same transaction, under one idempotency key per account and day: a
re-run posts nothing twice. The entries appear in the write-off audit listing
(:func:`core.reports.writeoffs.write_off_listing`, AR-061) with the rule as requester.
A payment that arrives later is handled by reinstatement (AR-111).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.customers import status_of
from core.db import Database, Tx
from core.db.metadata import day_number, from_day, to_day
from core.errors import ValidationError
from core.ledger.accounts import load_account
from core.ledger.items import open_on_day
from core.ledger.model import PostedEntry
from core.ledger.posting import load_entry
from core.ledger.tables import ar_item, customer_account, customer_status
from core.money import Money
from core.services import entries_under, run_once
from core.services.writeoffs import write_off_in

PERSON_TYPES = ("patient", "guarantor", "employee")
ENTRY_TYPE = "WO_BAD_DEBT"
REASON = "UNCOLLECTIBLE"
LEFT_ALONE = ("bad_debt", "inactive", "flagged_for_deletion", "disputed")


@dataclass(frozen=True, slots=True)
class BadDebtRule:
    """When an account goes to bad debt by itself: its oldest open charge is at least
    ``days_past_due`` past due, it owes at least ``min_balance_minor``, and -- unless
    ``after_collections_days`` is None -- it has been in collections (dunning finished)
    at least that many days."""

    days_past_due: int = 180
    min_balance_minor: int = 1
    after_collections_days: int | None = 30

    def __post_init__(self) -> None:
        if not 30 <= self.days_past_due <= 3650:
            raise ValidationError("bad debt needs charges 30 to 3650 days past due")
        if self.min_balance_minor < 1:
            raise ValidationError("bad debt's minimum balance must be above zero")
        if self.after_collections_days is not None and not self.after_collections_days >= 0:
            raise ValidationError("days in collections before bad debt cannot be negative")

    def describe(self) -> str:
        parts = [
            f"{self.days_past_due}+ days past due",
            f"owing at least {self.min_balance_minor}",
        ]
        if self.after_collections_days is not None:
            parts.append(f"in collections {self.after_collections_days}+ days")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class BadDebtCandidate:
    account_id: int
    number: str
    owed: Money
    oldest_due: date
    status: str


def _open_items(as_of: date) -> Any:
    on = open_on_day(to_day(as_of))
    return (
        select(
            ar_item.c.account_id,
            func.sum(on.open_minor).label("owed"),
            func.min(case((ar_item.c.amount_minor > 0, day_number(ar_item.c.due_day)))).label(
                "due"
            ),
            func.max(case((ar_item.c.amount_minor < 0, 1), else_=0)).label("credits"),
            func.max(case((on.disputed.is_(True), 1), else_=0)).label("disputed"),
        )
        .select_from(on.items)
        .where(on.posted, on.open_minor != 0)
        .group_by(ar_item.c.account_id)
        .subquery("open_items")
    )


async def bad_debt_candidates(
    conn: AsyncConnection, as_of: date, rule: BadDebtRule
) -> list[BadDebtCandidate]:
    """The accounts ``rule`` sends to bad debt on ``as_of``, found in one query."""
    day = to_day(as_of)
    owed = _open_items(as_of)
    latest = (
        select(customer_status.c.account_id, func.max(customer_status.c.id).label("id"))
        .where(day_number(customer_status.c.effective_day) <= day)
        .group_by(customer_status.c.account_id)
        .subquery("latest_status")
    )
    status = customer_status.alias("status_now")
    if rule.after_collections_days is None:
        standing = or_(status.c.status.is_(None), status.c.status.not_in(LEFT_ALONE))
    else:
        standing = and_(
            status.c.status == "in_collections",
            day_number(status.c.effective_day) <= day - rule.after_collections_days,
        )
    ca = customer_account
    rows = await conn.execute(
        select(ca.c.id, ca.c.number, ca.c.currency, owed.c.owed, owed.c.due, status.c.status)
        .join(owed, owed.c.account_id == ca.c.id)
        .outerjoin(latest, latest.c.account_id == ca.c.id)
        .outerjoin(status, status.c.id == latest.c.id)
        .where(
            ca.c.customer_type.in_(PERSON_TYPES),
            owed.c.owed >= rule.min_balance_minor,
            owed.c.due <= day - rule.days_past_due,
            owed.c.credits == 0,
            owed.c.disputed == 0,
            standing,
        )
        .order_by(ca.c.id)
    )
    return [
        BadDebtCandidate(
            r.id,
            r.number,
            Money(int(r.owed), r.currency),
            from_day(int(r.due)),
            r.status or "active",
        )
        for r in rows
    ]


def transfer_key(account_id: int, on: date) -> str:
    return f"bad-debt:{account_id}:{on.isoformat()}"


async def transfer_to_bad_debt(
    db: Database, actor: Actor, candidate: BadDebtCandidate, on: date, rule: BadDebtRule
) -> list[PostedEntry]:
    """Write off everything open on the account to bad debt and mark it ``bad_debt``,
    in one transaction, once per account and day (a replay returns the entries)."""
    async with db.read() as conn:
        account = await load_account(conn, account_id=candidate.account_id)
    require(actor, Permission.APPROVE_WRITE_OFF, account.location)
    require(actor, Permission.MANAGE_ACCOUNTS, account.location)
    key = transfer_key(account.id, on)
    note = f"moved to bad debt by rule ({rule.describe()}) (AR-060)"

    async def work(tx: Tx) -> list[PostedEntry]:
        posted = await write_off_in(
            tx,
            actor_label=actor.label,
            account=account,
            amount_minor=None,
            key=key,
            on=on,
            reason=REASON,
            note=note,
            entry_type=ENTRY_TYPE,
            source="scheduler",
        )
        before = await status_of(tx.conn, account.id)
        if before != "bad_debt":
            await tx.conn.execute(
                customer_status.insert().values(
                    account_id=account.id,
                    status="bad_debt",
                    effective_day=on,
                    at=tx.db.clock.now(),
                    actor=actor.label,
                    reason=note,
                )
            )
            tx.audit(
                actor.label,
                "scheduler",
                "customer.status",
                f"account {account.number}",
                before=before,
                after="bad_debt",
                reason=note,
                date=on.isoformat(),
            )
        return posted

    async def again(conn: AsyncConnection) -> list[PostedEntry]:
        return [await load_entry(conn, key=key), *await entries_under(conn, f"{key}/item/")]

    return await run_once(db, work, again)
