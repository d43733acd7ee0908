"""Receipts and notices after a gateway posting (AR-023): back to the chat the pay link
came from, in the chat's language, once per payment however often Stripe tells us. A
payment's receipt carries a link to the same receipt as a PDF file.

The send is claimed in the outbox under ``receipt:<entry number>`` before it goes, so a
webhook delivered three times, or two web processes handling it at once, send one.
"""

from __future__ import annotations

from dataclasses import replace

from bot.patient.context import PatientContext
from bot.patient.documents import document_choice
from bot.patient.labels import LABELS, MENU
from bot.patient.outbound import deliver
from bot.patient.texts import label, say
from bot.patient.turn import answerable
from core.clock import today
from core.patients.chatstate import ChatState, StateMovedOn, load_state, save_state
from core.patients.documents import DocumentKind
from core.patients.gateway import GatewayOutcome
from core.patients.summary import patient_account
from core.ports import Choice, OutboundMessage

NOTICES = {"payment": "receipt", "refund": "refund_notice"}
"""Which message each gateway posting sends; a card dispute sends none (the billing
office speaks to the patient about it, not the bot)."""


async def send_receipt(ctx: PatientContext, outcome: GatewayOutcome) -> None:
    template = NOTICES.get(outcome.kind)
    if outcome.reply_to is None or not outcome.first_time or template is None:
        return
    channel, address = outcome.reply_to
    async with ctx.db.read() as conn:
        account = await patient_account(conn, outcome.account_id, today(ctx.db.clock))
        state = await load_state(conn, channel, address)
    language = state.locale or account.language
    text = say(language, template, outcome=outcome, account=account)
    choices = tuple(Choice(c, label(language, LABELS[c])) for c in MENU)
    if outcome.kind == "payment" and outcome.payment_ref is not None:
        pdf = await document_choice(
            ctx,
            DocumentKind.RECEIPT,
            account_id=outcome.account_id,
            ref=outcome.payment_ref,
            language=language,
        )
        # After the menu, which by SMS keeps the numbers 1-5 it always shows.
        choices = (*choices, pdf)
    delivery = await deliver(
        ctx.db,
        ctx.messengers,
        channel=channel,
        address=address,
        message=OutboundMessage(text, choices),
        kind=template,
        account_id=outcome.account_id,
        dedupe_key=f"{template}:{outcome.entry_number or outcome.account_id}",
    )
    if delivery is not None and delivery.ok:  # the patient has the receipt's options
        await _answerable(ctx, channel, address, state, choices)


async def _answerable(
    ctx: PatientContext, channel: str, address: str, state: ChatState, choices: tuple[Choice, ...]
) -> None:
    """Make the receipt's numbered options the ones a number typed next means (SMS): a
    receipt is not a turn of the conversation, so the chat's state still held the last
    turn's. A turn that moved the chat on meanwhile wins (the save is optimistic)."""
    if state.version == 0:
        return
    offered = answerable(state.data, choices)
    try:
        await save_state(ctx.db, channel, address, replace(state, data=offered))
    except StateMovedOn:
        return
