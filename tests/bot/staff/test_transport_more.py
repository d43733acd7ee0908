"""More of how Slack's requests reach the app: a button pressed over Socket Mode, and
button presses and events whose signature Slack did not make (401, nothing done)."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.staff import ids
from bot.web import SLACK_KEY, make_app
from core.auth import Actor
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.services.held import HeldStatus, hold_payment, load_held
from tests.bot.staff.approval_helpers import charge
from tests.bot.staff.conftest import Slack, patient, settle, slack_settings, text_of
from tests.bot.staff.test_home import home_opened
from tests.bot.staff.test_transport import forged, written
from tests.core.helpers import balance_of, usd
from tests.fakes.slack import (
    APP_TOKEN,
    FakeSlack,
    action_body,
    action_payload,
    signed_headers,
)

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    await charge(db, account, "80.00")
    return account


async def held(db: Database, staff: dict[str, Actor], account: Account) -> str:
    """A 110.00 cash payment Chris Clerk asked for, waiting for his Confirm (it would
    leave the account 30.00 in credit)."""
    token = uuid.uuid4().hex
    await hold_payment(db, staff["U0CLERK"], token=token, key=f"slack/payment/{token}",
                       account_id=account.id, amount=usd("110"), method="cash",
                       source="slack")  # fmt: skip
    return token


async def payments(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(journal_entry.c.entry_type == "PAYMENT")
        return int((await conn.execute(query)).scalar_one())


async def test_a_button_pressed_over_socket_mode_is_acknowledged_and_done(
    db: Database, fake_slack: FakeSlack, staff: dict[str, Actor], ana: Account
) -> None:
    token = await held(db, staff, ana)
    settings = slack_settings(db, fake_slack, slack_app_token=APP_TOKEN, slack_signing_secret="")
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)):
        await fake_slack.wait_for("socket.connect")
        url = fake_slack.response_url("socket-press")
        payload = action_payload(ids.CONFIRM_PAYMENT, token, user="U0CLERK", response_url=url)
        envelope = await fake_slack.send_envelope("interactive", payload)
        [ack] = await fake_slack.wait_for("socket.ack")
        assert ack.body["envelope_id"] == envelope
        [reply] = await fake_slack.wait_for("response_url")
        await settle(app[SLACK_KEY])
    assert reply.path == "/response/socket-press"
    assert reply.body["response_type"] == "ephemeral" and reply.body["replace_original"]
    shown = text_of(reply)
    assert f"Recorded *$110.00* (cash) on *{ana.number}*" in shown
    assert "New balance: *-$30.00* (credit)" in shown
    assert await payments(db) == 1
    assert await balance_of(db, ana.id) == usd("-30.00")


async def test_a_button_press_slack_did_not_sign_is_401_and_nothing_is_recorded(
    slack: Slack, db: Database, staff: dict[str, Actor], ana: Account
) -> None:
    token = await held(db, staff, ana)
    body = action_body(ids.CONFIRM_PAYMENT, token, user="U0CLERK",
                       response_url=slack.fake.response_url("forged"))  # fmt: skip
    before = await written(db)
    for why, headers in forged(body).items():
        assert (await slack.post(body, headers)).status == 401, why
    # Signed for a Cancel, sent as a Confirm.
    cancel = body.replace(ids.CONFIRM_PAYMENT, ids.CANCEL_PAYMENT)
    assert cancel != body
    assert (await slack.post(body, signed_headers(cancel))).status == 401
    await settle(slack.services)
    assert slack.fake.calls == []
    assert await written(db) == before
    assert await payments(db) == 0
    async with db.read() as conn:
        assert (await load_held(conn, token)).status is HeldStatus.HELD
    assert await balance_of(db, ana.id) == usd("80.00")


async def test_an_event_slack_did_not_sign_is_401_and_nothing_is_published(
    slack: Slack, db: Database
) -> None:
    body = home_opened("U0ADMIN")
    json_type = {"Content-Type": "application/json"}
    before = await written(db)
    for why, headers in forged(body).items():
        assert (await slack.post(body, {**headers, **json_type})).status == 401, why
    await settle(slack.services)
    assert slack.fake.calls == []
    assert await written(db) == before
    # The same event, signed, is published: the 401s were the signature's doing.
    assert (await slack.post(body, {**signed_headers(body), **json_type})).status == 200
    [published] = await slack.fake.wait_for("views.publish")
    assert published.body["user_id"] == "U0ADMIN"
    await settle(slack.services)
