"""Modals, run the same way whichever one it is.

Opening: Slack's ``trigger_id`` lasts three seconds from the click, so a modal is opened
at once showing "one moment" (``views.open``) and filled in once its content has been
read (``views.update``, :func:`opening`). Whatever stops that (a missing permission, an
unknown account) is shown in the modal itself.

Submitting (:func:`submitting`): the quick checks come first (the fields, who submits,
their permission) and a refusal is shown on the field concerned (``response_action:
errors``). Then the submission is acknowledged, which closes the modal, before anything
is written: Slack wants the answer within three seconds. What the writing did, or why
core refused it, is told ephemerally in the channel the modal came from (or in a direct
message when it came from none).

Errors are worded once, by :func:`bot.staff.turn.refusal`, whichever of the three ways
they are shown. A modal's ``private_metadata`` is ``<channel id or ->/<what it is about>``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.staff import ids
from bot.staff.lookup import account_by_number
from bot.staff.render import message
from bot.staff.services import services_of
from bot.staff.turn import Respond, Turn, refusal, slack_user_of
from bot.staff.words import ParseError
from core.auth import Actor
from core.errors import ArbotError
from core.ledger.accounts import Account, load_account

log = logging.getLogger(__name__)
ERROR_LENGTH = 300
"""Slack truncates a field's error; keep the start, which says what is wrong."""
RESPONSE_ONLY = ("response_type", "replace_original")
"""Keys of a response_url answer that a chat.post* call does not take."""


class Refused(ParseError):
    """Bad input on one field of a modal (``block``): shown on that field."""

    def __init__(self, block: str, text: str) -> None:
        super().__init__(text)
        self.block = block


@contextmanager
def on_field(block: str) -> Iterator[None]:
    """Show a refusal of what is checked inside on ``block`` of the modal."""
    try:
        yield
    except Refused:
        raise
    except (ParseError, ArbotError) as exc:
        raise Refused(block, str(exc)) from None


def metadata(channel: str | None, about: object) -> str:
    return f"{channel or '-'}/{about}"


def metadata_of(view: dict[str, Any]) -> tuple[str | None, str]:
    """The channel the modal came from (``None``: none) and what it is about."""
    channel, _, rest = str(view.get("private_metadata") or "").partition("/")
    return (None if channel in ("", "-") else channel), rest


def channel_of(body: dict[str, Any]) -> str | None:
    """The channel a command was typed in or a button pressed in."""
    found = body.get("channel_id") or (body.get("channel") or {}).get("id")
    return str(found) if found else None


def field(view: dict[str, Any], block: str, element: str = ids.FIELD) -> str:
    """The value of ``element`` in input ``block``, whatever its kind (text, select, date,
    checkbox: the first one ticked)."""
    values = (view.get("state") or {}).get("values") or {}
    found = (values.get(block) or {}).get(element) or {}
    options: list[dict[str, Any]] = found.get("selected_options") or []
    picked = found.get("selected_option") or (options[0] if options else {})
    value = found.get("value") or found.get("selected_date") or picked.get("value")
    return str(value or "").strip()


def telling(client: AsyncWebClient, channel: str | None, user: str) -> Respond:
    """Answers to ``user`` after a modal: ephemerally in ``channel``, else a direct message."""

    async def respond(payload: dict[str, Any]) -> None:
        answer = {k: v for k, v in payload.items() if k not in RESPONSE_ONLY}
        try:
            if channel:
                await client.chat_postEphemeral(channel=channel, user=user, **answer)
            else:
                await client.chat_postMessage(channel=user, **answer)
        except Exception:
            log.exception("could not tell %s the outcome of a modal", user)

    return respond


@dataclass(slots=True)
class Form:
    """An open modal, still to be filled in."""

    turn: Turn
    view_id: str
    title: str

    async def show(self, template: str, **context: Any) -> None:
        view = message(template, self.turn.locale, **context)
        await self.turn.client.views_update(view_id=self.view_id, view=view)

    def about(self, what: object) -> str:
        """The private_metadata of a modal about ``what``, opened where this one was."""
        return metadata(channel_of(self.turn.body), what)

    async def refuse(self, template: str, **context: Any) -> None:
        """Show a message (a refusal, an explanation) in the modal, with only Close."""
        blocks = message(template, self.turn.locale, **context)["blocks"]
        await self.show("modal_message", title=self.title, blocks=blocks)


@asynccontextmanager
async def opening(turn: Turn, title: str) -> AsyncIterator[Form]:
    """Open a modal titled ``title`` at once, for the caller to fill in (``Form.show``);
    what stops the caller is shown in the modal."""
    wait = message("modal_wait", turn.locale, title=title)
    trigger = str(turn.body.get("trigger_id") or "")
    opened = await turn.client.views_open(trigger_id=trigger, view=wait)
    form = Form(turn, str(opened["view"]["id"]), title)
    try:
        yield form
    except Exception as exc:
        said = refusal(exc, turn.slack_user)
        await form.refuse(said.template, **said.context)


Show = Callable[[Form, Actor, Account | None], Awaitable[None]]


async def open_for(
    turn: Turn,
    staff: Actor,
    title: str,
    show: Show,
    *,
    number: str | None = None,
    account_id: int | None = None,
) -> None:
    """Open a modal about the account typed (``number``), pressed (``account_id``) or
    none, and let ``show`` fill it in once the account is read."""
    async with opening(turn, title) as form:
        account = None
        async with turn.db.read() as conn:
            if number is not None:
                account = await account_by_number(conn, number)
            elif account_id is not None:
                account = await load_account(conn, account_id=account_id)
        await show(form, staff, account)


@dataclass(slots=True)
class Submission:
    """A submitted modal: its fields, and the one acknowledgement Slack waits for."""

    turn: Turn
    view: dict[str, Any]
    ack: AsyncAck
    acked: bool = False

    def field(self, block: str, element: str = ids.FIELD) -> str:
        return field(self.view, block, element)

    async def accept(self) -> None:
        """Close the modal: the quick checks passed. Nothing is written before this."""
        if not self.acked:
            self.acked = True
            await self.ack()


@asynccontextmanager
async def submitting(
    context: AsyncBoltContext,
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    first_block: str,
) -> AsyncIterator[Submission]:
    """Run a submission's work. Refused before :meth:`Submission.accept`: shown on the
    field (a :class:`Refused`'s block, else ``first_block``); after: told ephemerally."""
    services = services_of(context)
    with services.work.track():
        user = slack_user_of(body)
        respond = telling(context.client, metadata_of(view)[0], user)
        done = Submission(Turn(services, respond, context.client, body, user), view, ack)
        try:
            yield done
        except Exception as exc:
            said = refusal(exc, user)
            if done.acked:
                await done.turn.reply(said.template, **said.context)
            else:
                block = exc.block if isinstance(exc, Refused) else first_block
                errors = {block: said.line[:ERROR_LENGTH]}
                await ack(response_action="errors", errors=errors)
            return
        await done.accept()
