"""The exceptions queue (AR-067, AR-174): rejected import rows kept once per row, fixed
by sending the edited row through its import again (with the fixer's permissions), or
dismissed with a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.auth import Actor, StaffRole
from core.db import Database
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.imports import Control, Row
from core.imports.payments import import_payments
from core.imports.rejects import (
    KeptReject,
    close_reject,
    columns_of,
    keep_rejects,
    load_reject,
    rejects,
    resubmit,
)
from core.jobs import claim_run, fail_run
from core.ledger.accounts import Account
from core.reports.errors import errors, rejects_csv
from tests.core.helpers import ADMIN, balance_of, open_account, usd

HEADER = ["external_id", "account_number", "amount", "currency", "method", "received_date"]
CLERK = Actor("staff", "9", "Chris Clerk", StaffRole.CLERK)
VIEWER = Actor("staff", "8", "Ava Auditor", StaffRole.AUDITOR)


def rows(*values: list[str]) -> list[Row]:
    return [Row(n, dict(zip(HEADER, v, strict=True))) for n, v in enumerate(values, start=2)]


async def batch(db: Database, number: str, amount: str = "40.00") -> tuple[list[Row], object]:
    """A lockbox file: p1 fine, p2 for an unknown account, p3 an unreadable amount."""
    found = rows(
        ["p1", number, "10.00", "USD", "cash", "2026-06-29"],
        ["p2", "A9999999", "10.00", "USD", "cash", "2026-06-29"],
        ["p3", number, "ten", "USD", "cash", "2026-06-29"],
    )
    report = await import_payments(db, ADMIN, HEADER, found, control=Control(3, amount),
                                   label="lockbox.csv")  # fmt: skip
    return found, report


async def queued(db: Database) -> tuple[Account, KeptReject, KeptReject]:
    """The lockbox file imported and its two rejects queued: Ana, and the rejects."""
    ana = await open_account(db)
    found, report = await batch(db, ana.number, "20.00")
    await keep_rejects(db, "payments", "lockbox.csv", found, report)
    async with db.read() as conn:
        [unknown, unreadable] = await rejects(conn)
    return ana, unknown, unreadable


async def test_a_batchs_rejects_are_kept_once_per_row_with_the_latest_reason(
    db: Database,
) -> None:
    ana = await open_account(db)
    found, report = await batch(db, ana.number, "20.00")
    assert await keep_rejects(db, "payments", "lockbox.csv", found, report) == 2
    again, report2 = await batch(db, ana.number, "20.00")
    assert await keep_rejects(db, "payments", "lockbox.csv", again, report2) == 2

    async with db.read() as conn:
        queue = await rejects(conn)
    assert [(r.row, r.key, r.reason) for r in queue] == [
        (3, "p2", "there is no account A9999999 (AR-094)"),
        (4, "p3", "'ten' is not an amount"),
    ]
    assert queue[1].values["amount"] == "ten"
    assert await balance_of(db, ana.id) == usd("-10.00")  # p1 once


async def test_a_fixed_row_goes_through_the_import_and_closes_its_reject(
    db: Database,
) -> None:
    ana, unknown, unreadable = await queued(db)

    fixed = await resubmit(db, ADMIN, unreadable.id, {**unreadable.values, "amount": "10.00"},
                           currency="USD", number_format="A{id:07d}")  # fmt: skip
    with pytest.raises(ValidationError, match="there is no account A9999998"):
        await resubmit(db, ADMIN, unknown.id, {**unknown.values, "account_number": "A9999998"},
                       currency="USD", number_format="A{id:07d}")  # fmt: skip

    assert fixed.written == 1
    assert await balance_of(db, ana.id) == usd("-20.00")
    async with db.read() as conn:
        closed = await load_reject(conn, unreadable.id)
        still = await load_reject(conn, unknown.id)
    assert (closed.status, closed.resolved_by) == ("fixed", ADMIN.label)
    assert (still.status, still.values["account_number"]) == ("open", "A9999998")
    assert still.reason == "there is no account A9999998 (AR-094)"
    with pytest.raises(InvalidState, match="fixed already"):
        await resubmit(db, ADMIN, unreadable.id, unreadable.values, currency="USD",
                       number_format="A{id:07d}")  # fmt: skip


async def test_the_fixer_needs_the_permission_the_row_needs_and_a_dismissal_a_note(
    db: Database,
) -> None:
    ana, unknown, unreadable = await queued(db)

    with pytest.raises(PermissionDenied):
        await resubmit(db, VIEWER, unreadable.id, {**unreadable.values, "amount": "10.00"},
                       currency="USD", number_format="A{id:07d}")  # fmt: skip
    with pytest.raises(PermissionDenied):
        await close_reject(db, VIEWER, unknown.id, "dismissed", "not ours")
    with pytest.raises(ValidationError, match="say why the row is dismissed"):
        await close_reject(db, CLERK, unknown.id, "dismissed", " ")
    done = await close_reject(db, CLERK, unknown.id, "dismissed", "bank's own test row")

    assert (done.status, done.note) == ("dismissed", "bank's own test row")
    assert await balance_of(db, ana.id) == usd("-10.00")
    async with db.read() as conn:
        assert [r.id for r in await rejects(conn)] == [unreadable.id]
        every = await rejects(conn, status=None)
    assert rejects_csv(every).splitlines()[0] == (
        "id,kind,batch,row,key,reason,status,created_at,updated_at,resolved_by,note"
    )


async def test_a_rerun_that_takes_a_row_closes_its_reject(db: Database) -> None:
    ana = await open_account(db)
    found, report = await batch(db, ana.number, "20.00")
    await keep_rejects(db, "payments", "lockbox.csv", found, report)
    corrected = [found[0], found[1], Row(4, {**found[2].values, "amount": "10.00"})]
    report2 = await import_payments(db, ADMIN, HEADER, corrected, control=Control(3, "30.00"),
                                    label="lockbox.csv")  # fmt: skip

    assert await keep_rejects(db, "payments", "lockbox.csv", corrected, report2) == 1
    async with db.read() as conn:
        assert [r.key for r in await rejects(conn)] == ["p2"]


async def test_the_error_report_lists_failed_runs_and_the_periods_rejects(
    db: Database,
) -> None:
    """AR-178."""
    ana = await open_account(db)
    found, report = await batch(db, ana.number, "20.00")
    await keep_rejects(db, "payments", "lockbox.csv", found, report)
    assert await claim_run(db, "statements", "2026-06-30", owner="test")
    await fail_run(db, "statements", "2026-06-30", "Twilio refused every message")
    now = db.clock.now()
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)

    async with db.read() as conn:
        found_errors = await errors(conn, day, day + timedelta(days=1))
        earlier = await errors(conn, day - timedelta(days=1), day)

    assert [(f.job, f.detail) for f in found_errors.failed] == [
        ("statements", "Twilio refused every message")
    ]
    assert [r.key for r in found_errors.rejected] == ["p2", "p3"]
    assert (earlier.failed, earlier.rejected) == ((), ())


async def test_a_missing_column_can_be_filled_in_and_a_bad_amount_keeps_the_edit(
    db: Database,
) -> None:
    """Review findings: a row without a column could never be fixed (no field for it);
    a payment's unreadable amount refused the one-row batch and lost the edit."""
    ana = await open_account(db)
    short = [Row(2, {"external_id": "p9", "account_number": ana.number, "currency": "USD",
                     "method": "cash", "received_date": "2026-06-29"})]  # fmt: skip
    report = await import_payments(db, ADMIN, [*HEADER], short, control=Control(1, "0"),
                                   label="short.json")  # fmt: skip
    await keep_rejects(db, "payments", "short.json", short, report)
    async with db.read() as conn:
        [kept] = await rejects(conn)
    assert kept.reason == "amount is empty"
    own = ["external_id", "account_number", "currency", "method", "received_date"]
    assert columns_of(kept) == [*own, "amount", "reference"]

    with pytest.raises(ValidationError, match="amount"):
        await resubmit(db, ADMIN, kept.id, {**kept.values, "amount": "ten"}, currency="USD",
                       number_format="A{id:07d}")  # fmt: skip
    async with db.read() as conn:
        assert (await load_reject(conn, kept.id)).values["amount"] == "ten"
    await resubmit(db, ADMIN, kept.id, {**kept.values, "amount": "15.00"}, currency="USD",
                   number_format="A{id:07d}")  # fmt: skip
    assert await balance_of(db, ana.id) == usd("-15.00")
