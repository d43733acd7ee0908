"""Roles and permissions are enforced inside core (BI-19, AR-088)."""

from __future__ import annotations

from datetime import date

import pytest

from core.auth import Actor, Permission, StaffRole, add_staff, list_staff, load_staff, require
from core.db import Database
from core.errors import PermissionDenied, ValidationError
from core.services.adjustments import write_off
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, CLERK, SUPERVISOR, balance_of, open_account, usd

DAY = date(2026, 6, 1)


def test_each_refusal_names_the_missing_permission() -> None:
    with pytest.raises(PermissionDenied, match="lacks the permission 'approve_write_off'"):
        require(CLERK, Permission.APPROVE_WRITE_OFF)
    auditor = Actor("staff", "9", "Ada Auditor", StaffRole.AUDITOR)
    with pytest.raises(PermissionDenied, match="'record_payment'"):
        require(auditor, Permission.RECORD_PAYMENT)
    require(auditor, Permission.VIEW_AUDIT)


async def test_a_clerk_cannot_post_charges_or_work_outside_their_location(db: Database) -> None:
    main = await open_account(db, location="main")
    north = await open_account(db, name="Luis Chen", location="north")
    with pytest.raises(PermissionDenied, match="'post_charge'"):
        await post_charge(
            db, CLERK, account_id=north.id, amount=usd("10"), service_date=DAY, key="c"
        )
    with pytest.raises(PermissionDenied, match="location 'main'"):
        await record_payment(
            db,
            CLERK,
            account_id=main.id,
            amount=usd("10"),
            received_on=DAY,
            key="p1",
            method="cash",
        )
    await record_payment(
        db, CLERK, account_id=north.id, amount=usd("10"), received_on=DAY, key="p2", method="cash"
    )
    assert await balance_of(db, north.id) == usd("-10.00")
    assert await balance_of(db, main.id) == usd("0")


async def test_write_offs_above_the_approval_limit_are_refused(db: Database) -> None:
    """AR-088: a supervisor with a 500.00 limit cannot write off 600.00."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("600"), service_date=DAY, key="c"
    )
    with pytest.raises(PermissionDenied, match=r"above Sam Supervisor's approval limit of 500\.0"):
        await write_off(
            db,
            SUPERVISOR,
            account_id=account.id,
            key="w",
            on=DAY,
            reason="ADMIN",
            note="uncollectible",
        )
    await write_off(
        db,
        SUPERVISOR,
        account_id=account.id,
        key="w2",
        on=DAY,
        reason="ADMIN",
        note="partial",
        amount=usd("500"),
    )
    assert await balance_of(db, account.id) == usd("100.00")
    with pytest.raises(ValidationError, match="needs a note"):
        await write_off(
            db, ADMIN, account_id=account.id, key="w3", on=DAY, reason="ADMIN", note=""
        )


async def test_staff_users_are_stored_with_role_location_and_limit(db: Database) -> None:
    async with db.transaction() as tx:
        added = await add_staff(
            tx,
            ADMIN,
            name="Maya Biller",
            role="biller",
            locations=["north", "main"],
            slack_user_id="U123",
            approval_limit_minor=0,
        )
        with pytest.raises(ValidationError, match="'boss' is not a role"):
            await add_staff(tx, ADMIN, name="X", role="boss")
        with pytest.raises(PermissionDenied, match="'manage_staff'"):
            await add_staff(tx, SUPERVISOR, name="Y", role="clerk")
    async with db.read() as conn:
        found = await load_staff(conn, slack_user_id="U123")
        everyone = await list_staff(conn)
    assert found == added
    assert found.role is StaffRole.BILLER and found.locations == frozenset({"north", "main"})
    assert [a.name for a in everyone] == ["Maya Biller"]


async def test_replaying_a_key_does_not_skip_the_permission_check(db: Database) -> None:
    """Regression: a replay returns the first result only to someone allowed to ask."""
    account = await open_account(db, location="north")
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("40"), service_date=DAY, key="c"
    )
    await write_off(
        db, ADMIN, account_id=account.id, key="w", on=DAY, reason="ADMIN", note="goodwill"
    )
    with pytest.raises(PermissionDenied, match="'approve_write_off'"):
        await write_off(
            db, CLERK, account_id=account.id, key="w", on=DAY, reason="ADMIN", note="goodwill"
        )


async def test_a_write_off_over_several_items_replays_whole(db: Database) -> None:
    """Regression: the replay of a write-off spread over two charges returns both entries."""
    account = await open_account(db)
    for n in range(2):
        await post_charge(
            db, ADMIN, account_id=account.id, amount=usd("30"), service_date=DAY, key=f"c{n}"
        )
    first = await write_off(
        db, ADMIN, account_id=account.id, key="w_1%", on=DAY, reason="ADMIN", note="policy"
    )
    again = await write_off(
        db, ADMIN, account_id=account.id, key="w_1%", on=DAY, reason="ADMIN", note="policy"
    )
    assert len(first) == 2 and [e.id for e in again] == [e.id for e in first]
    assert all(e.replayed for e in again)
    assert await balance_of(db, account.id) == usd("0")
