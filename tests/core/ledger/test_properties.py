"""The ledger against an independent model, over random sequences of real operations.

A hypothesis state machine posts charges, payments (applied oldest first), cash
applications, reversals, write-offs and refunds to two or three accounts on a real
database, with the date moving forward, and replays earlier idempotency keys. After
every step the stored ledger must agree with a small in-memory A/R kept beside it:
the same items open by the same amounts, the same balances, and the invariants hold
(every entry balances, subledger = control, nothing over-applied), as does the ATB.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, ValidationError
from core.ledger.aging import AtbQuery, aged_trial_balance
from core.ledger.invariants import check_invariants
from core.ledger.items import balance, load_items
from core.ledger.tables import allocation, application, ar_item, journal_entry, journal_line
from core.money import Money
from core.services.adjustments import reverse_entry, write_off
from core.services.charges import post_charge
from core.services.payments import apply_unapplied, record_payment, refund_credit
from tests.conftest import DATA_TABLES
from tests.core.helpers import ADMIN, balance_of, items_of, open_account, usd

START = date(2026, 1, 5)
DAYS = st.integers(0, 10)
AMOUNTS = st.integers(1, 40_000)
PICK = st.integers(0, 10**6)
SHARE = st.none() | st.integers(1, 100)
RARELY = st.sampled_from((False, False, False, True))
EXAMPLES, STEPS = 25, 35  # about 30 s per database on a laptop
COUNTED = (journal_entry, journal_line, ar_item, allocation, application)


@dataclass(slots=True)
class MItem:
    id: int
    entry_id: int
    account: int
    amount: int
    open: int
    effective: date
    service: date
    kind: str

    @property
    def order(self) -> tuple[date, int, int]:
        """The order load_items gives: service date, then transaction number."""
        return (self.service, self.entry_id, self.id)


@dataclass(slots=True)
class MEntry:
    id: int
    account: int
    amount: int
    item_ids: tuple[int, ...]
    kind: str
    reversed: bool = False


@dataclass(slots=True)
class Model:
    """A/R in plain Python: items, the matches between them, and the expected balances."""

    items: dict[int, MItem] = field(default_factory=dict)
    pairs: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    entries: list[MEntry] = field(default_factory=list)
    balances: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(
        self, item_id: int, entry_id: int, account: int, amount: int, on: date, kind: str
    ) -> MItem:
        item = MItem(item_id, entry_id, account, amount, amount, on, on, kind)
        self.items[item_id] = item
        return item

    def match(self, debit: int, credit: int, amount: int) -> None:
        self.items[debit].open -= amount
        self.items[credit].open += amount
        self.pairs[(debit, credit)] += amount

    def debits(self, account: int, on: date) -> list[MItem]:
        found = [
            i
            for i in self.items.values()
            if i.account == account and i.amount > 0 and i.open > 0 and i.effective <= on
        ]
        return sorted(found, key=lambda i: i.order)

    def credits(self, account: int, on: date) -> list[MItem]:
        found = [
            i
            for i in self.items.values()
            if i.account == account and i.open < 0 and i.effective <= on
        ]
        return sorted(found, key=lambda i: i.order)

    def apply(self, account: int, credits: list[MItem], on: date) -> list[tuple[int, int]]:
        """Oldest debit first; the credits pay in their own order (AR-017, AR-021)."""
        left, placements = -sum(c.open for c in credits), []
        for debit in self.debits(account, on):
            if left <= 0:
                break
            placements.append((debit.id, min(debit.open, left)))
            left -= placements[-1][1]
        supply = [c for c in credits if c.open < 0]
        for debit_id, amount in placements:
            while amount > 0:
                take = min(amount, -supply[0].open)
                self.match(debit_id, supply[0].id, take)
                amount -= take
                if supply[0].open == 0:
                    supply.pop(0)
        return placements

    def write_off_plan(self, account: int, on: date, amount: int | None) -> list[tuple[int, int]]:
        debits = self.debits(account, on)
        left = sum(d.open for d in debits) if amount is None else amount
        if left <= 0 or left > sum(d.open for d in debits):
            return []
        plan = []
        for debit in debits:
            if left <= 0:
                break
            plan.append((debit.id, min(left, debit.open)))
            left -= plan[-1][1]
        return plan

    def view(self) -> dict[int, tuple[int, int, int, date]]:
        return {i.id: (i.account, i.amount, i.open, i.effective) for i in self.items.values()}

    def settled_by_write_off(self, entry: MEntry) -> bool:
        """A charge a write-off closes cannot be reversed before the write-off is."""
        return any(
            amount > 0 and debit in entry.item_ids and self.items[credit].kind == "wo"
            for (debit, credit), amount in self.pairs.items()
        )

    def unapplied(self, account: int) -> int:
        return -sum(c.open for c in self.items.values() if c.account == account and c.open < 0)

    def reverse(self, original: MEntry, new_ids: tuple[int, ...], entry_id: int, on: date) -> None:
        """Undo every match of each original item, then match it with its mirror (AR-119)."""
        original.reversed = True
        self.balances[original.account] -= original.amount
        for old_id, new_id in zip(original.item_ids, new_ids, strict=True):
            for (debit, credit), amount in sorted(self.pairs.items()):
                if amount > 0 and old_id in (debit, credit):
                    self.match(debit, credit, -amount)
            old = self.items[old_id]
            self.add(new_id, entry_id, old.account, -old.amount, on, "rev")
            if old.amount > 0:
                self.match(old_id, new_id, old.amount)
            else:
                self.match(new_id, old_id, -old.amount)
        self.entries.append(MEntry(entry_id, original.account, -original.amount, new_ids, "rev"))


@dataclass(frozen=True, slots=True)
class Replay:
    """An operation that succeeded, to be asked again with the same key and arguments."""

    call: partial[Awaitable[Any]]
    entry_id: int | None


@dataclass(frozen=True, slots=True)
class Target:
    kind: str
    source: str
    workdir: Path | None = None


_target: Target | None = None
_files = itertools.count()


def _entry_id(result: Any) -> int | None:
    if isinstance(result, list):
        return int(result[0].id)
    if hasattr(result, "entry"):
        return int(result.entry.id)
    return getattr(result, "id", None)


async def _fresh_db(target: Target, clock: FixedClock) -> Database:
    if target.kind == "sqlite":
        assert target.workdir is not None
        path = target.workdir / f"example-{next(_files)}.db"
        shutil.copy(target.source, path)
        return Database(f"sqlite+aiosqlite:///{path}", clock=clock)
    db = Database(target.source, clock=clock)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    return db


class LedgerMachine(RuleBasedStateMachine):
    """AR-127, AR-053, AR-017, AR-021, AR-119, AR-028, AR-192 over random histories."""

    def __init__(self) -> None:
        super().__init__()
        assert _target is not None, "run through run_state_machine_as_test"
        self.loop = asyncio.new_event_loop()
        self.today = START
        self.clock = FixedClock(datetime.combine(START, time(12), UTC))
        try:
            self.db = self.run(_fresh_db(_target, self.clock))
        except BaseException:
            self.loop.close()
            raise
        self.model = Model()
        self.accounts: list[int] = []
        self.replays: list[Replay] = []
        self.history: dict[date, tuple[dict[int, int], dict[int, int]]] = {}
        self.checked: date | None = None
        self.keys = itertools.count()

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.db.dispose())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def tick(self, days: int) -> date:
        if days:
            self.history[self.today] = (
                dict(self.model.balances),
                {i.id: i.open for i in self.model.items.values()},
            )
            self.today += timedelta(days=days)
            self.clock.moment = datetime.combine(self.today, time(12), UTC)
        return self.today

    def key(self, prefix: str) -> str:
        return f"{prefix}{next(self.keys)}"

    def account(self, pick: int) -> int:
        return self.accounts[pick % len(self.accounts)]

    def owing(self) -> list[int]:
        return [a for a in self.accounts if self.model.debits(a, self.today)]

    def holders(self) -> list[int]:
        """Accounts with unapplied credit."""
        return [a for a in self.accounts if self.model.unapplied(a)]

    async def counts(self) -> tuple[int, ...]:
        async with self.db.read() as conn:
            return tuple(
                [
                    (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                    for t in COUNTED
                ]
            )

    def refused(self, error: type[Exception], call: Callable[[], Awaitable[Any]]) -> None:
        """``call`` must fail with ``error`` and write nothing."""
        before = self.run(self.counts())
        with pytest.raises(error):
            self.run(call())
        assert self.run(self.counts()) == before

    @initialize(n=st.integers(2, 3))
    def open_accounts(self, n: int) -> None:
        for i in range(n):
            self.accounts.append(self.run(open_account(self.db, name=f"Patient {i}")).id)

    @rule(days=DAYS, acct=PICK, amount=AMOUNTS, back=st.integers(0, 200))
    def charge(self, days: int, acct: int, amount: int, back: int) -> None:
        on, account = self.tick(days), self.account(acct)
        call = partial(
            post_charge,
            self.db,
            ADMIN,
            account_id=account,
            amount=Money(amount, "USD"),
            service_date=on - timedelta(days=back),
            bill_date=on,
            key=self.key("c"),
        )
        entry = self.run(call())
        item = self.model.add(entry.item_ids[0], entry.id, account, amount, on, "charge")
        item.service = on - timedelta(days=back)
        self.model.entries.append(MEntry(entry.id, account, amount, entry.item_ids, "charge"))
        self.model.balances[account] += amount
        self.replays.append(Replay(call, entry.id))

    @rule(days=DAYS, acct=PICK, amount=AMOUNTS, share=st.integers(1, 150))
    def payment(self, days: int, acct: int, amount: int, share: int) -> None:
        """AR-017, AR-021: part, all or more than what is owed; the rest stays unapplied."""
        on, account = self.tick(days), self.account(acct)
        owed = sum(d.open for d in self.model.debits(account, on))
        amount = max(1, owed * share // 100) if owed else amount
        call = partial(
            record_payment,
            self.db,
            ADMIN,
            account_id=account,
            amount=Money(amount, "USD"),
            received_on=on,
            key=self.key("p"),
            method="card",
        )
        paid = self.run(call())
        credit = self.model.add(
            paid.entry.item_ids[0], paid.entry.id, account, -amount, on, "payment"
        )
        placed = self.model.apply(account, [credit], on)
        assert [(p.item_id, p.amount_minor) for p in paid.placements] == placed
        self.model.entries.append(
            MEntry(paid.entry.id, account, -amount, paid.entry.item_ids, "payment")
        )
        self.model.balances[account] -= amount
        self.replays.append(Replay(call, paid.entry.id))

    @precondition(lambda self: self.holders())
    @rule(days=DAYS, acct=PICK)
    def apply(self, days: int, acct: int) -> None:
        """AR-018, AR-021: unapplied cash goes to what is open now, oldest first."""
        on, holders = self.tick(days), self.holders()
        account = holders[acct % len(holders)]
        call = partial(
            apply_unapplied, self.db, ADMIN, account_id=account, key=self.key("a"), on=on
        )
        plan = self.run(call())
        placed = self.model.apply(account, self.model.credits(account, on), on)
        assert [(p.item_id, p.amount_minor) for p in plan.placements] == placed
        event(f"application placed {'something' if placed else 'nothing'}")
        if placed:  # an application that placed nothing wrote nothing and used no key
            self.replays.append(Replay(call, None))

    @precondition(lambda self: self.owing())
    @rule(
        days=DAYS,
        acct=PICK,
        share=SHARE,
        entry_type=st.sampled_from(["WO_ADMIN", "WO_BAD_DEBT"]),
    )
    def write_off(self, days: int, acct: int, share: int | None, entry_type: str) -> None:
        """AR-026: an amount, or everything, oldest item first."""
        on, owing = self.tick(days), self.owing()
        account = owing[acct % len(owing)]
        open_total = sum(d.open for d in self.model.debits(account, on))
        amount = None if share is None else max(1, open_total * share // 100)
        call = partial(
            write_off,
            self.db,
            ADMIN,
            account_id=account,
            key=self.key("w"),
            on=on,
            reason="ADMIN" if entry_type == "WO_ADMIN" else "UNCOLLECTIBLE",
            note="property test",
            amount=None if amount is None else Money(amount, "USD"),
            entry_type=entry_type,
        )
        plan = self.model.write_off_plan(account, on, amount)
        entries = self.run(call())
        assert [-e.lines[1].amount.minor for e in entries] == [take for _, take in plan]
        for entry, (debit_id, take) in zip(entries, plan, strict=True):
            self.model.add(entry.item_ids[0], entry.id, account, -take, on, "wo")
            self.model.match(debit_id, entry.item_ids[0], take)
            self.model.entries.append(MEntry(entry.id, account, -take, entry.item_ids, "wo"))
            self.model.balances[account] -= take
        self.replays.append(Replay(call, entries[0].id))

    @precondition(lambda self: self.model.entries)
    @rule(days=DAYS, pick=PICK)
    def reverse(self, days: int, pick: int) -> None:
        """AR-119, AR-028: a reversal reopens what the original had matched; once only."""
        on = self.tick(days)
        original = self.model.entries[pick % len(self.model.entries)]
        call = partial(
            reverse_entry,
            self.db,
            ADMIN,
            entry_id=original.id,
            on=on,
            key=self.key("r"),
            reason="NSF" if original.kind == "payment" else "KEYING_ERROR",
        )
        if original.kind == "rev":
            event("reversal refused: a reversal")
            self.refused(InvalidState, call)
            return
        if original.reversed:
            event("reversal refused: reversed already")
            self.refused(ValidationError, call)
            return
        if self.model.settled_by_write_off(original):
            event("reversal refused: written off")
            self.refused(InvalidState, call)
            return
        event(f"reversal of a {original.kind}")
        reversal = self.run(call())
        assert reversal.reverses_id == original.id
        if original.kind == "payment":
            assert reversal.entry_type == "PAYMENT_REVERSAL"
        self.model.reverse(original, reversal.item_ids, reversal.id, on)
        self.replays.append(Replay(call, reversal.id))

    @precondition(lambda self: self.holders())
    @rule(days=DAYS, pick=PICK, share=st.integers(1, 100), too_much=RARELY)
    def refund(self, days: int, pick: int, share: int, too_much: bool) -> None:
        """AR-058: refund part or all of a credit; never more than the account holds."""
        on, holders = self.tick(days), self.holders()
        account = holders[pick % len(holders)]
        credit = self.model.unapplied(account)
        amount = credit + 1 if too_much else max(1, credit * share // 100)
        call = partial(
            refund_credit,
            self.db,
            ADMIN,
            account_id=account,
            amount=Money(amount, "USD"),
            on=on,
            key=self.key("f"),
        )
        if too_much:
            event("refund refused: more than the credit")
            self.refused(InvalidState, call)
            return
        entry = self.run(call())
        refund = self.model.add(entry.item_ids[0], entry.id, account, amount, on, "refund")
        need = amount
        for c in self.model.credits(account, on):
            take = min(need, -c.open)
            if take:
                self.model.match(refund.id, c.id, take)
                need -= take
        self.model.entries.append(MEntry(entry.id, account, amount, entry.item_ids, "refund"))
        self.model.balances[account] += amount
        self.replays.append(Replay(call, entry.id))

    @precondition(lambda self: self.replays)
    @rule(pick=PICK)
    def replay(self, pick: int) -> None:
        """AR-053: the same key and arguments again return the original, writing nothing."""
        again = self.replays[pick % len(self.replays)]
        event(f"replay of {again.call.func.__name__}")
        before = self.run(self.counts())
        result = self.run(again.call())
        assert self.run(self.counts()) == before
        if again.entry_id is not None:
            assert _entry_id(result) == again.entry_id

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        """AR-127, AR-192: invariants, items, balances and the ATB, today and before."""
        self.run(self.observe())

    async def observe(self) -> None:
        async with self.db.read() as conn:
            assert await check_invariants(conn) == []
            seen = {}
            for account in self.accounts:
                items = await load_items(conn, account_id=account)
                seen |= {
                    i.id: (i.account_id, i.amount.minor, i.open.minor, i.effective_date)
                    for i in items
                }
                owed = sum(i.open.minor for i in items if i.is_debit)
                unapplied = -sum(i.open.minor for i in items if not i.is_debit)
                got = await balance(conn, account)
                assert got == self.model.balances[account] == owed - unapplied
            assert seen == self.model.view()
            await self.check_day(conn, self.today, self.model.balances)
            if self.history and self.checked != max(self.history):
                self.checked = max(self.history)
                balances, opens = self.history[self.checked]
                await self.check_day(conn, self.checked, balances)
                then = await load_items(conn, as_of=self.checked)
                assert {i.id: i.open.minor for i in then} == opens

    async def check_day(self, conn: AsyncConnection, day: date, balances: dict[int, int]) -> None:
        """Balances as of ``day`` and the ATB that day agree with the model (AR-192)."""
        atb = await aged_trial_balance(conn, AtbQuery(as_of=day, currency="USD"))
        rows = {row.account_id: row.total for row in atb.rows}
        for account in self.accounts:
            expected = balances.get(account, 0)
            assert await balance(conn, account, day) == expected == rows.get(account, 0)
        assert atb.total_minor == sum(balances.get(a, 0) for a in self.accounts)


def _run_machine(target: Target, examples: int, steps: int) -> None:
    global _target
    _target = target
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        _target = None


def test_ledger_machine_on_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    """Every step of every history keeps the ledger equal to the model (SQLite)."""
    _run_machine(Target("sqlite", str(sqlite_template), tmp_path), EXAMPLES, STEPS)


@pytest.mark.postgres
def test_ledger_machine_on_postgres(postgres_ready: str) -> None:
    """The same histories on PostgreSQL, with its deferred constraint triggers."""
    _run_machine(Target("postgres", postgres_ready), EXAMPLES, STEPS)


# Regressions: bugs the machine found, each as the shortest story that shows it.

JUNE = date(2026, 6, 1)


async def test_write_off_replay_returns_the_original(db: Database) -> None:
    """AR-053, AR-026. Regression: asked again with its key once nothing was left open,
    a write-off re-checked the amount before the key and refused the replay."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=JUNE, key="c1"
    )
    ask = partial(
        write_off, db, ADMIN, account_id=account.id, key="w1", on=JUNE, reason="ADMIN", note="x"
    )
    [first] = await ask()

    [again] = await ask()

    assert again.id == first.id
    assert await balance_of(db, account.id) == usd("0")


async def test_reversal_replay_returns_the_original(db: Database) -> None:
    """AR-053, AR-119. Regression: on SQLite a replayed reversal hit the unique index on
    reverses_id before the key's, and was refused as 'already been reversed'."""
    account = await open_account(db)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=JUNE, key="c1"
    )
    ask = partial(
        reverse_entry, db, ADMIN, entry_id=charge.id, on=JUNE, key="r1", reason="KEYING_ERROR"
    )
    first = await ask()

    again = await ask()

    assert again.id == first.id
    assert await balance_of(db, account.id) == usd("0")


async def test_reversing_a_written_off_charge_leaves_no_credit_to_refund(db: Database) -> None:
    """AR-028, AR-119. Regression: reversing a charge that a write-off had closed turned
    the write-off into a 100.00 credit that refund_credit then paid out as cash. The
    write-off must be reversed first; then the charge can go."""
    account = await open_account(db)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=JUNE, key="c1"
    )
    [wo] = await write_off(
        db, ADMIN, account_id=account.id, key="w1", on=JUNE, reason="ADMIN", note="x"
    )

    with pytest.raises(InvalidState, match="reverse that first"):
        await reverse_entry(
            db, ADMIN, entry_id=charge.id, on=JUNE, key="r1", reason="KEYING_ERROR"
        )
    assert await balance_of(db, account.id) == usd("0")

    await reverse_entry(db, ADMIN, entry_id=wo.id, on=JUNE, key="r2", reason="KEYING_ERROR")
    await reverse_entry(db, ADMIN, entry_id=charge.id, on=JUNE, key="r3", reason="KEYING_ERROR")
    assert await balance_of(db, account.id) == usd("0")
    assert all(i.open == usd("0") for i in await items_of(db, account.id))
