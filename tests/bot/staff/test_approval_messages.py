"""An approval request's channel message goes out exactly once (review finding): core
claims the message slot before the post, so a Slack retry or two deliveries at once
never post it twice, and a post that failed is made again by Slack's retry or by the
next ``/ar`` command instead of being lost (AR-026, AR-088)."""

from __future__ import annotations

import asyncio

import pytest

from bot.staff import ids
from core.approvals import load_request
from core.clock import FixedClock
from core.db import Database
from core.ledger.accounts import Account
from tests.bot.staff.approval_helpers import buttons_of, charge, more_staff, press, write_offs
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import balance_of, usd
from tests.fakes.slack import command_body

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
POST = "chat.postMessage"


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    await charge(db, account, "200.00")
    await more_staff(db)
    return account


def request_body(slack: Slack, ana: Account, trigger: str) -> str:
    return command_body(
        f"writeoff {ana.number} 35 CHARITY hardship", user="U0BILLER",
        response_url=slack.fake.response_url(trigger), trigger_id=trigger,
    )  # fmt: skip


async def only_request(db: Database, slack: Slack) -> int:
    [posted] = slack.fake.succeeded(POST)
    approve, _ = buttons_of(posted)
    request_id = int(approve["value"])
    async with db.read() as conn:
        request = await load_request(conn, request_id)
    assert request.message_channel == posted.body["channel"] == "C0BILLING"
    assert request.message_ts is not None
    return request_id


async def test_two_deliveries_of_one_command_at_once_post_one_message(
    slack: Slack, db: Database, ana: Account
) -> None:
    body = request_body(slack, ana, "5555.1.same")
    await asyncio.gather(slack.send(body), slack.send(body, **{"X-Slack-Retry-Num": "1"}))
    assert len(slack.fake.called(POST)) == 1
    await only_request(db, slack)


async def test_a_retry_after_the_post_does_not_post_again(
    slack: Slack, db: Database, ana: Account
) -> None:
    body = request_body(slack, ana, "5555.2.again")
    await slack.send(body)
    await slack.send(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    assert len(slack.fake.called(POST)) == 1
    assert "already asked as request" in text_of(slack.fake.replies[-1])


async def test_a_failed_post_is_made_by_slacks_retry(
    slack: Slack, db: Database, ana: Account
) -> None:
    slack.fake.fail_next(POST)
    body = request_body(slack, ana, "5555.3.fail")
    await slack.send(body)
    told = text_of(slack.fake.replies[-1])
    assert "could not be posted" in told and "<#C0BILLING>" in told
    assert slack.fake.succeeded(POST) == []
    await slack.send(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
    request_id = await only_request(db, slack)
    told = text_of(slack.fake.replies[-1])
    assert f"request {request_id}," in told and "in <#C0BILLING>" in told
    await press(slack, ids.APPROVE_REQUEST, request_id, "U0SUPER")
    assert await write_offs(db) == 1
    assert await balance_of(db, ana.id) == usd("165.00")


async def test_a_failed_post_is_made_by_the_next_command(
    slack: Slack, db: Database, ana: Account, clock: FixedClock
) -> None:
    """Slack does not retry a command arbot acknowledged: without the next command the
    request would wait for ever, unseen by any approver."""
    slack.fake.fail_next(POST)
    await slack.send(request_body(slack, ana, "5555.4.lost"))
    assert slack.fake.succeeded(POST) == []
    clock.advance(seconds=1)
    await slack.command("help", "U0CLERK")  # anyone's next command
    request_id = await only_request(db, slack)
    await slack.command("help", "U0CLERK")
    assert len(slack.fake.succeeded(POST)) == 1  # once posted, never again
    await press(slack, ids.APPROVE_REQUEST, request_id, "U0SUPER")
    assert await write_offs(db) == 1


async def test_a_post_that_reached_slack_unheard_is_not_posted_again(
    slack: Slack, db: Database, ana: Account, clock: FixedClock
) -> None:
    """Slack posted the message but its answer was lost (a timeout): the next attempt
    finds the message by the request id in its metadata and updates it in place."""
    slack.fake.lose_next_answer(POST)
    await slack.send(request_body(slack, ana, "5555.5.unheard"))
    assert "could not be posted" in text_of(slack.fake.replies[-1])
    [lost] = slack.fake.called(POST)
    clock.advance(seconds=1)

    await slack.command("help", "U0CLERK")  # the next command posts what is unsent

    assert len(slack.fake.called(POST)) == 1  # no second message in the channel
    [history] = slack.fake.called("conversations.history")
    assert history.body["channel"] == "C0BILLING"
    [found] = slack.fake.called("chat.update")
    assert found.body["channel"] == "C0BILLING"
    [kept] = slack.fake.messages["C0BILLING"]
    assert found.body["ts"] == kept["ts"]
    request_id = int(buttons_of(lost)[0]["value"])
    async with db.read() as conn:
        request = await load_request(conn, request_id)
    assert (request.message_state, request.message_ts) == ("posted", kept["ts"])
    await press(slack, ids.APPROVE_REQUEST, request_id, "U0SUPER")
    assert slack.fake.called("chat.update")[-1].body["ts"] == kept["ts"]
    assert await write_offs(db) == 1
