"""Card receipts reconciled to the payment gateway's own books (AR-180).

Over a period, what arbot recorded of the gateway (``gateway_payment``: card payments
and prepayments; ``gateway_reversal``: refunds and disputes) is set beside what the
gateway says moved on its balance in the same period (:class:`core.ports.GatewayMovement`,
Stripe's balance transactions), one by one by their ids and in totals.

Each difference is listed with what it most likely is:

* ``missing``: the gateway has it and arbot never recorded it (a webhook that never
  arrived): the patient paid and the ledger does not know;
* ``other day``: one side dated it outside the period (an event received after
  midnight; the gateway's movements are read a day either side of the period to tell):
  a timing difference that clears itself;
* ``not at the gateway``: arbot recorded it in the period and the gateway has no such
  movement near it: to look into;
* ``amount``: both have it, for different amounts.

Fees and payouts are the gateway's and appear only in its totals: the ledger records a
card payment at its full amount, the fee being a bank charge for the general ledger.
The gateway's movements are compared in the currency they settle in: a payment taken in
another currency than the account's settlement currency shows as a difference.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.model import entry_number
from core.money import Money
from core.patients.gateway_tables import gateway_payment, gateway_reversal
from core.ports import GatewayMovement

KINDS = ("payment", "refund", "dispute", "refund_failure", "dispute_won", "payment_failure")
"""What arbot records of the gateway (the first three) and what it does not record
yet, so each one is a difference to look into: a refund the bank could not make (the
money is back at the gateway), a dispute won (the card payment's money came back), a
bank payment that failed after it was counted."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """A movement as arbot recorded it."""

    kind: str
    ref: str
    amount_minor: int
    """Signed as it moves the gateway's balance (a refund is negative)."""
    at: datetime
    entry: str


@dataclass(frozen=True, slots=True)
class Difference:
    what: str
    """``missing``, ``other day``, ``not at the gateway`` or ``amount``."""
    kind: str
    ref: str
    gateway: Money | None
    arbot: Money | None
    at: datetime
    entry: str = ""


@dataclass(frozen=True, slots=True)
class KindTotal:
    kind: str
    gateway: Money
    arbot: Money
    count_gateway: int
    count_arbot: int

    @property
    def difference(self) -> Money:
        return self.gateway - self.arbot


@dataclass(frozen=True, slots=True)
class Reconciliation:
    start: datetime
    end: datetime
    currency: str
    totals: tuple[KindTotal, ...]
    fees: Money
    other: Money
    """The gateway's movements that are neither payments, refunds nor disputes (payouts,
    adjustments), net."""
    differences: tuple[Difference, ...]

    @property
    def agrees(self) -> bool:
        return not self.differences


def _kind_of(m: GatewayMovement) -> str:
    return m.kind if m.kind in KINDS else "other"


async def recorded(
    conn: AsyncConnection,
    currency: str,
    start: datetime | None,
    end: datetime | None,
    refs: Collection[str] | None = None,
) -> list[Recorded]:
    """What arbot recorded of the gateway from ``start`` up to ``end`` (None: no bound),
    of ``refs`` only when given."""
    gp, gr = gateway_payment, gateway_reversal
    payments = select(gp.c.payment_ref, gp.c.amount_minor, gp.c.recorded_at, gp.c.entry_id)
    payments = payments.where(gp.c.currency == currency)
    reversals = (
        select(gr.c.kind, gr.c.ref, gr.c.amount_minor, gr.c.recorded_at, gr.c.entry_id)
        .join(gp, gp.c.id == gr.c.payment_id)
        .where(gp.c.currency == currency)
    )
    if refs is not None:
        payments = payments.where(gp.c.payment_ref.in_(sorted(refs)))
        reversals = reversals.where(gr.c.ref.in_(sorted(refs)))
    if start is not None:
        payments = payments.where(gp.c.recorded_at >= start)
        reversals = reversals.where(gr.c.recorded_at >= start)
    if end is not None:
        payments = payments.where(gp.c.recorded_at < end)
        reversals = reversals.where(gr.c.recorded_at < end)
    found = [
        Recorded(
            "payment", r.payment_ref, int(r.amount_minor), r.recorded_at, entry_number(r.entry_id)
        )
        for r in await conn.execute(payments)
    ]
    found += [
        Recorded(r.kind, r.ref, -int(r.amount_minor), r.recorded_at, entry_number(r.entry_id))
        for r in await conn.execute(reversals)
    ]
    return found


async def reconcile(
    conn: AsyncConnection,
    movements: Sequence[GatewayMovement],
    start: datetime,
    end: datetime,
    currency: str,
) -> Reconciliation:
    """The period's card receipts in arbot against the gateway's ``movements`` of it."""
    mine_currency = [m for m in movements if m.currency.upper() == currency]
    theirs = [m for m in mine_currency if start <= m.at < end]
    around = {(_kind_of(m), m.ref): m for m in mine_currency if not start <= m.at < end}
    ours = {(r.kind, r.ref): r for r in await recorded(conn, currency, start, end)}
    unmatched = {m.ref for m in theirs if (_kind_of(m), m.ref) not in ours}
    elsewhere = await recorded(conn, currency, None, None, unmatched) if unmatched else []
    ever = {(r.kind, r.ref): r for r in elsewhere}
    differences: list[Difference] = []
    seen: set[tuple[str, str]] = set()

    def money(minor: int) -> Money:
        return Money(minor, currency)

    for m in theirs:
        kind = _kind_of(m)
        if kind == "other":
            continue
        key = (kind, m.ref)
        seen.add(key)
        mine = ours.get(key)
        if mine is None:
            later = ever.get(key)
            what = "missing" if later is None else "other day"
            entry = "" if later is None else later.entry
            mine_amount = None if later is None else money(later.amount_minor)
            differences.append(Difference(what, kind, m.ref, money(m.amount_minor), mine_amount,
                                          m.at, entry))  # fmt: skip
        elif mine.amount_minor != m.amount_minor:
            differences.append(Difference("amount", kind, m.ref, money(m.amount_minor),
                                          money(mine.amount_minor), m.at, mine.entry))  # fmt: skip
    for key, mine in sorted(ours.items(), key=lambda kv: kv[1].at):
        if key not in seen:
            amount = money(mine.amount_minor)
            other = around.get(key)  # the gateway dated it the day before or after
            what = "not at the gateway" if other is None else "other day"
            gateway = None if other is None else money(other.amount_minor)
            differences.append(
                Difference(what, mine.kind, mine.ref, gateway, amount, mine.at, mine.entry)
            )
    totals = tuple(
        KindTotal(
            kind,
            money(sum(m.amount_minor for m in theirs if _kind_of(m) == kind)),
            money(sum(r.amount_minor for r in ours.values() if r.kind == kind)),
            sum(1 for m in theirs if _kind_of(m) == kind),
            sum(1 for r in ours.values() if r.kind == kind),
        )
        for kind in KINDS
    )
    return Reconciliation(
        start,
        end,
        currency,
        totals,
        money(sum(m.fee_minor for m in theirs)),
        money(sum(m.amount_minor for m in theirs if _kind_of(m) == "other")),
        tuple(sorted(differences, key=lambda d: (d.at, d.ref))),
    )
