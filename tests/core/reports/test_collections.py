"""Collection analysis (AR-152, AR-157): what payments paid of charges in a period, by
payer and other groupings, how many days after the bill, and the share within 30, 60
and 90 days; write-offs are not collections, a returned cheque takes back its part."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.customers import NewCustomer, register_customer
from core.db import Database
from core.errors import ValidationError
from core.ledger.accounts import Account
from core.reports.collections import collection_analysis
from core.services.adjustments import reverse_entry
from core.services.charges import post_charge
from core.services.payments import record_payment
from core.services.writeoffs import write_off
from tests.core.helpers import ADMIN, usd

JUNE_1, JUNE_30 = date(2026, 6, 1), date(2026, 6, 30)


async def person(db: Database, last: str, **kwargs: object) -> Account:
    new = NewCustomer(last, "Al", "USD", **kwargs)  # type: ignore[arg-type]
    return await register_customer(db, ADMIN, new)


async def billed(db: Database, account: Account, amount: str, on: date) -> None:
    await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount), service_date=on,
                      key=f"c-{account.id}-{on}")  # fmt: skip


async def paid(db: Database, account: Account, amount: str, on: date, key: str) -> int:
    result = await record_payment(db, ADMIN, account_id=account.id, amount=usd(amount),
                                  received_on=on, key=key, method="check")  # fmt: skip
    return result.entry.id


async def test_what_was_collected_from_whom_and_how_fast(db: Database) -> None:
    ana = await person(db, "Ana", patient_type="OP")
    await billed(db, ana, "200.00", date(2026, 5, 1))
    await paid(db, ana, "150.00", date(2026, 6, 10), "p1")  # 40 days after the bill
    acme = await person(db, "Acme", customer_type="insurer", financial_class="commercial")
    await billed(db, acme, "300.00", JUNE_1)
    await paid(db, acme, "300.00", date(2026, 6, 11), "p2")  # 10 days
    bea = await person(db, "Bea")
    await billed(db, bea, "100.00", date(2026, 1, 1))
    await write_off(db, ADMIN, account_id=bea.id, key="w", on=date(2026, 6, 15),
                    reason="CHARITY", note="hardship")  # fmt: skip
    cara = await person(db, "Cara")
    await billed(db, cara, "50.00", JUNE_1)
    cheque = await paid(db, cara, "50.00", date(2026, 6, 5), "p3")  # 4 days, then returned
    await reverse_entry(db, ADMIN, entry_id=cheque, on=date(2026, 6, 20), key="nsf",
                        reason="NSF")  # fmt: skip
    await paid(db, ana, "50.00", date(2026, 7, 2), "p4")  # after the period

    async with db.read() as conn:
        by_payer = await collection_analysis(conn, JUNE_1, JUNE_30, "USD")
        by_class = await collection_analysis(conn, JUNE_1, JUNE_30, "USD", by="financial_class")
        before_return = await collection_analysis(conn, JUNE_1, date(2026, 6, 19), "USD")

    insurer, self_pay = by_payer.lines
    assert (insurer.key, str(insurer.collected), insurer.charges) == ("Al Acme", "300.00", 1)
    assert insurer.average_days == Decimal("10.0") and insurer.share(0) == Decimal("100.0")
    assert (self_pay.key, str(self_pay.collected), self_pay.charges) == ("self-pay", "150.00", 2)
    assert self_pay.average_days == Decimal("31.0")  # (150 x 40 + 50 x 4) / 200
    assert [str(m) for m in self_pay.within] == ["50.00", "200.00", "200.00"]
    total = by_payer.total
    assert str(total.collected) == "450.00" and total.average_days == Decimal("18.4")
    assert [(ln.key, str(ln.collected)) for ln in by_class.lines] == [
        ("commercial", "300.00"), ("self_pay", "150.00"),
    ]  # fmt: skip
    assert str(before_return.total.collected) == "500.00"  # Cara's cheque still good then


async def test_locations_and_nonsense(db: Database) -> None:
    north = await person(db, "North", location="north")
    await billed(db, north, "80.00", JUNE_1)
    await paid(db, north, "80.00", date(2026, 6, 2), "p")
    async with db.read() as conn:
        main = await collection_analysis(conn, JUNE_1, JUNE_30, "USD", locations=["main"])
        theirs = await collection_analysis(conn, JUNE_1, JUNE_30, "USD", by="location")
        for args, says in (
            ((JUNE_30, JUNE_1, "USD"), "ends .* before it starts"),
            ((JUNE_1 - timedelta(days=400), JUNE_1, "USD"), "at most 366 days"),
        ):
            with pytest.raises(ValidationError, match=says):
                await collection_analysis(conn, *args)
        with pytest.raises(ValidationError, match="'doctor' is not one of"):
            await collection_analysis(conn, JUNE_1, JUNE_30, "USD", by="doctor")

    assert main.lines == () and main.total.average_days is None
    assert [(ln.key, ln.average_days) for ln in theirs.lines] == [("north", Decimal("1.0"))]
