"""Service use and revenue per service (BI-16): lines, units, list value, billed and
what was given off the list, by service, category, doctor or location; reversed
charges left out; exportable as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.billing.charges import ChargeLine
from core.db import Database
from core.errors import ValidationError
from core.reports.services import service_csv, service_json, service_text, service_use
from core.services.adjustments import reverse_entry
from tests.core.billing.helpers import DAY, charge, rule, service
from tests.core.helpers import ADMIN, open_account


async def test_what_was_billed_per_service_and_per_category(db: Database) -> None:
    await service(db, "CONS", "100.00")
    await service(db, "LAB", "40.00", "lab")
    ana = await open_account(db, "Ana López")
    await rule(db, "Spring 10%", "percent", percent="10", service_code="CONS")
    await charge(db, ana.id, ChargeLine("CONS", 2, DAY, doctor="Dr Ruiz"),
                 ChargeLine("LAB", 1, DAY), key="v1")  # fmt: skip
    await charge(db, ana.id, ChargeLine("LAB", 3, DAY, location="north"), key="v2")
    gone = await charge(db, ana.id, ChargeLine("CONS", 1, DAY), key="v3")
    await reverse_entry(db, ADMIN, entry_id=gone.entry.id, on=DAY, key="undo-v3",
                        reason="KEYING_ERROR")  # fmt: skip
    async with db.read() as conn:
        by_service = await service_use(conn, DAY, DAY, "USD")
        by_category = await service_use(conn, DAY, DAY, "USD", by="category")
        by_doctor = await service_use(conn, DAY, DAY, "USD", by="doctor")
        north = await service_use(conn, DAY, DAY, "USD", by="location", locations=["north"])
        with pytest.raises(ValidationError, match="'payer' is not one of"):
            await service_use(conn, DAY, DAY, "USD", by="payer")

    assert [
        (ln.key, ln.lines, ln.units, str(ln.listed), str(ln.billed), str(ln.off_list))
        for ln in by_service.lines
    ] == [
        ("CONS", 1, 2, "200.00", "180.00", "20.00"),  # the reversed visit left out
        ("LAB", 2, 4, "160.00", "160.00", "0.00"),
    ]
    assert str(by_service.billed) == "340.00"
    assert [(ln.key, str(ln.billed)) for ln in by_category.lines] == [
        ("consultation", "180.00"), ("lab", "160.00"),
    ]  # fmt: skip
    assert [(ln.key, ln.lines) for ln in by_doctor.lines] == [("Dr Ruiz", 1), ("(none)", 2)]
    assert [(ln.key, str(ln.billed)) for ln in north.lines] == [("north", "120.00")]
    rows = list(csv.DictReader(io.StringIO(service_csv(by_service))))
    assert rows[0] == {
        "key": "CONS", "description": rows[0]["description"], "lines": "1", "units": "2",
        "listed": "200.00", "billed": "180.00", "off_list": "20.00", "currency": "USD",
    }  # fmt: skip
    assert json.loads(service_json(by_service))["billed"] == "340.00"
    assert service_text(by_service).startswith("Services billed 2026-03-02 to 2026-03-02")
