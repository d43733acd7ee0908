"""Held payments (AR-095): a payment that would leave a credit waits for its asker's yes;
Confirm and Cancel at the same moment have exactly one outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from core.auth import Actor, StaffRole
from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, NotFound, PermissionDenied
from core.ledger.tables import journal_entry
from core.services.charges import post_charge
from core.services.held import HeldStatus, cancel_held, confirm_held, hold_payment, load_held
from tests.core.helpers import ADMIN, CLERK, balance_of, open_account, usd

DAY = date(2026, 6, 30)
BILLER = Actor("staff", "7", "Bea Biller", StaffRole.BILLER)


async def payments(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(journal_entry.c.entry_type == "PAYMENT")
        return int((await conn.execute(query)).scalar_one())


async def held_for(db: Database, who: Actor = BILLER) -> tuple[int, str]:
    """An account owing 80.00 and a held payment of 110.00 on it."""
    account = await open_account(db)
    await post_charge(db, ADMIN, account_id=account.id, amount=usd("80"), service_date=DAY,
                      key=f"c-{account.id}")  # fmt: skip
    token = uuid.uuid4().hex
    await hold_payment(db, who, token=token, key=f"test/payment/{token}", account_id=account.id,
                       amount=usd("110"), method="cash")  # fmt: skip
    return account.id, token


async def test_confirm_records_the_held_amount_under_the_held_key(db: Database) -> None:
    account_id, token = await held_for(db)
    assert await payments(db) == 0  # nothing until confirmed
    result = await confirm_held(db, BILLER, token, on=DAY)
    assert result.entry.idempotency_key == f"test/payment/{token}"
    assert result.applied == usd("80") and result.unapplied == usd("30")
    assert await balance_of(db, account_id) == usd("-30")
    again = await confirm_held(db, BILLER, token, on=DAY)
    assert again.entry.replayed and again.entry.id == result.entry.id
    async with db.read() as conn:
        held = await load_held(conn, token)
    assert held.status is HeldStatus.CONFIRMED and held.entry_id == result.entry.id
    with pytest.raises(InvalidState, match=f"already recorded as {result.entry.number}"):
        await cancel_held(db, BILLER, token)
    assert await payments(db) == 1


async def test_a_retry_holds_once_and_a_reused_token_is_refused(db: Database) -> None:
    account_id, token = await held_for(db)
    key = f"test/payment/{token}"
    again = await hold_payment(db, BILLER, token=token, key=key, account_id=account_id,
                               amount=usd("110"), method="cash")  # fmt: skip
    assert again.replayed and again.amount == usd("110")
    with pytest.raises(Exception, match="already holds another payment"):
        await hold_payment(db, BILLER, token=token, key=f"test/payment/{token}",
                           account_id=account_id, amount=usd("999"), method="cash")  # fmt: skip


async def test_only_the_asker_may_answer_and_only_while_it_stands(
    db: Database, clock: FixedClock
) -> None:
    _, token = await held_for(db)
    with pytest.raises(PermissionDenied, match="only the person who asked"):
        await confirm_held(db, ADMIN, token, on=DAY)
    with pytest.raises(NotFound, match="no payment waiting"):
        await confirm_held(db, BILLER, "0" * 32, on=DAY)
    with pytest.raises(NotFound):
        await cancel_held(db, BILLER, "'; DROP TABLE pending_payment; --")
    clock.advance(minutes=31)
    with pytest.raises(InvalidState, match="this question has expired"):
        await confirm_held(db, BILLER, token, on=DAY)
    with pytest.raises(InvalidState, match="this question has expired"):
        await cancel_held(db, BILLER, token)
    async with db.read() as conn:
        assert (await load_held(conn, token)).status is HeldStatus.EXPIRED
    assert await payments(db) == 0


async def test_holding_needs_the_permission_to_record_payments(db: Database) -> None:
    account = await open_account(db)  # at "main"; the clerk works at "north"
    with pytest.raises(PermissionDenied, match="may not work on accounts of location 'main'"):
        await hold_payment(db, CLERK, token=uuid.uuid4().hex, key="k", account_id=account.id,
                           amount=usd("1"), method="cash")  # fmt: skip


@pytest.mark.parametrize("rounds", [6])
async def test_confirm_and_cancel_at_the_same_moment_have_exactly_one_outcome(
    db: Database, rounds: int
) -> None:
    for _ in range(rounds):
        account_id, token = await held_for(db)
        confirmed, cancelled = await asyncio.gather(
            confirm_held(db, BILLER, token, on=DAY),
            cancel_held(db, BILLER, token),
            return_exceptions=True,
        )
        async with db.read() as conn:
            held = await load_held(conn, token)
        if held.status is HeldStatus.CONFIRMED:
            assert isinstance(cancelled, InvalidState), cancelled
            assert "already recorded" in str(cancelled)
            assert not isinstance(confirmed, BaseException)
            assert confirmed.entry.id == held.entry_id
            assert await balance_of(db, account_id) == usd("-30")
        else:
            assert held.status is HeldStatus.CANCELLED, held
            assert isinstance(confirmed, InvalidState) and "cancelled" in str(confirmed)
            assert await balance_of(db, account_id) == usd("80")


async def test_two_confirms_at_the_same_moment_record_one_payment(db: Database) -> None:
    account_id, token = await held_for(db)
    first, second = await asyncio.gather(
        confirm_held(db, BILLER, token, on=DAY), confirm_held(db, BILLER, token, on=DAY)
    )
    assert first.entry.id == second.entry.id
    assert sorted([first.entry.replayed, second.entry.replayed]) == [False, True]
    assert await payments(db) == 1
    assert await balance_of(db, account_id) == usd("-30")
