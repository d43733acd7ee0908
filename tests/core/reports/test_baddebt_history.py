"""Bad-debt history (AR-137, AR-149): what was sent to bad debt per month and financial
class, and per account what has come back since, for the locations asked."""

from __future__ import annotations

from datetime import date

from core.baddebt import BadDebtRule, bad_debt_candidates, transfer_to_bad_debt
from core.db import Database
from core.ledger.accounts import Account
from core.reports.baddebt import MonthTotal, bad_debt_history
from core.services.adjustments import reverse_entry
from core.services.payments import record_payment
from tests.core.dunning_helpers import AS_OF, owes, patient
from tests.core.helpers import ADMIN, usd

RULE = BadDebtRule(days_past_due=180, min_balance_minor=1000, after_collections_days=None)


async def send(db: Database, account: Account) -> int:
    async with db.read() as conn:
        [candidate] = [c for c in await bad_debt_candidates(conn, AS_OF, RULE)
                       if c.account_id == account.id]  # fmt: skip
    moved = await transfer_to_bad_debt(db, ADMIN, candidate, AS_OF, RULE)
    return moved[0].id  # one entry an open item: the first is the transfer's own


async def test_what_was_sent_and_what_came_back(db: Database) -> None:
    brown = await patient(db, "Brown")
    chen = await patient(db, "Chen", financial_class="commercial")
    north = await patient(db, "Novak", location="north")
    sent = {}
    for account, amount in ((brown, "250.00"), (chen, "100.00"), (north, "40.00")):
        await owes(db, account, amount, 200)
        sent[account.id] = await send(db, account)
    await record_payment(db, ADMIN, account_id=brown.id, amount=usd("50"), received_on=AS_OF,
                         key="late", method="cash")  # fmt: skip
    await reverse_entry(db, ADMIN, entry_id=sent[chen.id], on=AS_OF, key="back", reason="OTHER")

    async with db.read() as conn:
        main = await bad_debt_history(conn, since=date(2026, 6, 1),
                                      locations=frozenset({"main"}))  # fmt: skip
        everywhere = await bad_debt_history(conn, since=date(2026, 6, 1), limit=1)
        later = await bad_debt_history(conn, since=date(2026, 7, 1))

    june = date(2026, 6, 1)
    assert main.months == (
        MonthTotal(june, "commercial", 1, usd("100")),
        MonthTotal(june, "self_pay", 1, usd("250")),
    )
    assert [(a.number, a.sent_on, a.amount, a.reinstated, a.paid_since, a.status)
            for a in main.accounts] == [
        (brown.number, AS_OF, usd("250"), usd("0"), usd("50"), "bad_debt"),
        (chen.number, AS_OF, usd("100"), usd("100"), usd("0"), "bad_debt"),
    ]  # fmt: skip
    assert not main.more
    assert [m.amount for m in everywhere.months] == [usd("100"), usd("290")]
    assert len(everywhere.accounts) == 1 and everywhere.more
    assert later.months == () and later.accounts == ()
