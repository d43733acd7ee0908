"""``/ar unapplied`` and its Apply buttons, ``/ar credits``, ``/ar delinquent``, ``/ar link``
(AR-139, AR-143, AR-140, link codes)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.ledger.tables import allocation
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, buttons, patient, slack_settings, text_of
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
DAY = date(2026, 6, 1)


async def prepaid(db: Database, last: str, amount: str, location: str = "main") -> int:
    """An account whose payment came in before any charge: all of it unapplied."""
    account = await patient(db, last, "Pat", location=location)
    await record_payment(db, ADMIN, account_id=account.id, amount=usd(amount), received_on=DAY,
                         key=f"pay-{last}", method="check", reference="cheque 1042")  # fmt: skip
    return account.id


async def charge(db: Database, account_id: int, key: str) -> None:
    await post_charges(db, ADMIN, account_id=account_id, key=key, bill_date=DAY,
                       lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip


async def allocations(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(allocation))).scalar_one())


async def test_unapplied_lists_payments_each_with_an_apply_button(
    slack: Slack, db: Database
) -> None:
    ana = await prepaid(db, "Lopez", "100")
    await prepaid(db, "Norte", "40", location="north")
    reply = await slack.command("unapplied", user="U0NORTH")
    shown = text_of(reply)
    assert "Norte" in shown and "Lopez" not in shown  # the user's locations only
    reply = await slack.command("unapplied")
    shown = text_of(reply)
    assert "Jun 1, 2026" in shown and "cheque 1042" in shown
    assert "*$100.00* unapplied of $100.00" in shown
    applies = [b for b in buttons(reply) if b["action_id"] == ids.APPLY_UNAPPLIED]
    assert len(applies) == 2
    value = applies[0]["value"]
    assert value.startswith(f"{ana}/") and "100" not in value.split("/")[0] + "x"


async def test_apply_applies_once_on_a_double_click(slack: Slack, db: Database) -> None:
    ana = await prepaid(db, "Lopez", "100")
    await charge(db, ana, "c1")
    (apply,) = buttons(await slack.command("unapplied"))
    before = await allocations(db)
    first = text_of(await slack.press(ids.APPLY_UNAPPLIED, apply["value"]))
    after_first = await allocations(db)
    second = text_of(await slack.press(ids.APPLY_UNAPPLIED, apply["value"]))
    assert "Applied *$80.00*" in first
    assert "Still unapplied: $20.00" in first
    assert after_first > before
    assert await allocations(db) == after_first
    assert "already applied" in second
    assert "No unapplied" not in text_of(await slack.command("unapplied"))  # $20 is left


async def test_apply_applies_the_payment_whose_button_was_pressed(
    slack: Slack, db: Database
) -> None:
    """Review finding: Apply ran over all of the account's unapplied cash, so the second
    payment's button found nothing left and said 0 was placed."""
    ana = await prepaid(db, "Lopez", "30")
    fifty = await record_payment(db, ADMIN, account_id=ana, amount=usd("50"),
                                 received_on=DAY, key="pay-2", method="card")  # fmt: skip
    await charge(db, ana, "c1")
    values = [b["value"] for b in buttons(await slack.command("unapplied"))
              if b["action_id"] == ids.APPLY_UNAPPLIED]  # fmt: skip
    (of_fifty,) = [v for v in values if v == f"{ana}/{fifty.entry.id}"]
    (of_thirty,) = [v for v in values if v != of_fifty]
    assert "Applied *$50.00*" in text_of(await slack.press(ids.APPLY_UNAPPLIED, of_fifty))
    assert "Applied *$30.00*" in text_of(await slack.press(ids.APPLY_UNAPPLIED, of_thirty))


async def test_apply_with_no_open_charge_says_so(slack: Slack, db: Database) -> None:
    ana = await prepaid(db, "Lopez", "100")
    shown = text_of(await slack.press(ids.APPLY_UNAPPLIED, f"{ana}/1"))
    assert "Nothing to apply" in shown and "Still unapplied: $100.00" in shown


async def test_apply_needs_apply_cash_and_a_clean_value(slack: Slack, db: Database) -> None:
    ana = await prepaid(db, "Lopez", "100")
    await charge(db, ana, "c1")
    refused = text_of(await slack.press(ids.APPLY_UNAPPLIED, f"{ana}/1", user="U0CLERK"))
    assert "apply_cash" in refused
    assert await allocations(db) == 0
    bad = text_of(await slack.press(ids.APPLY_UNAPPLIED, "1/2; 100.00"))
    assert "does not name a payment" in bad


async def test_nothing_unapplied_is_said_plainly(slack: Slack) -> None:
    assert "No unapplied payments" in text_of(await slack.command("unapplied"))


async def test_credits_lists_accounts_in_credit_largest_first(slack: Slack, db: Database) -> None:
    """AR-143, AR-154: what the clinic owes back, each account with a View button."""
    small = await prepaid(db, "Small", "30")
    large = await prepaid(db, "Large", "120")
    owing = await prepaid(db, "Owing", "50")
    await charge(db, owing, "owing")  # $80 charged: owes $30, not in credit
    reply = await slack.command("credits")
    shown = text_of(reply)
    assert "*Accounts in credit* (2), largest first" in shown
    assert shown.index("Pat Large") < shown.index("Pat Small") and "Owing" not in shown
    assert "in credit *$120.00* · since Jun 1, 2026" in shown
    assert [b["value"] for b in buttons(reply)] == [str(large), str(small)]
    assert "usage: /ar credits" in text_of(await slack.command("credits all"))


async def test_no_credit_is_said_plainly(slack: Slack) -> None:
    assert "No account is in credit." in text_of(await slack.command("credits"))


async def test_delinquent_lists_what_is_long_past_due_most_first(
    slack: Slack, db: Database
) -> None:
    """AR-140, AR-099: a collector's list, each account with a View button (AR-141)."""
    winter = date(2026, 1, 2)  # billed then, due Feb 1: 149 days past due on Jun 30
    one = await patient(db, "Winter", "Wes")
    two = await patient(db, "Spring", "Sue")
    await post_charges(db, ADMIN, account_id=one.id, key="w", bill_date=winter,
                       lines=[ChargeLine("XRAY", 1, winter)])  # fmt: skip
    await post_charges(db, ADMIN, account_id=two.id, key="s", bill_date=winter,
                       lines=[ChargeLine("CONS", 1, winter)])  # fmt: skip
    await charge(db, two.id, "recent")  # billed Jun 1: not past due yet
    reply = await slack.command("delinquent")
    shown = text_of(reply)
    assert "*Delinquent accounts*, past due over 90 days (2), most past due first" in shown
    assert shown.index("Wes Winter") < shown.index("Sue Spring")
    assert "*$80.00* past due since Feb 1, 2026 · balance $160.00 · no payment" in shown
    assert [b["value"] for b in buttons(reply)] == [str(one.id), str(two.id)]
    large = text_of(await slack.command("delinquent --over 120 --min 100"))
    assert "past due over 120 days, at least $100.00 (1)" in large and "Sue" not in large
    none = text_of(await slack.command("delinquent --over 200"))
    assert "No account has charges past due over 200 days." in none
    bad = text_of(await slack.command("delinquent --since 90"))
    assert "'--since' is not a /ar delinquent option; use --over, --min" in bad


async def test_link_gives_the_code_its_expiry_and_how_to_use_it(
    slack: Slack, db: Database
) -> None:
    ana = await patient(db, "Lopez", "Ana")
    shown = text_of(await slack.command(f"link {ana.number}", user="U0BILLER"))
    assert f"Link code for *{ana.number}*" in shown
    assert "until 2026-07-03 15:00 UTC" in shown
    assert "`/start " in shown and "t.me" not in shown


async def test_link_gives_the_telegram_deep_link_when_the_bot_is_named(
    db: Database, fake_slack: FakeSlack
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web import SLACK_KEY, make_app

    ana = await patient(db, "Lopez", "Ana")
    settings = slack_settings(db, fake_slack, telegram_bot_username="@clinic_bot")
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        slack = Slack(http, fake_slack, app[SLACK_KEY])
        shown = text_of(await slack.command(f"link {ana.number}"))
    assert "https://t.me/clinic_bot?start=" in shown


async def test_a_clerk_may_not_issue_link_codes(slack: Slack, db: Database) -> None:
    ana = await patient(db, "Lopez", "Ana")
    shown = text_of(await slack.command(f"link {ana.number}", user="U0CLERK"))
    assert "manage_accounts" in shown
    assert "Link code" not in shown
