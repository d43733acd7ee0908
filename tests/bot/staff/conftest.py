"""The Slack app as Slack meets it: ``bot.web.make_app`` served on an ephemeral port,
requests signed as Slack signs them and POSTed to ``/slack/events``, and the fake Slack
Web API (``tests.fakes.slack``) recording what the app sends back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.staff.services import Services
from bot.web import SLACK_KEY, make_app
from core.auth import Actor, add_staff
from core.billing.catalogue import NewService, define_service
from core.customers import NewCustomer, register_customer
from core.db import Database
from core.ledger.accounts import Account
from core.settings import Settings
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    Call,
    FakeSlack,
    action_body,
    command_body,
    fake_slack,
    signed_headers,
)

__all__ = ["fake_slack"]

USERS = {
    "U0ADMIN": ("Alex Admin", "admin", ()),
    "U0BILLER": ("Bea Biller", "biller", ()),
    "U0CLERK": ("Chris Clerk", "clerk", ()),
    "U0NORTH": ("Nora North", "clerk", ("north",)),
    "U0SUPER": ("Sam Supervisor", "supervisor", ()),
    "U0AUDIT": ("Ada Auditor", "auditor", ()),
}
"""Slack user id -> staff user (name, role, locations)."""


@dataclass
class Slack:
    """Drives the app as Slack would and reads what it answered."""

    http: TestClient[Any, Any]
    fake: FakeSlack
    services: Services
    _names: itertools.count[int] = field(default_factory=itertools.count)

    async def post(self, body: str, headers: dict[str, str]) -> ClientResponse:
        return await self.http.post("/slack/events", data=body.encode(), headers=headers)

    async def send(self, body: str, **headers: str) -> ClientResponse:
        """POST a signed body (extra headers such as X-Slack-Retry-Num added after signing)."""
        response = await self.post(body, {**signed_headers(body), **headers})
        await settle(self.services)
        return response

    async def command(self, text: str, user: str = "U0ADMIN", **fields: Any) -> Call:
        """``/ar <text>`` from ``user``: the app's one ephemeral reply."""
        before = len(self.fake.replies)
        url = self.fake.response_url(f"cmd{next(self._names)}")
        response = await self.send(command_body(text, user=user, response_url=url, **fields))
        assert response.status == 200
        assert await response.text() == ""
        return self.only_reply(before)

    async def press(self, action_id: str, value: str, user: str = "U0ADMIN") -> Call:
        """Press a button in one of the app's messages: the app's one reply."""
        before = len(self.fake.replies)
        url = self.fake.response_url(f"act{next(self._names)}")
        response = await self.send(action_body(action_id, value, user=user, response_url=url))
        assert response.status == 200
        return self.only_reply(before)

    def only_reply(self, before: int) -> Call:
        replies = self.fake.replies[before:]
        assert len(replies) == 1, replies
        assert replies[0].ok, f"Slack refused the reply: {self.fake.refusals[-1]}"
        assert replies[0].body["response_type"] == "ephemeral"
        return replies[0]


async def settle(services: Services) -> None:
    """Wait until the app has finished the work it acknowledged (listeners run on after
    ``ack()``; the app counts them, so waiting is exact, not a sleep)."""
    async with asyncio.timeout(10):
        await services.work.idle()


def text_of(reply: Call) -> str:
    """Everything a person reads in a reply: the blocks' texts, in order."""
    parts = []
    for block in reply.body.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text", "")
            parts.append(text["text"] if isinstance(text, dict) else text)
        if "accessory" in block:
            parts.append(block["accessory"]["text"]["text"])
    return "\n".join(p for p in parts if isinstance(p, str))


def buttons(reply: Call) -> list[dict[str, Any]]:
    found = []
    for block in reply.body.get("blocks", []):
        if "accessory" in block:
            found.append(block["accessory"])
        found.extend(e for e in block.get("elements", []) if e.get("type") == "button")
    return found


def slack_settings(db: Database, fake: FakeSlack, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.api_url,
    }
    return Settings(**(values | extra))


@pytest.fixture
async def slack(db: Database, fake_slack: FakeSlack) -> AsyncIterator[Slack]:
    app = make_app(slack_settings(db, fake_slack), db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        yield Slack(http, fake_slack, app[SLACK_KEY])


@pytest.fixture
async def staff(db: Database) -> dict[str, Actor]:
    made = {}
    async with db.transaction() as tx:
        for slack_id, (name, role, locations) in USERS.items():
            made[slack_id] = await add_staff(
                tx, ADMIN, name=name, role=role, locations=locations, slack_user_id=slack_id
            )
    return made


async def patient(
    db: Database, last: str, first: str, *, location: str = "main", **kwargs: Any
) -> Account:
    new = NewCustomer(last, first, "USD", location=location, **kwargs)
    return await register_customer(db, ADMIN, new)


@pytest.fixture
async def catalogue(db: Database) -> None:
    await define_service(db, ADMIN, NewService("CONS", "Consultation", "consultation", usd("80")))
    await define_service(db, ADMIN, NewService("XRAY", "Chest X-ray", "imaging", usd("120")))
