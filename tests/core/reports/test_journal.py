"""The journal of a period (AR-113, AR-114, AR-126, AR-128, AR-176): every posting that
touched customers, each with its effect on what the account owes, totalled by entry
type and by payer; as text, CSV (its columns are a contract) and JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest

from core.customers import NewCustomer, register_customer
from core.db import Database
from core.errors import ValidationError
from core.ledger.aging import AtbQuery, aged_trial_balance
from core.reports.days import period
from core.reports.journal import journal
from core.reports.journal_format import CSV_COLUMNS, journal_csv, journal_json, journal_text
from core.services.charges import post_charge
from core.services.memos import post_memo, receive_prepayment, use_prepayment
from core.services.payments import record_payment
from core.services.writeoffs import write_off
from tests.core.dunning_helpers import patient
from tests.core.helpers import ADMIN, items_of, usd

DAY = date(2026, 6, 29)


async def books(db: Database) -> dict[str, str]:
    """A day of postings: two patients' charges, a cheque, a write-off, an insurer's
    charge and remittance; and a charge the day before (outside the day)."""
    ana = await patient(db, "Ana", telegram=False)
    north = await patient(db, "North", telegram=False, location="north")
    acme = await patient(db, "Acme Health", telegram=False, customer_type="insurer")
    before = DAY - timedelta(days=1)
    await post_charge(db, ADMIN, account_id=ana.id, amount=usd("50.00"), service_date=before,
                      key="c0")  # fmt: skip
    for account, amount, key in ((ana, "120.00", "c1"), (north, "80.00", "c2"),
                                 (acme, "300.00", "c3")):  # fmt: skip
        await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount),
                          service_date=DAY, key=key)  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("100.00"), received_on=DAY,
                         key="p1", method="check", reference="CHK-1042")  # fmt: skip
    await record_payment(db, ADMIN, account_id=acme.id, amount=usd("250.00"), received_on=DAY,
                         key="p2", method="eft", reference="835-77")  # fmt: skip
    await write_off(db, ADMIN, account_id=ana.id, key="w1", on=DAY, reason="CHARITY",
                    note="hardship", amount=usd("20.00"))  # fmt: skip
    return {"ana": ana.number, "north": north.number, "acme": acme.number}


async def test_a_day_s_journal_lists_each_posting_and_totals_by_type_and_payer(
    db: Database,
) -> None:
    n = await books(db)
    async with db.read() as conn:
        j = await journal(conn, DAY, DAY, "USD")

    assert [(ln.entry_type, ln.account_number, str(ln.amount)) for ln in j.lines] == [
        ("CHARGE", n["ana"], "120.00"),
        ("CHARGE", n["north"], "80.00"),
        ("CHARGE", n["acme"], "300.00"),
        ("PAYMENT", n["ana"], "-100.00"),
        ("PAYMENT", n["acme"], "-250.00"),
        ("WO_ADMIN", n["ana"], "-20.00"),
    ]
    cheque = j.lines[3]
    assert (cheque.group, cheque.method, cheque.reference, cheque.payer) == (
        "receipts", "check", "CHK-1042", "self-pay",
    )  # fmt: skip
    assert (j.lines[5].group, j.lines[5].reason) == ("adjustments", "CHARITY")
    assert [(t.key, t.count, str(t.amount)) for t in j.by_type] == [
        ("CHARGE", 3, "500.00"), ("PAYMENT", 2, "-350.00"), ("WO_ADMIN", 1, "-20.00"),
    ]  # fmt: skip
    assert [
        (p.payer, str(p.charges), str(p.receipts), str(p.adjustments)) for p in j.by_payer
    ] == [
        ("self-pay", "200.00", "100.00", "-20.00"),
        (j.lines[2].account_name, "300.00", "250.00", "0.00"),
    ]
    assert str(j.net) == "130.00"


async def test_only_one_group_one_location_or_a_period(db: Database) -> None:
    n = await books(db)
    async with db.read() as conn:
        cash = await journal(conn, DAY, DAY, "USD", only="receipts")
        north = await journal(conn, DAY, DAY, "USD", locations=["north"])
        two_days = await journal(conn, DAY - timedelta(days=1), DAY, "USD", only="charges")
        for start, end, only, says in (
            (DAY, DAY - timedelta(days=1), None, "ends .* before it starts"),
            (DAY - timedelta(days=400), DAY, None, "at most 366 days"),
            (DAY, DAY, "cash", "'cash' is not one of charges, receipts, adjustments"),
        ):
            with pytest.raises(ValidationError, match=says):
                await journal(conn, start, end, "USD", only=only)

    assert [ln.entry_type for ln in cash.lines] == ["PAYMENT", "PAYMENT"]
    assert [ln.account_number for ln in north.lines] == [n["north"]]
    assert [str(ln.amount) for ln in two_days.lines] == ["50.00", "120.00", "80.00", "300.00"]
    today = date(2026, 6, 30)
    assert period(None, None, today) == (DAY, DAY)
    assert period(DAY - timedelta(days=5), None, today) == (DAY - timedelta(days=5), today)
    assert period(None, DAY, today) == (DAY, DAY)


async def test_csv_json_and_text_say_the_same(db: Database) -> None:
    n = await books(db)
    async with db.read() as conn:
        j = await journal(conn, DAY, DAY, "USD")

    rows = list(csv.DictReader(io.StringIO(journal_csv(j))))
    body = json.loads(journal_json(j))
    text = journal_text(j)

    assert tuple(rows[0]) == CSV_COLUMNS == (
        "entry", "effective_date", "posted_at", "entry_type", "group", "account_number",
        "account_name", "payer", "method", "reference", "reason", "actor", "amount", "prepaid",
        "currency",
    )  # fmt: skip
    assert rows[3]["reference"] == "CHK-1042" and rows[3]["amount"] == "-100.00"
    assert rows[3]["entry"] == j.lines[3].entry_number and rows[3]["actor"] == "staff:1"
    assert body["lines"] == rows and body["net"] == "130.00"
    assert body["by_payer"][0] == {
        "payer": "self-pay", "charges": "200.00", "receipts": "100.00", "adjustments": "-20.00"
    }  # fmt: skip
    assert text.startswith("Journal 2026-06-29 (USD)\n")
    assert f"{n['ana']:<12} self-pay" in text and "check CHK-1042" in text
    assert text.rstrip().endswith("Net change in what customers owe: 130.00")


async def test_prepayments_count_as_received_not_as_owed(db: Database) -> None:
    """Review finding: a prepayment held (outside A/R) made the journal's net differ
    from the ATB, and using it showed as a 0.00 line though A/R fell by 40."""
    ana = await patient(db, "Ana", telegram=False)
    await post_charge(db, ADMIN, account_id=ana.id, amount=usd("100.00"), service_date=DAY,
                      key="c1")  # fmt: skip
    await receive_prepayment(db, ADMIN, account_id=ana.id, amount=usd("40.00"), on=DAY,
                             key="pp1", method="cash")  # fmt: skip
    async with db.read() as conn:
        held = await journal(conn, DAY, DAY, "USD")
    [item] = [i for i in await items_of(db, ana.id) if i.is_debit]
    await use_prepayment(db, ADMIN, item_id=item.id, amount=usd("40.00"), on=DAY, key="use1")
    async with db.read() as conn:
        used = await journal(conn, DAY, DAY, "USD")
        atb = await aged_trial_balance(conn, AtbQuery(as_of=DAY, currency="USD"))

    assert [(ln.entry_type, str(ln.amount), str(ln.prepaid)) for ln in held.lines] == [
        ("CHARGE", "100.00", "0.00"), ("PREPAYMENT", "0.00", "40.00"),
    ]  # fmt: skip
    assert str(held.net) == "100.00"  # the ATB's total then: the 40 is held, not applied
    assert str(held.by_payer[0].receipts) == "40.00"  # but it was received
    used_line = used.lines[-1]
    assert (str(used_line.amount), str(used_line.prepaid)) == ("-40.00", "-40.00")
    assert used.net.minor == atb.total_minor == 6000
    assert str(used.by_payer[0].receipts) == "40.00"  # received once, not twice
    rows = list(csv.DictReader(io.StringIO(journal_csv(used))))
    assert [(r["amount"], r["prepaid"]) for r in rows][-1] == ("-40.00", "-40.00")


async def test_a_name_a_spreadsheet_would_run_as_a_formula_stays_text(db: Database) -> None:
    """Review finding: names went into the CSV as typed, so '=HYPERLINK(...)' would run
    in a spreadsheet. The CSV keeps it as text; the JSON keeps it as it is."""
    evil = await register_customer(
        db, ADMIN, NewCustomer('=HYPERLINK("http://x")', "", "USD", customer_type="business")
    )
    await post_charge(db, ADMIN, account_id=evil.id, amount=usd("10.00"), service_date=DAY,
                      key="c1")  # fmt: skip
    async with db.read() as conn:
        j = await journal(conn, DAY, DAY, "USD")

    [row] = list(csv.DictReader(io.StringIO(journal_csv(j))))
    [line] = json.loads(journal_json(j))["lines"]

    assert j.lines[0].account_name.startswith("=HYPERLINK")
    assert row["account_name"] == "'" + j.lines[0].account_name
    assert row["payer"] == "'" + j.lines[0].payer  # an organisation pays for itself
    assert row["amount"] == "10.00" and line["account_name"] == j.lines[0].account_name


async def test_contractual_allowances_by_type_and_patient(db: Database) -> None:
    """AR-171 (with AR-146's parameters): the journal of chosen entry types is the
    contractual-allowance report, summary by type and detail by patient; an unknown type
    is refused by name."""
    ana = await patient(db, "Ana", telegram=False)
    bea = await patient(db, "Bea", telegram=False)
    for account, key in ((ana, "a"), (bea, "b")):
        await post_charge(db, ADMIN, account_id=account.id, amount=usd("100.00"),
                          service_date=DAY, key=f"c{key}")  # fmt: skip
        [item] = await items_of(db, account.id)
        await post_memo(db, ADMIN, memo_type="CONTRACTUAL", account_id=account.id,
                        amount=usd("30.00"), on=DAY, key=f"m{key}", reason="OTHER",
                        note="contract rate", item_id=item.id)  # fmt: skip
    async with db.read() as conn:
        j = await journal(conn, DAY, DAY, "USD", types=["contractual"])
        with pytest.raises(ValidationError, match="'NOPE' is not an entry type"):
            await journal(conn, DAY, DAY, "USD", types=["NOPE"])

    assert [(ln.account_number, str(ln.amount)) for ln in j.lines] == [
        (ana.number, "-30.00"), (bea.number, "-30.00"),
    ]  # fmt: skip
    assert [(t.key, t.count, str(t.amount)) for t in j.by_type] == [("CONTRACTUAL", 2, "-60.00")]
    assert journal_text(j).startswith("Journal 2026-06-29 (USD, CONTRACTUAL only)")
