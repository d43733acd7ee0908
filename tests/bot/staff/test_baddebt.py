"""``/ar baddebt [--since DATE]``: the bad-debt history in Slack (AR-137, AR-149)."""

from __future__ import annotations

import pytest

from core.db import Database
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, buttons, text_of
from tests.core.dunning_helpers import AS_OF, owes, patient
from tests.core.helpers import ADMIN, usd
from tests.core.reports.test_baddebt_history import send

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


async def test_baddebt_shows_months_by_class_and_each_account(slack: Slack, db: Database) -> None:
    brown = await patient(db, "Brown")
    north = await patient(db, "Novak", location="north", financial_class="medicaid")
    for account, amount in ((brown, "250.00"), (north, "40.00")):
        await owes(db, account, amount, 200)
        await send(db, account)
    await record_payment(db, ADMIN, account_id=brown.id, amount=usd("50"), received_on=AS_OF,
                         key="late", method="cash")  # fmt: skip

    reply = await slack.command("baddebt")
    shown = text_of(reply)
    assert "*Bad debt* since Jun 1, 2025, per month and financial class" in shown
    assert f"2026-06  {'medicaid':<14} {1:5d}  {'$40.00':>14}" in shown
    assert f"2026-06  {'self_pay':<14} {1:5d}  {'$250.00':>14}" in shown
    assert (
        f"*{brown.number}*  Ana Brown\nJun 30, 2026 · *$250.00* · paid since $50.00 · bad debt"
        in shown
    )
    assert {b["value"] for b in buttons(reply)} == {str(brown.id), str(north.id)}

    limited = text_of(await slack.command("baddebt", user="U0NORTH"))
    assert "Novak" in limited and "Brown" not in limited and "self_pay" not in limited
    later = text_of(await slack.command("baddebt --since 2026-07-01"))
    assert "*Bad debt* since Jul 1, 2026: no account was sent to bad debt." in later
    bad = text_of(await slack.command("baddebt --since yesterday"))
    assert "'yesterday' is not a --since date; write it as YYYY-MM-DD" in bad
