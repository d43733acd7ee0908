"""One cheque split across several accounts (AR-016, AR-096): one payment per part,
applied per account, all or nothing, once per key."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.auth import Actor, StaffRole
from core.db import Database
from core.errors import NotFound, PermissionDenied, ValidationError
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.services.charges import post_charge
from core.services.split import Part, SplitPayment, record_split_payment
from tests.core.helpers import ADMIN, CLERK, balance_of, open_account, usd

DAY = date(2026, 6, 30)
BILLER = Actor("staff", "7", "Bea Biller", StaffRole.BILLER)


async def owing(db: Database, name: str, amount: str, **kw: object) -> Account:
    account = await open_account(db, name, **kw)
    await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount), service_date=DAY,
                      key=f"c-{account.id}")  # fmt: skip
    return account


async def payments(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(journal_entry.c.entry_type == "PAYMENT")
        return int((await conn.execute(query)).scalar_one())


async def split(
    db: Database, parts: list[Part], cheque: str = "150", key: str = "chq-1042"
) -> SplitPayment:
    return await record_split_payment(
        db, BILLER, amount=usd(cheque), method="check", reference="cheque 1042", parts=parts,
        received_on=DAY, key=key,
    )  # fmt: skip


async def test_a_parent_pays_for_two_children_with_one_cheque(db: Database) -> None:
    ana, leo = await owing(db, "Ana López", "100"), await owing(db, "Leo López", "80")
    done = await split(db, [Part(ana.id, usd("90")), Part(leo.id, usd("60"))])
    assert [p.applied for p in done.parts] == [usd("90"), usd("60")]
    assert [p.entry.reference for p in done.parts] == ["cheque 1042", "cheque 1042"]
    assert await balance_of(db, ana.id) == usd("10") and await balance_of(db, leo.id) == usd("20")
    again = await split(db, [Part(ana.id, usd("90")), Part(leo.id, usd("60"))])
    assert again.replayed and [p.entry.id for p in again.parts] == [p.entry.id for p in done.parts]
    assert await payments(db) == 2


@pytest.mark.parametrize(
    ("cheque", "first", "second", "error"),
    [
        ("150", "90", "50", "the parts add up to 140.00, not to the cheque's 150.00"),
        ("150", "150", "0", "must be greater than zero"),
        ("0", "0", "0", "must be greater than zero"),
    ],
)
async def test_parts_that_do_not_make_the_cheque_record_nothing(
    db: Database, cheque: str, first: str, second: str, error: str
) -> None:
    ana, leo = await owing(db, "Ana López", "100"), await owing(db, "Leo López", "80")
    with pytest.raises(ValidationError, match=error):
        await split(db, [Part(ana.id, usd(first)), Part(leo.id, usd(second))], cheque)
    assert await payments(db) == 0


async def test_the_same_account_twice_or_an_unknown_one_records_nothing(db: Database) -> None:
    ana = await owing(db, "Ana López", "100")
    with pytest.raises(ValidationError, match="is named twice"):
        await split(db, [Part(ana.id, usd("75")), Part(ana.id, usd("75"))])
    with pytest.raises(NotFound):
        await split(db, [Part(ana.id, usd("75")), Part(99999, usd("75"))])
    assert await payments(db) == 0


async def test_every_part_needs_the_permission_at_its_location(db: Database) -> None:
    north = await owing(db, "Nora North", "100", location="north")
    main = await owing(db, "Mia Main", "100")
    clerk = CLERK  # records payments, at north only
    with pytest.raises(PermissionDenied, match="location 'main'"):
        await record_split_payment(
            db, clerk, amount=usd("150"), method="check", received_on=DAY, key="k",
            parts=[Part(north.id, usd("75")), Part(main.id, usd("75"))],
        )  # fmt: skip
    assert await payments(db) == 0
