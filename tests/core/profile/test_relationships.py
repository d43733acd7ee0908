"""Nested relationships: patient -> guarantor -> employer -> institution, each level with
its own credit profile; loops refused; guarantor changes dated and mirrored in
``customer_account.guarantor_id`` (AR-041, AR-136)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.tables import customer_relationship
from core.profile import (
    end_relationship,
    guarantees,
    relate,
    relationships_of,
    responsibility_chain,
    set_credit_profile,
)
from core.search import search
from tests.core.helpers import ADMIN, CLERK, open_account, usd
from tests.core.profile.common import counts, last_audit, on_day, person

JAN, MAR, APR = date(2026, 1, 1), date(2026, 3, 1), date(2026, 4, 1)


async def guarantor_of(db: Database, account: Account) -> int | None:
    async with db.read() as conn:
        return (await load_account(conn, account_id=account.id)).guarantor_id


async def test_the_chain_walks_up_every_level_with_its_own_credit_profile(
    db: Database,
) -> None:
    patient = await person(db, "Mensah", "Kofi")
    parent = await person(db, "Boateng", "Ama", customer_type="guarantor")
    employer = await person(db, "Acme Mining", "", customer_type="business")
    union = await person(db, "Miners Union", "", customer_type="education")
    insurer = await person(db, "Shield Health", "", customer_type="insurer")
    for account, related, kind in (
        (patient, parent, "guarantor"),
        (patient, insurer, "insurer"),
        (parent, employer, "employer"),
        (employer, union, "institution"),
    ):
        await relate(
            db,
            ADMIN,
            account_id=account.id,
            related_account_id=related.id,
            kind=kind,
            effective_from=JAN,
        )
    for account, limit in ((parent, "2000"), (employer, "50000")):
        await set_credit_profile(
            db,
            ADMIN,
            account_id=account.id,
            credit_limit=usd(limit),
            terms_code="NET30",
            risk_class="low",
            effective_from=JAN,
            reason="onboarding",
        )
    async with db.read() as conn:
        chain = await responsibility_chain(conn, patient.id, APR)
        before = await responsibility_chain(conn, patient.id, JAN - timedelta(days=1))
        links = await relationships_of(conn, patient.id, APR)
        found = {f.account_id: f.matched_by for f in await search(conn, "boateng")}
    assert [(r.account.id, r.via) for r in chain] == [
        (patient.id, None),
        (parent.id, "guarantor"),
        (employer.id, "employer"),
        (union.id, "institution"),
    ]
    assert [r.credit.credit_limit if r.credit else None for r in chain] == [
        None,
        usd("2000"),
        usd("50000"),
        None,
    ]
    assert [r.account.id for r in before] == [patient.id]
    assert [(r.kind, r.related_account_id) for r in links] == [
        ("guarantor", parent.id),
        ("insurer", insurer.id),
    ]
    assert await guarantor_of(db, patient) == parent.id
    assert found[patient.id] == "guarantor"
    _, detail = await last_audit(db, "customer.relate")
    assert detail == {
        "related": union.number,
        "kind": "institution",
        "effective_from": "2026-01-01",
    }


async def test_a_loop_is_refused_and_nothing_written(db: Database) -> None:
    patient, parent, employer = (
        await person(db, "Ito"),
        await person(db, "Ito", "Ken"),
        await person(db, "Ito Corp", ""),
    )
    await relate(
        db,
        ADMIN,
        account_id=patient.id,
        related_account_id=parent.id,
        kind="guarantor",
        effective_from=JAN,
    )
    await relate(
        db,
        ADMIN,
        account_id=parent.id,
        related_account_id=employer.id,
        kind="employer",
        effective_from=JAN,
    )
    before = await counts(db)
    loop = f"{employer.number} -> {patient.number} -> {parent.number} -> {employer.number}"
    with pytest.raises(ValidationError, match=f"it would make a loop \\({loop}\\)"):
        await relate(
            db,
            ADMIN,
            account_id=employer.id,
            related_account_id=patient.id,
            kind="institution",
            effective_from=APR,
        )
    with pytest.raises(ValidationError, match="cannot be its own guarantor"):
        await relate(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=patient.id,
            kind="guarantor",
            effective_from=JAN,
        )
    with pytest.raises(ValidationError, match="'cousin' is not a relationship"):
        await relate(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=employer.id,
            kind="cousin",
            effective_from=JAN,
        )
    with pytest.raises(InvalidState, match="already the employer"):
        await relate(
            db,
            ADMIN,
            account_id=parent.id,
            related_account_id=employer.id,
            kind="employer",
            effective_from=APR,
        )
    assert await counts(db) == before
    # A link that ended before the new one starts makes no loop.
    await end_relationship(
        db,
        ADMIN,
        account_id=parent.id,
        related_account_id=employer.id,
        kind="employer",
        last_day=MAR,
    )
    await relate(
        db,
        ADMIN,
        account_id=employer.id,
        related_account_id=patient.id,
        kind="institution",
        effective_from=APR,
    )


async def test_a_new_guarantor_ends_the_old_one_the_day_before(db: Database) -> None:
    patient, mother, father = (
        await person(db, "Novak", "Eva"),
        await person(db, "Novak", "Jana"),
        await person(db, "Novak", "Petr"),
    )
    sibling = await person(db, "Novak", "Max")
    for child in (patient, sibling):
        await relate(
            db,
            ADMIN,
            account_id=child.id,
            related_account_id=mother.id,
            kind="guarantor",
            effective_from=JAN,
        )
    await relate(
        db,
        ADMIN,
        account_id=patient.id,
        related_account_id=father.id,
        kind="guarantor",
        effective_from=APR,
    )
    async with db.read() as conn:
        assert await guarantees(conn, mother.id, MAR) == [patient.id, sibling.id]
        assert await guarantees(conn, mother.id, APR) == [sibling.id]
        assert await guarantees(conn, father.id, APR) == [patient.id]
        assert (await responsibility_chain(conn, patient.id, MAR))[1].account.id == mother.id
        ends = (
            (
                await conn.execute(
                    select(customer_relationship.c.effective_to)
                    .where(customer_relationship.c.account_id == patient.id)
                    .order_by(customer_relationship.c.id)
                )
            )
            .scalars()
            .all()
        )
    assert ends == [APR - timedelta(days=1), None]
    assert await guarantor_of(db, patient) == father.id
    before = await counts(db)
    with pytest.raises(ValidationError, match="applies from 2026-04-01; a new one must start"):
        await relate(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=mother.id,
            kind="guarantor",
            effective_from=MAR,
        )
    with pytest.raises(InvalidState, match="already the guarantor"):
        await relate(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=father.id,
            kind="guarantor",
            effective_from=on_day(db),
        )
    with pytest.raises(ValidationError, match="from today or an earlier day"):
        await relate(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=mother.id,
            kind="guarantor",
            effective_from=on_day(db) + timedelta(days=1),
        )
    assert await counts(db) == before


async def test_ending_a_guarantor_clears_the_accounts_guarantor(db: Database) -> None:
    patient, parent = await person(db, "Sato"), await person(db, "Sato", "Yui")
    await relate(
        db,
        ADMIN,
        account_id=patient.id,
        related_account_id=parent.id,
        kind="guarantor",
        effective_from=JAN,
    )
    today = on_day(db)
    before = await counts(db)
    with pytest.raises(ValidationError, match="last day must be before today"):
        await end_relationship(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=parent.id,
            kind="guarantor",
            last_day=today,
        )
    with pytest.raises(NotFound, match="is not the employer of"):
        await end_relationship(
            db,
            ADMIN,
            account_id=patient.id,
            related_account_id=parent.id,
            kind="employer",
            last_day=today,
        )
    assert await counts(db) == before
    yesterday = today - timedelta(days=1)
    await end_relationship(
        db,
        ADMIN,
        account_id=patient.id,
        related_account_id=parent.id,
        kind="guarantor",
        last_day=yesterday,
    )
    async with db.read() as conn:
        assert await guarantees(conn, parent.id, today) == []
        assert await guarantees(conn, parent.id, yesterday) == [patient.id]
    assert await guarantor_of(db, patient) is None
    _, detail = await last_audit(db, "customer.unrelate")
    assert detail["kind"] == "guarantor" and detail["last_day"] == yesterday.isoformat()


async def test_a_guarantor_set_on_opening_is_kept_when_it_changes(
    db: Database, clock: FixedClock
) -> None:
    """Accounts opened with guarantor_id and no relationship rows (bulk import) count as
    guaranteed by it; replacing it writes the old link down with its dates."""
    clock.advance(days=-60)
    parent = await open_account(db, "Grace Okafor", customer_type="guarantor")
    child = await open_account(db, "Kofi Okafor", guarantor_id=parent.id)
    clock.advance(days=60)
    other = await person(db, "Okafor", "Ben")
    async with db.read() as conn:
        assert await guarantees(conn, parent.id, JAN) == [child.id]
        (legacy,) = await relationships_of(conn, child.id, JAN)
    assert (legacy.id, legacy.kind, legacy.related_account_id) == (None, "guarantor", parent.id)
    with pytest.raises(InvalidState, match="already the guarantor"):
        await relate(
            db,
            ADMIN,
            account_id=child.id,
            related_account_id=parent.id,
            kind="guarantor",
            effective_from=JAN,
        )
    switch = on_day(db)
    await relate(
        db,
        ADMIN,
        account_id=child.id,
        related_account_id=other.id,
        kind="guarantor",
        effective_from=switch,
    )
    async with db.read() as conn:
        assert await guarantees(conn, parent.id, switch - timedelta(days=1)) == [child.id]
        assert await guarantees(conn, parent.id, APR) == []  # before the account was opened
        assert await guarantees(conn, parent.id, switch) == []
        assert await guarantees(conn, other.id, switch) == [child.id]


async def test_relationships_need_accounts_and_the_permission(db: Database) -> None:
    north, main = await person(db, "Berg", location="north"), await person(db, "Lund")
    with pytest.raises(NotFound):
        await relate(
            db,
            ADMIN,
            account_id=north.id,
            related_account_id=999,
            kind="employer",
            effective_from=JAN,
        )
    with pytest.raises(NotFound):
        await relate(
            db,
            ADMIN,
            account_id=999,
            related_account_id=north.id,
            kind="employer",
            effective_from=JAN,
        )
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await relate(
            db,
            CLERK,
            account_id=north.id,
            related_account_id=main.id,
            kind="employer",
            effective_from=JAN,
        )
    async with db.read() as conn:
        assert await guarantees(conn, 999, JAN) == []
