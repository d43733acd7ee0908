"""The charge modal (``/ar charge [account]``) and the account view's note modal, driven
as Slack drives them: the command or button opens the modal (``views.open``), the
submission comes back as a signed ``view_submission``."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from core.billing.tables import charge_line
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import customer_note, journal_entry
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import balance_of, usd
from tests.fakes.slack import TEAM_ID, action_body, command_body

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@pytest.fixture
async def ana(db: Database) -> Account:
    return await patient(db, "Lopez", "Ana")


def opened(slack: Slack) -> dict[str, Any]:
    view: dict[str, Any] = slack.fake.called("views.open")[-1].json("view")
    return view


def submission(user: str, view: dict[str, Any], values: dict[str, Any], view_id: str) -> str:
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "arbot-test"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0ARBOT",
        "token": "legacy-verification-token",
        "trigger_id": f"{time.time_ns()}.1234.abcdef",
        "view": {**view, "id": view_id, "state": {"values": values}},
    }
    return urlencode({"payload": json.dumps(payload)})


def line(n: int, code: str | None, quantity: str | None = None, on: str | None = None) -> Any:
    picked = {"type": "static_select", "selected_option": {"value": code} if code else None}
    return {
        f"{ids.CHARGE_SERVICE}{n}": {ids.FIELD: picked},
        f"{ids.CHARGE_QUANTITY}{n}": {ids.FIELD: {"type": "plain_text_input", "value": quantity}},
        f"{ids.CHARGE_DATE}{n}": {ids.FIELD: {"type": "datepicker", "selected_date": on}},
    }  # fmt: skip


def typed(block: str, text: str) -> dict[str, Any]:
    return {block: {ids.FIELD: {"type": "plain_text_input", "value": text}}}


async def submit(
    slack: Slack, user: str, view: dict[str, Any], values: dict[str, Any], view_id: str = "V1"
) -> dict[str, Any] | None:
    """The app's answer to a submission: ``None`` when it closed the modal."""
    response = await slack.send(submission(user, view, values, view_id))
    assert response.status == 200
    text = await response.text()
    return json.loads(text) if text else None


async def count(db: Database, table: Any) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_charge_modal_lists_the_catalogue(slack: Slack, ana: Account) -> None:
    view = await open_charge(slack, f"charge {ana.number}")
    assert view["callback_id"] == ids.CHARGE_MODAL
    assert view["private_metadata"] == f"C0BILLING/{ana.id}"
    selects = [b["element"] for b in view["blocks"] if b.get("element", {}).get("options")]
    assert len(selects) == 5
    labels = [o["text"]["text"] for o in selects[0]["options"]]
    assert labels == ["CONS — Consultation — $80.00", "XRAY — Chest X-ray — $120.00"]
    assert ana.number in json.dumps(view["blocks"][0])
    assert all(b["block_id"] != ids.CHARGE_ACCOUNT for b in view["blocks"] if "block_id" in b)


async def open_charge(slack: Slack, text: str = "charge", user: str = "U0BILLER") -> Any:
    url = slack.fake.response_url(f"c{time.time_ns()}")
    await slack.send(command_body(text, user=user, response_url=url))
    return opened(slack)


async def test_two_lines_post_one_invoice_once(slack: Slack, db: Database, ana: Account) -> None:
    view = await open_charge(slack)
    assert any(b.get("block_id") == ids.CHARGE_ACCOUNT for b in view["blocks"])
    values = {
        **typed(ids.CHARGE_ACCOUNT, ana.number.lower()),
        **line(0, "CONS", "2", "2026-06-01"),
        **line(1, "XRAY"),
        **line(2, None),
    }
    assert await submit(slack, "U0BILLER", view, values) is None
    assert await submit(slack, "U0BILLER", view, values) is None  # a double submit
    assert await count(db, journal_entry) == 1
    assert await count(db, charge_line) == 2
    assert await balance_of(db, ana.id) == usd("280")
    first, again = slack.fake.called("chat.postEphemeral")
    assert first.body["channel"] == "C0BILLING" and first.body["user"] == "U0BILLER"
    assert "Charged *$280.00*" in first.body["text"] and "$280.00" in first.body["text"]
    assert "already posted" in again.body["text"]


SERVICE_0, QUANTITY_0 = f"{ids.CHARGE_SERVICE}0", f"{ids.CHARGE_QUANTITY}0"


@pytest.mark.parametrize(
    ("number", "values", "block", "error"),
    [
        (None, line(0, None), SERVICE_0, "at least one"),
        (None, line(0, "CONS", "1.5"), QUANTITY_0, "whole number"),
        (None, line(0, None, "2"), SERVICE_0, "pick a service"),
        ("NOPE99", line(0, "CONS"), ids.CHARGE_ACCOUNT, "there is no account"),
    ],
)
async def test_bad_charge_input_is_shown_on_the_field(
    slack: Slack,
    db: Database,
    ana: Account,
    number: str | None,
    values: dict[str, Any],
    block: str,
    error: str,
) -> None:
    view = await open_charge(slack)
    values = {**values, **typed(ids.CHARGE_ACCOUNT, number or ana.number)}
    answer = await submit(slack, "U0BILLER", view, values)
    assert answer is not None and answer["response_action"] == "errors"
    assert error in answer["errors"][block]
    assert await count(db, journal_entry) == 0
    assert slack.fake.called("chat.postEphemeral") == []


async def test_charge_refused_without_permission(slack: Slack, db: Database, ana: Account) -> None:
    """The modal is refused before it shows the account's name (review finding), and a
    submission by someone without the permission is refused in the modal."""
    refused = await slack.command(f"charge {ana.number}", user="U0CLERK")
    assert "post_charge" in text_of(refused) and ana.name not in text_of(refused)
    assert slack.fake.called("views.open") == []
    view = await open_charge(slack, f"charge {ana.number}")
    answer = await submit(slack, "U0CLERK", view, line(0, "CONS"))
    assert answer is not None
    assert "post_charge" in answer["errors"][f"{ids.CHARGE_SERVICE}0"]
    assert await count(db, journal_entry) == 0


async def open_note(slack: Slack, ana: Account, user: str) -> dict[str, Any]:
    url = slack.fake.response_url(f"n{time.time_ns()}")
    await slack.send(action_body(ids.ADD_NOTE, str(ana.id), user=user, response_url=url))
    return opened(slack)


async def test_account_view_offers_add_note(slack: Slack, ana: Account) -> None:
    reply = await slack.command(f"account {ana.number}")
    assert {"action_id": ids.ADD_NOTE, "value": str(ana.id)}.items() <= next(
        b for b in json.loads(json.dumps(reply.body["blocks"]))[-1]["elements"]
        if b["action_id"] == ids.ADD_NOTE
    ).items()  # fmt: skip


async def test_note_modal_adds_a_note(slack: Slack, db: Database, ana: Account) -> None:
    view = await open_note(slack, ana, "U0BILLER")
    assert view["callback_id"] == ids.NOTE_MODAL
    secret = "family asked to call after 5pm"
    assert await submit(slack, "U0BILLER", view, typed(ids.NOTE_TEXT, secret)) is None
    async with db.read() as conn:
        notes = (await conn.execute(select(customer_note.c.text))).scalars().all()
    assert notes == [secret]
    [told] = slack.fake.called("chat.postEphemeral")
    assert "Note added" in told.body["text"]
    assert all(secret not in c.raw.decode(errors="replace") for c in slack.fake.web_api_calls)


async def test_note_refused_in_the_modal(slack: Slack, db: Database, ana: Account) -> None:
    view = await open_note(slack, ana, "U0CLERK")
    answer = await submit(slack, "U0CLERK", view, typed(ids.NOTE_TEXT, "hello"))
    assert answer is not None and "manage_accounts" in answer["errors"][ids.NOTE_TEXT]
    blank = await submit(slack, "U0BILLER", view, typed(ids.NOTE_TEXT, "  "))
    assert blank is not None and "blank" in blank["errors"][ids.NOTE_TEXT]
    assert await count(db, customer_note) == 0
