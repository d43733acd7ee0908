"""The account view's activity: paging, the kind filter and the date jump (AR-011,
AR-130, AR-132), and its action buttons."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.staff import ids
from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import Call, action_payload

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
START = date(2026, 5, 1)


async def busy(db: Database) -> int:
    """15 charges, one a day from May 1, and a payment on May 20."""
    ana = await patient(db, "Lopez", "Ana")
    for n in range(15):
        day = START + timedelta(days=n)
        await post_charges(db, ADMIN, account_id=ana.id, key=f"c{n}", bill_date=day,
                           lines=[ChargeLine("CONS", 1, day)])  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("30"),
                         received_on=date(2026, 5, 20), key="p", method="cash")  # fmt: skip
    return ana.id


def activity(reply: Call) -> list[str]:
    return [line for line in text_of(reply).splitlines() if line.startswith("• ") and "·" in line
            and ("charge" in line or "payment" in line)]  # fmt: skip


def by_id(reply: Call, action_id: str) -> dict[str, Any]:
    (button,) = [b for b in buttons(reply) if b["action_id"] == action_id]
    return button


async def test_activity_pages_newest_first_with_older_and_newer(
    slack: Slack, db: Database
) -> None:
    await busy(db)
    first = await slack.command("account A0000001")
    lines = activity(first)
    assert len(lines) == 10
    assert "May 20, 2026" in lines[0] and "payment" in lines[0]
    assert "May 15, 2026" in lines[1]
    assert ids.ACCOUNT_NEWER not in [b["action_id"] for b in buttons(first)]
    older = by_id(first, ids.ACCOUNT_OLDER)
    second = await slack.press(ids.ACCOUNT_OLDER, older["value"])
    assert second.body["replace_original"] is True
    lines = activity(second)
    assert len(lines) == 6 and "May 6, 2026" in lines[0] and "May 1, 2026" in lines[-1]
    assert "(page 2)" in text_of(second)
    assert ids.ACCOUNT_OLDER not in [b["action_id"] for b in buttons(second)]
    back = await slack.press(ids.ACCOUNT_NEWER, by_id(second, ids.ACCOUNT_NEWER)["value"])
    assert activity(back) == activity(first)


async def test_filter_by_kind_shows_only_that_kind(slack: Slack, db: Database) -> None:
    await busy(db)
    first = await slack.command("account A0000001")
    kinds = [b["action_id"] for b in buttons(first) if b["action_id"].startswith("ar_account_k")]
    names = ("all", "charges", "payments", "adjustments", "refunds")
    assert kinds == [ids.ACCOUNT_KIND + k for k in names]
    pressed = by_id(first, ids.ACCOUNT_KIND + "payments")
    payments = await slack.press(pressed["action_id"], pressed["value"])
    assert len(activity(payments)) == 1 and "payment" in activity(payments)[0]
    assert "payments only" in text_of(payments)
    refunds = by_id(first, ids.ACCOUNT_KIND + "refunds")
    assert "Nothing matches." in text_of(await slack.press(refunds["action_id"], refunds["value"]))


async def pick_date(slack: Slack, reply: Call, picked: str) -> Call:
    """Pick ``picked`` in the account view's datepicker."""
    (block,) = [b for b in reply.body["blocks"] if any(
        e.get("type") == "datepicker" for e in b.get("elements", []))]  # fmt: skip
    before = len(slack.fake.replies)
    payload = action_payload(ids.ACCOUNT_DATE, "", user="U0ADMIN",
                             response_url=slack.fake.response_url("date"))  # fmt: skip
    payload["actions"] = [{"action_id": ids.ACCOUNT_DATE, "block_id": block["block_id"],
                           "type": "datepicker", "selected_date": picked,
                           "action_ts": "1700000001.000300"}]  # fmt: skip
    await slack.send(urlencode({"payload": json.dumps(payload)}))
    return slack.only_reply(before)


async def test_the_datepicker_jumps_to_a_date_keeping_the_filter(
    slack: Slack, db: Database
) -> None:
    await busy(db)
    first = await slack.command("account A0000001")
    charges = by_id(first, ids.ACCOUNT_KIND + "charges")
    filtered = await slack.press(charges["action_id"], charges["value"])
    jumped = await pick_date(slack, filtered, "2026-05-10")
    lines = activity(jumped)
    assert "May 10, 2026" in lines[0] and "May 1, 2026" in lines[-1] and len(lines) == 10
    assert "charges only, from May 10, 2026 back" in text_of(jumped)
    assert jumped.body["replace_original"] is True


async def test_buttons_carry_ids_pages_and_filters_never_amounts(
    slack: Slack, db: Database
) -> None:
    account = await busy(db)
    reply = await slack.command("account A0000001")
    place = re.compile(
        rf"{account}/[0-9]+/(all|charges|payments|adjustments|refunds)/(-|[0-9-]{{10}})"
    )
    for button in buttons(reply):
        assert place.fullmatch(button["value"]) or button["value"] == str(account), button
    refused = await slack.press(ids.ACCOUNT_OLDER, f"{account}/1/all/-; 80.00")
    assert "is not a date" in text_of(refused)  # refused before anything is read


async def test_the_view_offers_its_actions_as_buttons_naming_the_account(
    slack: Slack, db: Database
) -> None:
    """What each button does is in test_workspace; here, that the view carries them."""
    account = await busy(db)
    reply = await slack.command("account A0000001")
    for action_id in (ids.ACCOUNT_CHARGE, ids.ACCOUNT_PAYMENT, ids.ACCOUNT_WRITEOFF,
                      ids.ACCOUNT_PAYLINK, ids.ACCOUNT_LINK, ids.ADD_NOTE,
                      ids.ACCOUNT_DETAILS):  # fmt: skip
        assert by_id(reply, action_id)["value"] == str(account)


async def test_the_view_shows_aging_last_payment_and_pending_requests(
    slack: Slack, db: Database
) -> None:
    await busy(db)
    shown = text_of(await slack.command("account A0000001"))
    assert "Last payment: $30.00 on May 20, 2026" in shown
    assert "31-60: $1,170.00" in shown
    assert "Consultation" not in shown
