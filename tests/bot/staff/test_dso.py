"""``/ar dso``: days in A/R in Slack (AR-145), in total and by a grouping, for the
locations the person may report on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.db import Database
from core.services.charges import post_charge
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import ADMIN, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
TODAY = date(2026, 6, 30)  # the test clock's


async def test_dso_in_total_and_by_patient_type(slack: Slack, db: Database) -> None:
    ward = await patient(db, "Ward", "Ida", patient_type="IP")
    clinic = await patient(db, "Clinic", "Oli", patient_type="OP", location="north")
    for account, amount, key in ((ward, "9000", "w"), (clinic, "900", "c")):
        await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount),
                          service_date=TODAY - timedelta(days=10), key=key)  # fmt: skip
    shown = text_of(await slack.command("dso", user="U0ADMIN"))
    assert "*Days in A/R* on Jun 30, 2026: *90.0* days" in shown
    assert "$9,900.00 owed over $9,900.00 billed in the 90 days to that day" in shown
    grouped = text_of(await slack.command("dso --by patient_type --days 30", user="U0ADMIN"))
    assert "By patient type, the most days first:" in grouped
    assert f"{'IP':<16} {'30.0':>8}  {'$9,000.00':>14} owed  {'$9,000.00':>14} billed" in grouped
    north = text_of(await slack.command("dso --location north", user="U0ADMIN"))
    assert "on Jun 30, 2026 at north: *90.0* days" in north and "$900.00 owed" in north
    refused = text_of(await slack.command("dso --by doctor", user="U0ADMIN"))
    assert "days in A/R is grouped by financial_class, patient_type, location, not doctor" in (
        refused
    )
