"""What the ATB shows of each account beside its buckets, when asked (AR-184).

For each account in an ATB, as of its date:

* ``statements``: the cycle statements sent to it (the scheduler's, delivered; a
  statement a patient asks the bot for is an answer, not counted);
* ``last_payment_date`` and ``last_payment``: the last payment or prepayment received
  on it by then, and how much came in;
* ``payments`` and ``credits`` of the period (the as-of date's month up to that date):
  what was received (payments and prepayments, less payments reversed), and what other
  entries took off what it owes: credit memos, adjustments, discounts, contractual
  allowances, write-offs, charges reversed. Charges, refunds, transfers to another
  account and reinstatements are neither;
* ``billed_to_insurer``: the last bill date of its items billed to an insurer or
  another payer (an item whose payer is not the patient: not self-pay).

Every figure is read with one grouped query over what the ATB's currency holds; the
ATB's rows pick their accounts from the answers, so the cost does not grow with a list
of account ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.aging import Atb
from core.ledger.model import AR_CONTROL, SELF_PAYERS, Kind
from core.ledger.tables import ar_item, gl_account, journal_entry, journal_line
from core.money import Money
from core.patients.outbox import outbox
from core.reports.cash import RECEIPT_KINDS

STATEMENT_KINDS = ("statement_cycle", "statement_unverified")
"""What the statements job sends (its templates), verified or not."""
NOT_CREDITS = (
    Kind.CHARGE.value,
    Kind.DEBIT_MEMO.value,
    Kind.FINANCE_CHARGE.value,
    Kind.TRANSFER.value,
    *RECEIPT_KINDS,
)
"""Entries whose lowering of what is owed is not a credit: receipts are counted apart,
and a transfer moves the debt to another account rather than taking it off."""
RECEIVED_KINDS = (Kind.PAYMENT.value, Kind.PREPAYMENT.value)


@dataclass(frozen=True, slots=True)
class AccountDetail:
    payments: Money
    credits: Money
    statements: int = 0
    last_payment_date: date | None = None
    last_payment: Money | None = None
    billed_to_insurer: date | None = None


@dataclass(frozen=True, slots=True)
class AtbDetail:
    start: date
    """The period's first day (the first of the as-of date's month)."""
    end: date
    accounts: dict[int, AccountDetail]

    def of(self, account_id: int, currency: str) -> AccountDetail:
        nothing = Money(0, currency)
        return self.accounts.get(account_id) or AccountDetail(nothing, nothing)


def _per_entry(where: list[Any]) -> Any:
    """Per entry and customer account: the kind, the effect on A/R (``amount``) and
    on what was paid ahead (``prepaid``), as the journal reads them."""
    je, jl = journal_entry, journal_line
    ar = gl_account.c.code == AR_CONTROL
    account = jl.c.customer_account_id
    return (
        select(
            account.label("account_id"),
            je.c.id.label("entry_id"),
            je.c.kind,
            je.c.effective_day,
            func.sum(case((ar, jl.c.amount_minor), else_=0)).label("amount"),
            func.sum(case((ar, 0), else_=-jl.c.amount_minor)).label("prepaid"),
        )
        .select_from(jl)
        .join(gl_account, gl_account.c.id == jl.c.gl_account_id)
        .join(je, je.c.id == jl.c.entry_id)
        .where(account.is_not(None), *where)
        .group_by(account, je.c.id, je.c.kind, je.c.effective_day)
    )


async def atb_detail(conn: AsyncConnection, atb: Atb) -> AtbDetail:
    """The AR-184 figures of every account in ``atb``."""
    q = atb.query
    start, cur = q.as_of.replace(day=1), q.currency
    wanted = {row.account_id for row in atb.rows}
    payments: dict[int, int] = {}
    credits: dict[int, int] = {}
    period = [
        journal_line.c.currency == cur,
        journal_entry.c.effective_day.between(start, q.as_of),
    ]
    for r in await conn.execute(_per_entry(period)):
        if r.account_id not in wanted:
            continue
        amount, prepaid = int(r.amount), int(r.prepaid)  # PostgreSQL sums as numeric
        if r.kind in RECEIPT_KINDS:
            payments[r.account_id] = payments.get(r.account_id, 0) + prepaid - amount
        elif r.kind not in NOT_CREDITS and amount < 0:
            credits[r.account_id] = credits.get(r.account_id, 0) - amount
    last = await _last_payments(conn, cur, q.as_of)
    billed = await _billed_to_insurer(conn, cur, q.as_of)
    sent = await _statements(conn, q.as_of)
    accounts = {
        account: AccountDetail(
            Money(payments.get(account, 0), cur),
            Money(credits.get(account, 0), cur),
            sent.get(account, 0),
            last[account][0] if account in last else None,
            Money(last[account][1], cur) if account in last else None,
            billed.get(account),
        )
        for account in wanted
    }
    return AtbDetail(start, q.as_of, accounts)


async def _last_payments(
    conn: AsyncConnection, currency: str, as_of: date
) -> dict[int, tuple[date, int]]:
    """Each account's last payment or prepayment by ``as_of``: its day and what came in."""
    je = journal_entry
    received = _per_entry(
        [
            journal_line.c.currency == currency,
            je.c.kind.in_(RECEIVED_KINDS),
            je.c.effective_day <= as_of,
        ]
    ).subquery()
    ranked = select(
        received,
        func.row_number()
        .over(
            partition_by=received.c.account_id,
            order_by=(received.c.effective_day.desc(), received.c.entry_id.desc()),
        )
        .label("n"),
    ).subquery()
    rows = await conn.execute(select(ranked).where(ranked.c.n == 1))
    return {r.account_id: (r.effective_day, int(r.prepaid - r.amount)) for r in rows}


async def _billed_to_insurer(conn: AsyncConnection, currency: str, as_of: date) -> dict[int, date]:
    payer = ar_item.c.payer
    rows = await conn.execute(
        select(ar_item.c.account_id, func.max(ar_item.c.bill_day).label("day"))
        .where(
            ar_item.c.currency == currency,
            payer.is_not(None),
            payer.not_in(SELF_PAYERS),
            ar_item.c.effective_day <= as_of,
            ar_item.c.bill_day <= as_of,
        )
        .group_by(ar_item.c.account_id)
    )
    return {r.account_id: r.day for r in rows}


async def _statements(conn: AsyncConnection, as_of: date) -> dict[int, int]:
    before = datetime.combine(as_of + timedelta(days=1), time(), UTC)
    rows = await conn.execute(
        select(outbox.c.account_id, func.count().label("sent"))
        .where(
            and_(
                outbox.c.kind.in_(STATEMENT_KINDS),
                outbox.c.status == "sent",
                outbox.c.account_id.is_not(None),
                outbox.c.created_at < before,
            )
        )
        .group_by(outbox.c.account_id)
    )
    return {r.account_id: int(r.sent) for r in rows}
