"""Free-text notes: newest first, never edited, never copied into the audit trail
(AR-037)."""

from __future__ import annotations

import pytest

from core.clock import FixedClock
from core.db import Database
from core.errors import NotFound, PermissionDenied, ValidationError
from core.profile import add_note, notes_of
from tests.core.helpers import ADMIN, CLERK, SUPERVISOR
from tests.core.profile.common import counts, last_audit, person


async def test_notes_come_newest_first_with_who_and_when(db: Database, clock: FixedClock) -> None:
    account = await person(db, "Petrov")
    other = await person(db, "Ivanova")
    texts = ["Prefers calls after 5pm.", "Disputes the MRI charge.", "  Will pay on the 15th.\n"]
    for i, note in enumerate(texts):
        await add_note(db, ADMIN if i else SUPERVISOR, account_id=account.id, text=note)
        clock.advance(minutes=5)
    await add_note(db, ADMIN, account_id=other.id, text="Another patient's note.")
    async with db.read() as conn:
        newest = await notes_of(conn, account.id, limit=2)
        every = await notes_of(conn, account.id)
    assert [n.text for n in newest] == ["Will pay on the 15th.", "Disputes the MRI charge."]
    assert len(every) == 3 and every[-1].actor == "staff:2"
    assert (every[0].at - every[-1].at).total_seconds() == 600
    raw, detail = await last_audit(db, "customer.note")
    assert detail["length"] == len("Another patient's note.") and "patient" not in raw


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" \n\t ", "a note cannot be blank"),
        ("x" * 4001, "at most 4000 characters; this one has 4001"),
    ],
)
async def test_blank_and_overlong_notes_are_refused_and_nothing_written(
    db: Database, text: str, message: str
) -> None:
    account = await person(db, "Horvat")
    before = await counts(db)
    with pytest.raises(ValidationError, match=message):
        await add_note(db, ADMIN, account_id=account.id, text=text)
    assert await counts(db) == before
    await add_note(db, ADMIN, account_id=account.id, text="y" * 4000)


async def test_notes_need_an_account_and_the_permission(db: Database) -> None:
    north = await person(db, "Berg", location="north")
    with pytest.raises(NotFound):
        await add_note(db, ADMIN, account_id=999, text="hello")
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await add_note(db, CLERK, account_id=north.id, text="hello")
    async with db.read() as conn:
        with pytest.raises(NotFound):
            await notes_of(conn, 999)
        with pytest.raises(ValidationError, match="ask for 1 to 500 notes"):
            await notes_of(conn, north.id, limit=0)
