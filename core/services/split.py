"""One cheque, several accounts: a remittance split into payments (AR-016, AR-096).

A parent pays for two children with one cheque; an employer pays for several of its
people. The cheque (amount, method, reference) is recorded as one payment on each
account it pays for, each applied to that account's open items by the clinic's
application rules, all in one transaction: every part is recorded, or none is. The
parts must add up to the cheque exactly.

Each part's idempotency key is the cheque's key followed by the part's place and
account (``<key>/part/<n>/<account id>``), so recording the same cheque again records
nothing and returns the parts first recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission
from core.db import Database, Tx
from core.errors import ValidationError
from core.ledger.application import DEFAULT_ORDER, Rule
from core.ledger.model import EntryDraft
from core.money import Money, require_positive
from core.services import account_for, run_once
from core.services.payments import PaymentResult, payment_draft, payment_in, payment_replay

MAX_PARTS = 20


@dataclass(frozen=True, slots=True)
class Part:
    """What one account receives of the cheque."""

    account_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class SplitPayment:
    """The payments a cheque was recorded as, in the order of its parts."""

    parts: tuple[PaymentResult, ...]

    @property
    def replayed(self) -> bool:
        return all(p.entry.replayed for p in self.parts)


def part_key(key: str, n: int, account_id: int) -> str:
    return f"{key}/part/{n}/{account_id}"


async def record_split_payment(
    db: Database,
    actor: Actor,
    *,
    amount: Money,
    method: str,
    parts: Sequence[Part],
    received_on: date,
    key: str,
    reference: str | None = None,
    rules: Sequence[Rule] = DEFAULT_ORDER,
    source: str = "staff",
) -> SplitPayment:
    """Record the cheque of ``amount`` as one payment per part, in one transaction; needs
    ``record_payment`` at every part's account's location. Refused unless the parts are
    positive, in the cheque's currency, on different accounts kept in that currency, and
    add up to the cheque. The same ``key`` again returns the first parts."""
    drafts = await _drafts(db, actor, amount, method, parts, received_on, key, reference, source)

    async def work(tx: Tx) -> SplitPayment:
        return SplitPayment(
            tuple([await payment_in(tx, actor, d, p.account_id, rules=rules) for d, p in drafts])
        )

    async def again(conn: AsyncConnection) -> SplitPayment:
        found = [await payment_replay(conn, d.idempotency_key, d.fingerprint()) for d, _ in drafts]
        return SplitPayment(tuple(found))

    return await run_once(db, work, again)


async def _drafts(
    db: Database,
    actor: Actor,
    amount: Money,
    method: str,
    parts: Sequence[Part],
    on: date,
    key: str,
    reference: str | None,
    source: str,
) -> list[tuple[EntryDraft, Part]]:
    """Each part's payment entry, once the parts are checked against the cheque."""
    require_positive(amount, "cheque")
    if not 1 <= len(parts) <= MAX_PARTS:
        raise ValidationError(f"split a cheque into 1 to {MAX_PARTS} parts")
    seen: set[int] = set()
    for part in parts:
        require_positive(part.amount, "part of the cheque")
        account = await account_for(db, actor, part.account_id, Permission.RECORD_PAYMENT)
        if part.amount.currency != amount.currency or account.currency != amount.currency:
            raise ValidationError(f"account {account.number} is kept in {account.currency}")
        if part.account_id in seen:
            raise ValidationError(f"account {account.number} is named twice; give it one part")
        seen.add(part.account_id)
    total = sum((p.amount for p in parts), Money.zero(amount.currency))
    if total != amount:
        raise ValidationError(f"the parts add up to {total}, not to the cheque's {amount}")
    drafts = []
    for n, p in enumerate(parts):
        part_of = part_key(key, n, p.account_id)
        draft = payment_draft(
            p.account_id, p.amount, on, part_of, method, actor.label, source, reference=reference
        )
        drafts.append((draft, p))
    return drafts
