"""The patient bot benchmark's other process: the load client and the fake Bot APIs.

:mod:`benchmarks.patient` runs the bots (arbot's web app and the bare aiogram handler)
in its own process and starts this one beside it (``python -m benchmarks.patient_load``),
so that the bots' process does only the bots' work and its CPU is what is measured.
Here run the fake Bot API of each side (``tests.fakes.telegram`` on 127.0.0.1, noting
when each ``sendMessage`` arrived) and the HTTP client that POSTs Telegram updates to
the bots' ``/telegram/webhook``.

The two processes talk in JSON lines over this one's stdin and stdout. This process
first says where its fakes listen (``{"fakes": {side: base}}``); then it answers each
command with one line:

* ``{"op": "run", "side", "url", "updates": [[patient, kind], ...], "concurrency"}``:
  POSTs the updates with ``concurrency`` in flight and answers ``{"seconds", "ms"}``,
  the wall time and each update's latency (from the POST to its ``sendMessage``
  reaching the fake). An update without its ``sendMessage``, or answered other than
  200, answers ``{"error"}``.
* ``{"op": "sent", "side"}``: ``{"updates", "replies": [[chat, text], ...]}``, how many
  updates the side was sent and every ``sendMessage`` its fake received.
* ``{"op": "quit"}``: closes the fakes and exits.

:class:`LoadProcess` is the bots' side of it: it starts this process and sends it the
commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from benchmarks.patient_data import CHAT_BASE
from tests.fakes.telegram import FakeTelegram, callback_update, message_update

SIDES = ("arbot", "bare")
SECRET = "bench-webhook-secret-0123456789"
WEBHOOK = "/telegram/webhook"
MENU_KEYBOARD = [
    [{"text": label, "callback_data": f"c|{choice}"}]
    for label, choice in (("Balance", "balance"), ("Pay", "pay"), ("Statement", "statement"))
]


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each ``sendMessage`` arrived, by chat."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}
        self.updates = 0

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        self.arrived.setdefault(str(params.get("chat_id", "")), time.perf_counter())
        return await super()._sendMessage(params)


def update(n: int, kind: str) -> dict[str, Any]:
    chat = CHAT_BASE + n
    if kind == "button":
        return callback_update(chat, "c|balance", keyboard=MENU_KEYBOARD)
    return message_update(chat, kind)


async def _one(
    http: aiohttp.ClientSession, url: str, fake: TimedTelegram, n: int, kind: str
) -> float:
    chat = str(CHAT_BASE + n)
    began = time.perf_counter()
    async with http.post(
        url + WEBHOOK, json=update(n, kind), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"the webhook answered {response.status}")
    fake.updates += 1
    arrived = fake.arrived.pop(chat, None)
    if arrived is None:
        raise RuntimeError(f"no sendMessage for a {kind!r} update")
    return (arrived - began) * 1000


async def run_updates(
    http: aiohttp.ClientSession,
    url: str,
    fake: TimedTelegram,
    updates: list[list[Any]],
    concurrency: int,
) -> tuple[float, list[float]]:
    """Send ``updates`` with ``concurrency`` in flight: the seconds it took and each
    update's latency in ms."""
    queue = list(reversed(updates))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            n, kind = queue.pop()
            latencies.append(await _one(http, url, fake, n, kind))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies


class LoadProcess:
    """The load client and the fake Bot APIs in a process of their own
    (:mod:`benchmarks.patient_load`), driven by one JSON line per command."""

    def __init__(self, proc: asyncio.subprocess.Process, fakes: dict[str, str]) -> None:
        self.proc = proc
        self.fakes = fakes
        """Each side's fake Bot API base URL."""

    @classmethod
    async def start(cls) -> LoadProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.patient_load",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,  # the replies' texts come back in one line
        )
        load = cls(proc, {})
        load.fakes = (await load._answer())["fakes"]
        return load

    async def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load process ended early (see its error above)")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        return await self._answer()

    async def run(
        self, side: str, url: str, updates: list[tuple[int, str]], concurrency: int
    ) -> tuple[float, list[float]]:
        """Send ``updates`` to ``side``'s bot at ``url`` with ``concurrency`` in flight:
        the seconds it took and each update's latency (ms)."""
        answer = await self.ask(
            op="run", side=side, url=url, updates=updates, concurrency=concurrency
        )
        return float(answer["seconds"]), [float(ms) for ms in answer["ms"]]

    async def close(self) -> None:
        if self.proc.returncode is not None:
            return
        assert self.proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.proc.stdin.write(b'{"op": "quit"}\n')
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main() -> None:
    fakes = {side: TimedTelegram() for side in SIDES}
    servers = []
    for fake in fakes.values():
        server = TestServer(fake.app(), host="127.0.0.1", port=0)
        await server.start_server()
        fake.base = str(server.make_url("")).rstrip("/")
        servers.append(server)
    _say({"fakes": {side: fake.base for side, fake in fakes.items()}})
    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                command = json.loads(line)
                if command["op"] == "quit":
                    break
                fake = fakes[command["side"]]
                if command["op"] == "sent":
                    calls = fake.called("sendMessage")
                    replies = [(c.chat_id, c.params.get("text", "")) for c in calls]
                    _say({"updates": fake.updates, "replies": replies})
                    continue
                try:
                    seconds, ms = await run_updates(
                        http, command["url"], fake, command["updates"], command["concurrency"]
                    )
                except RuntimeError as exc:
                    _say({"error": f"{command['side']}: {exc}"})
                else:
                    _say({"seconds": seconds, "ms": ms})
    finally:
        for server in servers:
            await server.close()


if __name__ == "__main__":
    asyncio.run(main())
