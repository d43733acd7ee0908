"""What a verified patient can do: balance, statement, pay, plan, prepay, a person.

Choice ids carry only ids (``pay_balance:12``); every id is checked against the
accounts this chat is verified for before anything is read or done, so a forged
button reaches nothing. Handlers are short: parse, call core, say.
"""

from __future__ import annotations

from bot.patient import paying, planning, relay
from bot.patient.context import PatientContext
from bot.patient.labels import MENU
from bot.patient.turn import Turn
from core.patients.invoices import with_invoice_lines
from core.patients.summary import PatientAccount

SIMPLE = {"balance", "help", "menu", "start", "language"}


async def serve(ctx: PatientContext, turn: Turn, accounts: list[PatientAccount]) -> None:
    """Answer a verified chat; ``accounts`` as the turn read them (``patient_accounts``)."""
    if turn.state.locale is None and accounts:
        turn.switch_language(accounts[0].language)
    choice = turn.choice
    if choice is None and turn.step == "amount":
        await paying.typed_amount(ctx, turn, accounts)
    elif choice is None and turn.step == "agent":
        await relay.to_staff(ctx, turn, accounts)
    elif choice in SIMPLE:
        _simple(turn, choice, accounts)
    elif choice == "statement":
        await _statement(ctx, turn, accounts)
    elif choice is not None and choice.split(":")[0] in paying.CHOICES:
        await paying.choose(ctx, turn, accounts, choice)
    elif choice is not None and choice.split(":")[0] in planning.CHOICES:
        await planning.choose(ctx, turn, accounts, choice)
    elif choice == "agent":
        turn.go("agent")
        turn.say("agent_ask", "menu")
    else:
        turn.go("menu")
        turn.say("menu_hint", *MENU, turn.other_language())


def _simple(turn: Turn, choice: str, accounts: list[PatientAccount]) -> None:
    turn.go("menu")
    if choice == "balance":
        turn.say("balance", *MENU, accounts=accounts)
    elif choice == "language":
        turn.say("language", "lang:en", "lang:es")
    else:
        turn.say("help", *MENU, turn.other_language())


async def _statement(ctx: PatientContext, turn: Turn, accounts: list[PatientAccount]) -> None:
    """The statement itemises each visit with its invoice's lines (AR-164, AR-072)."""
    turn.go("menu")
    async with ctx.db.read(snapshot=False) as conn:
        itemised = await with_invoice_lines(conn, accounts)
    turn.say("statement", *MENU, accounts=itemised)
