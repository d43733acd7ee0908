"""One request from Slack, handled the same way by every listener.

``answering`` acknowledges at once, then gives the listener a :class:`Turn`: the
services, the staff user behind the Slack user, an idempotency key for what the
request posts, and ``reply``. Whatever goes wrong becomes one ephemeral message:
an unknown Slack user is politely refused, a command that does not parse or that
core refuses (a missing permission, an unknown account) is shown as it is, and
anything unexpected is logged with a reference the person can quote. Nobody sees
a stack trace.

Idempotency: Slack gives each slash command and each button press a ``trigger_id``,
and sends the same one again when it retries a request (``X-Slack-Retry-Num``). A
posting's key is a digest of the workspace and that trigger id, so a retried
``/ar charge`` posts once. Without a trigger id the digest is of the whole request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.staff.render import message
from bot.staff.services import Services, services_of
from bot.staff.words import ParseError
from core.auth import Actor, load_staff
from core.db import Database
from core.errors import ArbotError, NotFound

log = logging.getLogger(__name__)


class UnknownStaff(Exception):
    """The Slack user is not mapped to an active arbot staff user."""


def request_digest(body: dict[str, Any]) -> str:
    """The same for a request and Slack's retries of it; different for every other."""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    trigger = body.get("trigger_id")
    basis = f"{team}/{trigger}" if trigger else json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def slack_user_of(body: dict[str, Any]) -> str:
    """Who sent it: ``user_id`` on a slash command, ``user.id`` on a button press."""
    return str(body.get("user_id") or (body.get("user") or {}).get("id") or "")


Respond = Callable[[dict[str, Any]], Awaitable[Any]]
"""Where a turn's ephemeral answers go: bolt's ``respond`` (the request's response_url),
or a post to the channel a modal came from (:func:`bot.staff.forms.telling`)."""


@dataclass(slots=True)
class Turn:
    services: Services
    respond: Respond
    client: AsyncWebClient
    body: dict[str, Any]
    slack_user: str

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def locale(self) -> str:
        return self.services.locale

    async def staff(self) -> Actor:
        async with self.db.read() as conn:
            try:
                return await load_staff(conn, slack_user_id=self.slack_user)
            except NotFound:
                raise UnknownStaff(self.slack_user) from None

    def key(self, kind: str) -> str:
        """The idempotency key for the ``kind`` of posting this request makes."""
        return f"slack/{kind}/{request_digest(self.body)}"

    async def reply(self, template: str, *, replace: bool = False, **context: Any) -> None:
        """Answer only the person who asked (ephemeral), from ``templates/slack/``."""
        payload = message(template, self.locale, **context)
        payload["response_type"] = "ephemeral"
        if replace:
            payload["replace_original"] = True
        await self.respond(payload)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a person is told when their request stops: a message (``template`` with its
    ``context``), and the same in one ``line`` for a modal's field."""

    template: str
    context: dict[str, Any]
    line: str


def refusal(exc: BaseException, slack_user: str) -> Refusal:
    """The one place that decides what a stopped request tells its sender: an unknown
    Slack user is politely refused, a parse error or core's refusal is shown as it is,
    and anything unexpected is logged with a reference the person can quote."""
    if isinstance(exc, UnknownStaff):
        line = "arbot does not know your Slack user; ask an administrator"
        return Refusal("unknown_user", {"slack_user": slack_user}, line)
    if isinstance(exc, (ParseError, ArbotError)):
        return Refusal("error", {"error": str(exc)}, str(exc))
    reference = uuid.uuid4().hex[:8]
    log.error("Slack request failed (reference %s)", reference, exc_info=exc)
    line = f"something went wrong; quote reference {reference}"
    return Refusal("failure", {"reference": reference}, line)


@asynccontextmanager
async def answering(
    context: AsyncBoltContext, ack: AsyncAck, respond: Respond, body: dict[str, Any]
) -> AsyncIterator[Turn]:
    """Acknowledge at once, then run the listener's work as a :class:`Turn`; whatever
    stops it is told to the sender ephemerally (:func:`refusal`)."""
    services = services_of(context)
    with services.work.track():
        await ack()
        turn = Turn(services, respond, context.client, body, slack_user_of(body))
        try:
            yield turn
        except Exception as exc:
            said = refusal(exc, turn.slack_user)
            await turn.reply(said.template, **said.context)
