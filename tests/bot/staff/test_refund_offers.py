"""``/ar refund`` while the patient's family owes (AR-057): the asker is offered to move
the credit to a relative instead, or to ask for the refund anyway; through signed
requests against the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from core.approvals.tables import approval_request
from core.db import Database
from core.ledger.accounts import Account
from core.profile.relationships import relate
from core.services.payments import record_payment
from tests.bot.staff.approval_helpers import DAY, buttons_of, charge, more_staff, press
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.core.helpers import ADMIN, balance_of, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@pytest.fixture
async def family(db: Database) -> tuple[Account, Account]:
    """Ana is 100.00 in credit; her brother Leo owes 50.00 and 30.00; one guarantor."""
    parent = await patient(db, "López", "Pia")
    ana, leo = await patient(db, "López", "Ana"), await patient(db, "López", "Leo")
    for child in (ana, leo):
        await relate(db, ADMIN, account_id=child.id, related_account_id=parent.id,
                     kind="guarantor", effective_from=DAY)  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("100"), received_on=DAY,
                         key="pay-ana", method="cash")  # fmt: skip
    await charge(db, leo, "50.00")
    await charge(db, leo, "30.00")
    await more_staff(db)
    return ana, leo


async def requests(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(approval_request))).scalar_one()
        )


async def offered(slack: Slack, ana: Account, leo: Account, user: str) -> dict[str, str]:
    reply = await slack.command(f"refund {ana.number} 60 CREDIT_BALANCE overpaid", user)
    shown = text_of(reply)
    assert f"Before refunding *$60.00* from *{ana.number}*" in shown
    assert f"*{leo.number}*  Leo López: $80.00 owed (same guarantor)" in shown
    found = {b["action_id"]: b["value"] for b in buttons(reply)}
    assert set(found) == {ids.TRANSFER_CREDIT, ids.REFUND_ANYWAY}
    token = found[ids.REFUND_ANYWAY]
    assert found[ids.TRANSFER_CREDIT] == f"{token}/{leo.id}"  # ids only, never an amount
    assert slack.fake.called("chat.postMessage") == []
    return found


async def test_the_credit_moves_to_the_brother_instead_of_being_refunded(
    slack: Slack, db: Database, family: tuple[Account, Account]
) -> None:
    ana, leo = family
    found = await offered(slack, ana, leo, "U0BILLER")
    assert await requests(db) == 0
    moved = await slack.press(ids.TRANSFER_CREDIT, found[ids.TRANSFER_CREDIT], "U0BILLER")
    assert moved.body["replace_original"] is True
    assert f"Moved *$60.00* of the credit on *{ana.number}*" in text_of(moved)
    assert f"{ana.number} *-$40.00* (credit) · {leo.number} *$20.00*" in text_of(moved)
    assert await balance_of(db, ana.id) == usd("-40") and await balance_of(db, leo.id) == usd("20")
    again = await slack.press(ids.TRANSFER_CREDIT, found[ids.TRANSFER_CREDIT], "U0BILLER")
    assert "This was done already" in text_of(again)
    late = await slack.press(ids.REFUND_ANYWAY, found[ids.REFUND_ANYWAY], "U0BILLER")
    assert "the credit was transferred instead" in text_of(late)
    assert await balance_of(db, leo.id) == usd("20") and await requests(db) == 0


async def test_refund_anyway_sends_the_request_for_approval(
    slack: Slack, db: Database, family: tuple[Account, Account]
) -> None:
    ana, leo = family
    found = await offered(slack, ana, leo, "U0CLERK")
    # A clerk may ask for refunds but not move charges: core says so, nothing moves.
    refused = await slack.press(ids.TRANSFER_CREDIT, found[ids.TRANSFER_CREDIT], "U0CLERK")
    assert "lacks the permission 'post_charge'" in text_of(refused)
    assert await balance_of(db, leo.id) == usd("80")
    sent = await slack.press(ids.REFUND_ANYWAY, found[ids.REFUND_ANYWAY], "U0CLERK")
    assert sent.body.get("replace_original") is True, sent.body
    assert "Sent for approval: refund request" in text_of(sent)
    [posted] = slack.fake.called("chat.postMessage")
    approve, _ = buttons_of(posted)
    await press(slack, ids.APPROVE_REQUEST, int(approve["value"]), "U0SUPER")
    assert await balance_of(db, ana.id) == usd("-40")  # 60.00 refunded
    assert await balance_of(db, leo.id) == usd("80")
    other = await slack.press(ids.REFUND_ANYWAY, found[ids.REFUND_ANYWAY], "U0BILLER")
    assert "only the person who asked for this refund may answer" in text_of(other)
