"""The App Home tab, published on ``app_home_opened`` (BI-15, BI-20)."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import pytest

from core.approvals import request_write_off
from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, patient, settle
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import TEAM_ID, signed_headers

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
TODAY = date(2026, 6, 30)  # the test clock's day
EARLIER = date(2026, 4, 1)


def home_opened(user: str, tab: str = "home") -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0ARBOT",
            "type": "event_callback",
            "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user}",
                "tab": tab,
                "event_ts": f"{time.time():.6f}",
            },
        }
    )


async def open_home(slack: Slack, user: str) -> dict[str, Any]:
    """Open the App Home as ``user``: the view arbot published for them."""
    before = len(slack.fake.called("views.publish"))
    body = home_opened(user)
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    response = await slack.post(body, headers)
    assert response.status == 200
    (call,) = (await slack.fake.wait_for("views.publish", before + 1))[before:]
    assert call.body["user_id"] == user
    view: dict[str, Any] = call.json("view")
    assert view["type"] == "home"
    return view


def shown(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if "text" in b)


async def books(db: Database, location: str = "main", name: str = "Lopez") -> int:
    """$80 billed today, $120 billed in April, $30 collected today: $170 outstanding."""
    account = await patient(db, name, "Ana", location=location)
    for key, code, day in (("c1", "CONS", TODAY), ("c2", "XRAY", EARLIER)):
        await post_charges(db, ADMIN, account_id=account.id, key=f"{name}{key}", bill_date=day,
                           lines=[ChargeLine(code, 1, day)])  # fmt: skip
    await record_payment(db, ADMIN, account_id=account.id, amount=usd("30"), received_on=TODAY,
                         key=f"{name}p", method="cash")  # fmt: skip
    return account.id


async def test_home_shows_todays_totals_pending_approvals_and_the_atb(
    slack: Slack, db: Database, staff: dict[str, Any]
) -> None:
    account = await books(db)
    await request_write_off(db, staff["U0BILLER"], account_id=account, amount=usd("5"),
                            reason="ADMIN", note="x", key="w1")  # fmt: skip
    text = shown(await open_home(slack, "U0SUPER"))
    assert "Sam Supervisor" in text and "all locations" in text
    assert "Billed: *$80.00*" in text
    assert "Collected: *$30.00*" in text
    assert "Outstanding: *$170.00*" in text
    assert "*Waiting for your decision*: 1" in text
    assert "write-off · *A0000001* · $5.00 · ADMIN · asked by Bea Biller" in text
    assert "0-30: $80.00 (1 account)" in text and "61-90: $90.00 (1 account)" in text
    assert "Total: *$170.00*" in text


async def test_nobody_decides_their_own_request(
    slack: Slack, db: Database, staff: dict[str, Any]
) -> None:
    account = await books(db)
    await request_write_off(db, staff["U0BILLER"], account_id=account, amount=usd("5"),
                            reason="ADMIN", note="x", key="w1")  # fmt: skip
    assert "*Waiting for your decision*: 0" in shown(await open_home(slack, "U0BILLER"))


async def test_a_location_limited_user_sees_only_their_locations(
    slack: Slack, db: Database
) -> None:
    await books(db, "main", "Lopez")
    await books(db, "north", "Norte")
    await books(db, "north", "Nieve")
    text = shown(await open_home(slack, "U0NORTH"))
    assert "north" in text
    assert "Billed: *$160.00*" in text and "Outstanding: *$340.00*" in text
    everything = shown(await open_home(slack, "U0ADMIN"))
    assert "Billed: *$240.00*" in everything and "Outstanding: *$510.00*" in everything


async def test_an_unknown_slack_user_is_told_they_are_not_set_up(
    slack: Slack, db: Database
) -> None:
    await books(db)
    view = await open_home(slack, "U0STRANGER")
    text = shown(view)
    assert "not set up for you yet" in text
    assert "$" not in json.dumps(view)
    assert len(view["blocks"]) == 1


async def test_the_messages_tab_publishes_nothing(slack: Slack) -> None:
    body = home_opened("U0ADMIN", tab="messages")
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    assert (await slack.post(body, headers)).status == 200
    await settle(slack.services)
    assert slack.fake.called("views.publish") == []
