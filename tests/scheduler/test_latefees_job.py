"""The late-fees job (AR-107, AR-151): off unless configured; the month's fees posted
once however often it runs; a late-fee invoice in each patient's chat and language,
amounts only to verified chats, within sending hours; statements name the fee."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

from bot.patient.texts import say
from core.clock import FixedClock
from core.db import Database
from core.dunning import pause_dunning, set_location_hours
from core.latefees import LateFeePolicy, fees_posted, waive_fee
from core.ledger.posting import load_entry
from core.patients.gateway import Receipt, ReceiptLine
from core.patients.paylinks import PayChoice
from core.patients.summary import patient_account
from scheduler.runner import run_job
from tests.core.dunning_helpers import AS_OF, opt_in_sms, owes, patient
from tests.core.helpers import ADMIN, balance_of, usd
from tests.scheduler.conftest import FakeMessenger, ports_for
from tests.scheduler.plan_helpers import chat_of, entry_count, order_in, run_on

POLICY = LateFeePolicy(currency="USD", rate_bp=150, max_minor=2500)


async def test_without_a_policy_nothing_is_charged(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)

    report = await run_on(db, clock, ports_for(db, messenger), "late-fees", AS_OF)

    assert report is not None
    assert report.summary.startswith("late fees are off (ARBOT_LATE_FEE is not set)")
    assert await entry_count(db, "finance_charge") == 0
    assert messenger.sent == []


async def test_fees_are_posted_once_a_month_and_invoiced_in_each_chat(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)
    luis = await patient(db, "Luis", language="es")
    await owes(db, luis, "3000.00", 90)
    sam = await patient(db, "Sam", telegram=False, phone="+15550004444")
    await opt_in_sms(db, "+15550004444")
    await owes(db, sam, "80.00", 60)
    ports = ports_for(db, messenger, late_fee=POLICY)

    report = await run_on(db, clock, ports, "late-fees", AS_OF)
    assert report is not None and report.summary.startswith("3 accounts owe a late fee")
    assert "3 late-fee invoices sent now" in report.summary

    assert await entry_count(db, "finance_charge") == 3
    assert await balance_of(db, ana.id) == usd("203.00")
    assert await balance_of(db, luis.id) == usd("3025.00")  # 45.00 capped at 25.00
    [text] = messenger.to(await chat_of(db, ana))
    assert text.startswith(
        f"Invoice from the billing office: a late fee of $3.00 was added to account "
        f"{ana.number}, because part of the balance was more than 30 days past due. "
        "It is due by Jul 30, 2026. Balance now: $203.00."
    )
    order = await order_in(db, text)
    assert (order.choice, order.amount) == (PayChoice.BALANCE, usd("203.00"))
    [spanish] = messenger.to(await chat_of(db, luis))
    assert spanish.startswith("Factura de la oficina de facturación: se añadió un recargo")
    assert "de $25.00 a la cuenta" in spanish and "Vence el 30 jul 2026" in spanish
    # Never verified in chat: that there is an invoice, the link, STOP/HELP; no amount.
    [sms] = messenger.to("+15550004444")
    assert sms.startswith("You have a new invoice from the billing office.")
    assert "$" not in sms and sam.number not in sms and "STOP" in sms

    for hour in (18, 20):  # later runs that day
        again = await run_on(db, clock, ports, "late-fees", AS_OF, hour)
        assert again is not None and "0 late-fee invoices sent now" in again.summary
    assert await entry_count(db, "finance_charge") == 3
    assert len(messenger.sent) == 3

    july = date(2026, 7, 1)  # a new month: a new fee, on the charges alone
    await run_on(db, clock, ports, "late-fees", july)
    assert await entry_count(db, "finance_charge") == 6
    assert await balance_of(db, ana.id, july) == usd("206.00")  # 1.5% of 200.00, not 203.00
    assert len(messenger.to(await chat_of(db, ana))) == 2


async def test_a_dry_run_writes_and_sends_nothing(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)
    ports = ports_for(db, messenger, late_fee=POLICY)

    report = await run_job(db, clock, ports, "late-fees", as_of=AS_OF, dry_run=True)

    assert report is not None
    assert report.summary.startswith("dry run for 2026-06-30: 1 accounts would be charged")
    [line] = report.lines
    assert line.split() == [ana.number, "200.00", "overdue", "->", "fee", "3.00"]
    assert await entry_count(db, "finance_charge") == 0
    assert messenger.sent == []


async def test_an_invoice_waits_for_the_location_s_sending_hours(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    await set_location_hours(db, ADMIN, location="main", zone="America/Los_Angeles", start=time(8))
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)
    ports = ports_for(db, messenger, late_fee=POLICY)

    early = await run_on(db, clock, ports, "late-fees", AS_OF, 13)  # 06:00 in Los Angeles

    assert early is not None and "waiting: 1" in early.lines
    assert await entry_count(db, "finance_charge") == 1  # posted; only the message waits
    assert messenger.sent == []
    await run_on(db, clock, ports, "late-fees", AS_OF, 16)  # 09:00 there
    assert len(messenger.to(await chat_of(db, ana))) == 1


async def test_statements_and_receipts_name_the_fee_in_the_patient_s_language(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    luis = await patient(db, "Luis", language="es")
    await owes(db, luis, "200.00", 60)
    await run_on(db, clock, ports_for(db, messenger, late_fee=POLICY), "late-fees", AS_OF)

    async with db.read() as conn:
        account = await patient_account(conn, luis.id, AS_OF)
    spanish = say("es", "statement", accounts=[account])
    english = say("en", "statement", accounts=[account])

    assert "- 30 jun 2026 Recargo por mora: $3.00, pendiente; $3.00 pendiente" in spanish
    assert "- Jun 30, 2026 Late fee: $3.00, pending; $3.00 open, due Jul 30, 2026" in english
    [fee] = [i for i in account.items if i.description == "Late fee"]
    receipt = Receipt(
        "pi_1", luis.id, luis.number, AS_OF, usd("3.00"), "T00000009", "payment",
        (ReceiptLine(fee.item_id, fee.description, usd("3.00")),), usd("0"), usd("200.00"),
    )  # fmt: skip
    assert "- Recargo por mora: $3.00" in say("es", "receipt_pdf", receipt=receipt, account=luis)


async def test_a_fee_waived_before_its_invoice_went_out_is_not_invoiced(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    """Review finding: the invoice held by quiet hours still went after a waiver."""
    await set_location_hours(db, ADMIN, location="main", zone="America/Los_Angeles", start=time(8))
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)
    ports = ports_for(db, messenger, late_fee=POLICY)
    await run_on(db, clock, ports, "late-fees", AS_OF, 13)  # 06:00 there: posted, held
    async with db.read() as conn:
        [fee] = await fees_posted(conn, AS_OF.replace(day=1), AS_OF)
        fee_id = (await load_entry(conn, key=fee.key)).id
    await waive_fee(db, ADMIN, entry_id=fee_id, on=AS_OF, key="w", reason="ADMIN", note="")

    await run_on(db, clock, ports, "late-fees", AS_OF, 16)  # 09:00 there

    assert messenger.sent == []
    assert await balance_of(db, ana.id) == usd("200.00")


async def test_fees_are_assessed_on_the_month_s_first_run_only(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    """Review finding: an account that became chargeable mid-month (a promise to pay
    ended on 3 June) was charged on 20 June and again on 1 July. Fees are a month apart:
    whoever is not chargeable on the month's run waits for the next month's."""
    june_1 = date(2026, 6, 1)
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60, as_of=june_1)
    await pause_dunning(
        db, ADMIN, account_id=ana.id, reason="promise_to_pay", from_day=june_1,
        until_day=june_1 + timedelta(days=2),
    )  # fmt: skip
    ports = ports_for(db, messenger, late_fee=POLICY)

    first = await run_on(db, clock, ports, "late-fees", june_1)
    later = await run_on(db, clock, ports, "late-fees", date(2026, 6, 20))
    await run_on(db, clock, ports, "late-fees", date(2026, 7, 1))

    assert first is not None and first.summary.startswith("0 accounts owe a late fee")
    assert later is not None and later.summary.startswith("this month's late fees were assessed")
    assert await entry_count(db, "finance_charge") == 1  # July's


async def test_an_invoice_held_at_the_month_s_end_goes_out_in_the_next(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    """Review finding: invoices were looked for among the month's fees only, from its
    assessment day: one held by quiet hours on the 30th was never sent."""
    await set_location_hours(db, ADMIN, location="main", zone="America/Los_Angeles", start=time(8))
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)
    ports = ports_for(db, messenger, late_fee=replace(POLICY, day_of_month=5))
    await run_on(db, clock, ports, "late-fees", AS_OF, 13)  # 06:00 there: posted, held

    july = await run_on(db, clock, ports, "late-fees", date(2026, 7, 1), 16)

    assert july is not None and july.summary.startswith("July's late fees are assessed from")
    assert "1 late-fee invoices sent now" in july.summary
    [text] = messenger.to(await chat_of(db, ana))
    assert "a late fee of $3.00 was added" in text
