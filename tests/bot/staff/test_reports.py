"""``/ar atb``: the summary in Slack and the full CSV as a file (AR-156, AR-187, AR-191,
AR-192), aged by the office's rule (AR-194)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import SLACK_KEY, make_app
from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.errors import ValidationError
from core.ledger.accounts import Account
from core.settings import Settings
from tests.bot.staff.conftest import Slack, patient, slack_settings, text_of
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


async def charge(db: Database, account: Account, code: str, on: date, key: str) -> None:
    await post_charges(db, ADMIN, account_id=account.id, key=key, bill_date=on,
                       lines=[ChargeLine(code, 1, on)])  # fmt: skip


@pytest.fixture
async def clinic(db: Database) -> dict[str, Account]:
    """Ana owes 80 from 10 days ago and 120 from 100 days ago; Luis (north) 80, recent."""
    ana = await patient(db, "López", "Ana")
    luis = await patient(db, "Chen", "Luis", location="north", financial_class="commercial")
    await charge(db, ana, "CONS", date(2026, 6, 20), "a1")
    await charge(db, ana, "XRAY", date(2026, 3, 22), "a2")
    await charge(db, luis, "CONS", date(2026, 6, 25), "l1")
    return {"ana": ana, "luis": luis}


async def test_the_summary_shows_buckets_percent_accounts_and_top_balances(
    slack: Slack, clinic: dict[str, Account]
) -> None:
    reply = await slack.command("atb", "U0BILLER")
    shown = text_of(reply)
    assert "*Aged trial balance* as of Jun 30, 2026 (USD, aged by service date)" in shown
    assert "0-30                   160.00    57.14         2" in shown
    assert "91-120                 120.00    42.86         1" in shown
    assert "Total                  280.00   100.00         2" in shown
    ana, luis = clinic["ana"], clinic["luis"]
    assert shown.index(f"*{ana.number}*  Ana López: $200.00") < shown.index(
        f"*{luis.number}*  Luis Chen: $80.00"
    )
    assert slack.fake.web_api_calls == []  # no file without --csv


async def test_options_narrow_and_group_the_atb(slack: Slack, clinic: dict[str, Account]) -> None:
    over = text_of(await slack.command("atb --over 90", "U0BILLER"))
    assert "accounts with something over 90 days" in over
    assert "Total                  200.00   100.00         1" in over
    assert "Luis" not in over
    grouped = text_of(await slack.command("atb --by financial_class", "U0BILLER"))
    assert "*By financial class*" in grouped
    assert "• self_pay: $200.00 (1 account)" in grouped
    assert "• commercial: $80.00 (1 account)" in grouped
    past = text_of(await slack.command("atb --as-of 2026-04-01 --basis due", "U0BILLER"))
    assert "as of Apr 1, 2026 (USD, aged by due date)" in past
    assert "Total                  120.00" in past


async def test_csv_sends_the_full_atb_as_a_file_in_direct_messages(
    slack: Slack, clinic: dict[str, Account]
) -> None:
    reply = await slack.command("atb --csv", "U0BILLER")
    assert "is in your direct messages with arbot" in text_of(reply)
    opened = slack.fake.called("conversations.open")
    assert [c.body["users"] for c in opened] == ["U0BILLER"]
    asked = slack.fake.called("files.getUploadURLExternal")[0]
    assert asked.body["filename"] == "atb-2026-06-30.csv"
    done = slack.fake.called("files.completeUploadExternal")[0]
    assert done.body["channel_id"] == "DU0BILLER"
    assert "Aged trial balance as of Jun 30, 2026" in done.body["initial_comment"]
    file_id = done.json("files")[0]["id"]
    rows = list(csv.DictReader(io.StringIO(slack.fake.uploads[file_id].decode())))
    assert int(asked.body["length"]) == len(slack.fake.uploads[file_id])
    assert [(r["account_number"], r["total"]) for r in rows] == [
        (clinic["ana"].number, "200.00"),
        (clinic["luis"].number, "80.00"),
    ]
    assert rows[0]["91-120"] == "120.00"
    assert [c.method for c in slack.fake.web_api_calls] == [
        "conversations.open",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


async def test_detail_sends_the_csv_with_each_accounts_payments_and_statements(
    slack: Slack, db: Database, clinic: dict[str, Account]
) -> None:
    """AR-184: ``/ar atb --detail`` is the CSV with the last payment, the month's
    payments and credits, statements sent and the last bill to an insurer."""
    from core.services.payments import record_payment

    await record_payment(db, ADMIN, account_id=clinic["ana"].id, amount=usd("30.00"),
                         received_on=date(2026, 6, 12), key="ana-june", method="card")  # fmt: skip
    reply = await slack.command("atb --detail", "U0BILLER")

    assert "is in your direct messages with arbot" in text_of(reply)
    done = slack.fake.called("files.completeUploadExternal")[0]
    file_id = done.json("files")[0]["id"]
    rows = list(csv.DictReader(io.StringIO(slack.fake.uploads[file_id].decode())))
    ana = next(r for r in rows if r["account_number"] == clinic["ana"].number)
    assert {k: ana[k] for k in list(ana)[-6:]} == {
        "statements": "0",
        "last_payment_date": "2026-06-12",
        "last_payment_amount": "30.00",
        "period_payments": "30.00",
        "period_credits": "0.00",
        "billed_to_insurer": "",
    }


async def test_the_atb_needs_the_view_reports_permission(
    slack: Slack, clinic: dict[str, Account]
) -> None:
    refused = text_of(await slack.command("atb --csv", "U0CLERK"))
    assert "Chris Clerk (clerk) lacks the permission 'view_reports'" in refused
    assert slack.fake.web_api_calls == []


async def test_staff_of_one_location_see_its_atb_only(
    slack: Slack, db: Database, clinic: dict[str, Account]
) -> None:
    """BI-18: locations share one database, each worked on its own by its staff."""
    from core.auth import add_staff

    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Nils North", role="biller", locations=["north"],
                        slack_user_id="U0NILS")  # fmt: skip
        await add_staff(tx, ADMIN, name="Tess Two", role="biller", locations=["north", "main"],
                        slack_user_id="U0TESS")  # fmt: skip
    north = text_of(await slack.command("atb", "U0NILS"))
    assert "location north" in north and "Total                   80.00" in north
    refused = text_of(await slack.command("atb --location main", "U0NILS"))
    assert "may not work on accounts of location 'main'" in refused
    two = text_of(await slack.command("atb", "U0TESS"))
    assert "say which location with --location (main, north)" in two


async def test_the_offices_aging_rule_shapes_the_atb_unless_asked_otherwise(
    db: Database, fake_slack: FakeSlack, clinic: dict[str, Account]
) -> None:
    """AR-194: an office that ages by due date in 0-30, 31-60, over 60 (and counts
    disputed items as current) gets that ATB from a bare ``/ar atb``."""
    settings = slack_settings(
        db, fake_slack, aging_basis="due", aging_buckets="30,60", aging_disputed="current"
    )
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        slack = Slack(http, fake_slack, app[SLACK_KEY])
        office = text_of(await slack.command("atb", "U0BILLER"))
        asked = text_of(await slack.command("atb --basis service --buckets 90", "U0BILLER"))
    assert "(USD, aged by due date)" in office
    assert "over 60 " in office and "61-90" not in office
    assert "Total                  280.00   100.00         2" in office
    assert "(USD, aged by service date)" in asked
    assert "0-90                   160.00    57.14         2" in asked
    assert "over 90                120.00    42.86         1" in asked


async def test_a_wrong_aging_rule_stops_the_app_at_start(
    db: Database, fake_slack: FakeSlack
) -> None:
    """AR-194: ``ARBOT_AGING_BUCKETS=30,30`` is refused when the app is made, not at
    the first ``/ar atb``; so is a wrong rule with no Slack app to serve."""
    says = r"ARBOT_AGING_BUCKETS: bucket bounds must increase"
    with pytest.raises(ValidationError, match=says):
        make_app(slack_settings(db, fake_slack, aging_buckets="30,30"), db)
    with pytest.raises(ValidationError, match=r"ARBOT_AGING_BASIS: .* not 'posting'"):
        make_app(Settings(database_url=db.url, aging_basis="posting"), db)
    with pytest.raises(ValidationError, match=r"ARBOT_INVOICE_COLOUR: "):  # BI-05
        make_app(Settings(database_url=db.url, invoice_colour="blue-ish"), db)
