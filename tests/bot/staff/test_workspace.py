"""The account view's action buttons act on the account (AR-050): post charge, record
payment, request write-off and add note open their modals; send pay link and link code
answer with the link or the code, only to whoever pressed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.staff import ids
from bot.web import SLACK_KEY, make_app
from core.approvals import Status, load_request
from core.approvals.tables import approval_request
from core.db import Database
from core.ledger.accounts import Account
from core.patients.paylinks import open_pay_link
from core.profile.chats import link_chat
from tests.bot.staff.approval_helpers import buttons_of, charge
from tests.bot.staff.conftest import Slack, patient, slack_settings, text_of
from tests.bot.staff.test_modals import modal_text, opened, submit, typed
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import FakeSlack, action_body

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
BASE = "https://pay.clinic.example"


@pytest.fixture
async def slack_with_links(db: Database, fake_slack: FakeSlack) -> AsyncIterator[Slack]:
    app = make_app(slack_settings(db, fake_slack, public_base_url=BASE + "/"), db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        yield Slack(http, fake_slack, app[SLACK_KEY])


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    await charge(db, account, "80.00")
    await charge(db, account, "120.00")
    return account


async def pressed(slack: Slack, action_id: str, ana: Account, user: str = "U0BILLER") -> Any:
    """Press one of the account view's buttons; the modal it opened, as filled in."""
    url = slack.fake.response_url(f"w{action_id}{user}")
    response = await slack.send(action_body(action_id, str(ana.id), user=user, response_url=url))
    assert response.status == 200
    return opened(slack)


async def test_post_charge_and_record_payment_open_their_modals_for_the_account(
    slack: Slack, ana: Account
) -> None:
    charge_view = await pressed(slack, ids.ACCOUNT_CHARGE, ana)
    assert charge_view["callback_id"] == ids.CHARGE_MODAL
    assert charge_view["private_metadata"] == f"C0BILLING/{ana.id}"
    payment = await pressed(slack, ids.ACCOUNT_PAYMENT, ana, "U0CLERK")
    assert payment["callback_id"] == ids.PAYMENT_MODAL
    first = next(b for b in payment["blocks"] if b.get("block_id") == f"{ids.PAYMENT_ACCOUNT}0")
    assert first["element"]["initial_value"] == ana.number
    refused = await pressed(slack, ids.ACCOUNT_CHARGE, ana, "U0CLERK")
    assert "lacks the permission 'post_charge'" in modal_text(refused)
    assert ana.name not in str(refused)


def write_off_values(amount: str, reason: str, note: str) -> dict[str, Any]:
    picked = {"type": "static_select", "selected_option": {"value": reason}}
    return {
        **typed(ids.WRITEOFF_AMOUNT, amount),
        ids.WRITEOFF_REASON: {ids.FIELD: picked},
        **typed(ids.WRITEOFF_NOTE, note),
    }


async def requests(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).select_from(approval_request)
        return int((await conn.execute(query)).scalar_one())


async def test_request_write_off_asks_for_approval_from_the_modal(
    slack: Slack, db: Database, ana: Account
) -> None:
    view = await pressed(slack, ids.ACCOUNT_WRITEOFF, ana)
    assert view["callback_id"] == ids.WRITEOFF_MODAL
    assert "balance $200.00" in modal_text(view)
    reasons = next(b for b in view["blocks"] if b.get("block_id") == ids.WRITEOFF_REASON)
    assert "CHARITY" in [o["value"] for o in reasons["element"]["options"]]
    bad = await submit(slack, "U0BILLER", view, write_off_values("35.001", "CHARITY", "hardship"))
    assert bad is not None and "35.001" in bad["errors"][ids.WRITEOFF_AMOUNT]
    blank = await submit(slack, "U0BILLER", view, write_off_values("35", "CHARITY", " "))
    assert blank is not None and "say why" in blank["errors"][ids.WRITEOFF_NOTE]
    clerk = await submit(slack, "U0CLERK", view, write_off_values("35", "CHARITY", "hardship"))
    assert clerk is not None and "request_write_off" in clerk["errors"][ids.WRITEOFF_AMOUNT]
    assert await requests(db) == 0
    values = write_off_values("35", "CHARITY", "hardship, see letter")
    assert await submit(slack, "U0BILLER", view, values) is None
    assert await submit(slack, "U0BILLER", view, values) is None  # a double submit
    [posted] = slack.fake.called("chat.postMessage")
    assert posted.body["channel"] == "C0BILLING" and "hardship" not in posted.body["blocks"]
    approve, _ = buttons_of(posted)
    async with db.read() as conn:
        request = await load_request(conn, int(approve["value"]))
    assert request.status is Status.PENDING and request.amount == usd("35")
    assert await requests(db) == 1
    told = slack.fake.called("chat.postEphemeral")[0]
    assert told.body["user"] == "U0BILLER" and "Sent for approval" in told.body["text"]


async def test_send_pay_link_gives_a_link_to_pass_on(
    slack_with_links: Slack, db: Database, ana: Account
) -> None:
    slack = slack_with_links
    refused = await slack.press(ids.ACCOUNT_PAYLINK, str(ana.id), "U0CLERK")
    assert "has no verified chat with the bot" in text_of(refused)
    await link_chat(db, ADMIN, account_id=ana.id, channel="telegram", address="424242",
                    verified=True)  # fmt: skip
    reply = await slack.press(ids.ACCOUNT_PAYLINK, str(ana.id), "U0CLERK")
    shown = text_of(reply)
    assert f"Pay link for *{ana.number}*" in shown and "telegram chat" in shown
    url = next(word for word in shown.split() if word.startswith(f"{BASE}/pay/"))
    order = await open_pay_link(db, url.removeprefix(f"{BASE}/pay/"))
    assert order.account_id == ana.id and order.amount == usd("200.00")
    auditor = await slack.press(ids.ACCOUNT_PAYLINK, str(ana.id), "U0AUDIT")
    assert "lacks the permission 'record_payment'" in text_of(auditor)


async def test_send_pay_link_needs_the_public_address(slack: Slack, ana: Account) -> None:
    refused = await slack.press(ids.ACCOUNT_PAYLINK, str(ana.id), "U0CLERK")
    assert "PUBLIC_BASE_URL is not set" in text_of(refused)


async def test_link_code_gives_the_code_link_gives(slack: Slack, ana: Account) -> None:
    reply = await slack.press(ids.ACCOUNT_LINK, str(ana.id), "U0BILLER")
    assert f"Link code for *{ana.number}*" in text_of(reply)
