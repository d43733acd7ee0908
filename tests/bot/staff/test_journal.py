"""``/ar journal`` (AR-113, AR-114, AR-128): a period's postings totalled by entry type
and by payer for the person's locations, and every line as a CSV file on request."""

from __future__ import annotations

import csv
import io

import pytest

from core.auth import Actor, add_staff
from core.db import Database
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import ADMIN, usd
from tests.core.reports.test_journal import DAY

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


async def day_of_postings(db: Database) -> tuple[str, str]:
    ana = await patient(db, "López", "Ana")
    north = await patient(db, "Norte", "Nico", location="north")
    for account, key in ((ana, "c1"), (north, "c2")):
        await post_charge(db, ADMIN, account_id=account.id, amount=usd("120.00"),
                          service_date=DAY, key=key)  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("100.00"), received_on=DAY,
                         key="p1", method="check", reference="CHK-1042")  # fmt: skip
    return ana.number, north.number


async def test_yesterday_s_journal_totals_by_type_and_payer(slack: Slack, db: Database) -> None:
    ana, north = await day_of_postings(db)

    shown = text_of(await slack.command("journal", "U0BILLER"))  # the clock: 30 June
    cash = text_of(await slack.command("journal --from 2026-06-29 --only receipts", "U0BILLER"))
    none = text_of(await slack.command("journal --from 2026-06-01 --to 2026-06-02", "U0BILLER"))

    assert shown.startswith(
        "*Journal 2026-06-29 (USD)*: 3 lines; net change in what customers owe *$140.00*."
    )
    assert "• Charge / invoice (CHARGE): 2 entries, $240.00" in shown
    assert "• Payment received (PAYMENT): 1 entry, -$100.00" in shown
    assert "• self-pay: $240.00 · $100.00 · $0.00" in shown
    assert cash.startswith("*Journal 2026-06-29 to 2026-06-30 (USD, receipts only)*: 1 line;")
    assert none.endswith("nothing was posted.")
    del ana, north


async def test_csv_sends_every_line_and_locations_are_kept_apart(
    slack: Slack, db: Database
) -> None:
    ana, north = await day_of_postings(db)

    reply = text_of(await slack.command("journal --csv --location main", "U0BILLER"))

    assert "Every line is in the CSV file sent to your direct messages" in reply
    asked = slack.fake.called("files.getUploadURLExternal")[0]
    assert asked.body["filename"] == "journal-2026-06-29-2026-06-29.csv"
    done = slack.fake.called("files.completeUploadExternal")[0]
    rows = list(
        csv.DictReader(io.StringIO(slack.fake.uploads[done.json("files")[0]["id"]].decode()))
    )
    assert [(r["account_number"], r["entry_type"], r["amount"]) for r in rows] == [
        (ana, "CHARGE", "120.00"), (ana, "PAYMENT", "-100.00"),
    ]  # fmt: skip
    assert rows[1]["reference"] == "CHK-1042" and north not in {r["account_number"] for r in rows}
    for text, user, says in (
        ("journal", "U0CLERK", "lacks the permission 'view_reports'"),
        ("journal --only cash", "U0BILLER", "--only takes charges, receipts, adjustments"),
        ("journal --to 2026-06-01 --from 2026-06-29", "U0BILLER", "before it starts"),
    ):
        assert says in text_of(await slack.command(text, user)), text


async def test_the_status_shows_where_accounts_stand_for_your_locations(
    slack: Slack, db: Database
) -> None:
    """/ar status (AR-160, AR-009)."""
    ana, north = await day_of_postings(db)

    shown = text_of(await slack.command("status", "U0BILLER"))
    there = text_of(await slack.command("status --location north --as-of 2026-06-28", "U0BILLER"))

    assert shown.startswith("*A/R status* on Jun 30, 2026: 2 accounts, *$140.00* in all")
    assert "• Active A/R, patient type not set: 2 · $140.00" in shown
    assert "• In collections: 0 · $0.00" in shown
    assert "Disputed: 0 accounts · $0.00 (counted above)" in shown
    assert there.startswith("*A/R status* on Jun 28, 2026 at north: 0 accounts, *$0.00* in all")
    assert "lacks the permission 'view_reports'" in text_of(
        await slack.command("status", "U0CLERK")
    )
    del ana, north


async def test_collections_last_month_by_default_or_the_days_asked(
    slack: Slack, db: Database
) -> None:
    """/ar collections (AR-152, AR-157)."""
    ana, north = await day_of_postings(db)  # a cheque of 100.00 paid Ana's June charge

    june = text_of(await slack.command("collections --from 2026-06-01", "U0BILLER"))
    may = text_of(await slack.command("collections", "U0BILLER"))  # the clock: 30 June

    assert june.startswith(
        "*Collections* Jun 1, 2026 to Jun 30, 2026: *$100.00* paid on 1 charge, 0.0 days "
        "after the bill on average · 100.0% within 30 days"
    )
    assert "• self-pay: $100.00 · 1 · 0.0 · 100.0%/100.0%/100.0%" in june
    assert may == "*Collections* May 1, 2026 to May 31, 2026: nothing was collected."
    assert "--by takes payer, financial_class" in text_of(
        await slack.command("collections --by doctor", "U0BILLER")
    )
    del ana, north


async def test_the_journal_of_chosen_entry_types(slack: Slack, db: Database) -> None:
    """AR-171, AR-146: --type narrows the journal to entry types; a wrong one is named."""
    await day_of_postings(db)

    shown = text_of(await slack.command("journal --type payment", "U0BILLER"))
    wrong = text_of(await slack.command("journal --type PAYMNT", "U0BILLER"))
    odd = text_of(await slack.command("journal --type 'x", "U0BILLER"))

    assert shown.startswith("*Journal 2026-06-29 (USD, PAYMENT only)*: 1 line;")
    assert "'PAYMNT' is not an entry type (the types: " in wrong
    assert "is not an entry type (like CONTRACTUAL or WO_ADMIN)" in odd


async def test_the_general_ledger_for_staff_of_every_location(
    slack: Slack, db: Database, staff: dict[str, Actor]
) -> None:
    """/ar gl (AR-122): each GL account over the day; the ledger balances. It covers
    every location, so staff of one location may not read it."""
    await day_of_postings(db)
    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Ned North", role="manager", locations=("north",),
                        slack_user_id="U0NMGR")  # fmt: skip

    shown = text_of(await slack.command("gl --from 2026-06-29 --to 2026-06-29", "U0BILLER"))
    refused = text_of(await slack.command("gl", "U0NMGR"))

    assert shown.startswith(
        "*General ledger* Jun 29, 2026 (USD): debits $340.00, credits $340.00; "
        "the ledger balances."
    )
    assert "• 1100 Accounts receivable - control: $0.00 · $240.00 · $100.00 · *$140.00*" in shown
    assert "may not work on accounts of location 'main'" in refused


async def test_services_billed_per_service(slack: Slack, db: Database) -> None:
    """/ar services (BI-16): June's consultations from the catalogue."""
    ana = await patient(db, "López", "Ana")
    await slack.command(f"charge {ana.number} CONS 2 2026-06-10", "U0BILLER")

    june = text_of(await slack.command("services --from 2026-06-01", "U0BILLER"))
    by_category = text_of(
        await slack.command("services --from 2026-06-01 --by category", "U0BILLER")
    )

    assert june.startswith("*Services billed* Jun 1, 2026 to Jun 30, 2026, by service: *$160.00*")
    assert "• CONS Consultation: 1 · 2 · $160.00 · $0.00" in june
    assert "• consultation: 1 · 2 · $160.00 · $0.00" in by_category
