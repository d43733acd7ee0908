"""``/ar rejects``: the exceptions queue worked in Slack (AR-067): the list shows what
was rejected and why (never the row's values), Fix opens the row in a modal and sends
it through its import again, Dismiss closes it with a note."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.staff import ids
from core.db import Database
from core.imports import Control, Row
from core.imports.payments import import_payments
from core.imports.rejects import keep_rejects, rejects
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.bot.staff.test_modals import opened, submit, typed
from tests.core.helpers import ADMIN, balance_of, usd
from tests.fakes.slack import action_body

pytestmark = pytest.mark.usefixtures("staff")
HEADER = ["external_id", "account_number", "amount", "currency", "method", "received_date"]


@pytest.fixture
async def queued(db: Database) -> dict[str, Any]:
    """A lockbox file with two bad rows: an unknown account, an unreadable amount."""
    ana = await patient(db, "Lopez", "Ana")
    found = [
        Row(n, dict(zip(HEADER, v, strict=True)))
        for n, v in enumerate(
            [
                ["p1", ana.number, "10.00", "USD", "cash", "2026-06-29"],
                ["p2", "A9999999", "10.00", "USD", "cash", "2026-06-29"],
                ["p3", ana.number, "ten", "USD", "cash", "2026-06-29"],
            ],
            start=2,
        )
    ]
    report = await import_payments(db, ADMIN, HEADER, found, control=Control(3, "20.00"),
                                   label="lockbox.csv")  # fmt: skip
    await keep_rejects(db, "payments", "lockbox.csv", found, report)
    async with db.read() as conn:
        unknown, unreadable = await rejects(conn)
    return {"ana": ana, "unknown": unknown, "unreadable": unreadable}


async def open_modal(slack: Slack, action: str, reject_id: int, user: str) -> dict[str, Any]:
    url = slack.fake.response_url(f"r{time.time_ns()}")
    await slack.send(action_body(action, str(reject_id), user=user, response_url=url))
    return opened(slack)


async def test_the_queue_lists_reason_and_row_never_values(
    slack: Slack, queued: dict[str, Any]
) -> None:
    shown = text_of(await slack.command("rejects", "U0BILLER"))

    assert "*Rejected import rows*: 2 open, oldest first." in shown
    assert "*payments* · `lockbox.csv` row 3 · key `p2`" in shown
    assert "there is no account A9999999 (AR-094)" in shown
    assert "'ten' is not an amount" in shown
    assert "2026-06-29" not in shown  # the row's values stay out of the channel
    reply = await slack.command("rejects", "U0BILLER")
    assert [(b["text"]["text"], b["value"]) for b in buttons(reply)][:2] == [
        ("Fix", str(queued["unknown"].id)),
        ("Dismiss", str(queued["unknown"].id)),
    ]
    assert "none open" in text_of(await slack.command("rejects charges", "U0BILLER"))
    refused = text_of(await slack.command("rejects", "U0CLERK"))
    assert "lacks the permission 'view_reports'" in refused


async def test_fix_sends_the_edited_row_through_the_import(
    slack: Slack, db: Database, queued: dict[str, Any]
) -> None:
    unreadable = queued["unreadable"]
    view = await open_modal(slack, ids.IMPORT_FIX, unreadable.id, "U0BILLER")

    assert view["callback_id"] == ids.IMPORT_FIX_MODAL
    fields = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"]
              if b["type"] == "input"}  # fmt: skip
    assert fields[ids.IMPORT_COLUMN + "amount"] == "ten"
    values: dict[str, Any] = {}
    for block, shown in fields.items():
        values |= typed(block, "10.00" if block.endswith("amount") else shown or "")
    assert await submit(slack, "U0BILLER", view, values) is None

    [told] = slack.fake.called("chat.postEphemeral")
    assert "Fixed: *payments* `lockbox.csv` row 4 went through the import" in told.body["text"]
    assert await balance_of(db, queued["ana"].id) == usd("-20.00")
    shown = text_of(await slack.command("rejects", "U0BILLER"))
    assert "1 open" in shown and "row 4" not in shown


async def test_a_fix_rejected_again_says_why_and_stays_queued(
    slack: Slack, db: Database, queued: dict[str, Any]
) -> None:
    unknown = queued["unknown"]
    view = await open_modal(slack, ids.IMPORT_FIX, unknown.id, "U0BILLER")
    values: dict[str, Any] = {}
    for block in [b["block_id"] for b in view["blocks"] if b["type"] == "input"]:
        column = block.removeprefix(ids.IMPORT_COLUMN)
        values |= typed(
            block, "A9999998" if column == "account_number" else unknown.values.get(column, "")
        )

    assert await submit(slack, "U0BILLER", view, values) is None

    [told] = slack.fake.called("chat.postEphemeral")
    assert (
        "Still rejected: *payments* `lockbox.csv` row 3: there is no account A9999998"
        in (told.body["text"])
    )
    async with db.read() as conn:
        [still, _] = await rejects(conn)
    assert (still.status, still.values["account_number"]) == ("open", "A9999998")


async def test_dismiss_needs_a_note_and_the_permission_the_row_needs(
    slack: Slack, db: Database, queued: dict[str, Any]
) -> None:
    unknown = queued["unknown"]
    view = await open_modal(slack, ids.IMPORT_DISMISS, unknown.id, "U0CLERK")

    answer = await submit(slack, "U0CLERK", view, typed(ids.IMPORT_NOTE, ""))
    assert answer is not None
    assert answer["errors"][ids.IMPORT_NOTE] == "say why the row is dismissed"
    assert await submit(slack, "U0CLERK", view, typed(ids.IMPORT_NOTE, "bank test row")) is None

    [told] = slack.fake.called("chat.postEphemeral")
    assert (
        "Dismissed: *payments* `lockbox.csv` row 3 is off the queue (bank test row)."
        in (told.body["text"])
    )
    denied = await open_modal(slack, ids.IMPORT_FIX, queued["unreadable"].id, "U0AUDIT")
    assert "lacks the permission 'record_payment'" in str(denied["blocks"])
