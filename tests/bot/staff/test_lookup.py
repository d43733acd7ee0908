"""``/ar help``, ``/ar find``, ``/ar account`` and the "View" button (AR-049, AR-082,
AR-106, AR-131, AR-133, AR-135)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.staff import ids
from core.billing.charges import ChargeLine, post_charges
from core.customers import set_status
from core.db import Database
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.core.helpers import ADMIN, usd
from tests.core.test_plans import enrol

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
DAY = date(2026, 6, 1)


async def test_help_lists_every_subcommand_with_an_example(slack: Slack) -> None:
    shown = text_of(await slack.command("help"))
    for name in ("find", "account", "invoice", "entry", "charge", "payment", "atb"):
        assert f"`/ar {name} " in shown
    for later in ("writeoff", "refund", "unapplied", "link"):
        assert f"`/ar {later}" in shown
    assert "Asking for approval" in shown
    assert '`/ar payment A0000042 120.00 check "cheque 1042"`' in shown
    assert "&lt;account&gt;" in shown  # angle brackets escaped for Slack


async def test_find_lists_accounts_each_with_a_view_button_carrying_only_its_id(
    slack: Slack, db: Database
) -> None:
    ana = await patient(db, "López", "Ana")
    await patient(db, "Lopez", "Luis")
    await patient(db, "Chen", "Wei")
    reply = await slack.command("find lopez")
    shown = text_of(reply)
    assert "2 accounts match “lopez”" in shown
    assert f"*{ana.number}*  Ana López" in shown
    assert "Wei" not in shown
    views = buttons(reply)
    assert [b["action_id"] for b in views] == [ids.VIEW_ACCOUNT] * 2
    assert all(b["value"].isdigit() for b in views)
    assert str(ana.id) in [b["value"] for b in views]


async def test_find_says_when_nothing_matches(slack: Slack) -> None:
    shown = text_of(await slack.command("find Nobody"))
    assert "No account matches “Nobody”" in shown
    assert "an entry number (T00000012) or a payment reference" in shown


async def test_find_by_a_payment_reference_or_an_entry_number(slack: Slack, db: Database) -> None:
    """AR-082: the cheque a bank statement names, the entry a statement prints."""
    ana = await patient(db, "López", "Ana")
    await patient(db, "Lopez", "Luis")
    paid = await record_payment(db, ADMIN, account_id=ana.id, amount=usd("30"), received_on=DAY,
                                key="p1", method="check", reference="cheque 1042")  # fmt: skip
    by_cheque = text_of(await slack.command('find "cheque 1042"'))
    assert "1 account matches “cheque 1042”" in by_cheque
    assert f"*{ana.number}*  Ana López" in by_cheque and "matched by reference" in by_cheque
    by_entry = text_of(await slack.command(f"find T{paid.entry.id:08d}"))
    assert f"*{ana.number}*" in by_entry and "matched by entry number" in by_entry
    assert "Luis" not in by_cheque + by_entry


async def test_what_people_typed_is_escaped_so_it_cannot_ping_or_link(
    slack: Slack, db: Database
) -> None:
    await patient(db, "<!channel>", "Eve & Co")
    reply = await slack.command('find "<!channel>"')
    shown = text_of(reply)
    assert "<!channel>" not in reply.raw.decode()
    assert "&lt;!channel&gt;" in shown
    assert "&amp; Co" in shown


async def test_account_shows_balance_open_items_and_flags(slack: Slack, db: Database) -> None:
    ana = await patient(db, "López", "Ana")
    await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                       lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    await post_charges(db, ADMIN, account_id=ana.id, key="v2", bill_date=DAY,
                       lines=[ChargeLine("XRAY", 1, DAY)])  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("30"), received_on=DAY,
                         key="p1", method="cash")  # fmt: skip
    await set_status(db, ADMIN, account_id=ana.id, status="credit_hold", reason="test", on=DAY)
    shown = text_of(await slack.command(f"account {ana.number}"))
    assert f"*{ana.number}*  Ana López" in shown
    assert "credit hold" in shown
    assert "Balance: *$170.00*" in shown
    assert "due Jul 1, 2026" in shown
    assert "$50.00 open of $80.00 · partly paid" in shown
    assert "$120.00 open of $120.00 · open" in shown
    assert "Consultation" not in shown and "X-ray" not in shown  # no clinical detail


async def test_account_numbers_are_found_whatever_their_case(slack: Slack, db: Database) -> None:
    ana = await patient(db, "López", "Ana")
    shown = text_of(await slack.command(f"account {ana.number.lower()}"))
    assert f"*{ana.number}*" in shown
    assert "No open items." in shown


async def test_an_unknown_account_is_a_clear_message(slack: Slack) -> None:
    shown = text_of(await slack.command("account Z9999999"))
    assert "there is no account Z9999999" in shown


async def test_the_view_button_opens_the_same_view(slack: Slack, db: Database) -> None:
    ana = await patient(db, "López", "Ana")
    by_command = await slack.command(f"account {ana.number}")
    by_button = await slack.press(ids.VIEW_ACCOUNT, str(ana.id))
    assert by_button.body == by_command.body


async def test_a_view_button_with_a_bad_value_is_refused(slack: Slack) -> None:
    assert "does not name an account" in text_of(await slack.press(ids.VIEW_ACCOUNT, "1 OR 1=1"))
    assert "there is no account 999" in text_of(await slack.press(ids.VIEW_ACCOUNT, "999"))


async def test_staff_limited_to_a_location_see_only_its_accounts(
    slack: Slack, db: Database
) -> None:
    north = await patient(db, "Lopez", "Nina", location="north")
    main = await patient(db, "Lopez", "Mario", location="main")
    shown = text_of(await slack.command("find lopez", user="U0NORTH"))
    assert "Nina" in shown and "Mario" not in shown
    refused = text_of(await slack.command(f"account {main.number}", user="U0NORTH"))
    assert "may not work on accounts of location 'main'" in refused
    assert "Balance" in text_of(await slack.press(ids.VIEW_ACCOUNT, str(north.id), "U0NORTH"))
    assert "location 'main'" in text_of(
        await slack.press(ids.VIEW_ACCOUNT, str(main.id), "U0NORTH")
    )


async def test_staff_of_one_location_find_theirs_among_more_namesakes_elsewhere(
    slack: Slack, db: Database
) -> None:
    """The list's limit counts their locations' accounts only: a clinic's clerk finds
    their Lopez though the other clinics have more Lopezes than the list shows."""
    for n in range(16):
        await patient(db, "Lopez", f"Main{n}", location="main")
    await patient(db, "Lopez", "Nina", location="north")
    shown = text_of(await slack.command("find lopez", user="U0NORTH"))
    assert "1 account matches “lopez”" in shown and "Nina Lopez" in shown


async def test_account_shows_its_payment_plan_and_the_next_instalment(
    slack: Slack, db: Database
) -> None:
    """The account view's plan line (issue 4 "plan", AR-059, AR-165)."""
    ana = await patient(db, "López", "Ana")
    await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                       lines=[ChargeLine("CONS", 1, DAY), ChargeLine("XRAY", 1, DAY)])  # fmt: skip
    shown = text_of(await slack.command(f"account {ana.number}"))
    assert "Plan:" not in shown
    await enrol(db, ana.id, count=3, first_due=date(2026, 7, 15))
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("60"), received_on=DAY,
                         key="p1", method="cash")  # fmt: skip

    shown = text_of(await slack.command(f"account {ana.number}"))

    assert "Plan: 3 instalments of $66.67 monthly, $60.00 paid of $200.00" in shown
    assert "next $6.67 due Jul 15, 2026" in shown
