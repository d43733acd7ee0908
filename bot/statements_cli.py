"""``arbot statements cycle|cycles``: when statements go out, and to whom (AR-144, AR-161).

``arbot statements cycle monthly --day 15 [--location north | --class self_pay |
--account A0000123] [--min-balance 5.00]`` makes that the cycle of its scope (the one it
replaces is kept, inactive); ``never`` takes the scope off scheduled statements.
``arbot statements cycles`` lists the active ones, most specific first. The person at
the server is the operator: they may set any cycle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from core.auth import Actor
from core.db import Database
from core.settings import Settings

WEEKDAYS = ("", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def add_parser(sub: Any) -> None:
    """Add ``arbot statements ...`` to the command line's subcommands."""
    from core.statements import FREQUENCIES

    statements = sub.add_parser("statements", help="statement cycles").add_subparsers(
        dest="action", required=True
    )
    cycle = statements.add_parser(
        "cycle", help="set when statements go to an account, a location, a class or everyone"
    )
    cycle.add_argument("frequency", choices=FREQUENCIES)
    cycle.add_argument(
        "--day",
        type=int,
        help="monthly: day of the month 1-31 (31: the month's last day); "
        "weekly: 1 (Monday) to 7 (Sunday)",
    )
    cycle.add_argument("--min-balance", metavar="AMOUNT", default="0", help="e.g. 5.00")
    cycle.add_argument("--account", metavar="NUMBER", help="one account, e.g. A0000123")
    cycle.add_argument("--location", metavar="CODE")
    cycle.add_argument("--class", dest="financial_class", metavar="CODE")
    statements.add_parser("cycles", help="the active statement cycles")


def _describe(frequency: str, day: int | None) -> str:
    if frequency == "monthly":
        return f"monthly on day {day}" + (" (or the month's last day)" if day and day > 28 else "")
    if frequency == "weekly" and day:
        return f"weekly on {WEEKDAYS[day]}"
    return frequency


def _scope(account: str | None, location: str | None, financial_class: str | None) -> str:
    if account:
        return f"account {account}"
    parts = [
        f"location {location}" if location else "",
        f"class {financial_class}" if financial_class else "",
    ]
    return " ".join(p for p in parts if p) or "everyone"


async def set_cycle(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import _login
    from core.errors import ValidationError
    from core.ledger.accounts import load_account
    from core.money import parse_money
    from core.statements import StatementCycle, set_statement_cycle

    if args.account and (args.location or args.financial_class):
        raise ValidationError("a cycle is for one --account, or a --location and/or --class")
    db = Database(settings.database_url)
    try:
        account_id = None
        if args.account:
            async with db.read() as conn:
                account_id = (await load_account(conn, number=args.account.strip())).id
        cycle = StatementCycle(
            frequency=args.frequency,
            day=args.day,
            min_balance_minor=parse_money(args.min_balance, settings.currency).minor,
            account_id=account_id,
            location=args.location,
            financial_class=args.financial_class,
        )
        cycle_id = await set_statement_cycle(db, Actor.operator(_login()), cycle)
    finally:
        await db.dispose()
    scope = _scope(args.account, args.location, args.financial_class)
    print(f"statement cycle {cycle_id}: {_describe(args.frequency, args.day)} for {scope}")
    return 0


async def list_cycles(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from core.ledger.tables import customer_account
    from core.money import Money
    from core.statements import statement_cycles

    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            cycles = await statement_cycles(conn)
            ids = [c.account_id for c in cycles if c.account_id is not None]
            numbers = dict(
                (
                    await conn.execute(
                        select(customer_account.c.id, customer_account.c.number).where(
                            customer_account.c.id.in_(ids)
                        )
                    )
                ).all()
            )
    finally:
        await db.dispose()
    if not cycles:
        print("no statement cycles: set one with arbot statements cycle")
        return 0
    for c in cycles:
        number = numbers.get(c.account_id) if c.account_id is not None else None
        scope = _scope(number, c.location, c.financial_class)
        minimum = Money(c.min_balance_minor, settings.currency)
        print(f"{c.id:>5} {scope:<32} {_describe(c.frequency, c.day):<36} over {minimum}")
    return 0


HANDLERS: dict[
    tuple[str, str | None], Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
] = {
    ("statements", "cycle"): set_cycle,
    ("statements", "cycles"): list_cycles,
}
