"""The patient bot's reply latency (issue 5, Benchmark): a Telegram update in, the reply's
Bot API call out, on a database of 100,000 patients, beside a bare aiogram handler.

The bots of both sides run in this process, and only they: the load client and the
fake Bot APIs run in a process of their own (:mod:`benchmarks.patient_load`), so that
the figures are the bots' process's ("one process", the issue says). Each update is
POSTed over HTTP to ``/telegram/webhook`` (aiogram's ``SimpleRequestHandler`` with
the secret token, handling before it answers), and each answer goes through aiogram's
``Bot`` to that side's fake Bot API (``tests.fakes.telegram``) on 127.0.0.1, which
notes when the ``sendMessage`` arrived. Latency is from the moment the update is
POSTed to the moment its ``sendMessage`` reached the fake.

* **arbot**: ``bot.web.make_app`` as ``arbot serve`` builds it, on a fresh copy of the
  SQLite database of :mod:`benchmarks.patient_data` (WAL; ``synchronous`` as
  ``core.db`` sets it, FULL), or of its PostgreSQL twin (:mod:`benchmarks.patient_pg`,
  ``--patient-postgres URL``). The mix is what verified patients send most: "balance"
  typed (50%), "menu" typed (25%) and the Balance button pressed (25%; Telegram then
  also gets ``answerCallbackQuery`` and ``editMessageReplyMarkup``). Each update comes
  from a different patient, drawn at random. Every reply is checked to be the
  patient's own balance or menu, and every send recorded in the outbox.
* **bare**: an aiogram ``Dispatcher`` whose one handler answers any update with one
  ``sendMessage`` of a fixed text: no database, no conversation.

The messengers' pacing (Telegram allows about 30 messages a second overall) is lifted
for the run: the benchmark measures the software, not the provider's rate limit.

Rounds alternate the sides: a latency run (ONE update in flight: the reply latency,
without queueing) and a throughput run (``CONCURRENCY`` updates in flight, with the
bots' process's CPU time per update), three rounds each after a warm-up. After the
rounds, 100 more arbot updates count the SQL statements and commits per update and
aiosqlite's worker-thread round trips (``--profile``: cProfile of them).

Once both servers serve, the process's heap is settled as ``arbot serve`` settles it
(``bot.web.settle_heap``), and every full garbage collection during the warm-up and
the rounds is timed and reported: without the settling each walked the whole
start-up heap (220-320 ms).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import pstats
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import event, func, select

from benchmarks.patient_data import CHAT_BASE, PATIENTS, generate
from benchmarks.patient_load import SECRET, WEBHOOK, LoadProcess
from tests.fakes.telegram import BOT_TOKEN

P95_TARGET_MS = 10.0
RATE_TARGET = 300.0
CONCURRENCY = 16


def mix(rng: random.Random, count: int, patients: list[int]) -> list[tuple[int, str]]:
    """``count`` updates, each from the next patient of ``patients``: (patient, kind)."""
    kinds = rng.choices(["balance", "menu", "button"], weights=[2, 1, 1], k=count)
    return [(patients.pop(), kind) for kind in kinds]


@dataclass
class Side:
    name: str
    url: str
    latency_ms: list[float] = field(default_factory=list)
    """Latency run: one update at a time."""
    loaded_ms: list[float] = field(default_factory=list)
    """Throughput run: latencies with ``CONCURRENCY`` in flight."""
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    """The bots' process's CPU time (all its threads) per update, in throughput runs."""

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.latency_ms, n=20)[-1]

    @property
    def p50(self) -> float:
        return statistics.median(self.latency_ms)

    @property
    def loaded_p95(self) -> float:
        return statistics.quantiles(self.loaded_ms, n=20)[-1]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_ms)


# --- the two sides ----------------------------------------------------------------------


def bare_app(api_base: str) -> web.Application:
    """One aiogram handler answering every message and button with one sendMessage."""
    from bot.patient.telegram import make_bot
    from core.settings import Settings

    bot = make_bot(Settings(telegram_bot_token=BOT_TOKEN, telegram_api_base=api_base))
    router = Router(name="bare")

    @router.message()
    async def on_message(message: Message) -> None:
        await bot.send_message(message.chat.id, "Your balance is $200.50.")

    @router.callback_query()
    async def on_button(query: CallbackQuery) -> None:
        await bot.send_message(query.from_user.id, "Your balance is $200.50.")

    dispatcher = Dispatcher(name="bare", disable_fsm=True)  # as arbot's: no per-chat FSM
    dispatcher.include_router(router)
    handler = SimpleRequestHandler(
        dispatcher, bot, handle_in_background=False, secret_token=SECRET
    )
    app = web.Application()
    handler.register(app, path=WEBHOOK)

    async def close(_: web.Application) -> None:
        await bot.session.close()

    app.on_cleanup.append(close)
    return app


@dataclass
class Statements:
    """SQL statements and commits the arbot side sent, counted by SQLAlchemy's events (a
    statement through ``Database.autocommit`` counts as a commit: it commits itself)."""

    executed: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    """Time in the driver per kind of statement (the database's own work)."""
    commits: int = 0
    _listeners: list[tuple[Any, str, Any]] = field(default_factory=list)

    def attach(self, engine: Any) -> None:
        def on_execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            words = statement.split()
            verb = words[0].upper() if words else "?"
            table = next(
                (words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in _TABLE_AFTER),
                "",
            )
            label = f"{verb} {table}".strip()
            self.executed[label] += 1
            options = conn.get_execution_options()
            if options.get("sqlite_autocommit") or options.get("isolation_level") == (
                "AUTOCOMMIT"
            ):
                self.commits += 1  # Database.autocommit(): the statement commits itself
            conn.info["bench_began"] = (label, time.perf_counter())

        def on_executed(conn: Any, *_: Any) -> None:
            began = conn.info.pop("bench_began", None)
            if began is not None:
                self.seconds[began[0]] += time.perf_counter() - began[1]

        def on_commit(_conn: Any) -> None:
            self.commits += 1

        self._listeners = [
            (engine, "before_cursor_execute", on_execute),
            (engine, "after_cursor_execute", on_executed),
            (engine, "commit", on_commit),
        ]
        for listener in self._listeners:
            event.listen(*listener)

    def detach(self) -> None:
        """Stop listening: the timed rounds run without the counting's own cost."""
        for listener in self._listeners:
            event.remove(*listener)
        self._listeners = []


_TABLE_AFTER = {"FROM", "INTO", "UPDATE"}


def arbot_app(api_base: str, db_url: str) -> tuple[web.Application, Any]:
    from bot.patient.messengers import Pace, TelegramMessenger
    from bot.web import PATIENT_KEY, make_app
    from core.db import Database
    from core.settings import Settings

    settings = Settings(
        database_url=db_url,
        telegram_bot_token=BOT_TOKEN,
        telegram_api_base=api_base,
        telegram_webhook_secret=SECRET,
        public_base_url="https://bench.example.org",
    )
    db = Database(db_url)
    app = make_app(settings, db)
    messenger = app[PATIENT_KEY].messengers["telegram"]
    assert isinstance(messenger, TelegramMessenger)
    messenger.overall = messenger.per_chat = Pace(1e9, 1_000_000)

    async def close(_: web.Application) -> None:
        await db.dispose()

    app.on_cleanup.append(close)
    return app, db


# --- the run ----------------------------------------------------------------------------


@dataclass
class PatientResult:
    arbot: Side
    bare: Side
    statements: Counter[str]
    statement_seconds: Counter[str]
    hops: Counter[str]
    """Calls handed to aiosqlite's worker thread (each a round trip to it)."""
    commits: int
    sample: int
    checks: str
    profile: str = ""
    database: str = "SQLite"
    full_gc_ms: list[float] = field(default_factory=list)
    """Each full garbage collection during the warm-up and the rounds, in ms."""
    settled: int = 0
    """Objects the heap's settling set aside (``bot.web.settle_heap``)."""

    @property
    def ok(self) -> bool:
        return self.checks.startswith("ok")


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


async def bench_patient(
    *,
    latency: int = 300,
    many: int = 1500,
    rounds: int = 3,
    warmup: int = 200,
    profile: bool = False,
    postgres: str | None = None,
) -> PatientResult:
    """The benchmark on a fresh copy of the 100,000 patients: SQLite, or with
    ``postgres`` (an admin URL) a database on that server (:mod:`benchmarks.patient_pg`)."""
    from core.clock import SystemClock, today

    source = await asyncio.to_thread(generate, today(SystemClock()))  # it runs a loop of its own
    rng = random.Random(7)
    needed = 2 * (warmup + rounds * (latency + many)) + 200
    patients = rng.sample(range(1, PATIENTS + 1), needed)
    args = (patients, rng, latency, many, rounds, warmup, profile)
    if postgres:
        from benchmarks.patient_pg import fresh_copy

        async with fresh_copy(postgres, source) as url:
            return await _run(url, *args)
    with tempfile.TemporaryDirectory(prefix="arbot-bench-patient-") as tmp:
        path = Path(tmp) / "arbot.db"
        shutil.copy(source, path)
        return await _run(f"sqlite+aiosqlite:///{path}", *args)


async def _run(
    db_url: str,
    patients: list[int],
    rng: random.Random,
    latency: int,
    many: int,
    rounds: int,
    warmup: int,
    profile: bool,
) -> PatientResult:
    load = await LoadProcess.start()
    app, db = arbot_app(load.fakes["arbot"], db_url)
    counted = Statements()
    servers = {"arbot": await _serve(app), "bare": await _serve(bare_app(load.fakes["bare"]))}
    sides = {
        name: Side(name, str(servers[name].make_url("")).rstrip("/")) for name in ("arbot", "bare")
    }
    result_profile = ""
    from bot.web import settle_heap

    settled = settle_heap()  # as ``arbot serve`` does once it serves
    try:
        with _full_collections() as full_gc_ms:
            for side in sides.values():  # warm-up: connections, caches, SQLite pages
                await load.run(side.name, side.url, mix(rng, warmup, patients), CONCURRENCY)
            order = ["arbot", "bare"]
            for r in range(rounds):
                for name in order if r % 2 == 0 else reversed(order):
                    side = sides[name]
                    _, ms = await load.run(side.name, side.url, mix(rng, latency, patients), 1)
                    side.latency_ms += ms
                    cpu = time.process_time()
                    work = mix(rng, many, patients)
                    seconds, ms = await load.run(side.name, side.url, work, CONCURRENCY)
                    side.cpu_ms.append((time.process_time() - cpu) * 1000 / many)
                    side.loaded_ms += ms
                    side.rates.append(many / seconds)
        sample = 100
        counted.attach(db.engine.sync_engine)  # only now: the rounds ran without it
        work = mix(rng, sample, patients)
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
        with _hops() as hops:
            await load.run("arbot", sides["arbot"].url, work, 1)
        if profile:
            profiler.disable()
            result_profile = _top(profiler)
        counted.detach()
        checks = await _check(db, await load.ask(op="sent", side="arbot"))
    finally:
        await load.close()
        for server in servers.values():
            await server.close()
    return PatientResult(
        sides["arbot"],
        sides["bare"],
        counted.executed,
        counted.seconds,
        hops,
        counted.commits,
        sample,
        checks,
        result_profile,
        "PostgreSQL" if db.is_postgres else "SQLite",
        full_gc_ms,
        settled,
    )


@contextmanager
def _full_collections() -> Iterator[list[float]]:
    """How long each full (oldest generation) garbage collection took, in ms."""
    pauses: list[float] = []
    began = [0.0]

    def note(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                pauses.append((time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(note)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(note)


@contextmanager
def _hops() -> Iterator[Counter[str]]:
    """Count the calls aiosqlite hands to its worker thread, by what they do (this
    patches a private method of aiosqlite while it runs; nothing counted if it changed)."""
    import aiosqlite.core as aio

    hops: Counter[str] = Counter()
    original: Any = getattr(aio.Connection, "_execute", None)
    if original is None:
        yield hops
        return

    async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops[getattr(fn, "__name__", type(fn).__name__)] += 1
        return await original(conn, fn, *args, **kwargs)

    aio.Connection._execute = counted  # type: ignore[method-assign,assignment]
    try:
        yield hops
    finally:
        aio.Connection._execute = original  # type: ignore[method-assign]


def _top(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(70)
    return out.getvalue()


async def _check(db: Any, sent_by_fake: dict[str, Any]) -> str:
    """Every update answered with the patient's balance or menu, every send recorded."""
    from core.patients.outbox import outbox

    updates = int(sent_by_fake["updates"])
    sent = [(str(chat), str(text)) for chat, text in sent_by_fake["replies"]]
    texts = [t for _, t in sent]
    wrong = [t for chat, t in sent if not _expected(int(chat) - CHAT_BASE, t)]
    async with db.read() as conn:
        recorded = (
            await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "sent")
            )
        ).scalar_one()
    recorded -= PATIENTS  # the generated history
    problems = []
    if len(texts) != updates:
        problems.append(f"{updates} updates but {len(texts)} replies")
    if wrong:
        problems.append(f"{len(wrong)} replies are neither a balance nor the menu: {wrong[0]!r}")
    if recorded != updates:
        problems.append(f"{updates} replies but {recorded} sends recorded in the outbox")
    if problems:
        return "MISMATCH: " + "; ".join(problems)
    return f"ok: {updates:,} updates, {len(texts):,} replies, each recorded sent in the outbox"


def _expected(n: int, text: str) -> bool:
    """Patient ``n``'s balance names their own account; 'menu' is answered with help."""
    if "Account A" in text or "Cuenta A" in text:
        return f"A{n:07d}" in text
    return "Type BALANCE" in text or "Escriba SALDO" in text


def print_patient(p: PatientResult) -> None:
    print("  the bots run in this process; the load client and the fake Bot APIs in another")
    for side, label in ((p.arbot, "arbot  the conversation"), (p.bare, "bare   aiogram handler")):
        print(
            f"  {label}: one in flight p95 {side.p95:6.2f} ms (p50 {side.p50:5.2f},"
            f" max {max(side.latency_ms):6.2f})   {side.rate:6,.0f} updates/s with"
            f" {CONCURRENCY} in flight (p95 {side.loaded_p95:6.2f} ms,"
            f" bot process CPU {side.cpu:.2f} ms/update)"
            f"   rounds {' / '.join(f'{r:,.0f}' for r in side.rates)}"
        )
    print(
        f"  ratio arbot/bare: p95 {p.arbot.p95 / p.bare.p95:.1f}x,"
        f" rate {p.arbot.rate / p.bare.rate:.2f}"
        f"   (targets: p95 < {P95_TARGET_MS:g} ms, >= {RATE_TARGET:g} updates/s)"
    )
    per_turn = sum(p.statements.values()) / p.sample
    print(
        f"  SQL per update ({p.database}): {per_turn:.1f} statements,"
        f" {p.commits / p.sample:.1f} commits"
        + (" (each an fsync with synchronous=FULL)" if p.database == "SQLite" else "")
    )
    longest = f", the longest {max(p.full_gc_ms):.1f} ms" if p.full_gc_ms else ""
    print(
        f"  full garbage collections during the warm-up and rounds: {len(p.full_gc_ms)}{longest}"
        f" (after start-up the heap was settled as arbot serve does: {p.settled:,} objects"
        " set aside)"
    )
    if p.hops:
        detail = ", ".join(f"{name} {n / p.sample:g}" for name, n in p.hops.most_common())
        hops = sum(p.hops.values()) / p.sample
        print(f"  aiosqlite worker-thread round trips per update: {hops:g} ({detail})")
    for label, count in p.statements.most_common(12):
        ms = p.statement_seconds[label] * 1000 / count
        print(f"      {count / p.sample:5.2f} x {label:28s} {ms:6.2f} ms each")
    print(f"  check: {p.checks}")
    if p.profile:
        print(p.profile)


def summary_line(p: PatientResult, verdict: Callable[[bool], str]) -> str:
    return (
        f"  patient bot ({p.database}): p95 {p.arbot.p95:.2f} ms (p50 {p.arbot.p50:.2f}),"
        f" {p.arbot.rate:,.0f} updates/s   bare aiogram p95 {p.bare.p95:.2f} ms"
        f" (p50 {p.bare.p50:.2f}), {p.bare.rate:,.0f} updates/s"
        f" (p95 < {P95_TARGET_MS:g} ms: {verdict(p.arbot.p95 < P95_TARGET_MS)},"
        f" >= {RATE_TARGET:g}/s: {verdict(p.arbot.rate >= RATE_TARGET)})"
    )
