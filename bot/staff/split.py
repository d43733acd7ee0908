"""The payment modal: one cheque split over several accounts (AR-016, AR-096).

``/ar payment split [account]`` or the account view's "Record payment" opens it: the
cheque's amount, method and reference, and rows of an account and its part. On
submission the rows are checked at once and refused on the field concerned: an unknown
account (AR-094), a part that does not read as an amount, parts that do not add up to
the cheque, and a part larger than what its account owes unless "may leave a credit"
is ticked (AR-095, as ``/ar payment`` asks first). Then the modal closes and core
records one payment per part, applied by the application rules, in one transaction
(``core.services.split``), under a key made from the view id: Slack keeps the id for
the life of the modal, so a double submit records the cheque once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.staff import ids
from bot.staff.forms import (
    Form,
    Refused,
    Submission,
    on_field,
    open_for,
    submitting,
)
from bot.staff.lookup import account_by_number
from bot.staff.money import balance_of
from bot.staff.parse import METHODS, PaymentForm
from bot.staff.turn import Turn
from bot.staff.words import account_number, amount
from core.auth import Actor, Permission, require
from core.clock import today
from core.errors import ValidationError
from core.ledger.accounts import Account
from core.money import Money
from core.services import prior_entry
from core.services.split import Part, part_key, record_split_payment

ROWS = 6
TITLE = "Record a payment"
REFERENCE_MAX = 60
"""As `/ar payment` allows, and the modal's max_length."""


def register(app: AsyncApp) -> None:
    app.view(ids.PAYMENT_MODAL)(on_payment_submitted)


async def open_payment(turn: Turn, staff: Actor, cmd: PaymentForm) -> None:
    """``/ar payment split [account]``."""
    await open_for(turn, staff, TITLE, show_payment, number=cmd.account)


async def payment_for(turn: Turn, staff: Actor, account_id: int) -> None:
    """The account view's "Record payment": the modal with that account on the first row."""
    await open_for(turn, staff, TITLE, show_payment, account_id=account_id)


async def show_payment(form: Form, staff: Actor, account: Account | None) -> None:
    require(staff, Permission.RECORD_PAYMENT, account.location if account else None)
    about = form.about(account.id if account else "-")
    await form.show("payment_modal", account=account, rows=ROWS, methods=METHODS, metadata=about)


@dataclass(frozen=True, slots=True)
class Row:
    n: int
    account: Account
    part: Money


async def on_payment_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async with submitting(context, ack, body, view, ids.PAYMENT_AMOUNT) as done:
        turn, staff = done.turn, await done.turn.staff()
        currency = turn.services.settings.currency
        with on_field(ids.PAYMENT_AMOUNT):
            cheque = amount(done.field(ids.PAYMENT_AMOUNT), currency)
        rows = await rows_of(done, staff, currency)
        adds_up(cheque, rows)
        method_and_reference(done)
        key = f"slack/split/{(body.get('team') or {}).get('id') or ''}/{view.get('id')}"
        first = part_key(key, 0, rows[0].account.id)
        if not done.field(ids.PAYMENT_CREDIT) and await prior_entry(turn.db, first) is None:
            await no_credit(turn, rows)
        await done.accept()
        await record(done, staff, cheque, rows, key)


async def record(done: Submission, staff: Actor, cheque: Money, rows: list[Row], key: str) -> None:
    """Record the checked payment, once per modal (``key``), and say what was done."""
    turn = done.turn
    paid = await record_split_payment(
        turn.db, staff, amount=cheque, parts=[Part(r.account.id, r.part) for r in rows],
        method=done.field(ids.PAYMENT_METHOD) or "check",
        reference=done.field(ids.PAYMENT_REFERENCE) or None,
        received_on=today(turn.services.clock), key=key, source="slack",
    )  # fmt: skip
    balances = [await balance_of(turn.db, r.account) for r in rows]
    shown = list(zip(rows, paid.parts, balances, strict=True))
    await turn.reply("split_paid", cheque=cheque, parts=shown, replayed=paid.replayed)


async def rows_of(done: Submission, staff: Actor, currency: str) -> list[Row]:
    """The filled-in rows, each account found and open to ``staff``."""
    rows: list[Row] = []
    for n in range(ROWS):
        typed = done.field(f"{ids.PAYMENT_ACCOUNT}{n}")
        part = done.field(f"{ids.PAYMENT_PART}{n}")
        if not typed and not part:
            continue
        with on_field(f"{ids.PAYMENT_ACCOUNT}{n}"):
            async with done.turn.db.read() as conn:
                account = await account_by_number(conn, account_number(typed))
            require(staff, Permission.RECORD_PAYMENT, account.location)
            if account.currency != currency:
                raise ValidationError(f"account {account.number} is kept in {account.currency}")
            if any(r.account.id == account.id for r in rows):
                raise ValidationError(f"account {account.number} is on another row already")
        with on_field(f"{ids.PAYMENT_PART}{n}"):
            rows.append(Row(n, account, amount(part, currency)))
    if not rows:
        raise Refused(f"{ids.PAYMENT_ACCOUNT}0", "name an account and its part of the payment")
    return rows


def method_and_reference(done: Submission) -> None:
    """What Slack's form limits, checked again: a submission can be forged."""
    method = done.field(ids.PAYMENT_METHOD) or "check"
    if method not in METHODS:
        raise Refused(ids.PAYMENT_METHOD, f"pick a method: {', '.join(METHODS)}")
    if len(done.field(ids.PAYMENT_REFERENCE)) > REFERENCE_MAX:
        raise Refused(ids.PAYMENT_REFERENCE, f"a reference has at most {REFERENCE_MAX} characters")


def adds_up(cheque: Money, rows: list[Row]) -> None:
    total = sum((r.part for r in rows), Money.zero(cheque.currency))
    if total != cheque:
        raise Refused(
            f"{ids.PAYMENT_PART}{rows[-1].n}",
            f"the parts add up to {total}, not to the payment's {cheque}",
        )


async def no_credit(turn: Turn, rows: list[Row]) -> None:
    """Refuse a part that would leave its account in credit, unless that was allowed."""
    for row in rows:
        owed = await balance_of(turn.db, row.account)
        if row.part > owed:
            raise Refused(
                f"{ids.PAYMENT_PART}{row.n}",
                f"{row.part} is more than the {owed} account {row.account.number} owes: it "
                f"would be left {row.part - owed} in credit. Tick the box below to record it "
                "anyway",
            )
