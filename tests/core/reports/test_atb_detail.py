"""The ATB's columns beside the buckets (AR-184): statements sent, the last payment,
this period's payments and credits, the last bill to an insurer; in CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

from core.clock import FixedClock
from core.db import Database
from core.ledger.aging import AtbQuery, GroupBy, aged_trial_balance
from core.ledger.items import load_items
from core.patients.outbox import claim_send, record_outcome
from core.ports import Delivery
from core.reports.atb import DETAIL_COLUMNS, atb_csv, atb_json
from core.reports.atb_detail import AtbDetail, atb_detail
from core.services.adjustments import reverse_entry
from core.services.charges import post_charge
from core.services.memos import receive_prepayment, transfer_item
from core.services.payments import record_payment
from core.services.writeoffs import write_off
from tests.core.helpers import ADMIN, SUPERVISOR, open_account, usd

AS_OF = date(2026, 6, 30)


async def charge(db: Database, account_id: int, amount: str, on: date, key: str,
                 payer: str | None = None) -> int:  # fmt: skip
    entry = await post_charge(db, ADMIN, account_id=account_id, amount=usd(amount),
                              service_date=on, key=key, payer=payer)  # fmt: skip
    return entry.id


async def only_item(db: Database, entry_id: int) -> int:
    async with db.read() as conn:
        [item] = [i for i in await load_items(conn, only_open=True) if i.entry_id == entry_id]
    return item.id


async def pay(db: Database, account_id: int, amount: str, on: date, key: str) -> None:
    await record_payment(db, ADMIN, account_id=account_id, amount=usd(amount),
                         received_on=on, key=key, method="card")  # fmt: skip


async def statement(db: Database, clock: FixedClock, account_id: int, on: date, ok: bool) -> None:
    clock.moment = datetime(on.year, on.month, on.day, 16, tzinfo=UTC)
    send = await claim_send(db, channel="sms", address="+15551230000", kind="statement_cycle",
                            account_id=account_id, dedupe_key=f"st:{account_id}:{on}")  # fmt: skip
    assert send is not None
    await record_outcome(db, send.id, Delivery(ok) if ok else Delivery(False, failure="blocked"))


async def clinic(db: Database, clock: FixedClock) -> dict[str, int]:
    """Ana: charged 300 to Medicare in April and 100 herself in May; paid 50 in May and
    30 in June (and 25 in July, after the ATB's date); 20 written off and a 40 charge
    reversed in June; 10 moved to her guarantor in June; 2 statements sent in May and
    June, one that failed and one sent in July. Bea: 60 charged to herself (self-pay, as
    an invoice names it), never paid, nothing sent; a prepayment of 15 in June."""
    ana = await open_account(db, name="Ana López")
    bea = await open_account(db, name="Bea Brown")
    guarantor = await open_account(db, name="Gus López", customer_type="guarantor")
    await charge(db, ana.id, "300.00", date(2026, 4, 10), "a-medicare", payer="medicare")
    await charge(db, ana.id, "100.00", date(2026, 5, 5), "a-self")
    extra = await charge(db, ana.id, "40.00", date(2026, 6, 2), "a-extra")
    await charge(db, bea.id, "60.00", date(2026, 6, 3), "b-self", payer="self_pay")
    await pay(db, ana.id, "50.00", date(2026, 5, 20), "a-may")
    await pay(db, ana.id, "30.00", date(2026, 6, 12), "a-june")
    await pay(db, ana.id, "25.00", date(2026, 7, 2), "a-july")
    await write_off(db, SUPERVISOR, account_id=ana.id, key="a-wo", on=date(2026, 6, 15),
                    reason="ADMIN", note="goodwill", amount=usd("20.00"))  # fmt: skip
    await reverse_entry(db, ADMIN, entry_id=extra, on=date(2026, 6, 16), key="a-rev",
                        reason="KEYING_ERROR")  # fmt: skip
    async with db.read() as conn:
        owed = await load_items(conn, account_id=ana.id, only_open=True)
    [self_item] = [i for i in owed if i.service_date == date(2026, 5, 5)]
    await transfer_item(db, ADMIN, item_id=self_item.id, to_account_id=guarantor.id,
                        on=date(2026, 6, 18), key="a-move", amount=usd("10.00"))  # fmt: skip
    await receive_prepayment(db, ADMIN, account_id=bea.id, amount=usd("15.00"),
                             on=date(2026, 6, 20), key="b-pre", method="cash")  # fmt: skip
    await statement(db, clock, ana.id, date(2026, 5, 28), ok=True)
    await statement(db, clock, ana.id, date(2026, 6, 28), ok=True)
    await statement(db, clock, ana.id, date(2026, 6, 29), ok=False)
    await statement(db, clock, ana.id, date(2026, 7, 1), ok=True)
    clock.moment = datetime(2026, 7, 3, 12, tzinfo=UTC)
    return {"ana": ana.id, "bea": bea.id}


async def detail_of(db: Database) -> tuple[AtbDetail, str, str]:
    async with db.read() as conn:
        atb = await aged_trial_balance(conn, AtbQuery(AS_OF, "USD"))
        detail = await atb_detail(conn, atb)
    return detail, atb_csv(atb, detail), atb_json(atb, detail)


async def test_each_accounts_figures_as_of_the_atbs_date(db: Database, clock: FixedClock) -> None:
    """AR-184: what happened after the ATB's date, a failed statement, a transfer to a
    guarantor and the May payment stay out of the period's figures."""
    ids = await clinic(db, clock)
    detail, _, _ = await detail_of(db)

    assert (detail.start, detail.end) == (date(2026, 6, 1), AS_OF)
    ana = detail.of(ids["ana"], "USD")
    assert ana.statements == 2
    assert (ana.last_payment_date, ana.last_payment) == (date(2026, 6, 12), usd("30.00"))
    assert ana.payments == usd("30.00")
    assert ana.credits == usd("60.00")  # written off 20, the 40 charge reversed
    assert ana.billed_to_insurer == date(2026, 4, 10)
    bea = detail.of(ids["bea"], "USD")
    assert bea.statements == 0
    assert (bea.last_payment_date, bea.last_payment) == (date(2026, 6, 20), usd("15.00"))
    assert (bea.payments, bea.credits, bea.billed_to_insurer) == (usd("15.00"), usd("0"), None)


async def test_csv_and_json_carry_the_columns_after_the_total(
    db: Database, clock: FixedClock
) -> None:
    """AR-184: the CSV's columns keep their order and add six after ``total``; the JSON
    adds the same to each account, with the period."""
    await clinic(db, clock)
    _, csv_text, json_text = await detail_of(db)

    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0][-7:] == ["total", *DETAIL_COLUMNS]
    by_name = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert {k: by_name["Ana López"][k] for k in DETAIL_COLUMNS} == {
        "statements": "2",
        "last_payment_date": "2026-06-12",
        "last_payment_amount": "30.00",
        "period_payments": "30.00",
        "period_credits": "60.00",
        "billed_to_insurer": "2026-04-10",
    }
    assert by_name["Bea Brown"]["billed_to_insurer"] == ""
    body = json.loads(json_text)
    assert body["period"] == {"from": "2026-06-01", "to": "2026-06-30"}
    bea = next(a for a in body["accounts"] if a["name"] == "Bea Brown")
    assert bea["last_payment"] == {"date": "2026-06-20", "amount": "15.00"}
    assert (bea["statements"], bea["billed_to_insurer"]) == (0, None)


async def test_without_detail_the_contract_is_as_it_was(db: Database, clock: FixedClock) -> None:
    await clinic(db, clock)
    async with db.read() as conn:
        atb = await aged_trial_balance(conn, AtbQuery(AS_OF, "USD"))
    assert next(csv.reader(io.StringIO(atb_csv(atb))))[-1] == "total"
    body = json.loads(atb_json(atb))
    assert "period" not in body and "statements" not in body["accounts"][0]


async def test_a_used_prepayment_a_reversed_write_off_and_a_reversed_transfer_are_not_counted(
    db: Database,
) -> None:
    """Review findings: using a prepayment is no payment received (it came in when
    prepaid); a write-off reversed in the month nets to no credit; a transfer reversed
    is no credit on the account it had gone to."""
    from core.services.memos import use_prepayment

    cy = await open_account(db, name="Cy Prepaid")
    dee = await open_account(db, name="Dee Patient")
    gus = await open_account(db, name="Gus Guarantor", customer_type="guarantor")
    await receive_prepayment(db, ADMIN, account_id=cy.id, amount=usd("50.00"),
                             on=date(2026, 5, 20), key="cy-pre", method="cash")  # fmt: skip
    bill = await charge(db, cy.id, "80.00", date(2026, 6, 10), "cy-bill")
    await use_prepayment(db, ADMIN, item_id=await only_item(db, bill), amount=usd("50.00"),
                         on=date(2026, 6, 10), key="cy-use")  # fmt: skip
    await charge(db, dee.id, "100.00", date(2026, 6, 1), "dee-bill")
    [wo] = await write_off(db, SUPERVISOR, account_id=dee.id, key="dee-wo",
                           on=date(2026, 6, 5), reason="ADMIN", note="x",
                           amount=usd("30.00"))  # fmt: skip
    await reverse_entry(db, ADMIN, entry_id=wo.id, on=date(2026, 6, 6), key="dee-wo-back",
                        reason="KEYING_ERROR")  # fmt: skip
    moved = await charge(db, dee.id, "40.00", date(2026, 6, 2), "dee-move")
    item = await only_item(db, moved)
    move = await transfer_item(db, ADMIN, item_id=item, to_account_id=gus.id,
                               on=date(2026, 6, 8), key="dee-gus")  # fmt: skip
    await reverse_entry(db, ADMIN, entry_id=move.id, on=date(2026, 6, 9), key="gus-back",
                        reason="KEYING_ERROR")  # fmt: skip

    detail, _, _ = await detail_of(db)

    cy_d = detail.of(cy.id, "USD")
    assert (cy_d.last_payment_date, cy_d.last_payment) == (date(2026, 5, 20), usd("50.00"))
    assert cy_d.payments == usd("0.00")  # received in May, used in June
    assert detail.of(dee.id, "USD").credits == usd("0.00")
    assert detail.of(gus.id, "USD").credits == usd("0.00")


async def test_grouped_rows_carry_an_accounts_figures_once(
    db: Database, clock: FixedClock
) -> None:
    """Review finding: with ``--by doctor`` an account with two doctors has two rows;
    its figures are on the first only, so a column's sum counts them once."""
    ann = await open_account(db, name="Ann Two Doctors")
    for n, doctor in enumerate(("Dr Ito", "Dr Roy")):
        await post_charge(db, ADMIN, account_id=ann.id, amount=usd("50.00"), doctor=doctor,
                          service_date=date(2026, 6, 1), key=f"ann-{n}")  # fmt: skip
    await pay(db, ann.id, "20.00", date(2026, 6, 12), "ann-pay")
    async with db.read() as conn:
        atb = await aged_trial_balance(conn, AtbQuery(AS_OF, "USD", group_by=GroupBy.DOCTOR))
        detail = await atb_detail(conn, atb)

    rows = list(csv.DictReader(io.StringIO(atb_csv(atb, detail))))
    assert sorted(r["group"] for r in rows) == ["Dr Ito", "Dr Roy"]
    assert [r["period_payments"] for r in rows] == ["20.00", ""]
    body = json.loads(atb_json(atb, detail))
    assert [a["period_payments"] for a in body["accounts"]] == ["20.00", None]


async def test_a_visit_split_with_an_insurer_is_billed_to_the_insurer_for_both(
    db: Database,
) -> None:
    """Review finding: the insurer's share of a split visit is billed to the insurer's
    account; the patient's row and the insurer's both show that bill date, while a
    self-pay patient's own visit shows none."""
    from core.billing.catalogue import NewService, define_service
    from core.billing.charges import ChargeLine, post_charges
    from core.billing.invoice import Split

    await define_service(db, ADMIN, NewService("CONS", "Consultation", "consultation",
                                               usd("100.00")))  # fmt: skip
    eli = await open_account(db, name="Eli Split")
    acme = await open_account(db, name="Acme Health", customer_type="insurer")
    solo = await open_account(db, name="Solo Self")
    split = ChargeLine("CONS", splits=(Split(acme.id, percent_bp=8_000),))
    await post_charges(db, ADMIN, account_id=eli.id, key="eli", bill_date=date(2026, 6, 4),
                       lines=[split])  # fmt: skip
    await post_charges(db, ADMIN, account_id=solo.id, key="solo", bill_date=date(2026, 6, 5),
                       lines=[ChargeLine("CONS")])  # fmt: skip

    detail, _, _ = await detail_of(db)

    assert detail.of(eli.id, "USD").billed_to_insurer == date(2026, 6, 4)
    assert detail.of(acme.id, "USD").billed_to_insurer == date(2026, 6, 4)
    assert detail.of(solo.id, "USD").billed_to_insurer is None
