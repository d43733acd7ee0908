"""The charge modal (``/ar charge [account]``) and the account view's note modal, driven
as Slack drives them: the command or button opens the modal (``views.open``), the
submission comes back as a signed ``view_submission``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from core.billing.tables import charge_line
from core.customers import set_status
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import customer_account, customer_note, journal_entry
from tests.bot.staff.conftest import Slack, patient, settle
from tests.core.helpers import ADMIN, balance_of, usd
from tests.fakes.slack import TEAM_ID, action_body, command_body, signed_headers

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@pytest.fixture
async def ana(db: Database) -> Account:
    return await patient(db, "Lopez", "Ana")


def opened(slack: Slack) -> dict[str, Any]:
    """The modal the app opened last, as filled in: it opens at once with a "one moment"
    view (the trigger id lasts 3 seconds) and fills it in with views.update."""
    wait = slack.fake.called("views.open")[-1]
    assert "One moment" in json.dumps(wait.json("view")["blocks"])
    update = slack.fake.called("views.update")[-1]
    assert slack.fake.calls.index(wait) < slack.fake.calls.index(update)
    view: dict[str, Any] = update.json("view")
    return view


def modal_text(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if "text" in b)


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
    refused = await open_charge(slack, f"charge {ana.number}", user="U0CLERK")
    assert "post_charge" in modal_text(refused) and ana.name not in json.dumps(refused)
    assert "callback_id" not in refused and "submit" not in refused  # only Close
    assert slack.fake.replies == []
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


async def test_the_modal_opens_before_anything_is_read(slack: Slack, db: Database) -> None:
    """The trigger id lasts 3 seconds from the click: views.open comes first, and what
    the reads find (here: no such account) is shown in the modal afterwards."""
    shown = await open_charge(slack, "charge NOPE99")
    assert "there is no account NOPE99" in modal_text(shown)
    assert slack.fake.replies == []


@asynccontextmanager
async def blocking(db: Database, table: Any, row_id: int) -> AsyncIterator[None]:
    """Keep writers touching ``table``'s row ``row_id`` waiting: SQLite has one writer,
    and on PostgreSQL a row lock FOR UPDATE stops even inserts that refer to the row."""
    async with db.transaction() as tx:
        if db.is_postgres:
            await tx.conn.execute(select(table.c.id).where(table.c.id == row_id).with_for_update())
        yield


async def test_a_submission_is_acknowledged_before_anything_is_posted(
    slack: Slack, db: Database, ana: Account
) -> None:
    """Slack waits 3 seconds for a submission's answer: the modal closes (an empty 200)
    while the posting still waits for the database, and the charge is posted after."""
    view = await open_charge(slack, f"charge {ana.number}")
    body = submission("U0BILLER", view, line(0, "CONS"), "V7")
    async with blocking(db, customer_account, ana.id):
        async with asyncio.timeout(5):
            answer = await slack.post(body, signed_headers(body))
        assert answer.status == 200 and await answer.text() == ""
        assert await count(db, journal_entry) == 0
    await settle(slack.services)
    assert await count(db, journal_entry) == 1
    [told] = slack.fake.called("chat.postEphemeral")
    assert "Charged *$80.00*" in told.body["text"]


async def test_core_refusing_after_the_modal_closed_is_told_in_the_channel(
    slack: Slack, db: Database, ana: Account
) -> None:
    """What only the posting finds out (here: the account was closed meanwhile) comes
    after the acknowledgement, so it is told ephemerally; nothing is posted."""
    view = await open_charge(slack, f"charge {ana.number}")
    await set_status(db, ADMIN, account_id=ana.id, status="inactive", reason="moved away",
                     on=date(2026, 6, 30))  # fmt: skip
    assert await submit(slack, "U0BILLER", view, line(0, "CONS")) is None
    [told] = slack.fake.called("chat.postEphemeral")
    assert told.body["channel"] == "C0BILLING" and told.body["user"] == "U0BILLER"
    assert "Nothing was posted" in json.dumps(told.json("blocks"))
    assert await count(db, journal_entry) == 0
