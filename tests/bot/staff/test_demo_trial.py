"""Issue 4's "Done means", against the fake Slack: the demo clinic loaded as ``make demo``
loads it, two staff users added, the two variables set (``SLACK_BOT_TOKEN``,
``SLACK_SIGNING_SECRET``), and then ``/ar`` finds a patient, shows the account, a biller
asks to write off what is open, a supervisor approves it with the button, and the
balance the account view shows has changed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.demo import load_demo
from bot.staff import ids
from core.auth import add_staff
from core.clock import FixedClock
from core.db import Database
from core.ledger.items import balance
from core.ledger.tables import customer_account
from core.money import Money
from tests.bot.staff.approval_helpers import buttons_of, press, words
from tests.bot.staff.conftest import Slack, text_of
from tests.core.helpers import ADMIN


@pytest.fixture
def clock() -> FixedClock:
    """The demo's dates are relative to today: so is this clinic's clock."""
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


async def a_patient_who_owes(db: Database) -> tuple[str, str, Money]:
    """(account number, surname, balance) of a demo patient owing under $500 (a
    supervisor's default approval limit)."""
    async with db.read() as conn:
        rows = (await conn.execute(select(customer_account))).all()
        for row in rows:
            owed = await balance(conn, row.id)
            if 0 < owed < 50_000:
                return row.number, row.name.split()[-1], Money(owed, row.currency)
    raise AssertionError("the demo clinic has nobody owing under $500")


async def test_the_demo_clinic_runs_ar_and_a_write_off_is_approved_with_a_button(
    slack: Slack, db: Database
) -> None:
    loaded = await load_demo(db, patients=20)
    assert loaded.startswith("demo clinic loaded: 20 patients")
    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Bea Biller", role="biller", slack_user_id="U0BEA")
        await add_staff(tx, ADMIN, name="Sam Super", role="supervisor", slack_user_id="U0SAM")
    number, surname, owed = await a_patient_who_owes(db)

    found = text_of(await slack.command(f"find {surname}", "U0BEA"))
    assert number in found
    shown = text_of(await slack.command(f"account {number}", "U0BEA"))
    assert f"Balance: *${owed}*" in shown  # the demo clinic keeps dollars

    asked = text_of(await slack.command(f"writeoff {number} all ADMIN demo trial", "U0BEA"))
    assert "Sent for approval: write-off request" in asked, asked
    [posted] = slack.fake.called("chat.postMessage")
    request_id = int(buttons_of(posted)[0]["value"])
    await press(slack, ids.APPROVE_REQUEST, request_id, "U0SAM")

    [update] = slack.fake.called("chat.update")
    assert "Approved by Sam Super" in words(update)
    assert "New balance: *$0.00*" in words(update)
    shown = text_of(await slack.command(f"account {number}", "U0BEA"))
    assert "Balance: *$0.00*" in shown
    assert re.search(r"write.off", shown, re.IGNORECASE)
