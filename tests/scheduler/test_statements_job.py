"""The statements job on fixed dates (AR-144, AR-161, AR-164, AR-165): who gets a
statement on their cycle's day, what it shows (open items, balance, the next payment
date: a plan's next instalment where there is a plan), in which language, amounts only
to verified chats, each once, and within each location's sending hours."""

from __future__ import annotations

from datetime import time, timedelta

from core.billing.charges import ChargeLine, post_charges
from core.clock import FixedClock
from core.db import Database
from core.dunning import set_location_hours
from core.patients.paylinks import PayChoice
from core.statements import StatementCycle, set_statement_cycle
from scheduler.statements import statements_job
from tests.core.billing.helpers import service
from tests.core.dunning_helpers import AS_OF, opt_in_sms, owes, patient
from tests.core.helpers import ADMIN, usd
from tests.scheduler.conftest import FakeMessenger, ports_for
from tests.scheduler.plan_helpers import chat_of, enrol, order_in, run_on


async def test_statements_go_on_the_cycle_day_once_with_the_next_payment_date(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    await set_statement_cycle(db, ADMIN, StatementCycle("monthly", day=30))
    ana = await patient(db, "Ana")
    await owes(db, ana, "45.00", 20)  # due 10 June
    luis = await patient(db, "Luis", language="es")
    await owes(db, luis, "300.00", 5)
    await enrol(db, luis, first_due=AS_OF + timedelta(days=14))
    sam = await patient(db, "Sam", telegram=False, phone="+15550004444")
    await opt_in_sms(db, "+15550004444")
    await owes(db, sam, "80.00", 3)
    ports = ports_for(db, messenger)

    report = await run_on(db, clock, ports, "statements", AS_OF)

    assert report is not None
    assert report.summary == "3 statements fall due on 2026-06-30: 3 sent now, 0 sent before"
    [text] = messenger.to(await chat_of(db, ana))
    assert text.startswith("Your statement from the billing office, Jun 30, 2026:")
    assert f"Statement for account {ana.number}" in text
    assert f"Account {ana.number}: balance $45.00" in text
    assert "Next payment due: Jun 10, 2026" in text
    order = await order_in(db, text)
    assert (order.choice, order.amount) == (PayChoice.BALANCE, usd("45.00"))
    # On a plan (AR-162, AR-165): the next instalment's date, and a link for it.
    [spanish] = messenger.to(await chat_of(db, luis))
    assert spanish.startswith("Su estado de cuenta de la oficina de facturación, 30 jun 2026:")
    assert "Próximo pago: 14 jul 2026" in spanish
    order = await order_in(db, spanish)
    assert (order.choice, order.amount) == (PayChoice.INSTALMENT, usd("100.00"))
    # Never verified in chat: that there is a statement, the link, STOP/HELP; no amount.
    [sms] = messenger.to("+15550004444")
    assert sms.startswith("You have a new statement from the billing office.")
    assert "$" not in sms and sam.number not in sms and "STOP" in sms

    for hour in (15, 20):  # later runs that day send nothing again
        await run_on(db, clock, ports, "statements", AS_OF, hour)
    assert len(messenger.sent) == 3
    report = await run_on(db, clock, ports, "statements", AS_OF + timedelta(days=1))
    assert report is not None and report.summary.startswith("0 statements fall due")


async def test_a_location_gets_its_statements_within_its_own_hours(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    await set_location_hours(
        db, ADMIN, location="west", zone="America/Los_Angeles", start=time(9), end=time(20)
    )
    await set_statement_cycle(db, ADMIN, StatementCycle("daily"))
    east = await patient(db, "East")
    await owes(db, east, "45.00", 3)
    west = await patient(db, "West", location="west")
    await owes(db, west, "45.00", 3)
    ports = ports_for(db, messenger)

    report = await run_on(db, clock, ports, "statements", AS_OF, 13)  # 06:00 in Los Angeles
    assert report is not None and "waiting: 1" in report.lines
    assert [s.address for s in messenger.sent] == [await chat_of(db, east)]

    await run_on(db, clock, ports, "statements", AS_OF, 16)  # 09:00 there
    assert len(messenger.sent) == 2 and messenger.sent[1].address == await chat_of(db, west)


async def test_the_dry_run_lists_who_would_get_one(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    await set_statement_cycle(db, ADMIN, StatementCycle("weekly", day=2))
    ana = await patient(db, "Ana")
    await owes(db, ana, "45.00", 3)

    report = await statements_job(db, clock, ports_for(db, messenger), AS_OF, True)

    assert report.summary == (
        "dry run for 2026-06-30: 1 statements fall due, 1 not sent yet; nothing was sent"
    )
    assert report.lines[0].startswith(ana.number) and messenger.sent == []


async def test_a_statement_on_its_cycle_itemises_a_billed_visit(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    """AR-072: the services of the visit under its item, as a statement asked for shows."""
    await set_statement_cycle(db, ADMIN, StatementCycle("monthly", day=30))
    ana = await patient(db, "Ana")
    await service(db, "CONS", "100.00", description="Consultation")
    await service(db, "XRAY", "60.00", "imaging", description="Chest X-ray")
    seen = AS_OF - timedelta(days=4)
    await post_charges(
        db,
        ADMIN,
        account_id=ana.id,
        lines=(ChargeLine("CONS", 2, service_date=seen), ChargeLine("XRAY", service_date=seen)),
        key="visit",
        bill_date=seen,
    )

    await run_on(db, clock, ports_for(db, messenger), "statements", AS_OF)

    [text] = messenger.to(await chat_of(db, ana))
    assert "\n- Jun 26, 2026 Consultation x2, Chest X-ray: $260.00, pending" in text
    assert "\n    Consultation x2: $200.00\n    Chest X-ray x1: $60.00\n" in text
