"""Slack sends a request again (same body, ``X-Slack-Retry-Num``) when it did not hear the
acknowledgement in time: ``/ar refund``, ``/ar writeoff reverse`` and a plain
``/ar payment`` each ask or post once, and the retry is told it was done already."""

from __future__ import annotations

import pytest
from sqlalchemy import Table, func, select

from core.approvals.tables import approval_request
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.services.payments import record_payment
from core.services.writeoffs import write_off
from tests.bot.staff.approval_helpers import DAY, buttons_of, charge, more_staff
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import ADMIN, balance_of, usd
from tests.fakes.slack import command_body

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


async def count(db: Database, table: Table, **where: str) -> int:
    query = select(func.count()).select_from(table)
    for column, wanted in where.items():
        query = query.where(table.c[column] == wanted)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def twice(slack: Slack, text: str, user: str, trigger: str) -> tuple[str, str]:
    """``/ar <text>`` and Slack's retry of it: what each delivery told the person."""
    body = command_body(text, user=user, response_url=slack.fake.response_url(trigger),
                        trigger_id=trigger)  # fmt: skip
    before = len(slack.fake.replies)
    first = await slack.send(body)
    again = await slack.send(body, **RETRY)
    assert first.status == again.status == 200
    replies = slack.fake.replies[before:]
    assert len(replies) == 2, replies
    assert all(r.body["response_type"] == "ephemeral" for r in replies)
    return text_of(replies[0]), text_of(replies[1])


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    await charge(db, account, "80.00")
    await more_staff(db)
    return account


@pytest.mark.parametrize("amount", ["10", "20"])
async def test_a_retried_refund_is_asked_once(
    slack: Slack, db: Database, ana: Account, amount: str
) -> None:
    """A refund of part (10.00) or all (20.00) of the credit. The retry finds the request
    its first delivery made (by its key) before checking whether the credit could hold
    another: told it was asked, not refused."""
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("100.00"), received_on=DAY,
                         key="overpaid", method="cash")  # fmt: skip
    first, again = await twice(
        slack, f"refund {ana.number} {amount} CREDIT_BALANCE overpaid", "U0CLERK",
        f"7001.{amount}.refund",
    )  # fmt: skip
    [posted] = slack.fake.called("chat.postMessage")
    request_id = int(buttons_of(posted)[0]["value"])
    asked = f"Sent for approval: refund request {request_id}, ${amount}.00 on *{ana.number}*"
    assert asked in first
    assert f"already asked as request {request_id}" in again and "not asked again" in again
    assert await count(db, approval_request) == 1
    assert await count(db, journal_entry, entry_type="REFUND") == 0  # nothing until approved
    assert await balance_of(db, ana.id) == usd("-20.00")


async def test_a_retried_write_off_reversal_is_asked_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    [entry] = await write_off(db, ADMIN, account_id=ana.id, key="wo", on=DAY, reason="CHARITY",
                              note="hardship", amount=usd("30"))  # fmt: skip
    number = f"T{entry.id:08d}"
    first, again = await twice(
        slack, f"writeoff reverse {number} KEYING_ERROR wrong account", "U0BILLER", "7002.1.rev"
    )
    [posted] = slack.fake.called("chat.postMessage")
    request_id = int(buttons_of(posted)[0]["value"])
    assert f"Sent for approval: write-off reversal request {request_id}" in first
    assert f"already asked as request {request_id}" in again
    assert await count(db, approval_request) == 1
    assert await balance_of(db, ana.id) == usd("50.00")  # the write-off stands until approved


async def test_a_retried_payment_that_leaves_no_credit_is_recorded_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    entries = await count(db, journal_entry)
    first, again = await twice(
        slack, f'payment {ana.number} 50 check "cheque 7"', "U0CLERK", "7003.1.pay"
    )
    assert f"Recorded *$50.00* (check, cheque 7) on *{ana.number}*" in first
    assert "New balance: *$30.00*" in first
    assert "This payment was already recorded as T" in again and "not recorded again" in again
    assert "New balance: *$30.00*" in again
    assert await count(db, journal_entry) == entries + 1
    assert await count(db, journal_entry, entry_type="PAYMENT") == 1
    assert await balance_of(db, ana.id) == usd("30.00")
    assert slack.fake.called("chat.postMessage") == []
    # The payment was small enough to record at once: nothing was held to be confirmed.
    assert "Record it anyway?" not in first + again
