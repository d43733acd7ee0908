"""Statement cycles (AR-144, AR-161, AR-164): when each account's statement falls, the
most specific cycle winning, the minimum balance that makes a statement worth sending,
and who may set them."""

from __future__ import annotations

from datetime import date

import pytest

from core.customers import set_status
from core.db import Database
from core.errors import PermissionDenied, ValidationError
from core.statements import StatementCycle, set_statement_cycle, statement_cycles, statements_due
from tests.core.dunning_helpers import AS_OF, owes, patient
from tests.core.helpers import ADMIN, CLERK, SUPERVISOR


def test_when_a_cycle_falls() -> None:
    monthly = StatementCycle("monthly", day=31)
    # The 31st is the month's last day where the month is shorter.
    assert [monthly.falls_on(date(2026, m, d)) for m, d in ((6, 30), (7, 31), (2, 28))] == [
        True,
        True,
        True,
    ]
    assert not monthly.falls_on(date(2026, 7, 30))
    assert StatementCycle("monthly", day=15).falls_on(date(2026, 6, 15))
    tuesday = StatementCycle("weekly", day=2)
    assert tuesday.falls_on(AS_OF) and not tuesday.falls_on(date(2026, 7, 1))
    assert StatementCycle("daily").falls_on(AS_OF)
    assert not StatementCycle("never").falls_on(AS_OF)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"frequency": "yearly"}, "is not a statement cycle"),
        ({"frequency": "monthly"}, "needs a day of the month"),
        ({"frequency": "monthly", "day": 32}, "needs a day of the month"),
        ({"frequency": "weekly", "day": 8}, "needs a weekday"),
        ({"frequency": "daily", "day": 3}, "takes no day"),
        ({"frequency": "daily", "min_balance_minor": -1}, "cannot be negative"),
        ({"frequency": "daily", "account_id": 1, "location": "main"}, "for one account"),
    ],
)
def test_a_cycle_that_makes_no_sense_is_refused(fields: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        StatementCycle(**fields)  # type: ignore[arg-type]


async def test_the_most_specific_cycle_decides_and_small_balances_wait(db: Database) -> None:
    everyone = await set_statement_cycle(db, ADMIN, StatementCycle("monthly", day=30))
    north = await set_statement_cycle(
        db, ADMIN, StatementCycle("monthly", day=15, location="north")
    )
    ana = await patient(db, "Ana")  # main: the monthly cycle on the 30th
    await owes(db, ana, "40.00", 3)
    ben = await patient(db, "Ben", location="north")  # north: the 15th
    await owes(db, ben, "40.00", 3)
    cleo = await patient(db, "Cleo")  # her own cycle: weekly on Tuesdays
    await owes(db, cleo, "40.00", 3)
    cleo_cycle = await set_statement_cycle(
        db, ADMIN, StatementCycle("weekly", day=2, account_id=cleo.id)
    )
    dan = await patient(db, "Dan")  # taken off statements
    await owes(db, dan, "40.00", 3)
    await set_statement_cycle(db, ADMIN, StatementCycle("never", account_id=dan.id))
    eve = await patient(db, "Eve")  # nothing owed
    fay = await patient(db, "Fay")  # in collections: someone else follows her up
    await owes(db, fay, "40.00", 3)
    await set_status(
        db, ADMIN, account_id=fay.id, status="in_collections", reason="agency", on=AS_OF
    )
    del eve

    async with db.read() as conn:
        due = await statements_due(conn, AS_OF)
        assert [(d.account_id, d.cycle_id) for d in due] == [
            (ana.id, everyone),
            (cleo.id, cleo_cycle),
        ]
        assert [d.account_id for d in await statements_due(conn, date(2026, 7, 15))] == [ben.id]
    assert north != everyone

    # A minimum balance (AR-161): the cycle replaced keeps its history, inactive.
    await set_statement_cycle(db, ADMIN, StatementCycle("monthly", day=30, min_balance_minor=5000))
    async with db.read() as conn:
        assert [d.account_id for d in await statements_due(conn, AS_OF)] == [cleo.id]
        cycles = await statement_cycles(conn)
    assert len(cycles) == 4 and cycles[0].account_id is not None


async def test_who_may_set_a_cycle(db: Database) -> None:
    account = await patient(db, "Ana", location="north")
    with pytest.raises(PermissionDenied):
        await set_statement_cycle(db, CLERK, StatementCycle("daily", account_id=account.id))
    with pytest.raises(PermissionDenied):  # the office's cycles are its configuration
        await set_statement_cycle(db, SUPERVISOR, StatementCycle("daily"))
    assert await set_statement_cycle(
        db, SUPERVISOR, StatementCycle("daily", account_id=account.id)
    )
