"""``/ar refund`` and ``/ar writeoff reverse``: the same approval flow as a write-off,
through signed requests against the fake Slack (AR-058, AR-028)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.staff import ids
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.services.payments import record_payment
from tests.bot.staff.approval_helpers import (
    DAY,
    buttons_of,
    charge,
    more_staff,
    press,
    words,
    write_offs,
)
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import ADMIN, balance_of, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    await charge(db, account, "80.00")
    await more_staff(db)
    return account


def last_posted(slack: Slack) -> int:
    return int(buttons_of(slack.fake.called("chat.postMessage")[-1])[0]["value"])


async def test_a_refund_of_a_credit_balance_is_approved_and_posted(
    slack: Slack, db: Database, ana: Account
) -> None:
    await record_payment(
        db, ADMIN, account_id=ana.id, amount=usd("100.00"), received_on=DAY, key="pay",
        method="cash",
    )  # fmt: skip
    assert await balance_of(db, ana.id) == usd("-20.00")
    reply = await slack.command(f"refund {ana.number} 20 CREDIT_BALANCE overpaid", "U0CLERK")
    assert "Sent for approval: refund request" in text_of(reply)
    request_id = last_posted(slack)
    shown = words(slack.fake.called("chat.postMessage")[-1])
    assert "*Refund request" in shown and "*$20.00*" in shown and "(credit)" in shown
    await press(slack, ids.APPROVE_REQUEST, request_id, "U0SUPER")
    assert await balance_of(db, ana.id) == usd("0.00")
    assert await write_offs(db) == 1  # the refund entry
    [update] = slack.fake.called("chat.update")
    assert "Approved by Sam Supervisor" in words(update) and buttons_of(update) == []


async def test_a_refund_larger_than_the_credit_is_refused_at_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    reply = await slack.command(f"refund {ana.number} 20 CREDIT_BALANCE", "U0CLERK")
    assert "cannot refund 20.00" in text_of(reply)
    assert slack.fake.called("chat.postMessage") == []


async def test_a_write_off_reversal_is_asked_and_approved(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"writeoff {ana.number} 30 ADMIN hardship", "U0BILLER")
    await press(slack, ids.APPROVE_REQUEST, last_posted(slack), "U0SUPER")
    assert await balance_of(db, ana.id) == usd("50.00")
    async with db.read() as conn:
        entry_id = (
            await conn.execute(
                select(journal_entry.c.id).where(journal_entry.c.entry_type == "WO_ADMIN")
            )
        ).scalar_one()
    number = f"T{entry_id:08d}"
    reply = await slack.command(
        f"writeoff reverse {number} KEYING_ERROR wrong account", "U0BILLER"
    )
    assert "Sent for approval: write-off reversal request" in text_of(reply), text_of(reply)
    request_id = last_posted(slack)
    assert f"reverse {number}" in words(slack.fake.called("chat.postMessage")[-1])
    await press(slack, ids.APPROVE_REQUEST, request_id, "U0SUPER2")
    assert await balance_of(db, ana.id) == usd("80.00")
    assert "Approved by Sue Second" in words(slack.fake.called("chat.update")[-1])
    again = await slack.command(f"writeoff reverse {number} KEYING_ERROR again", "U0BILLER")
    assert "has already been reversed by T" in text_of(again)
