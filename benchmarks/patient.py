"""The patient bot's reply latency (issue 5, Benchmark): a Telegram update in, the reply's
Bot API call out, on a database of 100,000 patients, beside a bare aiogram handler.

Both sides run in this one process and are driven the same way: each update is POSTed
over HTTP to ``/telegram/webhook`` (aiogram's ``SimpleRequestHandler`` with the secret
token, handling before it answers), and each answer goes through aiogram's ``Bot`` to
the fake Bot API (``tests.fakes.telegram``) on 127.0.0.1, which notes when the
``sendMessage`` arrived. Latency is from the moment the update is POSTed to the moment
its ``sendMessage`` reached the fake.

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

Rounds alternate the sides: a latency run (one update at a time) and a throughput run
(``CONCURRENCY`` updates in flight), three rounds each after a warm-up. The test
client and the fake Bot API share the process, and its CPU, with the side measured.
After the rounds, 100 more arbot updates count the SQL statements and commits per
update and aiosqlite's worker-thread round trips (``--profile``: cProfile of them).
"""

from __future__ import annotations

import asyncio
import cProfile
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

import aiohttp
from aiogram import Dispatcher, Router
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import event, func, select

from benchmarks.patient_data import CHAT_BASE, PATIENTS, generate
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, callback_update, message_update

SECRET = "bench-webhook-secret-0123456789"
WEBHOOK = "/telegram/webhook"
P95_TARGET_MS = 10.0
RATE_TARGET = 300.0
CONCURRENCY = 16
MENU_KEYBOARD = [
    [{"text": label, "callback_data": f"c|{choice}"}]
    for label, choice in (("Balance", "balance"), ("Pay", "pay"), ("Statement", "statement"))
]


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each ``sendMessage`` arrived, by chat."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        self.arrived.setdefault(str(params.get("chat_id", "")), time.perf_counter())
        return await super()._sendMessage(params)


def _update(n: int, kind: str) -> dict[str, Any]:
    chat = CHAT_BASE + n
    if kind == "button":
        return callback_update(chat, "c|balance", keyboard=MENU_KEYBOARD)
    return message_update(chat, kind)


def mix(rng: random.Random, count: int, patients: list[int]) -> list[tuple[int, str]]:
    """``count`` updates, each from the next patient of ``patients``: (patient, kind)."""
    kinds = rng.choices(["balance", "menu", "button"], weights=[2, 1, 1], k=count)
    return [(patients.pop(), kind) for kind in kinds]


@dataclass
class Side:
    name: str
    url: str
    fake: TimedTelegram
    latency_ms: list[float] = field(default_factory=list)
    """Latency run: one update at a time."""
    loaded_ms: list[float] = field(default_factory=list)
    """Throughput run: latencies with ``CONCURRENCY`` in flight."""
    rates: list[float] = field(default_factory=list)
    sent: int = 0

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.latency_ms, n=20)[-1]

    @property
    def loaded_p95(self) -> float:
        return statistics.quantiles(self.loaded_ms, n=20)[-1]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


async def _one(
    http: aiohttp.ClientSession, side: Side, n: int, kind: str, into: list[float] | None
) -> None:
    chat = str(CHAT_BASE + n)
    began = time.perf_counter()
    async with http.post(
        side.url + WEBHOOK,
        json=_update(n, kind),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"{side.name}: the webhook answered {response.status}")
    side.sent += 1
    arrived = side.fake.arrived.pop(chat, None)
    if arrived is None:
        raise RuntimeError(f"{side.name}: no sendMessage for a {kind!r} update")
    if into is not None:
        into.append((arrived - began) * 1000)


async def run_updates(
    http: aiohttp.ClientSession,
    side: Side,
    updates: list[tuple[int, str]],
    concurrency: int,
    into: list[float] | None,
) -> float:
    """Send ``updates`` with ``concurrency`` in flight; the seconds it took."""
    queue = list(reversed(updates))

    async def worker() -> None:
        while queue:
            n, kind = queue.pop()
            await _one(http, side, n, kind, into)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began


# --- the two sides ----------------------------------------------------------------------


def bare_app(fake: FakeTelegram) -> web.Application:
    """One aiogram handler answering every message and button with one sendMessage."""
    from bot.patient.telegram import make_bot
    from core.settings import Settings

    bot = make_bot(Settings(telegram_bot_token=BOT_TOKEN, telegram_api_base=fake.base))
    router = Router(name="bare")

    @router.message()
    async def on_message(message: Message) -> None:
        await bot.send_message(message.chat.id, "Your balance is $200.50.")

    @router.callback_query()
    async def on_button(query: CallbackQuery) -> None:
        await bot.send_message(query.from_user.id, "Your balance is $200.50.")

    dispatcher = Dispatcher(name="bare")
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
    """SQL statements and commits the arbot side sent, counted by SQLAlchemy's events."""

    executed: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    """Time in the driver per kind of statement (the database's own work)."""
    commits: int = 0
    counting: bool = False

    def attach(self, engine: Any) -> None:
        def on_execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if self.counting:
                words = statement.split()
                verb = words[0].upper() if words else "?"
                table = next(
                    (words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in _TABLE_AFTER),
                    "",
                )
                label = f"{verb} {table}".strip()
                self.executed[label] += 1
                conn.info["bench_began"] = (label, time.perf_counter())

        def on_executed(conn: Any, *_: Any) -> None:
            began = conn.info.pop("bench_began", None)
            if began is not None:
                self.seconds[began[0]] += time.perf_counter() - began[1]

        def on_commit(_conn: Any) -> None:
            if self.counting:
                self.commits += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine, "after_cursor_execute", on_executed)
        event.listen(engine, "commit", on_commit)


_TABLE_AFTER = {"FROM", "INTO", "UPDATE"}


def arbot_app(fake: FakeTelegram, db_url: str) -> tuple[web.Application, Any]:
    from bot.patient.messengers import Pace, TelegramMessenger
    from bot.web import PATIENT_KEY, make_app
    from core.db import Database
    from core.settings import Settings

    settings = Settings(
        database_url=db_url,
        telegram_bot_token=BOT_TOKEN,
        telegram_api_base=fake.base,
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
    load: int = 1500,
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
    needed = 2 * (warmup + rounds * (latency + load)) + 200
    patients = rng.sample(range(1, PATIENTS + 1), needed)
    args = (patients, rng, latency, load, rounds, warmup, profile)
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
    load: int,
    rounds: int,
    warmup: int,
    profile: bool,
) -> PatientResult:
    fakes = {name: TimedTelegram() for name in ("arbot", "bare")}
    fake_servers = [await _serve(f.app()) for f in fakes.values()]
    for fake, server in zip(fakes.values(), fake_servers, strict=True):
        fake.base = str(server.make_url("")).rstrip("/")
    app, db = arbot_app(fakes["arbot"], db_url)
    counted = Statements()
    counted.attach(db.engine.sync_engine)
    servers = {"arbot": await _serve(app), "bare": await _serve(bare_app(fakes["bare"]))}
    sides = {
        name: Side(name, str(servers[name].make_url("")).rstrip("/"), fakes[name])
        for name in ("arbot", "bare")
    }
    result_profile = ""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            for side in sides.values():  # warm-up: connections, caches, SQLite pages
                await run_updates(http, side, mix(rng, warmup, patients), CONCURRENCY, None)
            order = ["arbot", "bare"]
            for r in range(rounds):
                for name in order if r % 2 == 0 else reversed(order):
                    side = sides[name]
                    await run_updates(http, side, mix(rng, latency, patients), 1, side.latency_ms)
                    seconds = await run_updates(
                        http, side, mix(rng, load, patients), CONCURRENCY, side.loaded_ms
                    )
                    side.rates.append(load / seconds)
            sample = 100
            counted.counting = True
            work = mix(rng, sample, patients)
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
            with _hops() as hops:
                await run_updates(http, sides["arbot"], work, 1, None)
            if profile:
                profiler.disable()
                result_profile = _top(profiler)
            counted.counting = False
        checks = await _check(db, sides["arbot"], fakes["arbot"])
    finally:
        for server in (*servers.values(), *fake_servers):
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
    )


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

    aio.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield hops
    finally:
        aio.Connection._execute = original  # type: ignore[method-assign]


def _top(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(70)
    return out.getvalue()


async def _check(db: Any, side: Side, fake: FakeTelegram) -> str:
    """Every update answered with the patient's balance or menu, every send recorded."""
    from core.patients.outbox import outbox

    sent = [(c.chat_id, str(c.params.get("text", ""))) for c in fake.called("sendMessage")]
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
    if len(texts) != side.sent:
        problems.append(f"{side.sent} updates but {len(texts)} replies")
    if wrong:
        problems.append(f"{len(wrong)} replies are neither a balance nor the menu: {wrong[0]!r}")
    if recorded != side.sent:
        problems.append(f"{side.sent} replies but {recorded} sends recorded in the outbox")
    if problems:
        return "MISMATCH: " + "; ".join(problems)
    return f"ok: {side.sent:,} updates, {len(texts):,} replies, each recorded sent in the outbox"


def _expected(n: int, text: str) -> bool:
    """Patient ``n``'s balance names their own account; 'menu' is answered with help."""
    if "Account A" in text or "Cuenta A" in text:
        return f"A{n:07d}" in text
    return "Type BALANCE" in text or "Escriba SALDO" in text


def print_patient(p: PatientResult) -> None:
    for side, label in ((p.arbot, "arbot  the conversation"), (p.bare, "bare   aiogram handler")):
        print(
            f"  {label}: p95 {side.p95:6.2f} ms (p50 {statistics.median(side.latency_ms):5.2f},"
            f" max {max(side.latency_ms):6.2f})   {side.rate:6,.0f} updates/s with"
            f" {CONCURRENCY} in flight (p95 {side.loaded_p95:6.2f} ms)"
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
        f"  patient bot ({p.database}): p95 {p.arbot.p95:.2f} ms, {p.arbot.rate:,.0f} updates/s"
        f"   bare aiogram p95 {p.bare.p95:.2f} ms, {p.bare.rate:,.0f} updates/s"
        f" (p95 < {P95_TARGET_MS:g} ms: {verdict(p.arbot.p95 < P95_TARGET_MS)},"
        f" >= {RATE_TARGET:g}/s: {verdict(p.arbot.rate >= RATE_TARGET)})"
    )
