"""``/ar invoice <entry number>``: the full invoice behind a charge (AR-072).

Its lines as billing posted them (service, quantity, list price, amount, the rule or
the reason a price was set by hand), how a line was split, each payer's item with what
is still open; a reversed charge says so; anything that is not a charge is refused
with what it is, and nothing is written."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlencode

import pytest

from bot.staff import ids
from core.billing.charges import ChargeLine, post_charges
from core.billing.invoice import Split
from core.db import Database
from core.services.adjustments import reverse_entry
from core.services.charges import post_charge
from core.services.memos import post_memo
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.core.billing.helpers import rule
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import Call, action_payload

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
DAY = date(2026, 6, 1)


async def test_an_invoice_shows_its_lines_splits_and_what_each_payer_still_owes(
    slack: Slack, db: Database
) -> None:
    ana = await patient(db, "López", "Ana")
    acme = await patient(db, "Health", "Acme", customer_type="insurer")
    await rule(db, "Xray promo", "percent", percent="25", service_code="XRAY")
    invoice = await post_charges(
        db,
        ADMIN,
        account_id=ana.id,
        key="visit",
        bill_date=DAY,
        reference="VISIT-77",
        lines=[
            ChargeLine("CONS", 2, DAY, unit_price=usd("70.00"), override_reason="follow-up rate"),
            ChargeLine(
                "XRAY", 1, DAY, doctor="Dr Ruiz", splits=(Split(acme.id, percent_bp=8_000),)
            ),
        ],
    )
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("50"), received_on=DAY,
                         key="p1", method="cash")  # fmt: skip
    number = f"T{invoice.entry.id:08d}"

    reply = await slack.command(f"invoice {number.lower()}")

    shown = text_of(reply)
    assert f"*Invoice {number}* · billed Jun 1, 2026 · *$230.00* · ref VISIT-77" in shown
    assert (
        "1. Jun 1, 2026 · `CONS` Consultation × 2 · list $80.00 each · *$140.00*"
        " · price set by hand: follow-up rate · main"
    ) in shown
    assert (
        "2. Jun 1, 2026 · `XRAY` Chest X-ray × 1 · list $120.00 each · *$90.00*"
        " · rule “Xray promo” · Dr Ruiz · main\n"
        f"    split: {ana.number} $18.00, {acme.number} $72.00"
    ) in shown
    assert shown.count("split:") == 1  # the consultation was not split
    # Ana owes 140 + 18 and paid 50 of it; Acme owes its 72.
    assert (
        f"*{ana.number}* Ana López · $158.00 · $108.00 open · due Jul 1, 2026 · partly paid"
        in (shown)
    )
    assert f"*{acme.number}* Acme Health · $72.00 · $72.00 open · due Jul 1, 2026 · pending" in (
        shown
    )
    assert reply.body["response_type"] == "ephemeral"
    views = [b for b in buttons(reply) if b["action_id"] == ids.VIEW_ACCOUNT]
    assert [b["value"] for b in views] == [str(ana.id), str(acme.id)]


async def test_a_reversed_charge_and_a_charge_without_lines_say_so(
    slack: Slack, db: Database
) -> None:
    ana = await patient(db, "López", "Ana")
    plain = await post_charge(db, ADMIN, account_id=ana.id, amount=usd("45.00"), service_date=DAY,
                              key="plain")  # fmt: skip
    visit = await post_charges(db, ADMIN, account_id=ana.id, key="v", bill_date=DAY,
                               lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    reversal = await reverse_entry(
        db, ADMIN, entry_id=visit.entry.id, on=DAY, key="undo", reason="KEYING_ERROR"
    )

    shown = text_of(await slack.command(f"invoice T{plain.id:08d}"))
    assert "Posted as an amount, without invoice lines." in shown
    assert f"*{ana.number}* Ana López · $45.00 · $45.00 open" in shown
    reversed_shown = text_of(await slack.command(f"invoice T{visit.entry.id:08d}"))
    assert f":warning: Reversed by T{reversal.id:08d}" in reversed_shown
    assert "· $80.00 · $0.00 open" in reversed_shown and "· paid" in reversed_shown


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("invoice", "usage: /ar invoice <entry number of a charge, e.g. T00000012>"),
        ("invoice 12", "'12' is not an entry number; write it like T00000012"),
        ("invoice T00000999", "there is no entry T00000999"),
    ],
)
async def test_what_is_not_an_invoice_is_refused_plainly(
    slack: Slack, db: Database, typed: str, said: str
) -> None:
    shown = text_of(await slack.command(typed))
    assert said in shown.replace("&lt;", "<").replace("&gt;", ">")


async def test_a_payment_is_not_an_invoice(slack: Slack, db: Database) -> None:
    ana = await patient(db, "López", "Ana")
    paid = await record_payment(db, ADMIN, account_id=ana.id, amount=usd("50"), received_on=DAY,
                                key="p1", method="cash")  # fmt: skip
    shown = text_of(await slack.command(f"invoice T{paid.entry.id:08d}"))
    assert (
        f"T{paid.entry.id:08d} is a payment, which bills nothing: only a charge, a debit memo,"
        " a finance charge or a chargeback has an invoice behind it"
    ) in shown


async def test_a_late_fee_opens_as_what_it_is(slack: Slack, db: Database) -> None:
    ana = await patient(db, "López", "Ana")
    fee = await post_memo(db, ADMIN, memo_type="FINANCE_CHARGE", account_id=ana.id,
                          amount=usd("2.50"), on=DAY, key="fee", reason="OTHER",
                          note="late")  # fmt: skip
    shown = text_of(await slack.command(f"invoice T{fee.id:08d}"))
    assert f"*Finance charge T{fee.id:08d}* · billed Jun 1, 2026 · *$2.50*" in shown
    assert "Posted as an amount, without invoice lines." in shown


async def test_the_account_view_opens_each_open_items_invoice(slack: Slack, db: Database) -> None:
    """Its "Open an invoice" menu lists the open items; picking one shows its invoice."""
    ana = await patient(db, "López", "Ana")
    first = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                               lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    second = await post_charges(db, ADMIN, account_id=ana.id, key="v2", bill_date=DAY,
                                lines=[ChargeLine("XRAY", 1, DAY)])  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("80"), received_on=DAY,
                         key="p1", method="cash")  # fmt: skip
    view = await slack.command(f"account {ana.number}")
    [menu] = [e for b in view.body["blocks"] for e in b.get("elements", [])
              if e.get("action_id") == ids.ACCOUNT_INVOICE]  # fmt: skip
    # The consultation is paid: only the X-ray is open.
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [
        (f"T{second.entry.id:08d} · Jun 1, 2026 · $120.00 open", str(second.entry.id))
    ]
    assert str(first.entry.id) not in [o["value"] for o in menu["options"]]

    reply = await pick(slack, ids.ACCOUNT_INVOICE, str(second.entry.id))

    shown = text_of(reply)
    assert f"*Invoice T{second.entry.id:08d}*" in shown and "Chest X-ray × 1" in shown
    assert "Ana López · $120.00 · $120.00 open" in shown
    forged = text_of(await pick(slack, ids.ACCOUNT_INVOICE, "12; DROP"))
    assert "this button does not name an entry" in forged


async def pick(slack: Slack, action_id: str, value: str) -> Call:
    """Pick the option with ``value`` in a static select."""
    before = len(slack.fake.replies)
    payload = action_payload(action_id, "", user="U0ADMIN",
                             response_url=slack.fake.response_url("pick"))  # fmt: skip
    payload["actions"] = [{"action_id": action_id, "block_id": "b2", "type": "static_select",
                           "selected_option": {"value": value},
                           "action_ts": "1700000001.000400"}]  # fmt: skip
    await slack.send(urlencode({"payload": json.dumps(payload)}))
    return slack.only_reply(before)


async def test_a_long_account_and_a_long_invoice_stay_within_what_slack_takes(
    slack: Slack, db: Database
) -> None:
    """Slack refuses a section over 3,000 characters (the person would see nothing): a
    patient with 40 open visits and a visit of 40 lines are both shown."""
    ana = await patient(db, "López", "Ana")
    for n in range(40):
        await post_charges(db, ADMIN, account_id=ana.id, key=f"v{n}", bill_date=DAY,
                           lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    big = await post_charges(db, ADMIN, account_id=ana.id, key="big", bill_date=DAY,
                             lines=[ChargeLine("XRAY", 1, DAY)] * 40)  # fmt: skip

    account = text_of(await slack.command(f"account {ana.number}"))
    invoice = text_of(await slack.command(f"invoice T{big.entry.id:08d}"))

    assert account.count("· service Jun 1, 2026") == 25
    assert "and 16 more open items, oldest first above" in account
    assert invoice.count("`XRAY` Chest X-ray × 1") == 40
    assert "40. Jun 1, 2026" in invoice
