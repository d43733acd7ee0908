"""Driving the approval messages as Slack would: a press on a button in a channel
message (not an ephemeral one), the Reject modal's submission, and reading the
messages the app posted and updated."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse
from sqlalchemy import func, select

from core.approvals import load_request
from core.auth import add_staff
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.services.charges import post_charge
from tests.bot.staff.conftest import Slack
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import TEAM_ID, Call, action_payload

DAY = date(2026, 6, 1)


async def more_staff(db: Database) -> None:
    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Sue Second", role="supervisor", slack_user_id="U0SUPER2")
        await add_staff(tx, ADMIN, name="Mia Manager", role="manager", slack_user_id="U0MANAGER")


async def charge(db: Database, account: Account, amount: str) -> None:
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd(amount), service_date=DAY,
        key=f"t-charge-{account.id}-{time.time_ns()}",
    )  # fmt: skip


async def write_offs(db: Database) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count())
            .select_from(journal_entry)
            .where(journal_entry.c.entry_type.in_(["WO_ADMIN", "WO_SMALL", "REFUND"]))
        )
        return int(found.scalar_one())


def posted_request(slack: Slack) -> Call:
    [posted] = slack.fake.called("chat.postMessage")
    return posted


def blocks_of(call: Call) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = call.json("blocks")
    return blocks


def words(call: Call) -> str:
    parts = []
    for block in blocks_of(call):
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def buttons_of(call: Call) -> list[dict[str, Any]]:
    return [e for b in blocks_of(call) if b["type"] == "actions" for e in b["elements"]]


async def press_body(
    slack: Slack, action_id: str, request_id: int, user: str, trigger: str | None = None
) -> str:
    """A press on a button of request ``request_id``'s channel message."""
    async with slack.services.db.read() as conn:
        request = await load_request(conn, request_id)
    payload = action_payload(
        action_id, str(request_id), user=user,
        response_url=slack.fake.response_url(f"p{time.time_ns()}"), trigger_id=trigger,
    )  # fmt: skip
    payload["container"] = {
        "type": "message", "message_ts": request.message_ts, "is_ephemeral": False
    }  # fmt: skip
    payload["channel"] = {"id": request.message_channel, "name": "approvals"}
    return urlencode({"payload": json.dumps(payload)})


async def press(
    slack: Slack, action_id: str, request_id: int, user: str, **headers: str
) -> ClientResponse:
    body = await press_body(slack, action_id, request_id, user)
    response = await slack.send(body, **headers)
    assert response.status == 200
    return response


def submission_body(user: str, metadata: str, reason: str, callback_id: str) -> str:
    """The reject modal submitted with ``reason``; ``metadata`` is the private_metadata
    of the modal the app opened."""
    from bot.staff import ids

    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "arbot-test"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0ARBOT",
        "token": "legacy-verification-token",
        "trigger_id": f"{time.time_ns()}.1234.abcdef",
        "view": {
            "id": "V00000001",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {
                "values": {
                    ids.REJECT_REASON_BLOCK: {
                        ids.REJECT_REASON_INPUT: {"type": "plain_text_input", "value": reason}
                    }
                }
            },
        },
    }
    return urlencode({"payload": json.dumps(payload)})
