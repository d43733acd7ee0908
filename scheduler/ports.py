"""What the scheduler is given: the ports it sends through and the settings its jobs read.

``bot`` builds a :class:`Ports` with the real messengers (DESIGN: bot wires everything);
tests build one with fakes. Every port may be missing: a job that needs one it was not
given says so in its report and sends nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.dunning import SendingHours
from core.ports import Delivery, OutboundMessage, StaffMessenger
from scheduler.pacing import DEFAULT_RATES, default_hours


class Sender(Protocol):
    """Sends one message to a patient once: the shape of ``bot.patient.outbound.deliver``
    with its database and messengers bound. Returns None when ``dedupe_key`` was
    already claimed (nothing was sent)."""

    def __call__(
        self,
        *,
        channel: str,
        address: str,
        message: OutboundMessage,
        kind: str,
        account_id: int | None = None,
        dedupe_key: str | None = None,
    ) -> Awaitable[Delivery | None]: ...


class Renderer(Protocol):
    """Renders ``templates/patient/<name>.txt.j2`` in the language of ``tag`` (the shape
    of ``bot.patient.texts.say``)."""

    def __call__(self, tag: str | None, name: str, **context: Any) -> str: ...


@dataclass(frozen=True, slots=True)
class Ports:
    send: Sender | None = None
    render: Renderer | None = None
    staff: StaffMessenger | None = None
    channels: frozenset[str] | None = None
    """The channels ``send`` can reach (None: all); reminders for others wait queued."""
    pay_base_url: str = ""
    """Where pay links point (``PUBLIC_BASE_URL``); links are ``<base>/pay/<token>``."""
    currency: str = "USD"
    small_balances: Mapping[str, int] = field(default_factory=dict)
    """Small-balance tolerance in minor units per payer (``self`` for what patients owe),
    AR-055; a payer not listed is never written off automatically."""
    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    hours: SendingHours = field(default_factory=default_hours)
    """Sending hours of every location without its own (``location_hours``)."""
