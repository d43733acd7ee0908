"""One turn of the patient conversation: what came in, the state, the replies.

A :class:`Turn` carries the chat's stored state (step and small data), the language the
replies are written in, and the replies so far. Handlers read it, call core, and add
replies through :meth:`Turn.say`; the conversation stores the new state afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.patient.events import Inbound
from bot.patient.labels import LABELS, LANGUAGE_NAMES
from bot.patient.texts import label, language_of, say
from core.patients.chatstate import ChatState
from core.ports import Choice, OutboundMessage


@dataclass(slots=True)
class Turn:
    inbound: Inbound
    state: ChatState
    today: date
    text: str
    """The text with card numbers masked: the only form of it anything may keep."""
    choice: str | None
    language: str
    step: str = "start"
    data: dict[str, Any] = field(default_factory=dict)
    replies: list[OutboundMessage] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return self.inbound.channel

    @property
    def address(self) -> str:
        return self.inbound.address

    def say(
        self,
        template: str,
        *choices: Choice | str,
        ask_contact: bool = False,
        **context: Any,
    ) -> None:
        """Add a reply rendered from ``templates/patient/<template>.txt.j2``; a choice
        given as a string is a menu id with its label from :data:`LABELS`."""
        text = say(self.language, template, **context)
        made = tuple(self.choice_for(c) if isinstance(c, str) else c for c in choices)
        if ask_contact:  # Telegram's contact button, labelled in the patient's language
            made = (self.choice_for("contact"), *made)
        self.replies.append(OutboundMessage(text, made, ask_contact))

    def choice_for(self, choice_id: str, **args: str) -> Choice:
        if choice_id.startswith("lang:"):
            return Choice(choice_id, LANGUAGE_NAMES[choice_id.removeprefix("lang:")])
        name = choice_id.split(":")[0]
        return Choice(choice_id, label(self.language, LABELS[name]).format(**args))

    def go(self, step: str, **data: Any) -> None:
        self.step, self.data = step, dict(data)

    def switch_language(self, tag: str) -> None:
        self.language = language_of(tag)

    def other_language(self) -> str:
        return "lang:es" if self.language == "en" else "lang:en"

    def offered(self) -> tuple[Choice, ...]:
        """The last reply's choices, in the order SMS numbers them."""
        return self.replies[-1].choices if self.replies else ()

    def link_typed(self) -> bool:
        """A typed number that picked a link (an SMS cannot be tapped): say that it is a
        link to open in the message that carried it. The link is not sent again: its
        token was shown once and is not stored (only its hash is), so the chat's state
        does not hold it either. False for any other turn."""
        if self.inbound.choice or self.choice not in (self.state.data.get("links") or ()):
            return False
        self.say("link_typed", "menu")
        return True


def answerable(data: Mapping[str, Any], choices: Sequence[Choice]) -> dict[str, Any]:
    """``data`` with what a number typed next means: ``offered``, the ids of
    ``choices`` in order, and ``links``, the ids of those that are links (never their
    addresses: :meth:`Turn.link_typed`). Without choices, ``data`` as it was."""
    if not choices:
        return dict(data)
    kept = {k: v for k, v in data.items() if k != "links"}
    links = [c.id for c in choices if c.url]
    return {**kept, "offered": [c.id for c in choices], **({"links": links} if links else {})}
