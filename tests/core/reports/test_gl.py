"""The general ledger's accounts over a period (AR-122, AR-121): balance before, debits,
credits, balance after for each GL account; the ledger balances, and A/R control is
the ATB's total."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from core.db import Database
from core.errors import ValidationError
from core.ledger.aging import AtbQuery, aged_trial_balance
from core.reports.gl import gl_json, gl_summary, gl_text
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.dunning_helpers import patient
from tests.core.helpers import ADMIN, usd

DAY = date(2026, 6, 29)


async def test_each_account_before_during_and_after(db: Database) -> None:
    ana = await patient(db, "Ana", telegram=False)
    await post_charge(db, ADMIN, account_id=ana.id, amount=usd("50.00"),
                      service_date=DAY - timedelta(days=1), key="c0")  # fmt: skip
    await post_charge(db, ADMIN, account_id=ana.id, amount=usd("100.00"), service_date=DAY,
                      key="c1")  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("60.00"), received_on=DAY,
                         key="p1", method="cash")  # fmt: skip
    async with db.read() as conn:
        s = await gl_summary(conn, DAY, DAY, "USD")
        atb = await aged_trial_balance(conn, AtbQuery(as_of=DAY, currency="USD"))
        with pytest.raises(ValidationError, match="before it starts"):
            await gl_summary(conn, DAY, DAY - timedelta(days=1), "USD")

    lines = {ln.code: ln for ln in s.lines}
    ar = lines["1100"]
    assert [str(m) for m in (ar.opening, ar.debits, ar.credits, ar.closing)] == [
        "50.00", "100.00", "60.00", "90.00",
    ]  # fmt: skip
    assert ar.closing.minor == atb.total_minor
    assert (str(lines["1000"].debits), str(lines["1000"].closing)) == ("60.00", "60.00")
    revenue = lines["4000"]
    assert (str(revenue.opening), str(revenue.credits), str(revenue.closing)) == (
        "-50.00", "100.00", "-150.00",
    )  # fmt: skip
    assert s.balanced and str(s.total("debits")) == "160.00"
    assert gl_text(s).rstrip().endswith("The ledger balances.")
    body = json.loads(gl_json(s))
    assert body["balanced"] is True
    assert {a["code"]: a["after"] for a in body["accounts"]}["1100"] == "90.00"
