"""``/ar unapplied`` and its "Apply" buttons: payments cash application left unmatched
(AR-139), and applying one account's unapplied cash with the default order.
``/ar credits``: the accounts in credit, largest first (AR-143), to refund or move.
``/ar delinquent``: the accounts with charges long past due, most first (AR-140, AR-099):
a collector's list; each opens the account view, the detail of one (AR-141).

An "Apply" button's value is ``<account id>/<payment entry id>``, nothing else. Its
idempotency key names the message the button is in and the button, so a double click
(two presses, two trigger ids) applies once and the second press is told so.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.staff import ids
from bot.staff.parse import Credits, Delinquent, Unapplied
from bot.staff.turn import Turn
from bot.staff.words import ParseError
from core.auth import Actor, Permission, require
from core.clock import today
from core.dashboard import credit_balances, delinquent_accounts, unapplied_payments
from core.errors import NotFound
from core.ledger.accounts import load_account
from core.ledger.items import load_items
from core.ledger.posting import load_entry
from core.money import Money
from core.services import account_for
from core.services.payments import applied_by, apply_unapplied

LIST_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Placed:
    entry_number: str
    amount: Money


async def unapplied(turn: Turn, staff: Actor, cmd: Unapplied) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    async with turn.db.read() as conn:
        found = await unapplied_payments(conn, locations=staff.locations, limit=LIST_LIMIT + 1)
    await turn.reply("unapplied", payments=found[:LIST_LIMIT], full=len(found) > LIST_LIMIT)


async def credits(turn: Turn, staff: Actor, cmd: Credits) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    async with turn.db.read() as conn:
        found = await credit_balances(conn, locations=staff.locations, limit=LIST_LIMIT + 1)
    await turn.reply("credits", accounts=found[:LIST_LIMIT], full=len(found) > LIST_LIMIT)


async def delinquent(turn: Turn, staff: Actor, cmd: Delinquent) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    least = cmd.least.minor if cmd.least is not None else 1
    async with turn.db.read() as conn:
        found = await delinquent_accounts(
            conn, today(turn.db.clock), over_days=cmd.over, at_least_minor=least,
            locations=staff.locations, limit=LIST_LIMIT + 1,
        )  # fmt: skip
    await turn.reply(
        "delinquent", accounts=found[:LIST_LIMIT], full=len(found) > LIST_LIMIT, over=cmd.over,
        least=cmd.least,
    )  # fmt: skip


def apply_value(value: str) -> tuple[int, int]:
    account, _, entry = value.partition("/")
    return ids.id_in(account, "a payment"), ids.id_in(entry, "a payment")


async def apply(turn: Turn, staff: Actor, value: str) -> None:
    """The "Apply" button: apply the payment it names by the default algorithm."""
    account_id, entry_id = apply_value(value)
    await account_for(turn.db, staff, account_id, Permission.APPLY_CASH)  # before any read
    async with turn.db.read() as conn:
        try:
            payment = await load_entry(conn, entry_id=entry_id)
        except NotFound as exc:
            raise ParseError("this button does not name a payment") from exc
    credits = [ln.item_id for ln in payment.lines if ln.item_id and ln.account_id == account_id]
    if not credits:
        raise ParseError("this button does not name a payment on that account")
    container = turn.body.get("container") or {}
    message = container.get("message_ts")
    channel = container.get("channel_id") or (turn.body.get("channel") or {}).get("id", "")
    key = f"slack/apply/{channel}/{message}/{value}" if message else turn.key("apply")
    on = today(turn.services.clock)
    plan = await apply_unapplied(
        turn.db, staff, account_id=account_id, key=key, on=on, credit_ids=credits
    )
    async with turn.db.read() as conn:
        # A second press finds nothing left to apply; what the first applied says why.
        again = not plan.placements and bool(await applied_by(conn, key))
        account = await load_account(conn, account_id=account_id)
        items = {i.id: i for i in await load_items(conn, account_id=account_id)}
        left = -sum(i.open.minor for i in items.values() if not i.is_debit)
    placed = [
        Placed(f"T{items[p.item_id].entry_id:08d}", Money(p.amount_minor, account.currency))
        for p in plan.placements
    ]
    await turn.reply(
        "applied",
        account=account,
        placed=placed,
        total=Money(plan.applied_minor, account.currency),
        left=Money(left, account.currency),
        again=again or any("already applied" in e for e in plan.exceptions),
    )
