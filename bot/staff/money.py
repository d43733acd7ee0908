"""``/ar charge``, ``/ar payment`` and ``/ar waive``: the commands that post money.

Both post under an idempotency key made from the Slack request (``Turn.key``), so a
request Slack retries posts once. Core checks the permissions and refuses whatever
cannot be posted; nothing here decides who may do what.

A payment larger than the account's balance would leave it in credit, so it is not
recorded at once (AR-095): core holds it (``core.services.held``) and the person is
asked to confirm, with buttons that carry only the held payment's token. The token is
the Slack request's digest, so a retried command asks the same question.
"""

from __future__ import annotations

from bot.staff.lookup import account_by_number
from bot.staff.parse import Charge, Payment, Waive
from bot.staff.turn import Turn, request_digest
from core.auth import Actor, Permission
from core.billing.charges import ChargeLine, post_charges
from core.clock import today
from core.db import Database
from core.errors import ValidationError
from core.latefees import waive_fee
from core.ledger.accounts import Account, load_account
from core.ledger.items import balance
from core.money import Money
from core.services import account_for, prior_entry
from core.services.held import HOLD, cancel_held, confirm_held, hold_payment
from core.services.payments import PaymentResult, record_payment


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


async def waive(turn: Turn, staff: Actor, cmd: Waive) -> None:
    """Waive a late fee (AR-107): core reverses it if the person may reverse entries at
    the account's location."""
    reversal = await waive_fee(
        turn.db, staff, entry_id=cmd.entry_id, on=today(turn.services.clock),
        key=turn.key("waive"), reason=cmd.reason, note=cmd.note,
    )  # fmt: skip
    [line] = [ln for ln in reversal.lines if ln.account_id is not None]
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=line.account_id)
    await turn.reply(
        "waived", account=account, fee=-line.amount, waived=f"T{cmd.entry_id:08d}",
        number=reversal.number, replayed=reversal.replayed,
        balance=await balance_of(turn.db, account),
    )  # fmt: skip


async def payment(turn: Turn, staff: Actor, cmd: Payment) -> None:
    found = await find_account(turn.db, cmd.account)
    account = await account_for(turn.db, staff, found.id, Permission.RECORD_PAYMENT)
    if cmd.amount.currency != account.currency:
        raise ValidationError(f"account {account.number} is kept in {account.currency}")
    token = request_digest(turn.body)
    key = f"slack/payment/{token}"
    owed = await balance_of(turn.db, account)
    if cmd.amount > owed and await prior_entry(turn.db, key) is None:
        await hold_payment(
            turn.db, staff, token=token, key=key, account_id=account.id, amount=cmd.amount,
            method=cmd.method, reference=cmd.reference, source="slack",
        )  # fmt: skip
        await turn.reply(
            "confirm_payment", account=account, amount=cmd.amount, method=cmd.method,
            balance=owed, credit=cmd.amount - owed, token=token,
            minutes=int(HOLD.total_seconds() // 60),
        )  # fmt: skip
        return
    result = await record_payment(
        turn.db, staff, account_id=account.id, amount=cmd.amount,
        received_on=today(turn.services.clock), key=key, method=cmd.method,
        reference=cmd.reference, source="slack",
    )  # fmt: skip
    await paid(turn, account, result)


async def confirm(turn: Turn, staff: Actor, token: str) -> None:
    """Confirm: core records the held payment (once, whoever pressed Cancel meanwhile)."""
    result = await confirm_held(turn.db, staff, token, on=today(turn.services.clock))
    [line] = [ln for ln in result.entry.lines if ln.account_id is not None]
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=line.account_id)
    await paid(turn, account, result, replace=True)


async def cancel(turn: Turn, staff: Actor, token: str) -> None:
    held = await cancel_held(turn.db, staff, token)
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=held.account_id)
    await turn.reply("cancelled", replace=True, account=account, amount=held.amount)


async def paid(
    turn: Turn, account: Account, result: PaymentResult, *, replace: bool = False
) -> None:
    """Tell the person what was recorded (or that it was already recorded)."""
    entry = result.entry
    await turn.reply(
        "paid", replace=replace, account=account, amount=result.applied + result.unapplied,
        method=entry.memo, reference=entry.reference, number=entry.number,
        replayed=entry.replayed, applied=result.applied, unapplied=result.unapplied,
        exceptions=result.exceptions, balance=await balance_of(turn.db, account),
    )  # fmt: skip
