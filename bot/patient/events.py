"""What a patient channel hands the conversation, and what it gets back.

Telegram, SMS and the console each turn what arrived into an :class:`Inbound` and
render the :class:`~core.ports.OutboundMessage` replies their own way (inline
keyboard, numbered options, a prompt). The conversation never sees which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.ports import Choice, OutboundMessage

__all__ = ["Choice", "Handler", "Inbound", "OutboundMessage"]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing the patient did.

    ``channel`` is the identity channel (``telegram`` or ``sms``; the console speaks as
    SMS from the phone it was given) and ``address`` the chat id or E.164 number.
    ``choice`` is the id of a :class:`Choice` pressed (Telegram) or picked by number
    (SMS, resolved by the adapter from the options last offered). ``contact_phone`` is
    set only when the patient shared their *own* phone number (the adapter checks).
    """

    channel: str
    address: str
    text: str = ""
    choice: str | None = None
    contact_phone: str | None = None
    contact_not_own: bool = False


class Handler(Protocol):
    """The conversation as the channels see it: one inbound event in, replies out."""

    async def handle(self, inbound: Inbound) -> list[OutboundMessage]: ...
