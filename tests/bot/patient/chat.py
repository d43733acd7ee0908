"""A patient at the keyboard: drives a conversation turn by turn and keeps what it said.

The transcript tests run through :class:`Chat` in-process (the console's path) and,
with a different ``send``, through the real Telegram and SMS channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.patient.context import PatientContext
from bot.patient.conversation import Conversation
from bot.patient.events import Handler, Inbound
from core.db import Database
from core.ports import OutboundMessage, StaffPost
from core.settings import Settings

SETTINGS = Settings(public_base_url="https://pay.example.org", slack_patient_channel="C0PATIENT")


@dataclass
class Chat:
    conversation: Handler
    channel: str
    address: str
    replies: list[OutboundMessage] = field(default_factory=list)

    async def send(self, text: str = "", **extra: object) -> str:
        inbound = Inbound(self.channel, self.address, text, **extra)  # type: ignore[arg-type]
        self.replies = await self.conversation.handle(inbound)
        return self.text

    async def press(self, choice_id: str) -> str:
        assert choice_id in self.choice_ids, f"{choice_id} not offered: {self.choice_ids}"
        return await self.send(choice=choice_id)

    async def press_starting(self, prefix: str) -> str:
        [match] = [c for c in self.choice_ids if c.startswith(prefix)]
        return await self.press(match)

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    @property
    def choice_ids(self) -> list[str]:
        return [c.id for r in self.replies for c in r.choices]

    @property
    def urls(self) -> list[str]:
        return [c.url for r in self.replies for c in r.choices if c.url]


@dataclass
class StaffChannel:
    """A staff messenger that keeps what it was given (the Slack side has its own fake)."""

    posts: list[StaffPost] = field(default_factory=list)

    async def post(self, message: StaffPost) -> str:
        self.posts.append(message)
        return message.thread or f"1700000000.{len(self.posts):06d}"


@pytest.fixture
def staff() -> StaffChannel:
    return StaffChannel()


@pytest.fixture
def conversation(db: Database, staff: StaffChannel) -> Conversation:
    conv = Conversation()
    conv.bind(PatientContext(db, SETTINGS, conv, staff=staff))
    return conv
