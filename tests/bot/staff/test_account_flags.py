"""``/ar account`` flags what staff must see at a glance (AR-062, AR-078): a disputed
item, an account moved to bad debt, one flagged for collections by dunning, each made
the way the clinic makes it, through core. And ``/ar payment`` on an account that does
not exist is refused and writes nothing (AR-094)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.baddebt import BadDebtRule, bad_debt_candidates, transfer_to_bad_debt
from core.customers import status_of
from core.db import Database
from core.db.audit import audit_log
from core.dunning import claim_notice, finish_notice, queue_dunning
from core.dunning.tables import dunning_notice
from core.ledger.tables import journal_entry
from core.services.adjustments import dispute_item
from core.services.held import pending_payment
from tests.bot.staff.conftest import Slack, buttons, text_of
from tests.core.dunning_helpers import AS_OF, item_of, owes, patient
from tests.core.helpers import ADMIN, balance_of, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


def head(shown: str) -> str:
    """The account view's first line: number, name and the flags."""
    return shown.splitlines()[0]


async def test_a_disputed_item_flags_the_account_and_the_item(slack: Slack, db: Database) -> None:
    ana = await patient(db, "López")
    await owes(db, ana, "80.00", 10)
    disputed = await owes(db, ana, "120.00", 5)
    clean = head(text_of(await slack.command(f"account {ana.number}")))
    assert clean == f"*{ana.number}*  Ana López" and ":warning:" not in clean

    await dispute_item(db, ADMIN, item_id=item_of(disputed), disputed=True, on=AS_OF,
                       reason="never had the X-ray")  # fmt: skip

    shown = text_of(await slack.command(f"account {ana.number}"))
    assert head(shown) == f"*{ana.number}*  Ana López  :warning: disputed"
    assert f"• T{disputed.id:08d} · " in shown
    assert "$120.00 open of $120.00 · disputed" in shown
    assert "$80.00 open of $80.00 · open" in shown  # only the disputed item says so
    assert "Balance: *$200.00*" in shown


async def test_an_account_moved_to_bad_debt_says_so(slack: Slack, db: Database) -> None:
    ben = await patient(db, "Brown")
    await owes(db, ben, "250.00", 200)
    rule = BadDebtRule(days_past_due=180, min_balance_minor=1000, after_collections_days=None)
    async with db.read() as conn:
        [candidate] = await bad_debt_candidates(conn, AS_OF, rule)
    [moved] = await transfer_to_bad_debt(db, ADMIN, candidate, AS_OF, rule)

    shown = text_of(await slack.command(f"account {ben.number}"))

    assert head(shown) == f"*{ben.number}*  Ana Brown  :warning: bad debt"
    assert "Balance: *$0.00*" in shown
    assert "No open items." in shown
    assert f"• Jun 30, 2026 · T{moved.id:08d} · bad debt · -$250.00" in shown
    assert await balance_of(db, ben.id) == usd("0.00")


async def test_an_account_dunning_flagged_for_collections_says_so(
    slack: Slack, db: Database
) -> None:
    """The final notice went out a week ago; today's dunning run flags the account."""
    cleo = await patient(db, "Cole")
    week_ago = AS_OF.replace(day=23)
    await owes(db, cleo, "400.00", 95, as_of=week_ago)
    await queue_dunning(db, week_ago)
    async with db.read() as conn:
        notice_id = (await conn.execute(select(dunning_notice.c.id))).scalar_one()
    assert await claim_notice(db, notice_id)
    await finish_notice(db, notice_id, "sent")
    assert (await queue_dunning(db, AS_OF)).collections == 1
    async with db.read() as conn:
        assert await status_of(conn, cleo.id) == "in_collections"

    shown = text_of(await slack.command(f"account {cleo.number}"))

    assert head(shown) == f"*{cleo.number}*  Ana Cole  :warning: in collections"
    assert "Balance: *$400.00*" in shown
    assert "(overdue) · $400.00 open of $400.00 · open" in shown


async def written(db: Database) -> tuple[int, int, int]:
    """Entries, held payments and audit records: what a refused payment leaves alone."""
    counts = []
    async with db.read() as conn:
        for table in (journal_entry, pending_payment, audit_log):
            counts.append(
                int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            )
    entries, held, audit = counts
    return entries, held, audit


@pytest.mark.parametrize(
    "text",
    [
        "payment Z9999999 10 cash",
        "payment z9999999 10 cash",
        'payment A0000099 5,000 check "cheque 1"',  # more than any balance: no question
    ],
)
async def test_a_payment_on_an_unknown_account_is_refused_and_writes_nothing(
    slack: Slack, db: Database, text: str
) -> None:
    ana = await patient(db, "López")
    await owes(db, ana, "80.00", 10)
    before = await written(db)
    number = text.split()[1]

    reply = await slack.command(text, "U0CLERK")

    shown = text_of(reply)
    assert shown.startswith(f":warning: there is no account {number}; ")
    assert "/ar find looks accounts up by name" in shown
    assert "Nothing was posted" in shown
    assert buttons(reply) == []
    assert await written(db) == before
    assert slack.fake.web_api_calls == []
    assert await balance_of(db, ana.id) == usd("80.00")
