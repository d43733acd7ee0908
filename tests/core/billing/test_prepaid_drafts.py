"""Prepayments used up by the charges they were for, draft billing records, and the
charges billing refuses (AR-052, AR-087, BI-03, BI-04).

A clerk checks what the patient still owes, what is still held for them, and that a
draft reaches the ledger once, when it is finalised, and never changes after."""

from __future__ import annotations

import asyncio

import pytest

from core.billing.charges import ChargeLine
from core.billing.drafts import (
    add_draft_line,
    amend_draft_line,
    finalise_draft,
    load_draft,
    open_draft,
    remove_draft_line,
    void_draft,
)
from core.billing.invoice import Split
from core.billing.prepaid import PREPAYMENTS_GL, held_prepayments
from core.customers import set_status
from core.db import Database
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.items import ItemStatus, gl_balance
from core.money import Money
from core.services import prior_entry
from core.services.adjustments import reverse_entry
from core.services.memos import use_prepayment
from tests.core.billing.helpers import DAY, charge, footprint, prepaid, rule, service
from tests.core.helpers import ADMIN, balance_of, items_of, open_account, usd


async def still_held(db: Database, account_id: int) -> tuple[list[int], Money]:
    """What each prepayment still holds, and what the ledger holds, for the account."""
    async with db.read() as conn:
        held = (await held_prepayments(conn, [account_id])).get(account_id, [])
        ledger = -await gl_balance(conn, PREPAYMENTS_GL, account_id)
    return [h.remaining_minor for h in held], Money(ledger, "USD")


@pytest.fixture
async def clinic(db: Database) -> Database:
    await service(db, "PHYSIO", "80.00", "procedure")
    await service(db, "CONS", "100.00")
    return db


async def test_prepayment_for_the_service_goes_before_a_general_one(clinic: Database) -> None:
    """AR-087: the bundle paid for physiotherapy is used first, even though the general
    prepayment is older; the general one then pays any charge."""
    patient = await open_account(clinic)
    await prepaid(clinic, patient.id, "50.00")
    await prepaid(clinic, patient.id, "60.00", "PHYSIO")
    session = await charge(clinic, patient.id, ChargeLine("PHYSIO"), key="physio")
    assert (session.prepaid_used, await balance_of(clinic, patient.id)) == (usd("80"), usd("0"))
    assert await still_held(clinic, patient.id) == ([30_00], usd("30.00"))
    consult = await charge(clinic, patient.id, ChargeLine("CONS"), key="cons")
    assert consult.prepaid_used == usd("30.00")
    assert await balance_of(clinic, patient.id) == usd("70.00")
    assert await still_held(clinic, patient.id) == ([], usd("0.00"))


async def test_a_prepayment_for_one_service_never_pays_another(clinic: Database) -> None:
    patient = await open_account(clinic)
    await prepaid(clinic, patient.id, "60.00", "PHYSIO")
    consult = await charge(clinic, patient.id, ChargeLine("CONS"))
    assert (consult.prepaid_used, consult.total) == (usd("0.00"), usd("100.00"))
    assert await still_held(clinic, patient.id) == ([60_00], usd("60.00"))


async def test_a_small_prepayment_pays_part_of_the_charge(clinic: Database) -> None:
    """AR-087: the item stays open for the rest, partly paid."""
    patient = await open_account(clinic)
    await prepaid(clinic, patient.id, "30.00", "PHYSIO")
    session = await charge(clinic, patient.id, ChargeLine("PHYSIO"))
    (item,) = [i for i in await items_of(clinic, patient.id) if i.is_debit]
    assert (session.prepaid_used, item.open, item.status) == (
        usd("30.00"),
        usd("50.00"),
        ItemStatus.PARTLY_PAID,
    )
    assert await still_held(clinic, patient.id) == ([], usd("0.00"))


async def test_prepayment_pays_only_the_patients_share(clinic: Database) -> None:
    """AR-087, BI-12: what the insurer owes is not paid from the patient's money."""
    patient = await open_account(clinic)
    insurer = await open_account(clinic, "Acme Health", customer_type="insurer")
    await prepaid(clinic, patient.id, "60.00", "PHYSIO")
    line = ChargeLine("PHYSIO", splits=(Split(insurer.id, percent_bp=8_000),))
    session = await charge(clinic, patient.id, line)
    assert session.prepaid_used == usd("16.00")
    assert await balance_of(clinic, patient.id) == usd("0.00")
    assert await balance_of(clinic, insurer.id) == usd("64.00")
    assert await still_held(clinic, patient.id) == ([44_00], usd("44.00"))


async def test_prepayment_used_by_hand_is_not_used_again(clinic: Database) -> None:
    """AR-087: a clerk used 30 of a 50 physio prepayment on a consultation; the clerk
    cannot use more than the 20 left, and the next session finds only those 20."""
    patient = await open_account(clinic)
    await prepaid(clinic, patient.id, "50.00", "PHYSIO")
    await charge(clinic, patient.id, ChargeLine("CONS"), key="cons")
    (consult,) = await items_of(clinic, patient.id)
    await use_prepayment(clinic, ADMIN, item_id=consult.id, amount=usd("30"), on=DAY, key="h1")
    assert await still_held(clinic, patient.id) == ([20_00], usd("20.00"))
    before = await footprint(clinic)
    with pytest.raises(InvalidState, match=r"only 20\.00 is held in prepayments, not 25\.00"):
        await use_prepayment(clinic, ADMIN, item_id=consult.id, amount=usd("25"), on=DAY, key="h2")
    assert await footprint(clinic) == before
    session = await charge(clinic, patient.id, ChargeLine("PHYSIO"), key="physio")
    assert session.prepaid_used == usd("20.00")
    assert await balance_of(clinic, patient.id) == usd("130.00")
    assert await still_held(clinic, patient.id) == ([], usd("0.00"))


async def test_the_bundle_rate_ends_when_the_prepayment_is_used_by_hand(clinic: Database) -> None:
    """BI-27, AR-087: a bundle rate needs a prepayment the account still holds; one a clerk
    used up on another charge no longer counts."""
    bundle = await rule(
        clinic,
        "Bundle",
        "fixed",
        amount=usd("60.00"),
        service_code="PHYSIO",
        requires_prepayment=True,
    )
    patient = await open_account(clinic)
    await prepaid(clinic, patient.id, "120.00", "PHYSIO")
    first = await charge(clinic, patient.id, ChargeLine("PHYSIO"), key="physio-1")
    assert (first.lines[0]["rule_id"], first.total, first.prepaid_used) == (
        bundle,
        usd("60.00"),
        usd("60.00"),
    )
    await charge(clinic, patient.id, ChargeLine("CONS"), key="cons")
    consult = next(i for i in await items_of(clinic, patient.id) if i.open.minor)
    await use_prepayment(
        clinic, ADMIN, item_id=consult.id, amount=usd("60.00"), on=DAY, key="hand"
    )
    second = await charge(clinic, patient.id, ChargeLine("PHYSIO"), key="physio-2")
    assert (second.total, second.lines[0]["rule_id"]) == (usd("80.00"), None)
    assert second.prepaid_used == Money.zero("USD")
    assert await balance_of(clinic, patient.id) == usd("120.00")


async def test_two_visits_at_once_cannot_use_one_prepayment_twice(clinic: Database) -> None:
    """AR-087: two charges posted at the same moment share what is held, never more."""
    patient = await open_account(clinic)
    await prepaid(clinic, patient.id, "100.00", "PHYSIO")
    first, second = await asyncio.gather(
        charge(clinic, patient.id, ChargeLine("PHYSIO"), key="a"),
        charge(clinic, patient.id, ChargeLine("PHYSIO"), key="b"),
    )
    assert first.prepaid_used + second.prepaid_used == usd("100.00")
    assert await balance_of(clinic, patient.id) == usd("60.00")
    assert await still_held(clinic, patient.id) == ([], usd("0.00"))


async def test_a_reversed_use_gives_the_prepayment_back(clinic: Database) -> None:
    """AR-087: undoing a session paid from a prepayment (the use first, then the charge)
    leaves the prepayment held again, for the next session to use."""
    patient = await open_account(clinic)
    bundle = await prepaid(clinic, patient.id, "80.00", "PHYSIO")
    session = await charge(clinic, patient.id, ChargeLine("PHYSIO"), key="physio")
    use = await prior_entry(clinic, f"physio/prepaid/{bundle.id}/PHYSIO")
    assert use is not None
    for n, entry_id in enumerate((use.id, session.entry.id)):
        await reverse_entry(
            clinic, ADMIN, entry_id=entry_id, on=DAY, key=f"undo-{n}", reason="KEYING_ERROR"
        )
    assert await still_held(clinic, patient.id) == ([80_00], usd("80.00"))
    again = await charge(clinic, patient.id, ChargeLine("PHYSIO"), key="physio-again")
    assert again.prepaid_used == usd("80.00")
    assert await balance_of(clinic, patient.id) == usd("0.00")


async def test_a_draft_is_amended_then_posted_once(clinic: Database) -> None:
    """BI-03, BI-04: lines logged, changed and removed reach the ledger only when the
    draft is finalised; finalising twice posts once; a final draft cannot change."""
    patient = await open_account(clinic)
    draft = await open_draft(clinic, ADMIN, account_id=patient.id, note="visit 2 March")
    physio = await add_draft_line(clinic, ADMIN, draft, ChargeLine("PHYSIO", 1, DAY))
    cons = await add_draft_line(clinic, ADMIN, draft, ChargeLine("CONS", 1, DAY))
    mistake = await add_draft_line(clinic, ADMIN, draft, ChargeLine("CONS", 1, DAY))
    amended = ChargeLine("PHYSIO", 2, DAY, unit_price=usd("70"), override_reason="loyalty")
    await amend_draft_line(clinic, ADMIN, draft, physio, amended)
    await remove_draft_line(clinic, ADMIN, draft, mistake)
    async with clinic.read() as conn:
        logged = await load_draft(conn, draft)
    assert logged.lines == ((physio, amended), (cons, ChargeLine("CONS", 1, DAY)))
    assert (logged.status, await balance_of(clinic, patient.id)) == ("draft", usd("0.00"))

    invoice = await finalise_draft(clinic, ADMIN, draft)
    assert invoice.total == usd("240.00")
    before = await footprint(clinic)
    assert (await finalise_draft(clinic, ADMIN, draft)).entry.id == invoice.entry.id
    async with clinic.read() as conn:
        final = await load_draft(conn, draft)
    assert (final.status, final.entry_id) == ("final", invoice.entry.id)
    for change in (
        lambda: add_draft_line(clinic, ADMIN, draft, ChargeLine("CONS", 1, DAY)),
        lambda: amend_draft_line(clinic, ADMIN, draft, cons, ChargeLine("CONS", 2, DAY)),
        lambda: remove_draft_line(clinic, ADMIN, draft, cons),
        lambda: void_draft(clinic, ADMIN, draft, reason="wrong patient"),
    ):
        with pytest.raises(InvalidState, match=f"draft {draft} is final and can no longer"):
            await change()
    assert await footprint(clinic) == before
    assert await balance_of(clinic, patient.id) == usd("240.00")


async def test_a_draft_changed_while_finalised_is_not_posted_stale(clinic: Database) -> None:
    """BI-04: the invoice always says what the final draft says: a change that lands
    while the draft is being finalised is either in the invoice or refused."""
    patient = await open_account(clinic)
    draft = await open_draft(clinic, ADMIN, account_id=patient.id)
    line = await add_draft_line(clinic, ADMIN, draft, ChargeLine("CONS", 1, DAY))
    finalised, amended = await asyncio.gather(
        finalise_draft(clinic, ADMIN, draft),
        amend_draft_line(clinic, ADMIN, draft, line, ChargeLine("CONS", 3, DAY)),
        return_exceptions=True,
    )
    assert all(
        isinstance(r, InvalidState) for r in (finalised, amended) if isinstance(r, Exception)
    )
    invoice = await finalise_draft(clinic, ADMIN, draft)
    async with clinic.read() as conn:
        final = await load_draft(conn, draft)
    assert invoice.lines[0]["quantity"] == final.lines[0][1].quantity
    assert await balance_of(clinic, patient.id) == invoice.total


async def test_a_void_or_empty_draft_is_never_posted(clinic: Database) -> None:
    """BI-03: a voided draft stays on file; neither it nor an empty one can be posted."""
    patient = await open_account(clinic)
    empty = await open_draft(clinic, ADMIN, account_id=patient.id)
    before = await footprint(clinic)
    with pytest.raises(ValidationError, match=f"draft {empty} has no lines"):
        await finalise_draft(clinic, ADMIN, empty)
    with pytest.raises(ValidationError, match="say why the draft is voided"):
        await void_draft(clinic, ADMIN, empty, reason=" ")
    assert await footprint(clinic) == before
    await add_draft_line(clinic, ADMIN, empty, ChargeLine("CONS", 1, DAY))
    await void_draft(clinic, ADMIN, empty, reason="visit cancelled")
    before = await footprint(clinic)
    with pytest.raises(InvalidState, match="is void"):
        await finalise_draft(clinic, ADMIN, empty)
    with pytest.raises(InvalidState, match="is void and can no longer change"):
        await add_draft_line(clinic, ADMIN, empty, ChargeLine("CONS", 1, DAY))
    assert await footprint(clinic) == before


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (ChargeLine("NOPE"), "no service 'NOPE'"),
        (ChargeLine("CONS", 0), "above zero, not 0"),
        (ChargeLine("CONS", unit_price=Money(50_00, "USD")), "say why the price of CONS"),
        (ChargeLine("CONS", unit_price=Money(50_00, "EUR"), override_reason="x"), "kept in USD"),
    ],
)
async def test_a_bad_draft_line_is_refused(clinic: Database, line: ChargeLine, error: str) -> None:
    patient = await open_account(clinic)
    draft = await open_draft(clinic, ADMIN, account_id=patient.id)
    before = await footprint(clinic)
    with pytest.raises((ValidationError, NotFound), match=error):
        await add_draft_line(clinic, ADMIN, draft, line)
    assert await footprint(clinic) == before


async def test_inactive_accounts_are_refused_charges(clinic: Database) -> None:
    """AR-052: neither the patient's own account nor a split payer may be inactive; a
    draft for an inactive account stays a draft until the account is reactivated."""
    patient = await open_account(clinic)
    insurer = await open_account(clinic, "Old Insurer", customer_type="insurer")
    draft = await open_draft(clinic, ADMIN, account_id=patient.id)
    await add_draft_line(clinic, ADMIN, draft, ChargeLine("CONS", 1, DAY))
    for account, why in ((insurer, "contract ended"), (patient, "moved away")):
        await set_status(
            clinic, ADMIN, account_id=account.id, status="inactive", reason=why, on=DAY
        )
    before = await footprint(clinic)
    with pytest.raises(InvalidState, match=r"is inactive: charges are refused .*\(AR-052\)"):
        await charge(clinic, patient.id, ChargeLine("CONS"), key="own")
    with pytest.raises(InvalidState, match="inactive"):
        await finalise_draft(clinic, ADMIN, draft)
    assert await footprint(clinic) == before
    await set_status(clinic, ADMIN, account_id=patient.id, status="active", reason="back", on=DAY)
    before = await footprint(clinic)
    split = ChargeLine("CONS", splits=(Split(insurer.id, percent_bp=5_000),))
    with pytest.raises(InvalidState, match=f"account {insurer.number} is inactive"):
        await charge(clinic, patient.id, split, key="split")
    assert await footprint(clinic) == before
    assert (await finalise_draft(clinic, ADMIN, draft)).total == usd("100.00")


async def test_posting_again_with_the_same_key_returns_the_first_invoice(clinic: Database) -> None:
    """BI-04: a retried request returns the first invoice and writes nothing, even after
    the price changed and whatever lines it carries."""
    patient = await open_account(clinic)
    first = await charge(clinic, patient.id, ChargeLine("CONS"), ChargeLine("PHYSIO"))
    await service(clinic, "CONS", "999.00")
    before = await footprint(clinic)
    again = await charge(clinic, patient.id, ChargeLine("CONS", 3))
    assert (again.entry.id, again.lines, again.owed) == (first.entry.id, first.lines, first.owed)
    assert await footprint(clinic) == before
    assert await balance_of(clinic, patient.id) == usd("180.00")
