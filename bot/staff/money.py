"""``/ar charge`` and ``/ar payment``: the commands that post money.

Both post under an idempotency key made from the Slack request (``Turn.key``), so a
request Slack retries posts once. Core checks the permissions and refuses whatever
cannot be posted; nothing here decides who may do what.

A payment larger than the account's balance would leave it in credit, so it is not
recorded at once: the person is asked to confirm, with buttons that carry only a
token of the question kept on the server (``bot.staff.pending``).
"""

from __future__ import annotations

from bot.staff import pending
from bot.staff.lookup import account_by_number
from bot.staff.parse import Charge, Payment
from bot.staff.pending import PendingPayment
from bot.staff.turn import Turn, request_digest
from core.auth import Actor, Permission
from core.billing.charges import ChargeLine, post_charges
from core.clock import today
from core.db import Database
from core.errors import InvalidState, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.items import balance
from core.money import Money
from core.services import account_for, prior_entry
from core.services.payments import record_payment


async def balance_of(db: Database, account: Account) -> Money:
    async with db.read() as conn:
        return Money(await balance(conn, account.id), account.currency)


async def find_account(db: Database, number: str) -> Account:
    async with db.read() as conn:
        return await account_by_number(conn, number)


async def charge(turn: Turn, staff: Actor, cmd: Charge) -> None:
    account = await find_account(turn.db, cmd.account)
    line = ChargeLine(cmd.service_code, cmd.quantity, cmd.service_date)
    invoice = await post_charges(
        turn.db, staff, account_id=account.id, lines=[line], key=turn.key("charge"), source="slack"
    )
    await turn.reply(
        "charged",
        account=account,
        total=invoice.total,
        number=invoice.entry.number,
        replayed=invoice.entry.replayed,
        balance=await balance_of(turn.db, account),
        warnings=invoice.warnings,
    )


async def payment(turn: Turn, staff: Actor, cmd: Payment) -> None:
    found = await find_account(turn.db, cmd.account)
    account = await account_for(turn.db, staff, found.id, Permission.RECORD_PAYMENT)
    if cmd.amount.currency != account.currency:
        raise ValidationError(f"account {account.number} is kept in {account.currency}")
    asked = PendingPayment(
        request_digest(turn.body), staff.id, account.id, cmd.amount, cmd.method, cmd.reference
    )
    owed = await balance_of(turn.db, account)
    if cmd.amount > owed and await prior_entry(turn.db, asked.key) is None:
        await pending.hold(turn.db, staff, asked)
        await turn.reply(
            "confirm_payment",
            account=account,
            amount=cmd.amount,
            method=cmd.method,
            balance=owed,
            credit=cmd.amount - owed,
            token=asked.token,
            minutes=int(pending.HOLD.total_seconds() // 60),
        )
        return
    await record(turn, staff, account, asked)


async def confirm(turn: Turn, staff: Actor, token: str) -> None:
    asked = await pending.held(turn.db, staff, token)
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=asked.account_id)
    await record(turn, staff, account, asked, replace=True)


async def cancel(turn: Turn, staff: Actor, token: str) -> None:
    asked = await pending.held(turn.db, staff, token)
    if (done := await prior_entry(turn.db, asked.key)) is not None:
        raise InvalidState(f"this payment was already recorded as {done.number}")
    await pending.cancel(turn.db, staff, asked)
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=asked.account_id)
    await turn.reply("cancelled", replace=True, account=account, amount=asked.amount)


async def record(
    turn: Turn, staff: Actor, account: Account, asked: PendingPayment, *, replace: bool = False
) -> None:
    result = await record_payment(
        turn.db,
        staff,
        account_id=account.id,
        amount=asked.amount,
        received_on=today(turn.services.clock),
        key=asked.key,
        method=asked.method,
        reference=asked.reference,
        source="slack",
    )
    await turn.reply(
        "paid",
        replace=replace,
        account=account,
        amount=asked.amount,
        method=asked.method,
        reference=asked.reference,
        number=result.entry.number,
        replayed=result.entry.replayed,
        applied=result.applied,
        unapplied=result.unapplied,
        exceptions=result.exceptions,
        balance=await balance_of(turn.db, account),
    )
