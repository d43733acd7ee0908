"""Search: an account found from whatever the person asking has in hand, by every way
it can match (AR-049, AR-051, AR-082, AR-133..AR-136)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from core.customers import NewCustomer, register_customer
from core.db import Database
from core.db.migrate import upgrade
from core.errors import ValidationError
from core.ledger.tables import customer_account
from core.search import search
from core.services.charges import post_charge
from core.services.memos import receive_prepayment
from core.services.payments import record_payment
from core.services.split import Part, record_split_payment
from tests.core.conftest import downgrade
from tests.core.helpers import ADMIN, usd

DAY = date(2026, 6, 30)


def patient(last: str, first: str = "Ana", **kw: object) -> NewCustomer:
    return NewCustomer(last_name=last, first_name=first, currency="USD", **kw)  # type: ignore[arg-type]


async def test_search_finds_by_number_mrn_name_sound_guarantor_and_phone(db: Database) -> None:
    parent = await register_customer(
        db, ADMIN, patient("Johnson", "Rosa", customer_type="guarantor")
    )
    child = await register_customer(
        db,
        ADMIN,
        patient(
            "Johnson",
            "Leo",
            mrn="MRN-7781",
            phone="+1 (555) 010-2030",
            date_of_birth=date(2015, 3, 2),
            guarantor_id=parent.id,
        ),
    )
    other = await register_customer(db, ADMIN, patient("Smith", "Omar", language="es-MX"))

    async with db.read() as conn:
        assert [(f.account_id, f.matched_by) for f in await search(conn, child.number)] == [
            (child.id, "account number")
        ]
        by_mrn = await search(conn, "mrn-7781")
        assert [(f.account_id, f.matched_by) for f in by_mrn] == [
            (child.id, "medical record number")
        ]
        by_name = await search(conn, "johns")
        assert {f.account_id for f in by_name} == {parent.id, child.id}
        assert {f.matched_by for f in by_name} == {"last name"}
        sounds = await search(conn, "Jonson")
        assert {f.account_id for f in sounds} == {parent.id, child.id}
        assert sounds[0].matched_by == "sounds like"
        by_phone = await search(conn, "+1 555 010 2030")
        assert [(f.account_id, f.matched_by) for f in by_phone] == [(child.id, "phone")]
        assert [f.account_id for f in await search(conn, "Smyth")] == [other.id]
        row = (
            await conn.execute(
                select(customer_account.c.language, customer_account.c.date_of_birth).where(
                    customer_account.c.id == child.id
                )
            )
        ).one()
        assert (row.language, row.date_of_birth) == ("en", date(2015, 3, 2))
        assert (await search(conn, "Smith"))[0].name == "Omar Smith"
        assert await search(conn, "Nobody") == []


async def test_guarantor_name_finds_the_patients_they_guarantee(db: Database) -> None:
    """AR-136."""
    parent = await register_customer(
        db, ADMIN, patient("Okafor", "Grace", customer_type="guarantor")
    )
    child = await register_customer(db, ADMIN, patient("Mensah", "Kofi", guarantor_id=parent.id))
    async with db.read() as conn:
        found = {f.account_id: f.matched_by for f in await search(conn, "okafor")}
    assert found == {parent.id: "last name", child.id: "guarantor"}


async def test_results_come_newest_activity_first(db: Database) -> None:
    """AR-051."""
    older = await register_customer(db, ADMIN, patient("Garcia", "Ana"))
    newer = await register_customer(db, ADMIN, patient("Garcia", "Luis"))
    quiet = await register_customer(db, ADMIN, patient("Garcia", "Eva"))
    await post_charge(
        db, ADMIN, account_id=older.id, amount=usd("10"), service_date=date(2026, 1, 5), key="a"
    )
    await post_charge(
        db, ADMIN, account_id=newer.id, amount=usd("10"), service_date=date(2026, 6, 5), key="b"
    )
    async with db.read() as conn:
        found = await search(conn, "garcia")
    assert [f.account_id for f in found] == [newer.id, older.id, quiet.id]
    assert found[0].last_activity == date(2026, 6, 5) and found[2].last_activity is None


async def test_search_needs_two_characters(db: Database) -> None:
    async with db.read() as conn:
        with pytest.raises(ValidationError, match="at least two characters"):
            await search(conn, " j ")


async def test_a_payment_reference_finds_every_account_it_paid(db: Database) -> None:
    """AR-082: a cheque named on a bank statement, a card payment by the processor's id."""
    ana = await register_customer(db, ADMIN, patient("Lopez", "Ana"))
    leo = await register_customer(db, ADMIN, patient("Lopez", "Leo"))
    omar = await register_customer(db, ADMIN, patient("Haddad", "Omar"))
    for account in (ana, leo, omar):
        await post_charge(db, ADMIN, account_id=account.id, amount=usd("100"),
                          service_date=DAY, key=f"c-{account.id}")  # fmt: skip
    await record_split_payment(
        db, ADMIN, amount=usd("150"), method="check", reference="CHK-1042",
        parts=[Part(ana.id, usd("90")), Part(leo.id, usd("60"))], received_on=DAY, key="chq",
    )  # fmt: skip
    await record_payment(
        db, ADMIN, account_id=omar.id, amount=usd("25"), received_on=DAY, key="card",
        method="card", reference="pi_3MtwBwLkdIwHu7ix28a3tqPa",
    )  # fmt: skip
    async with db.read() as conn:
        cheque = await search(conn, " chk-1042 ")
        card = await search(conn, "pi_3MtwBwLkdIwHu7ix28a3tqPa")
        case_matters = await search(conn, "PI_3MTWBWLKDIWHU7IX28A3TQPA")
        unknown = await search(conn, "CHK-1043")
    assert {(f.account_id, f.matched_by) for f in cheque} == {
        (ana.id, "reference"),
        (leo.id, "reference"),
    }
    assert [(f.account_id, f.matched_by) for f in card] == [(omar.id, "reference")]
    assert case_matters == [] and unknown == []


async def test_an_entry_number_finds_the_account_it_was_posted_to(db: Database) -> None:
    """AR-082: the invoice or payment number a statement or the account view prints."""
    ana = await register_customer(db, ADMIN, patient("Lopez", "Ana"))
    leo = await register_customer(db, ADMIN, patient("Lopez", "Leo"))
    charge = await post_charge(db, ADMIN, account_id=ana.id, amount=usd("100"),
                               service_date=DAY, key="c1")  # fmt: skip
    paid = await record_payment(db, ADMIN, account_id=leo.id, amount=usd("5"),
                                received_on=DAY, key="p1", method="cash")  # fmt: skip
    async with db.read() as conn:
        by_charge = await search(conn, f"T{charge.id:08d}")
        short = await search(conn, f"t{charge.id}")
        by_payment = await search(conn, f"T{paid.entry.id:08d}")
        unknown = await search(conn, "T99999999")
    assert [(f.account_id, f.matched_by) for f in by_charge] == [(ana.id, "entry number")]
    assert [f.account_id for f in short] == [ana.id]
    assert [(f.account_id, f.matched_by) for f in by_payment] == [(leo.id, "entry number")]
    assert unknown == []


async def test_an_identifier_comes_before_a_name(db: Database) -> None:
    """A typed account number that is also the start of a surname: the account it
    numbers first, whatever the activity of the others."""
    named = await register_customer(db, ADMIN, patient("Ab", "Ana", number="AB"))
    other = await register_customer(db, ADMIN, patient("Abbott", "Leo"))
    await post_charge(db, ADMIN, account_id=other.id, amount=usd("10"), service_date=DAY,
                      key="c-other")  # fmt: skip
    async with db.read() as conn:
        found = await search(conn, "ab")
    assert [(f.account_id, f.matched_by) for f in found] == [
        (named.id, "account number"),
        (other.id, "last name"),
    ]


async def test_a_name_is_found_with_or_without_its_accents(db: Database) -> None:
    """Staff type "garcia" for García and "munoz" for Muñoz: the name as written, its
    letters without their marks and any case find the same accounts."""
    garcia = await register_customer(db, ADMIN, patient("García", "Ana"))
    munoz = await register_customer(db, ADMIN, patient("Muñoz", "Íñigo"))
    walesa = await register_customer(db, ADMIN, patient("Wałęsa", "Lech"))
    sorensen = await register_customer(db, ADMIN, patient("Sørensen", "Åse"))
    yilmaz = await register_customer(db, ADMIN, patient("Yılmaz", "Ayşe"))
    async with db.read() as conn:
        for typed, account in (("garcia", garcia), ("GARCÍA", garcia), ("Garc", garcia),
                               ("munoz", munoz), ("muñoz iñ", munoz), ("walesa", walesa),
                               ("sorensen", sorensen), ("yilmaz", yilmaz)):  # fmt: skip
            found = await search(conn, typed)
            assert [(f.account_id, f.matched_by) for f in found] == [(account.id, "last name")], (
                typed
            )
        sounds = await search(conn, "Garsia")
    assert [f.account_id for f in sounds] == [garcia.id]


async def test_names_on_file_before_the_upgrade_are_found_without_accents(
    fresh: Database,
) -> None:
    """Migration 0018 remakes the sort names and sound keys of accounts already on
    file, which were made from the name as written."""
    await downgrade(fresh, "0017")
    garcia = await register_customer(fresh, ADMIN, patient("García", "Ana"))
    async with fresh.transaction() as tx:  # as revision 0017's code wrote them
        await tx.conn.execute(
            update(customer_account)
            .where(customer_account.c.id == garcia.id)
            .values(sort_name="garcía ana", name_key="KRS")
        )
    await upgrade(fresh)
    async with fresh.read() as conn:
        row = (
            await conn.execute(
                select(customer_account.c.sort_name, customer_account.c.name_key).where(
                    customer_account.c.id == garcia.id
                )
            )
        ).one()
        found = await search(conn, "garcia")
    assert tuple(row) == ("garcia ana", "KRX")
    assert [f.account_id for f in found] == [garcia.id]


async def test_a_prepayment_is_found_by_its_reference_and_its_number(db: Database) -> None:
    """A prepayment is held for the patient outside A/R, on a line naming the account:
    found all the same, by Stripe's payment id and by its entry number."""
    ana = await register_customer(db, ADMIN, patient("Lopez", "Ana"))
    held = await receive_prepayment(db, ADMIN, account_id=ana.id, amount=usd("250"), on=DAY,
                                    key="pre1", method="card",
                                    reference="pi_3PrePaid")  # fmt: skip
    async with db.read() as conn:
        by_reference = await search(conn, "pi_3PrePaid")
        by_number = await search(conn, held.number)
    assert [(f.account_id, f.matched_by) for f in by_reference] == [(ana.id, "reference")]
    assert [(f.account_id, f.matched_by) for f in by_number] == [(ana.id, "entry number")]


async def test_an_entry_number_past_any_id_matches_nothing(db: Database) -> None:
    """Ids are 32-bit on PostgreSQL: a longer number is no entry, not a database error."""
    await register_customer(db, ADMIN, patient("Lopez", "Ana"))
    async with db.read() as conn:
        assert await search(conn, "T99999999999") == []


async def test_a_search_limited_to_locations_finds_theirs_past_the_others(db: Database) -> None:
    """The limit applies after the locations: staff of one clinic find its patient among
    more namesakes elsewhere than the list holds."""
    for n in range(5):
        await register_customer(db, ADMIN, patient("Lopez", f"Main{n}", location="main"))
    north = await register_customer(db, ADMIN, patient("Lopez", "Nina", location="north"))
    async with db.read() as conn:
        found = await search(conn, "lopez", limit=3, locations=frozenset({"north"}))
    assert [f.account_id for f in found] == [north.id]
