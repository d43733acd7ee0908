"""Posting in bulk: an import's many entries in one transaction, each posted once per
key, all or nothing, with one audit record for the batch that commits to every entry."""

from __future__ import annotations

import asyncio
import gc
import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from core.db import Database
from core.db.audit import audit_log, verify_chain
from core.errors import IdempotencyConflict, NotFound, PeriodClosed, ValidationError
from core.ledger import bulk
from core.ledger.accounts import create_account
from core.ledger.bulk import BatchPosted, batch_digest, existing_keys, post_batch
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line
from core.ledger.posting import DuplicateKey, load_entry, post_entry
from core.ledger.tables import ar_item, journal_entry, journal_line
from core.money import Money
from core.services.periods import close_period, open_period
from tests.core.helpers import ADMIN, open_account, usd

DAY = date(2026, 6, 1)


def charge(account_id: int, i: int, *, key: str | None = None, **terms: Any) -> EntryDraft:
    """Charge number ``i`` of an import: a distinct amount and the row's external id."""
    money = usd(f"{10 + i}.{i % 100:02d}")
    return EntryDraft(
        entry_type="CHARGE",
        effective_date=terms.pop("day", DAY),
        idempotency_key=key or f"import:row-{i}",
        actor="staff:1",
        source="import",
        lines=(
            Line(
                AR_CONTROL,
                money,
                account_id,
                ItemTerms(service_date=DAY, due_date=date(2026, 7, 1), **terms),
            ),
            Line("4000", -money),
        ),
    )


def transfer(source: int, target: int, key: str) -> EntryDraft:
    """Two A/R lines, two items: a balance moved between accounts."""
    money = usd("7.50")
    return EntryDraft(
        entry_type="TRANSFER",
        effective_date=DAY,
        idempotency_key=key,
        actor="staff:1",
        source="import",
        lines=(Line(AR_CONTROL, -money, source), Line(AR_CONTROL, money, target)),
    )


def unapplied(key: str) -> EntryDraft:
    """No A/R line, so no item: cash nobody can place yet."""
    money = usd("3.00")
    return EntryDraft(
        entry_type="PAYMENT",
        effective_date=DAY,
        idempotency_key=key,
        actor="staff:1",
        source="import",
        lines=(Line("1000", money), Line("2050", -money)),
    )


async def run(db: Database, drafts: list[EntryDraft], label: str = "test") -> BatchPosted:
    async with db.transaction() as tx:
        return await post_batch(tx, drafts, label=label)


async def counts(db: Database) -> tuple[int, int, int, int]:
    async with db.read() as conn:
        found = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (journal_entry, journal_line, ar_item, audit_log)
        ]
    return found[0], found[1], found[2], found[3]


async def batch_records(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.subject, audit_log.c.detail, audit_log.c.actor)
            .where(audit_log.c.action == "ledger.post_batch")
            .order_by(audit_log.c.seq)
        )
        return [{**json.loads(r.detail), "subject": r.subject, "actor": r.actor} for r in rows]


async def test_a_batch_posts_every_entry_with_its_items(db: Database) -> None:
    ana, ben = await open_account(db), await open_account(db, "Ben Ode")
    drafts = [charge(ana.id, i) for i in range(20)]
    drafts += [transfer(ana.id, ben.id, "import:moved"), unapplied("import:cash")]
    done = await run(db, drafts)

    assert [e.idempotency_key for e in done.entries] == [d.idempotency_key for d in drafts]
    assert done.replayed == ()
    assert await counts(db) == (22, 44, 22, 3)  # two account openings, one batch
    debits = sum(10_00 + i * 100 + i for i in range(20)) + 750 + 300
    assert done.totals == (Money(debits, "USD"),)
    async with db.read() as conn:
        for entry in done.entries:
            stored = await load_entry(conn, entry_id=entry.id)
            assert entry.lines == stored.lines and entry.number == stored.number
    assert len(done.entries[20].item_ids) == 2 and done.entries[21].item_ids == ()


async def test_the_same_batch_again_posts_nothing_and_reports_every_key(db: Database) -> None:
    account = await open_account(db)
    drafts = [charge(account.id, i) for i in range(30)]
    first = await run(db, drafts)
    before = await counts(db)

    again = await run(db, drafts)
    assert again.entries == () and again.totals == () and again.first is None
    assert again.replayed == tuple(d.idempotency_key for d in drafts)
    assert await counts(db) == before  # not even an audit record
    assert len(first.entries) == 30


async def test_a_half_overlapping_batch_posts_only_the_new_rows(db: Database) -> None:
    account = await open_account(db)
    await run(db, [charge(account.id, i) for i in range(10)])
    done = await run(db, [charge(account.id, i) for i in range(5, 15)])

    assert done.replayed == tuple(f"import:row-{i}" for i in range(5, 10))
    assert [e.idempotency_key for e in done.entries] == [f"import:row-{i}" for i in range(10, 15)]
    assert (await counts(db))[:3] == (15, 30, 15)


async def test_a_key_posted_with_other_content_refuses_the_whole_batch(db: Database) -> None:
    account = await open_account(db)
    await run(db, [charge(account.id, 1)])
    before = await counts(db)
    changed = charge(account.id, 99, key="import:row-1")
    with pytest.raises(IdempotencyConflict, match="'import:row-1' was already used"):
        await run(db, [charge(account.id, 2), changed, charge(account.id, 3)])
    assert await counts(db) == before


async def test_a_key_twice_in_one_batch_is_refused(db: Database) -> None:
    account = await open_account(db)
    drafts = [charge(account.id, 1), charge(account.id, 2), charge(account.id, 1)]
    with pytest.raises(ValidationError, match="'import:row-1' appears more than once"):
        await run(db, drafts)
    assert (await counts(db))[:3] == (0, 0, 0)


async def test_one_batch_has_one_actor(db: Database) -> None:
    account = await open_account(db)
    other = replace(charge(account.id, 2), actor="staff:2")
    with pytest.raises(ValidationError, match="one actor"):
        await run(db, [charge(account.id, 1), other])


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"gl": "9999"}, NotFound, "no GL account 9999"),
        ({"currency": "EUR"}, ValidationError, "kept in USD, not EUR"),
        ({"account": 999}, NotFound, "no customer account with id 999"),
        ({"entry_type": "NOPE"}, ValidationError, "'NOPE' is not a defined entry type"),
        ({"reason": "NOPE"}, ValidationError, "'NOPE' is not a defined reason code"),
        ({"due": date(2026, 5, 1)}, ValidationError, "due date 2026-05-01 is before"),
    ],
)
async def test_one_bad_draft_refuses_the_batch_and_writes_nothing(
    db: Database, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    account = await open_account(db)
    money = Money(2500, change.get("currency", "USD"))
    bad = EntryDraft(
        entry_type=change.get("entry_type", "CHARGE"),
        effective_date=DAY,
        idempotency_key="import:bad",
        actor="staff:1",
        source="import",
        reason_code=change.get("reason"),
        lines=(
            Line(
                AR_CONTROL,
                money,
                change.get("account", account.id),
                ItemTerms(bill_date=DAY, due_date=change.get("due")),
            ),
            Line(change.get("gl", "4000"), -money),
        ),
    )
    with pytest.raises(error, match=message):
        await run(db, [charge(account.id, i) for i in range(5)] + [bad])
    assert (await counts(db))[:3] == (0, 0, 0)


async def test_an_unbalanced_draft_never_reaches_a_batch(db: Database) -> None:
    """The draft refuses to exist; on PostgreSQL the deferred trigger would refuse it at
    COMMIT even if it were smuggled past the constructor."""
    account = await open_account(db)
    good = charge(account.id, 1)
    smuggled = charge(account.id, 2)
    object.__setattr__(smuggled, "lines", (smuggled.lines[0], good.lines[1]))
    if not db.is_postgres:
        pytest.skip("SQLite cannot defer a trigger to COMMIT; EntryDraft and the check do")
    with pytest.raises(DBAPIError, match="unbalanced_entry"):
        await run(db, [good, smuggled])
    assert (await counts(db))[:3] == (0, 0, 0)


async def test_a_closed_period_refuses_the_batch(db: Database) -> None:
    """AR-123, as for one posting: the clerk learns which date is closed."""
    account = await open_account(db)
    await open_period(db, ADMIN, name="2026-05", start=date(2026, 5, 1), end=date(2026, 5, 31))
    await close_period(db, ADMIN, name="2026-05")
    late = charge(account.id, 3, day=date(2026, 5, 20), bill_date=date(2026, 5, 20))
    with pytest.raises(PeriodClosed, match="2026-05-20 falls in a closed fiscal period"):
        await run(db, [charge(account.id, 1), charge(account.id, 2), late])
    assert (await counts(db))[:3] == (0, 0, 0)


async def test_the_database_still_refuses_a_closed_period(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the early check, the trigger refuses the INSERT and the batch fails whole."""
    account = await open_account(db)
    await open_period(db, ADMIN, name="2026-05", start=date(2026, 5, 1), end=date(2026, 5, 31))
    await close_period(db, ADMIN, name="2026-05")

    async def nothing_closed(*_: object) -> None:
        return None

    monkeypatch.setattr(bulk, "_refuse_closed_periods", nothing_closed)
    late = charge(account.id, 3, day=date(2026, 5, 20), bill_date=date(2026, 5, 20))
    with pytest.raises(PeriodClosed, match="an entry of batch may falls in a closed"):
        await run(db, [charge(account.id, 1), late], label="may")
    assert (await counts(db))[:3] == (0, 0, 0)


async def test_one_audit_record_per_batch_commits_to_every_entry(db: Database) -> None:
    account = await open_account(db)
    drafts = [charge(account.id, i) for i in range(12)]
    done = await run(db, drafts, label="charges.csv")
    await run(db, [charge(account.id, i) for i in range(10, 14)], label="more.csv")

    first, second = await batch_records(db)
    assert first["subject"] == "batch charges.csv" and first["actor"] == "staff:1"
    assert first["count"] == 12 and first["replayed"] == 0
    assert (first["first"], first["last"]) == (done.entries[0].number, done.entries[-1].number)
    assert first["totals"] == {"USD": str(done.totals[0])}
    assert second["count"] == 2 and second["replayed"] == 2
    async with db.read() as conn:
        stored = (
            await conn.execute(
                select(journal_entry.c.idempotency_key, journal_entry.c.fingerprint)
                .where(journal_entry.c.id.between(done.entries[0].id, done.entries[-1].id))
                .order_by(journal_entry.c.id)
            )
        ).all()
        assert (await verify_chain(conn)).ok
    assert first["digest"] == batch_digest((k, f) for k, f in stored)
    assert first["digest"] == batch_digest((d.idempotency_key, d.fingerprint()) for d in drafts)
    assert first["digest"] != batch_digest(
        (d.idempotency_key, d.fingerprint()) for d in drafts[1:]
    )


async def test_a_batch_writes_what_posting_one_by_one_writes(db: Database) -> None:
    ana, ben = await open_account(db), await open_account(db, "Ben Ode")
    drafts = [charge(ana.id, i, doctor="dr-who", description="x" * 250) for i in range(6)]
    drafts += [transfer(ana.id, ben.id, "import:moved"), unapplied("import:cash")]
    done = await run(db, drafts)
    singles = []
    async with db.transaction() as tx:
        for draft in drafts:
            again = replace(draft, idempotency_key="one:" + draft.idempotency_key)
            singles.append(await post_entry(tx, again))

    assert [_shape(e.lines) for e in done.entries] == [_shape(e.lines) for e in singles]
    async with db.read() as conn:
        for batch, single in zip(done.entries, singles, strict=True):
            assert await _stored(conn, batch.id) == await _stored(conn, single.id)


def _shape(lines: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [(ln.line_no, ln.gl, ln.amount, ln.account_id, ln.item_id is None) for ln in lines]


async def _stored(conn: Any, entry_id: int) -> tuple[Any, ...]:
    """An entry's rows without ids, keys and timestamps."""
    skip = {"id", "entry_id", "idempotency_key", "posted_at"}
    rows = []
    for table in (journal_entry, journal_line, ar_item):
        column = table.c.id if table is journal_entry else table.c.entry_id
        found = (await conn.execute(select(table).where(column == entry_id))).mappings().all()
        rows.append(sorted(tuple(v for k, v in r.items() if k not in skip) for r in found))
    return tuple(map(tuple, rows))


async def test_many_rounds_and_key_lookups_in_chunks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch bigger than one round of INSERTs and one IN (...) of keys."""
    monkeypatch.setattr(bulk, "ENTRIES_PER_ROUND", 7)
    monkeypatch.setattr(bulk, "KEYS_PER_QUERY", 11)
    ana, ben = await open_account(db), await open_account(db, "Ben Ode")
    drafts = [charge(ana.id, i) for i in range(40)]
    drafts.insert(13, transfer(ana.id, ben.id, "import:moved"))
    done = await run(db, drafts)
    assert len({e.id for e in done.entries}) == 41
    assert len({i for e in done.entries for i in e.item_ids}) == 42
    async with db.read() as conn:
        found = await existing_keys(conn, [d.idempotency_key for d in drafts] + ["nope"])
        for entry in done.entries:
            assert (await load_entry(conn, entry_id=entry.id)).lines == entry.lines
    assert found == {d.idempotency_key: d.fingerprint() for d in drafts}


async def test_the_same_file_imported_twice_at_once_is_posted_once(db: Database) -> None:
    """SQLite queues the second import behind the first, which then finds every key
    posted; on PostgreSQL the second may instead collide on the key index and lose its
    transaction. Either way a rerun completes nothing more."""
    account = await open_account(db)
    drafts = [charge(account.id, i) for i in range(50)]
    outcomes = await asyncio.gather(run(db, drafts), run(db, drafts), return_exceptions=True)

    posted = [o for o in outcomes if isinstance(o, BatchPosted) and len(o.entries) == 50]
    others = [o for o in outcomes if o not in posted]
    assert len(posted) == 1 and len(others) == 1
    assert isinstance(others[0], DuplicateKey) or (
        isinstance(others[0], BatchPosted) and len(others[0].replayed) == 50
    )
    assert len((await run(db, drafts)).replayed) == 50
    assert (await counts(db))[:3] == (50, 100, 50)


async def test_a_batch_needs_a_label_that_fits_the_audit_record(db: Database) -> None:
    account = await open_account(db)
    for label in ("", "x" * 101):
        with pytest.raises(ValidationError, match="label of 1-100 characters"):
            await run(db, [charge(account.id, 1)], label=label)


async def test_the_garbage_collector_is_back_on_after_a_batch(db: Database) -> None:
    account = await open_account(db)
    await run(db, [charge(account.id, 1)])
    assert gc.isenabled()
    with pytest.raises(ValidationError):
        await run(db, [charge(account.id, 2), charge(account.id, 2)])
    assert gc.isenabled()


async def test_an_empty_batch_writes_nothing(db: Database) -> None:
    done = await run(db, [])
    assert (len(done), done.entries, done.replayed, done.totals) == (0, (), (), ())
    assert (done.first, done.last, done.entry_ids) == (None, None, {})
    assert await counts(db) == (0, 0, 0, 0)


async def test_currencies_are_totalled_apart(db: Database) -> None:
    usd_account = await open_account(db)
    async with db.transaction() as tx:
        eur_account = await create_account(
            tx, name="Eva Euro", currency="EUR", actor=ADMIN.label, source="test"
        )
    euros = Money(4_200, "EUR")
    eur = EntryDraft(
        entry_type="CHARGE",
        effective_date=DAY,
        idempotency_key="import:eur",
        actor="staff:1",
        source="import",
        lines=(Line(AR_CONTROL, euros, eur_account.id), Line("4000", -euros)),
    )
    done = await run(db, [charge(usd_account.id, 0), eur, charge(usd_account.id, 1)])
    assert done.totals == (Money(4_200, "EUR"), usd("21.01"))
    assert (await batch_records(db))[0]["totals"] == {"EUR": "42.00", "USD": "21.01"}
