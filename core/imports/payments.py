"""Importing payments: a lockbox or bank file of receipts, each posted to its account
and applied to open items by the default algorithm (oldest first), in one transaction.

A payment batch must come with control totals, its row count and its amount, and is
refused whole when they disagree with what arbot counts (AR-098, AR-112, AR-172).
The amount counted is the sum of the ``amount`` column over every row that has a
readable amount. The row's ``external_id`` is its idempotency key
(``import/payment/<external_id>``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, Tx
from core.db.bulk import collector_paused
from core.errors import ArbotError, ValidationError
from core.imports import (
    BatchRefused,
    Control,
    Reject,
    Report,
    Row,
    RowError,
    check_control,
    check_header,
    day,
    duplicate_keys,
    required,
)
from core.imports.lookup import accounts_by_number, closed_periods, in_closed_period
from core.ledger.application import DEFAULT_ORDER
from core.ledger.bulk import existing_keys, post_batch
from core.ledger.cash import apply_credits
from core.ledger.model import EntryDraft
from core.money import Money, currency_exponent, parse_money
from core.services.payments import payment_draft

REQUIRED = ("external_id", "account_number", "amount", "currency", "method", "received_date")
OPTIONAL = ("reference",)


def payment_key(external_id: str) -> str:
    return f"import/payment/{external_id}"


@dataclass(frozen=True, slots=True)
class _Payment:
    draft: EntryDraft
    account_id: int


def _amount(row: Row, counted: dict[str, int]) -> Money:
    currency = required(row, "currency").upper()
    try:
        currency_exponent(currency)
        amount = parse_money(required(row, "amount"), currency)
    except RowError:
        raise
    except ValidationError as exc:
        raise RowError(str(exc)) from exc
    counted[currency] += amount.minor
    if amount.minor <= 0:
        raise RowError(f"amount {row.get('amount')} must be above zero")
    return amount


async def import_payments(
    db: Database,
    actor: Actor,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    control: Control | None,
    label: str = "payments",
) -> Report:
    """Post and apply every valid payment in one transaction, or none if the control
    totals disagree."""
    with collector_paused():
        return await _import_payments(db, actor, header, rows, control=control, label=label)


async def _import_payments(
    db: Database,
    actor: Actor,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    control: Control | None,
    label: str = "payments",
) -> Report:
    require(actor, Permission.RECORD_PAYMENT)
    check_header("payments", header, REQUIRED, OPTIONAL)
    report = Report("payments", rows=len(rows))
    if control is None or control.rows is None or control.amount is None:
        raise BatchRefused(
            "a payment batch needs its control totals, row count and amount (AR-112)", report
        )
    counted: dict[str, int] = defaultdict(int)
    payments = await _validate(
        db, actor, duplicate_keys(rows, "external_id", report), report, counted
    )
    if len(counted) > 1:
        raise BatchRefused(f"a payment batch is in one currency, not {sorted(counted)}", report)
    currency = next(iter(counted), "USD")
    report.amount = Money(counted.get(currency, 0), currency)
    check_control(report, control, report.amount)
    if payments:
        async with db.transaction() as tx:
            report.written = await _post(tx, payments, label)
            report.audit(tx, actor, label)
    report.rejects.sort(key=lambda r: r.row)
    return report


async def _validate(
    db: Database,
    actor: Actor,
    rows: Sequence[Row],
    report: Report,
    counted: dict[str, int],
) -> list[_Payment]:
    async with db.read() as conn:
        done = await existing_keys(conn, [payment_key(r.get("external_id")) for r in rows])
        accounts = await accounts_by_number(conn, {r.get("account_number") for r in rows})
        closed = await closed_periods(conn)
    now = today(db.clock)
    payments = []
    for row in rows:
        external_id = row.get("external_id")
        try:
            amount = _amount(row, counted)
            if payment_key(external_id) in done:
                report.already += 1
                continue
            number = required(row, "account_number")
            account = accounts.get(number)
            if account is None:
                raise RowError(f"there is no account {number} (AR-094)")
            require(actor, Permission.RECORD_PAYMENT, account.location)
            if amount.currency != account.currency:
                raise RowError(f"account {number} is kept in {account.currency}")
            received = _received(row, now, closed)
            method = required(row, "method")[:60]
            reference = row.get("reference")[:120] or None
            draft = payment_draft(
                account.id,
                amount,
                received,
                payment_key(external_id),
                method,
                actor.label,
                "import",
                reference=reference,
            )
        except ArbotError as exc:
            report.rejects.append(Reject(row.number, external_id, str(exc)))
            continue
        payments.append(_Payment(draft, account.id))
    return payments


def _received(row: Row, now: date, closed: list[tuple[date, date]]) -> date:
    received = day(row, "received_date")
    assert received is not None
    if received > now:
        raise RowError(f"received_date {received} is in the future")
    if in_closed_period(received, closed):
        raise RowError(f"received_date {received} falls in a closed period")
    return received


async def _post(tx: Tx, payments: list[_Payment], label: str) -> int:
    posted = await post_batch(tx, [p.draft for p in payments], label=label)
    by_key = {e.idempotency_key: e for e in posted.entries}
    for p in payments:
        entry = by_key.get(p.draft.idempotency_key)
        if entry is None:
            continue
        await apply_credits(
            tx,
            account_id=p.account_id,
            rules=DEFAULT_ORDER,
            key=f"{entry.idempotency_key}/apply",
            on=entry.effective_date,
            actor=entry.actor,
            source="import",
            credit_ids=entry.item_ids,
            entry_id=entry.id,
        )
    return len(posted)
