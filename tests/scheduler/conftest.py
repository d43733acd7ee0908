"""A patient messenger that keeps what was "sent" (STYLE: fakes, not mocks), behind the
real outbox (``bot.patient.outbound.deliver``) and the real templates
(``bot.patient.texts.say``), and the scheduler's ports built over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from bot.patient.outbound import deliver
from bot.patient.texts import say
from core.clock import FixedClock
from core.db import Database
from core.dunning import SendingHours
from core.ports import Delivery, OutboundMessage
from scheduler.ports import Ports

NEW_YORK = ZoneInfo("America/New_York")
FAST = {"sms": 1000.0, "telegram": 1000.0}


@dataclass
class Sent:
    channel: str
    address: str
    text: str


@dataclass
class FakeMessenger:
    """Keeps every message; ``fail`` maps an address to the failure to answer with;
    ``crash_after`` kills the process (SystemExit) at that many sends."""

    sent: list[Sent] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)
    crash_after: int | None = None

    async def send(self, channel: str, address: str, message: OutboundMessage) -> Delivery:
        if self.crash_after is not None and len(self.sent) >= self.crash_after:
            raise SystemExit("killed mid-run")
        if address in self.fail:
            return Delivery(ok=False, failure=self.fail[address], detail="fake failure")
        self.sent.append(Sent(channel, address, message.text))
        return Delivery(ok=True, provider_ref=f"fake-{len(self.sent)}")

    def to(self, address: str) -> list[str]:
        return [s.text for s in self.sent if s.address == address]


def ports_for(db: Database, messenger: FakeMessenger, **overrides: object) -> Ports:
    values: dict[str, object] = {
        "send": partial(deliver, db, {"telegram": messenger, "sms": messenger}),
        "render": say,
        "pay_base_url": "https://clinic.example",
        "rates": FAST,
        "hours": SendingHours(NEW_YORK),
        "small_balances": {"self": 100},
    }
    values.update(overrides)
    return Ports(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FixedClock:
    """Tuesday 30 June 2026, 10:00 in New York: within sending hours."""
    return FixedClock(datetime(2026, 6, 30, 14, 0, tzinfo=UTC))


@pytest.fixture
def messenger() -> FakeMessenger:
    return FakeMessenger()
