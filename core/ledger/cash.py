"""Applying credits to open items: turning a :class:`~core.ledger.application.Plan`
into allocations, and undoing what an item was matched with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from core.db import Tx
from core.ledger.application import Plan, Rule, plan_application
from core.ledger.items import Item, Match, allocate, load_items, lock_account, pair_balances


def matches_for(plan: Plan, credits: Sequence[Item]) -> list[Match]:
    """Pair the plan's placements with the credits, oldest credit first."""
    matches: list[Match] = []
    supply = [[c.id, -c.open.minor] for c in credits if c.open.minor < 0]
    index = 0
    for placement in plan.placements:
        need = placement.amount_minor
        while need > 0 and index < len(supply):
            credit_id, available = supply[index]
            take = min(need, available)
            matches.append(Match(placement.item_id, credit_id, take))
            supply[index][1] -= take
            need -= take
            if supply[index][1] == 0:
                index += 1
    return matches


async def apply_credits(
    tx: Tx,
    *,
    account_id: int,
    rules: Sequence[Rule],
    key: str,
    on: date,
    actor: str,
    source: str,
    credit_ids: Sequence[int] | None = None,
    entry_id: int | None = None,
) -> tuple[int | None, Plan]:
    """Apply the account's unapplied credits (or just ``credit_ids``) to its open debits."""
    await lock_account(tx, account_id)
    items = await load_items(tx.conn, account_id=account_id, only_open=True)
    credits = [i for i in items if not i.is_debit and (credit_ids is None or i.id in credit_ids)]
    # Only what existed on the application date can be paid by it.
    debits = [i for i in items if i.is_debit and i.effective_date <= on]
    available = -sum(c.open.minor for c in credits)
    plan = plan_application(available, debits, rules, on=on)
    matches = matches_for(plan, credits)
    if not matches:
        return None, plan
    app_id = await allocate(
        tx,
        account_id=account_id,
        matches=matches,
        key=key,
        method=",".join(r.name for r in rules),
        effective_date=on,
        actor=actor,
        source=source,
        entry_id=entry_id,
    )
    return app_id, plan


async def unwind_matches(tx: Tx, item: Item) -> list[Match]:
    """The matches that would undo everything ``item`` is currently matched with."""
    pairs = await pair_balances(tx.conn, item.id)
    return [
        Match(debit, credit, -amount)
        for (debit, credit), amount in sorted(pairs.items())
        if amount > 0
    ]
