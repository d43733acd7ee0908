"""``/ar entry <entry number>`` and the account view's "Open an entry" menu: any entry
as a record (AR-010, AR-036).

A payment shows its reference, date, the items it paid and how much of each, what was
written off with it and the ledger accounts it was posted to; a charge shows the
payments that paid it and opens its invoice; bad input is refused plainly and nothing
is written."""

from __future__ import annotations

from datetime import date

import pytest

from bot.staff import ids
from core.billing.charges import ChargeLine, Invoice, post_charges
from core.db import Database
from core.ledger.accounts import Account
from core.services.memos import receive_prepayment
from core.services.payments import PaymentResult, Tolerance, record_payment
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.bot.staff.test_invoice import pick
from tests.core.helpers import ADMIN, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
DAY = date(2026, 6, 1)
PAID = date(2026, 6, 20)


async def test_a_payment_shows_what_it_paid_and_where_it_was_posted(
    slack: Slack, db: Database
) -> None:
    ana = await patient(db, "López", "Ana")
    visit = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                               lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    paid = await record_payment(
        db, ADMIN, account_id=ana.id, amount=usd("79.50"), received_on=PAID, key="p1",
        method="check", reference="cheque 1042", tolerance=Tolerance(amount_minor=100),
    )  # fmt: skip
    reply = await slack.command(f"entry {paid.entry.number}")
    shown = text_of(reply)
    assert f"*Payment {paid.entry.number}* · Jun 20, 2026 · ref cheque 1042" in shown
    assert f"by {ADMIN.label} (staff) · type `PAYMENT`" in shown and "· check" in shown
    assert f"*{ana.number}* Ana López · -$79.50 · $0.00 open" in shown
    assert (
        f"{visit.entry.number} · charge · {ana.number} · service Jun 1, 2026 · *$79.50*"
        " · from Jun 20, 2026"
    ) in shown
    [written_off] = paid.write_offs
    assert f"*Posted with it*\n• {written_off.number} · write off · $0.50" in shown
    assert "`1000` Cash - main bank · $79.50" in shown
    assert "`1100` Accounts receivable - control · -$79.50" in shown
    assert "Consultation" not in shown  # what the service was is the invoice's to say
    assert [(b["action_id"], b["value"]) for b in buttons(reply)] == [
        (ids.VIEW_ACCOUNT, str(ana.id))
    ]


async def visit_paid_in_part(db: Database) -> tuple[Account, Invoice, PaymentResult]:
    """Ana's $80 consultation on Jun 1, $30 of it paid in cash on Jun 20."""
    ana = await patient(db, "López", "Ana")
    visit = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                               lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    paid = await record_payment(db, ADMIN, account_id=ana.id, amount=usd("30"),
                                received_on=PAID, key="p1", method="cash")  # fmt: skip
    return ana, visit, paid


async def test_a_charge_shows_its_payments_and_opens_its_invoice(
    slack: Slack, db: Database
) -> None:
    ana, visit, paid = await visit_paid_in_part(db)
    reply = await slack.command(f"entry {visit.entry.number.lower()}")
    shown = text_of(reply)
    assert f"*Charge {visit.entry.number}* · Jun 1, 2026" in shown
    assert "· $80.00 · $50.00 open" in shown
    assert f"{paid.entry.number} · payment · {ana.number} · Jun 20, 2026 · *$30.00*" in shown
    [invoice] = [b for b in buttons(reply) if b["action_id"] == ids.ENTRY_INVOICE]
    opened = text_of(await slack.press(ids.ENTRY_INVOICE, invoice["value"]))
    assert f"*Invoice {visit.entry.number}*" in opened and "Consultation × 1" in opened


async def test_the_account_view_opens_each_entry_of_its_activity(
    slack: Slack, db: Database
) -> None:
    ana, visit, paid = await visit_paid_in_part(db)
    view = await slack.command(f"account {ana.number}")
    [menu] = [e for b in view.body["blocks"] for e in b.get("elements", [])
              if e.get("action_id") == ids.ACCOUNT_ENTRY]  # fmt: skip
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [
        (f"{paid.entry.number} · Jun 20, 2026 · payment · -$30.00", str(paid.entry.id)),
        (f"{visit.entry.number} · Jun 1, 2026 · charge · $80.00", str(visit.entry.id)),
    ]
    shown = text_of(await pick(slack, ids.ACCOUNT_ENTRY, str(paid.entry.id)))
    assert f"*Payment {paid.entry.number}*" in shown
    forged = text_of(await pick(slack, ids.ACCOUNT_ENTRY, "12; DROP"))
    assert "this button does not name an entry" in forged


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("entry", "usage: /ar entry <entry number, e.g. T00000012>"),
        ("entry T1 T2", "usage: /ar entry <entry number, e.g. T00000012>"),
        ("entry 12", "'12' is not an entry number; write it like T00000012"),
        ("entry T00000999", "there is no entry T00000999"),
    ],
)
async def test_what_is_not_an_entry_is_refused_plainly(
    slack: Slack, db: Database, typed: str, said: str
) -> None:
    shown = text_of(await slack.command(typed))
    assert said in shown.replace("&lt;", "<").replace("&gt;", ">")


async def test_another_locations_entry_is_refused_whatever_it_is(
    slack: Slack, db: Database
) -> None:
    """Where an entry is comes from every account its lines name: a charge dated after
    today, a prepayment held outside A/R; its invoice the same."""
    ana = await patient(db, "López", "Ana")  # at main
    later = date(2026, 7, 2)  # after the test clock's today
    visit = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=later,
                               lines=[ChargeLine("CONS", 1, later)])  # fmt: skip
    held = await receive_prepayment(db, ADMIN, account_id=ana.id, amount=usd("250"), on=PAID,
                                    key="pre1", method="card", reference="pi_3Held")  # fmt: skip
    for typed in (f"entry {visit.entry.number}", f"invoice {visit.entry.number}",
                  f"entry {held.number}"):  # fmt: skip
        shown = text_of(await slack.command(typed, user="U0NORTH"))
        assert "may not work on accounts of location 'main'" in shown, typed
        assert "pi_3Held" not in shown and "Consultation" not in shown
    future = text_of(await slack.command(f"entry {visit.entry.number}"))
    assert f"*{ana.number}* Ana López · $80.00 · $80.00 open" in future
    prepaid = text_of(await slack.command(f"entry {held.number}"))
    assert f"*{ana.number}* Ana López · held for the patient, outside A/R" in prepaid


async def test_a_number_past_any_id_is_no_entry(slack: Slack, db: Database) -> None:
    """Ids are 32-bit on PostgreSQL: a longer number, typed or forged, names nothing."""
    for typed in ("entry T99999999999", "invoice T99999999999"):
        assert "there is no entry T99999999999" in text_of(await slack.command(typed))
    assert "No account matches" in text_of(await slack.command("find T99999999999"))
    forged = text_of(await pick(slack, ids.ACCOUNT_ENTRY, "99999999999"))
    assert "this button does not name an entry" in forged
    pressed = text_of(await slack.press(ids.VIEW_ACCOUNT, "99999999999"))
    assert "does not name an account" in pressed


async def test_a_charge_leaves_what_it_billed_to_its_invoice(slack: Slack, db: Database) -> None:
    """The record names no service: that is the invoice's to say, behind its button."""
    ana = await patient(db, "López", "Ana")
    visit = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                               lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    shown = text_of(await slack.command(f"entry {visit.entry.number}"))
    assert "Consultation" not in shown and "Open the invoice" in shown
