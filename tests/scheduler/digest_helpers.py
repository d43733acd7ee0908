"""A small clinic with aged balances at two locations, the scheduler's ports posting to
the fake Slack through the real Slack messenger and templates, and readers of what the
fake received (issue 6, the digests)."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.staff.digest import DRILL, render
from bot.staff.messenger import SlackStaffMessenger
from core.customers import NewCustomer, register_customer
from core.db import Database
from core.ledger.accounts import Account
from core.services.charges import post_charge
from scheduler.ports import DigestSettings, Ports
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import BOT_TOKEN, Call, FakeSlack

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {"main": "C0MAIN", "north": "C0NORTH"}
MANAGERS = "C0MANAGERS"
_keys = count(1)


async def person(
    db: Database, last: str, first: str, *, location: str = "main", **kwargs: Any
) -> Account:
    new = NewCustomer(last, first, "USD", location=location, **kwargs)
    return await register_customer(db, ADMIN, new)


async def charge(db: Database, account: Account, amount: str, on: date) -> None:
    await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount), service_date=on,
                      key=f"digest-test-{next(_keys)}")  # fmt: skip


async def clinic(db: Database) -> dict[str, Account]:
    """As of 30 June 2026: Ana (main) owes 80 from 10 days ago and 120 from 100 days
    ago; Bea (main) 50 from 200 days ago; Luis (north) 80 from 5 days ago."""
    ana = await person(db, "López", "Ana")
    bea = await person(db, "Brown", "Bea")
    luis = await person(db, "Chen", "Luis", location="north")
    await charge(db, ana, "80.00", date(2026, 6, 20))
    await charge(db, ana, "120.00", date(2026, 3, 22))
    await charge(db, bea, "50.00", date(2025, 12, 12))
    await charge(db, luis, "80.00", date(2026, 6, 25))
    return {"ana": ana, "bea": bea, "luis": luis}


def slack_ports(fake: FakeSlack, **digests: Any) -> Ports:
    """Ports posting through SlackStaffMessenger to the fake, with the real templates."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
    settings = {"atb_channel": MANAGERS, "atb_channels": CHANNELS, "zone": UTC} | digests
    return Ports(
        staff=SlackStaffMessenger(client),
        staff_render=render,
        digests=DigestSettings(**settings),
    )


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def posted_to(fake: FakeSlack, channel: str) -> list[Call]:
    return [c for c in fake.succeeded("chat.postMessage") if c.body["channel"] == channel]


def blocks_of(call: Call) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = call.json("blocks")
    return blocks


def text_of(call: Call) -> str:
    """Everything a person reads in a posted message: the blocks' texts, in order."""
    parts = []
    for block in blocks_of(call):
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text", "")
            parts.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(parts)


def drill_buttons(call: Call) -> dict[str, str]:
    """The message's bucket buttons: label -> value."""
    return {
        e["text"]["text"]: e["value"]
        for block in blocks_of(call)
        if block["type"] == "actions"
        for e in block["elements"]
        if e["action_id"] == DRILL
    }


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
