"""Days in A/R (AR-145): the balance over the average day's billing of the period before,
in total and by financial class or patient type, as of any day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.db import Database
from core.errors import ValidationError
from core.ledger.aging import GroupBy
from core.reports.dso import days_in_ar
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, open_account, usd

AS_OF = date(2026, 6, 30)


async def test_days_in_ar_in_total_and_by_patient_type(db: Database) -> None:
    ward = await open_account(db, name="Ida Ward", patient_type="IP", financial_class="medicare")
    clinic = await open_account(db, name="Oli Clinic", patient_type="OP")
    for account, amount, days_ago, key in (
        (ward, "9000", 10, "w1"),   # in the 90 days
        (clinic, "900", 20, "c1"),  # in the 90 days
        (clinic, "500", 120, "c2"),  # before the period: owed, not billed in it
    ):  # fmt: skip
        await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount),
                          service_date=AS_OF - timedelta(days=days_ago), key=key)  # fmt: skip
    await record_payment(db, ADMIN, account_id=clinic.id, amount=usd("400"),
                         received_on=AS_OF, key="p", method="cash")  # fmt: skip
    async with db.read() as conn:
        total = await days_in_ar(conn, AS_OF, "USD")
        by_type = await days_in_ar(conn, AS_OF, "USD", by=GroupBy.PATIENT_TYPE)
        by_class = await days_in_ar(conn, AS_OF, "USD", by=GroupBy.FINANCIAL_CLASS, period_days=30)
        before = await days_in_ar(conn, AS_OF - timedelta(days=100), "USD")

    # owed 10,000 (9,000 + 900 + 500 - 400) over 9,900 billed in 90 days: 110 a day
    assert (total.total.balance, total.total.billed) == (usd("10000"), usd("9900"))
    assert total.total.days == Decimal("90.9") and total.groups == ()
    assert [(g.group, g.balance, g.billed, g.days) for g in by_type.groups] == [
        ("IP", usd("9000"), usd("9000"), Decimal("90.0")),
        ("OP", usd("1000"), usd("900"), Decimal("100.0")),
    ][::-1]
    assert by_type.total == total.total
    assert [(g.group, g.days) for g in by_class.groups] == [
        ("self_pay", Decimal("33.3")), ("medicare", Decimal("30.0")),
    ]  # fmt: skip
    # 100 days earlier only the oldest charge was there, billed 20 days before: 90 days
    assert (before.total.balance, before.total.days) == (usd("500"), Decimal("90.0"))


async def test_nothing_billed_has_no_figure_and_bad_asks_are_refused(db: Database) -> None:
    quiet = await open_account(db, name="Quiet", patient_type="OP")
    await post_charge(db, ADMIN, account_id=quiet.id, amount=usd("50"),
                      service_date=AS_OF - timedelta(days=200), key="old")  # fmt: skip
    async with db.read() as conn:
        report = await days_in_ar(conn, AS_OF, "USD")
        with pytest.raises(ValidationError, match="grouped by financial_class"):
            await days_in_ar(conn, AS_OF, "USD", by=GroupBy.DOCTOR)
        with pytest.raises(ValidationError, match="give 1 to 3650"):
            await days_in_ar(conn, AS_OF, "USD", period_days=0)
    assert (report.total.balance, report.total.billed, report.total.days) == (
        usd("50"), usd("0"), None,
    )  # fmt: skip
