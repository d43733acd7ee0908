"""How Slack's requests reach the app: signatures, acknowledgement before work, who may
talk to it, and what a person sees when something breaks."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.staff import lookup
from bot.web import SLACK_KEY, make_app
from core.auth import Actor
from core.db import Database
from core.db.audit import audit_log
from core.ledger.tables import journal_entry
from core.settings import Settings
from tests.bot.staff.conftest import Slack, settle, slack_settings, text_of
from tests.fakes.slack import (
    APP_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    command_body,
    command_payload,
    signed_headers,
)

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


async def written(db: Database) -> tuple[int, int]:
    """Journal entries and audit records: what a refused request must leave as it was."""
    async with db.read() as conn:
        entries = (await conn.execute(select(func.count()).select_from(journal_entry))).scalar()
        audit = (await conn.execute(select(func.count()).select_from(audit_log))).scalar()
    return int(entries or 0), int(audit or 0)


def forged(body: str) -> dict[str, dict[str, str]]:
    """Ways a request can fail Slack's signature check."""
    good = signed_headers(body)
    return {
        "wrong secret": signed_headers(body, secret="not-the-signing-secret"),
        "stale timestamp": signed_headers(body, timestamp=int(time.time()) - 301),
        "from the future": signed_headers(body, timestamp=int(time.time()) + 301),
        "no signature": {k: v for k, v in good.items() if k != "X-Slack-Signature"},
        "no timestamp": {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"},
        "not v0": {**good, "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1=")},
    }


async def test_requests_slack_did_not_sign_are_401_and_nothing_happens(
    slack: Slack, db: Database
) -> None:
    body = command_body("payment A0000001 10 cash", user="U0ADMIN", response_url="x")
    before = await written(db)
    for why, headers in forged(body).items():
        response = await slack.post(body, headers)
        assert response.status == 401, why
    # A signature for one body does not cover another: the amount was changed in transit.
    tampered = body.replace("10+cash", "9000+cash")
    assert tampered != body
    assert (await slack.post(tampered, signed_headers(body))).status == 401
    await settle(slack.services)
    assert slack.fake.calls == []
    assert await written(db) == before


async def test_a_signed_command_is_acknowledged_before_its_work_is_done(
    slack: Slack, db: Database
) -> None:
    """Slack waits 3 seconds: the 200 comes back while the reply is still held up."""
    slack.fake.hold_replies()
    url = slack.fake.response_url("held")
    body = command_body("help", user="U0ADMIN", response_url=url)
    response = await slack.post(body, signed_headers(body))
    assert response.status == 200
    assert slack.fake.replies == []
    slack.fake.release_replies()
    await settle(slack.services)
    assert len(slack.fake.replies) == 1


async def test_an_unknown_slack_user_is_refused_politely_and_nothing_else(
    slack: Slack, db: Database
) -> None:
    before = await written(db)
    for text in ("help", "charge A0000001 CONS", "payment A0000001 10 cash", "atb --csv"):
        reply = await slack.command(text, user="U0STRANGER")
        assert "not linked to an arbot staff user" in text_of(reply)
        assert "U0STRANGER" in text_of(reply)
        assert "blocks" in reply.body and not any(
            b.get("type") == "actions" for b in reply.body["blocks"]
        )
    assert slack.fake.web_api_calls == []
    assert await written(db) == before


async def test_an_inactive_staff_user_is_refused_like_an_unknown_one(
    slack: Slack, db: Database, staff: dict[str, Actor]
) -> None:
    from core.auth import staff_user

    async with db.transaction() as tx:
        await tx.conn.execute(
            staff_user.update().where(staff_user.c.slack_user_id == "U0CLERK").values(active=False)
        )
    reply = await slack.command("help", user="U0CLERK")
    assert "not linked to an arbot staff user" in text_of(reply)


async def test_a_failure_inside_arbot_shows_a_reference_not_a_traceback(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database exploded at line 42")

    monkeypatch.setattr(lookup, "search", broken)
    reply = await slack.command("find Lopez")
    shown = text_of(reply)
    assert "could not finish this request (reference " in shown
    assert "exploded" not in shown and "Traceback" not in shown and "RuntimeError" not in shown
    assert "database exploded" in caplog.text


async def test_unknown_subcommands_and_later_ones_get_a_message(slack: Slack) -> None:
    assert "'frobnicate' is not an /ar subcommand" in text_of(await slack.command("frobnicate"))
    unknown = text_of(await slack.command("writeoff A0000001 10 SMALL note"))
    assert "'A0000001' is not an account number" in unknown or "no account" in unknown


async def test_without_an_approvals_channel_arbot_serve_warns_once_and_says_what_happens(
    db: Database, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    make_app(slack_settings(db, fake_slack), db)
    [warning] = [r for r in caplog.records if "SLACK_APPROVALS_CHANNEL" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    said = warning.getMessage()
    assert "posted for approval in whichever channel they are asked in" in said
    assert "direct message will be refused" in said
    caplog.clear()
    make_app(slack_settings(db, fake_slack, slack_approvals_channel="C0APPROVE"), db)
    make_app(Settings(database_url=db.url), db)  # no Slack at all: nothing to say
    assert not [r for r in caplog.records if "SLACK_APPROVALS_CHANNEL" in r.getMessage()]


async def test_slack_is_not_mounted_without_its_secrets(
    db: Database, fake_slack: FakeSlack
) -> None:
    for settings in (
        Settings(database_url=db.url),
        Settings(database_url=db.url, slack_bot_token="xoxb-1"),
        Settings(database_url=db.url, slack_signing_secret=SIGNING_SECRET),
    ):
        app = make_app(settings, db)
        assert SLACK_KEY not in app
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            assert (await client.post("/slack/events", data=b"x")).status == 404


async def test_socket_mode_connects_and_answers_commands_through_the_websocket(
    db: Database, fake_slack: FakeSlack
) -> None:
    """With SLACK_APP_TOKEN, serving opens a Socket Mode connection (apps.connections.open,
    then the websocket) and commands arriving there are acknowledged and answered."""
    settings = slack_settings(db, fake_slack, slack_app_token=APP_TOKEN, slack_signing_secret="")
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        assert (await client.post("/slack/events", data=b"x")).status == 404  # no HTTP mode
        await fake_slack.wait_for("socket.connect")
        connect = fake_slack.called("apps.connections.open")[0]
        assert connect.headers["Authorization"] == f"Bearer {APP_TOKEN}"
        url = fake_slack.response_url("socket")
        payload = command_payload("help", user="U0ADMIN", response_url=url)
        envelope = await fake_slack.send_envelope("slash_commands", payload)
        acks = await fake_slack.wait_for("socket.ack")
        assert acks[0].body["envelope_id"] == envelope
        reply = (await fake_slack.wait_for("response_url"))[0]
        assert "/ar* works on accounts receivable" in text_of(reply)
        await settle(app[SLACK_KEY])


async def test_a_refused_app_token_does_not_keep_the_web_server_from_serving(
    db: Database, fake_slack: FakeSlack
) -> None:
    settings = slack_settings(db, fake_slack, slack_app_token="xapp-wrong")
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        assert (await client.get("/healthz")).status == 200
        refused = await fake_slack.wait_for("apps.connections.open")
        assert refused[0].headers["Authorization"] == "Bearer xapp-wrong"
        assert fake_slack.called("socket.connect") == []
        body = command_body("help", user="U0ADMIN", response_url=fake_slack.response_url())
        assert (await client.post("/slack/events", data=body, headers=signed_headers(body))).ok
        await settle(app[SLACK_KEY])
        assert len(fake_slack.replies) == 1
