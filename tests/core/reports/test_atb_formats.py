"""The ATB in its three formats: JSON and CSV are contracts with integrations and
spreadsheets (README "ATB formats"); the text report is what a billing manager reads.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from core.db import Database
from core.ledger.aging import (
    Atb,
    AtbBucket,
    AtbQuery,
    AtbRow,
    GroupBy,
    aged_trial_balance,
    bucket_labels,
    parse_bounds,
)
from core.reports.atb import atb_csv, atb_json, atb_text
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, open_account, usd

AS_OF = date(2026, 6, 30)
AMOUNT = re.compile(r"^-?\d+\.\d{2}$")
CONTRACT_KEYS = {"as_of", "currency", "basis", "buckets", "total", "accounts"}
SEVEN = ["0-30", "31-60", "61-90", "91-120", "121-150", "151-180", "over 180"]


def no_floats(text: str) -> Any:
    raise AssertionError(f"the JSON carries a float: {text}")


def parse(body: str) -> Any:
    return json.loads(body, parse_float=no_floats)


async def clinic(db: Database) -> dict[str, str]:
    """Three patients: one owing old and new, one with a comma in the name, one in credit."""
    numbers = {}
    plan = [
        ("Ana María López", "self_pay", [("1234.56", 100), ("120", 5)], None),
        ("López, Ana", "commercial", [("80", 40)], None),
        ("Cris Credit", "self_pay", [("50", 70)], "75"),
    ]
    for n, (name, fclass, charges, paid) in enumerate(plan):
        account = await open_account(db, name=name, financial_class=fclass)
        numbers[name] = account.number
        for m, (amount, age) in enumerate(charges):
            await post_charge(
                db,
                ADMIN,
                account_id=account.id,
                amount=usd(amount),
                service_date=AS_OF - timedelta(days=age),
                key=f"c{n}-{m}",
            )
        if paid:
            await record_payment(
                db,
                ADMIN,
                account_id=account.id,
                amount=usd(paid),
                received_on=AS_OF - timedelta(days=3),
                key=f"p{n}",
                method="card",
            )
    return numbers


async def report(db: Database, **options: Any) -> Atb:
    async with db.read() as conn:
        return await aged_trial_balance(conn, AtbQuery(as_of=AS_OF, currency="USD", **options))


# --- JSON ----------------------------------------------------------------------------


async def test_json_has_exactly_the_contract_keys_and_decimal_strings(db: Database) -> None:
    """AR-156, AR-183: the documented shape; every amount a decimal string, never a float."""
    numbers = await clinic(db)

    body = parse(atb_json(await report(db)))

    assert set(body) == CONTRACT_KEYS
    assert (body["as_of"], body["currency"], body["basis"]) == ("2026-06-30", "USD", "service")
    assert body["total"] == "1409.56"
    assert [b["label"] for b in body["buckets"]] == SEVEN
    for bucket in body["buckets"]:
        assert set(bucket) == {"label", "amount", "percent", "accounts"}
        assert AMOUNT.match(bucket["amount"]) and AMOUNT.match(bucket["percent"])
        assert type(bucket["accounts"]) is int
    first = body["buckets"][0]
    assert (first["amount"], first["accounts"]) == ("95.00", 2)  # 120.00 and -25.00 credit
    lopez = next(a for a in body["accounts"] if a["number"] == numbers["Ana María López"])
    assert lopez == {
        "number": numbers["Ana María López"],
        "name": "Ana María López",
        "group": None,
        "buckets": ["120.00", "0.00", "0.00", "1234.56", "0.00", "0.00", "0.00"],
        "total": "1354.56",
    }
    credit = next(a for a in body["accounts"] if a["name"] == "Cris Credit")
    assert (credit["buckets"][0], credit["total"]) == ("-25.00", "-25.00")
    assert all(AMOUNT.match(v) for a in body["accounts"] for v in [*a["buckets"], a["total"]])
    assert sum(Decimal(a["total"]) for a in body["accounts"]) == Decimal(body["total"])
    assert sum(Decimal(b["amount"]) for b in body["buckets"]) == Decimal(body["total"])


async def test_grouped_json_adds_group_by_and_groups(db: Database) -> None:
    """AR-188: with ``--by`` the JSON also carries ``group_by`` and per-group buckets."""
    await clinic(db)

    body = parse(atb_json(await report(db, group_by=GroupBy.FINANCIAL_CLASS)))

    assert set(body) == CONTRACT_KEYS | {"group_by", "groups"}
    assert body["group_by"] == "financial_class"
    assert set(body["groups"]) == {"self_pay", "commercial"}
    commercial = body["groups"]["commercial"]
    assert [b["label"] for b in commercial] == SEVEN
    assert commercial[1] == {
        "label": "31-60",
        "amount": "80.00",
        "percent": "100.00",
        "accounts": 1,
    }
    assert {a["group"] for a in body["accounts"]} == {"self_pay", "commercial"}
    grouped_total = sum(Decimal(b["amount"]) for g in body["groups"].values() for b in g)
    assert grouped_total == Decimal(body["total"])


async def test_json_of_an_empty_ledger_is_zero_not_null(db: Database) -> None:
    """AR-183: nothing owed is a report of zeros, still in the contract's shape."""
    body = parse(atb_json(await report(db, bounds=parse_bounds("30,60"))))

    assert set(body) == CONTRACT_KEYS
    assert body["total"] == "0.00" and body["accounts"] == []
    assert body["buckets"] == [
        {"label": label, "amount": "0.00", "percent": "0.00", "accounts": 0}
        for label in ("0-30", "31-60", "over 60")
    ]


# --- CSV -----------------------------------------------------------------------------


async def test_csv_header_and_rows_parse_back_to_the_same_totals(db: Database) -> None:
    """AR-156: one row per account; names with commas survive; columns add up."""
    numbers = await clinic(db)
    atb = await report(db)

    rows = list(csv.reader(io.StringIO(atb_csv(atb))))

    header, *body = rows
    assert header == ["account_number", "account_name", "group", *SEVEN, "total"]
    assert len(body) == 3 and all(len(r) == len(header) for r in body)
    by_number = {r[0]: r for r in body}
    assert by_number[numbers["López, Ana"]][1] == "López, Ana"
    for row in body:
        assert row[2] == ""
        amounts = [Decimal(v) for v in row[3:-1]]
        assert all(AMOUNT.match(v) for v in row[3:])
        assert sum(amounts) == Decimal(row[-1])
    assert sum(Decimal(r[-1]) for r in body) == Decimal("1409.56")
    csv_columns = [sum(Decimal(r[3 + i]) for r in body) for i in range(7)]
    assert csv_columns == [Decimal(str(b.amount_minor)) / 100 for b in atb.buckets]


async def test_csv_follows_custom_buckets_and_carries_the_group(db: Database) -> None:
    """AR-192, AR-188: the columns are the chosen buckets; the group column is filled."""
    numbers = await clinic(db)

    atb = await report(db, bounds=parse_bounds("30,60"), group_by=GroupBy.FINANCIAL_CLASS)
    header, *body = list(csv.reader(io.StringIO(atb_csv(atb))))

    assert header == [
        "account_number",
        "account_name",
        "group",
        "0-30",
        "31-60",
        "over 60",
        "total",
    ]
    lopez = next(r for r in body if r[0] == numbers["Ana María López"])
    assert lopez[2:] == ["self_pay", "120.00", "0.00", "1234.56", "1354.56"]


# --- text ----------------------------------------------------------------------------


async def test_text_report_shows_the_bucket_table_and_top_accounts(db: Database) -> None:
    """AR-183, AR-186: the summary table with amounts and shares, then the top balances."""
    await clinic(db)

    text = atb_text(await report(db))

    assert text.startswith("Aged trial balance as of Jun 30, 2026 (USD, aged by service date)")
    lines = text.splitlines()
    table = {line.split()[0]: line.split()[1:] for line in lines[3:10]}
    assert table["0-30"] == ["95.00", "6.74", "2"]
    assert table["91-120"] == ["1,234.56", "87.58", "1"]
    assert table["151-180"] == ["0.00", "0.00", "0"]
    assert "over 180" in text
    total = next(line for line in lines if line.startswith("Total"))
    assert total.split() == ["Total", "1,409.56", "100.00", "3"]
    top = lines[lines.index("Top accounts by balance") + 1 :]
    assert [line.split()[-1] for line in top] == ["1,354.56", "80.00", "-25.00"]
    assert "Ana María López" in top[0]


async def test_text_report_shows_group_subtotals_and_the_over_filter(db: Database) -> None:
    """AR-188, AR-191: group headings with their buckets; the filter is stated."""
    await clinic(db)

    text = atb_text(await report(db, group_by=GroupBy.FINANCIAL_CLASS, over_days=90))

    assert "accounts over 90 days" in text.splitlines()[0]
    assert "Financial class: self_pay" in text
    assert "Financial class: commercial" not in text  # López, Ana owes nothing over 90 days


def test_text_report_lists_at_most_ten_top_accounts_biggest_first() -> None:
    """AR-186: the top ten balances, largest first, from a report with twelve accounts."""
    labels = bucket_labels((30, 60))
    rows = [
        AtbRow(n, f"A{n:07d}", f"Patient {n:02d}", None, (n * 100, 0, 0)) for n in range(1, 13)
    ]
    total = sum(r.total for r in rows)
    buckets = [AtbBucket(labels[0], total, Decimal("100.00"), 12)] + [
        AtbBucket(label, 0, Decimal("0.00"), 0) for label in labels[1:]
    ]
    atb = Atb(AtbQuery(AS_OF, "USD", bounds=(30, 60)), buckets, total, rows)

    text = atb_text(atb)

    top = text.splitlines()[text.splitlines().index("Top accounts by balance") + 1 :]
    assert [line.split()[0] for line in top] == [f"A{n:07d}" for n in range(12, 2, -1)]


async def test_csv_and_text_of_an_empty_report(db: Database) -> None:
    """AR-183: a clinic with nothing owed gets a header-only CSV and a table of zeros."""
    atb = await report(db)

    assert atb_csv(atb).splitlines() == [
        ",".join(["account_number", "account_name", "group", *SEVEN, "total"])
    ]
    text = atb_text(atb)
    total = next(line for line in text.splitlines() if line.startswith("Total"))
    assert total.split() == ["Total", "0.00", "0.00", "0"]
    assert "Top accounts by balance" not in text
