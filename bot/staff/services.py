"""What the Slack listeners are given: the services they work with, by injection.

A global bolt middleware (``bot.staff.app.build_app``) puts one :class:`Services` into
every request's context; listeners take it from there, never from a global.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from core.clock import Clock
from core.db import Database
from core.ledger.aging import AgingRule
from core.ports import PaymentGateway
from core.settings import Settings, aging_rule

SERVICES = "arbot"
"""The key under which listeners find the :class:`Services` in bolt's context."""


class InFlight:
    """Counts listener work that has been acknowledged but not finished."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._beside: set[asyncio.Task[None]] = set()

    @contextmanager
    def track(self) -> Iterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    async def idle(self) -> None:
        """Wait until no work is running."""
        await self._idle.wait()

    def beside(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the current request, counted like it (so that a shutdown
        waits for it), without making the request wait."""
        self._count += 1
        self._idle.clear()

        async def counted() -> None:
            try:
                await work
            finally:
                self._count -= 1
                if not self._count:
                    self._idle.set()

        task = asyncio.create_task(counted())
        self._beside.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._beside.discard)


@dataclass(slots=True)
class Services:
    """What listeners need, handed to them through bolt's context (never a global)."""

    db: Database
    settings: Settings
    locale: str = "en_US"
    work: InFlight = field(default_factory=InFlight)
    patient_reply: Callable[[str, str, str], Awaitable[bool]] | None = None
    """Passes a staff reply (thread ts, message ts, text) back to the patient's chat."""
    gateway: PaymentGateway | None = None
    """The patients' payment gateway: an approved refund goes back to the card."""
    aging: AgingRule = field(init=False)
    """The office's aging rule (AR-194), read from the settings when made, so that a
    wrong ``ARBOT_AGING_*`` stops the process at start."""

    def __post_init__(self) -> None:
        self.aging = aging_rule(self.settings)

    @property
    def clock(self) -> Clock:
        return self.db.clock


def services_of(context: AsyncBoltContext) -> Services:
    services: Services = context[SERVICES]
    return services
