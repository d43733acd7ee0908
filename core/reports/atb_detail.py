"""What the ATB shows of each account beside its buckets, when asked (AR-184).

For each account in an ATB, as of its date:

* ``statements``: the cycle statements delivered to it by the end of that day in the
  server's time zone (the scheduler's; one a patient asks the bot for is an answer,
  not counted);
* ``last_payment_date`` and ``last_payment``: the last payment or prepayment that
  brought money in by then (using a prepayment brings none), and how much;
* ``payments`` and ``credits`` of the period (the as-of date's month up to that date):
  what was received, less payments reversed; and, net, what other entries took off what
  it owes: credit memos, adjustments, discounts, contractual allowances, write-offs and
  bad debt, less those reversed or reinstated, and charges reversed. A reversal counts
  as the kind of entry it reverses; transfers to another account, refunds and
  chargebacks are neither;
* ``billed_to_insurer``: the last bill date of a visit billed to a payer other than the
  patient: the insurer's share of a split visit (an item on an insurer's account; the
  date goes to every account the visit billed), or an item on the account billed to
  its financial class when that is not self-pay.

Every figure is read with one grouped query over what the ATB's currency holds (at its
location, when it has one); the ATB's rows pick their accounts from the answers, so no
list of account ids is sent to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.aging import Atb
from core.ledger.model import SELF_PAYERS, Kind
from core.ledger.tables import ar_item, customer_account, gl_account, journal_entry, journal_line
from core.money import Money
from core.patients.outbox import outbox
from core.reports.cash import RECEIPT_KINDS
from core.reports.journal import effects

STATEMENT_KINDS = ("statement_cycle", "statement_unverified")
"""What the statements job sends (its templates), verified or not."""
CREDIT_KINDS = (
    Kind.CREDIT_MEMO.value,
    Kind.ADJUSTMENT.value,
    Kind.DISCOUNT.value,
    Kind.CONTRACTUAL.value,
    Kind.WRITE_OFF.value,
    Kind.BAD_DEBT.value,
    Kind.REINSTATEMENT.value,
)
"""Entries whose effect on what is owed is a credit (a reinstatement undoes one)."""
CHARGE_KINDS = (Kind.CHARGE.value, Kind.DEBIT_MEMO.value, Kind.FINANCE_CHARGE.value)
"""Entries that bill: reversed, they are a credit."""
RECEIVED_KINDS = (Kind.PAYMENT.value, Kind.PREPAYMENT.value)
REVERSAL = Kind.REVERSAL.value


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


def _per_entry(where: list[Any], location: str | None) -> Any:
    """Per entry and customer account (of ``location`` when given): the kind (of the
    entry reversed, for a reversal), the effect on A/R (``amount``) and on what was
    paid ahead (``prepaid``), as the journal reads them."""
    je, jl, ca = journal_entry, journal_line, customer_account
    reversed_ = journal_entry.alias("reversed")
    account = jl.c.customer_account_id
    kind = func.coalesce(reversed_.c.kind, je.c.kind)
    query = (
        select(
            account.label("account_id"),
            je.c.id.label("entry_id"),
            kind.label("kind"),
            (je.c.kind == REVERSAL).label("reversal"),
            je.c.effective_day,
            *effects(),
        )
        .select_from(jl)
        .join(gl_account, gl_account.c.id == jl.c.gl_account_id)
        .join(je, je.c.id == jl.c.entry_id)
        .outerjoin(reversed_, reversed_.c.id == je.c.reverses_id)
        .where(account.is_not(None), *where)
        .group_by(account, je.c.id, kind, je.c.kind, je.c.effective_day)
    )
    if location is not None:
        query = query.join(ca, ca.c.id == account).where(ca.c.location == location)
    return query


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
    for r in await conn.execute(_per_entry(period, q.location)):
        if r.account_id not in wanted:
            continue
        amount, prepaid = int(r.amount), int(r.prepaid)  # PostgreSQL sums as numeric
        if r.kind in RECEIPT_KINDS:
            payments[r.account_id] = payments.get(r.account_id, 0) + prepaid - amount
        elif r.kind in CREDIT_KINDS or (r.reversal and r.kind in CHARGE_KINDS):
            credits[r.account_id] = credits.get(r.account_id, 0) - amount
    last = await _last_payments(conn, cur, q.as_of, q.location)
    billed = await _billed_to_insurer(conn, cur, q.as_of, q.location)
    sent = await _statements(conn, q.as_of, q.location)
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
    conn: AsyncConnection, currency: str, as_of: date, location: str | None
) -> dict[int, tuple[date, int]]:
    """Each account's last payment or prepayment received by ``as_of`` (a prepayment
    used later brings nothing in): its day and what came in."""
    je = journal_entry
    received = _per_entry(
        [journal_line.c.currency == currency, je.c.kind.in_(RECEIVED_KINDS)],
        location,
    ).subquery()
    came_in = received.c.prepaid - received.c.amount
    ranked = (
        select(
            received.c.account_id,
            received.c.effective_day,
            came_in.label("came_in"),
            func.row_number()
            .over(
                partition_by=received.c.account_id,
                order_by=(received.c.effective_day.desc(), received.c.entry_id.desc()),
            )
            .label("n"),
        )
        .where(came_in > 0, received.c.effective_day <= as_of)
        .subquery()
    )
    rows = await conn.execute(select(ranked).where(ranked.c.n == 1))
    return {r.account_id: (r.effective_day, int(r.came_in)) for r in rows}


async def _billed_to_insurer(
    conn: AsyncConnection, currency: str, as_of: date, location: str | None
) -> dict[int, date]:
    """The last day a visit of each account was billed to a payer other than the
    patient: an item billed to an insurer's account (its share of a split visit: the
    date goes to every account the visit billed), or billed on the account itself to
    its financial class (not self-pay)."""
    billed, ca = ar_item.alias("billed"), customer_account
    visit = ar_item.alias("visit")
    to_payer = or_(
        ca.c.customer_type == "insurer",
        and_(billed.c.payer.is_not(None), billed.c.payer.not_in(SELF_PAYERS)),
    )
    query = (
        select(visit.c.account_id, func.max(billed.c.bill_day).label("day"))
        .select_from(billed)
        .join(ca, ca.c.id == billed.c.account_id)
        .join(visit, visit.c.entry_id == billed.c.entry_id)
        .where(
            billed.c.currency == currency,
            billed.c.amount_minor > 0,
            visit.c.amount_minor > 0,
            to_payer,
            billed.c.effective_day <= as_of,
            billed.c.bill_day <= as_of,
        )
        .group_by(visit.c.account_id)
    )
    if location is not None:
        mine = customer_account.alias("mine")
        query = query.join(mine, mine.c.id == visit.c.account_id).where(
            mine.c.location == location
        )
    rows = await conn.execute(query)
    return {r.account_id: r.day for r in rows}


async def _statements(conn: AsyncConnection, as_of: date, location: str | None) -> dict[int, int]:
    """Cycle statements delivered by the end of ``as_of`` in the server's own time zone
    (where the scheduler's days and the CLI's today are)."""
    before = datetime.combine(as_of + timedelta(days=1), time()).astimezone()
    delivered = func.coalesce(outbox.c.finished_at, outbox.c.created_at)
    query = (
        select(outbox.c.account_id, func.count().label("sent"))
        .where(
            outbox.c.kind.in_(STATEMENT_KINDS),
            outbox.c.status == "sent",
            outbox.c.account_id.is_not(None),
            delivered < before,
        )
        .group_by(outbox.c.account_id)
    )
    if location is not None:
        ca = customer_account
        query = query.join(ca, ca.c.id == outbox.c.account_id).where(ca.c.location == location)
    rows = await conn.execute(query)
    return {r.account_id: int(r.sent) for r in rows}
