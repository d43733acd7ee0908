"""Talk to a person (issue 5): a patient's words go to the staff Slack channel as a
thread, and a staff member's reply in that thread comes back to the patient's chat.

Everything runs as ``arbot serve`` runs it (``bot.web.make_app``): the patient texts
through signed Twilio webhooks, the app posts to the fake Slack Web API, and Slack's
``message`` events are POSTed to ``/slack/events`` signed as Slack signs them. What
the patient reads is what the fake Twilio was asked to send.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import select

from bot.staff.services import Services
from bot.web import SLACK_KEY
from core.db import Database
from core.patients.agents import agent_thread
from tests.bot.patient.conftest import Patients, SmsPatient, StartServed
from tests.bot.patient.test_conversation import PHONE, ana_with_bills
from tests.fakes.slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    fake_slack,
    signed_headers,
)

__all__ = ["fake_slack"]  # fixture
PATIENT_CHANNEL = "C0PATIENTS"
_event_ids = itertools.count(1)


def message_event(text: str, *, thread_ts: str | None, **fields: Any) -> str:
    """An Events API ``message`` callback, JSON as Slack POSTs it: a person writing in
    the patient channel (in a thread when ``thread_ts``)."""
    n = next(_event_ids)
    event: dict[str, Any] = {
        "type": "message",
        "channel": PATIENT_CHANNEL,
        "channel_type": "channel",
        "user": "U0BILLER",
        "text": text,
        "ts": f"1800000000.{n:06d}",
        "event_ts": f"1800000000.{n:06d}",
        **fields,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0ARBOT",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{n:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "U0ARBOT", "is_bot": True}],
        }
    )


async def post_event(app: Patients, body: str) -> ClientResponse:
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    response = await app.http.post("/slack/events", data=body.encode(), headers=headers)
    # The listener runs after Slack's acknowledgement; the app counts such work.
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await services(app).work.idle()
    return response


def services(app: Patients) -> Services:
    return app.http.server.app[SLACK_KEY]


@pytest.fixture
async def relay(db: Database, served: StartServed, fake_slack: FakeSlack) -> Patients:
    await ana_with_bills(db)
    return await served(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        slack_patient_channel=PATIENT_CHANNEL,
    )


async def verified(app: Patients) -> SmsPatient:
    ana = SmsPatient(app, PHONE)
    await ana.send("hi")
    assert "You are verified" in await ana.send("1980-04-12")
    return ana


async def test_a_patients_message_becomes_a_thread_and_the_staff_reply_comes_back(
    relay: Patients, fake_slack: FakeSlack
) -> None:
    ana = await verified(relay)
    asks = await ana.send(ana.number_of("Talk to a person"))
    assert "billing office" in asks.lower()

    sent = await ana.send("Why is the lab bill so high?")
    assert "passed to the billing office" in sent
    [post] = fake_slack.called("chat.postMessage")
    assert post.body["channel"] == PATIENT_CHANNEL
    assert "Why is the lab bill so high?" in post.body["text"]
    assert "A0" in post.body["text"]  # the account number, for staff to look up
    assert PHONE not in post.body["text"] and "1980" not in post.body["text"]
    assert "thread_ts" not in post.body  # a new thread

    await ana.send("Also, can I pay next week?")
    _, second = fake_slack.called("chat.postMessage")
    ts = second.body["thread_ts"]  # the ts Slack gave the first post: the same thread
    assert ts == await thread_ts(relay)

    before = len(relay.twilio.sent_to(PHONE))
    response = await post_event(relay, message_event("Yes, next Friday is fine.", thread_ts=ts))
    assert response.status == 200
    [reply] = relay.twilio.sent_to(PHONE)[before:]
    assert reply.body == "Billing office: Yes, next Friday is fine."
    rows = [r for r in await relay.outbox() if r.kind == "staff_reply"]
    assert [(r.channel, r.address, r.status) for r in rows] == [("sms", PHONE, "sent")]


async def thread_ts(app: Patients) -> str:
    """The ``ts`` of the staff thread the patient's chat opened (as Slack returned it)."""
    async with app.ctx.db.read() as conn:
        [ts] = (await conn.execute(select(agent_thread.c.thread_ts))).scalars().all()
    return str(ts)


async def test_bot_messages_and_messages_outside_patient_threads_send_nothing(
    relay: Patients, fake_slack: FakeSlack
) -> None:
    ana = await verified(relay)
    await ana.send(ana.number_of("Talk to a person"))
    await ana.send("Please call me")
    ts = await thread_ts(relay)
    before = len(relay.twilio.attempts)

    for body in (
        message_event("An automated note", thread_ts=ts, bot_id="B0OTHER", subtype="bot_message"),
        message_event("Edited", thread_ts=ts, subtype="message_changed"),
        message_event("Lunch at noon?", thread_ts=None),  # not in a thread
        message_event("About something else", thread_ts="1699999999.000001"),
    ):
        assert (await post_event(relay, body)).status == 200

    assert relay.twilio.attempts[before:] == []
    assert [r for r in await relay.outbox() if r.kind == "staff_reply"] == []


async def test_an_unsigned_event_reaches_nobody(relay: Patients, fake_slack: FakeSlack) -> None:
    ana = await verified(relay)
    await ana.send(ana.number_of("Talk to a person"))
    await ana.send("Please call me")
    ts = await thread_ts(relay)
    before = len(relay.twilio.attempts)
    body = message_event("Forged answer", thread_ts=ts)
    headers = {**signed_headers(body, secret="not-the-secret"), "Content-Type": "application/json"}

    response = await relay.http.post("/slack/events", data=body.encode(), headers=headers)

    assert response.status == 401
    assert relay.twilio.attempts[before:] == []


async def test_a_retried_slack_event_reaches_the_patient_once(
    relay: Patients, fake_slack: FakeSlack
) -> None:
    ana = await verified(relay)
    await ana.send(ana.number_of("Talk to a person"))
    await ana.send("Please call me")
    ts = await thread_ts(relay)
    before = len(relay.twilio.attempts)
    body = message_event("We will call at 3 pm.", thread_ts=ts)

    await post_event(relay, body)
    # Slack re-sends an event it thinks was not acknowledged in time, same event_id.
    retry = {**signed_headers(body), "Content-Type": "application/json"}
    retry |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    await relay.http.post("/slack/events", data=body.encode(), headers=retry)
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await services(relay).work.idle()

    assert [m.body for m in relay.twilio.attempts[before:]] == [
        "Billing office: We will call at 3 pm."
    ]
