"""The slash command: ``/ar <subcommand> ...``, one listener for every subcommand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from bot.staff import (
    approval_messages,
    approvals,
    books,
    cash,
    collect,
    ids,
    invoices,
    links,
    lookup,
    modals,
    money,
    refunds,
    rejects,
    reports,
    split,
)
from bot.staff.parse import (
    METHODS,
    Atb,
    BadDebt,
    Charge,
    ChargeForm,
    Command,
    Credits,
    Delinquent,
    Dso,
    Find,
    Help,
    Link,
    Payment,
    PaymentForm,
    Refund,
    ReverseWriteOff,
    ShowAccount,
    ShowEntry,
    ShowInvoice,
    Unapplied,
    Waive,
    WriteOff,
    parse,
)
from bot.staff.parse_collect import Assign, FollowUp, ShowRejects, ShowWorklist
from bot.staff.parse_reports import (
    ShowCollections,
    ShowGl,
    ShowJournal,
    ShowServices,
    ShowStatus,
)
from bot.staff.turn import Turn, answering
from core.auth import Actor


def register(app: AsyncApp) -> None:
    app.command(ids.COMMAND)(on_ar)


async def on_ar(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    async with answering(context, ack, respond, body) as turn:
        arrived = turn.services.clock.now()
        unsent = approval_messages.post_unsent(turn.services, turn.client, arrived)
        turn.services.work.beside(unsent)
        staff = await turn.staff()
        command = parse(body.get("text") or "", turn.services.settings.currency)
        await SUBCOMMANDS[type(command)](turn, staff, command)


async def show_help(turn: Turn, staff: Actor, cmd: Help) -> None:
    await turn.reply("help", methods=METHODS)


SUBCOMMANDS: dict[type[Command], Callable[[Turn, Actor, Any], Awaitable[None]]] = {
    Help: show_help,
    Find: lookup.find,
    ShowAccount: lookup.show_account,
    ShowInvoice: invoices.show_invoice,
    ShowEntry: invoices.show_entry,
    Charge: money.charge,
    ChargeForm: modals.open_charge,
    Payment: money.payment,
    PaymentForm: split.open_payment,
    Atb: reports.atb,
    Unapplied: cash.unapplied,
    Credits: cash.credits,
    Delinquent: cash.delinquent,
    BadDebt: reports.bad_debt,
    Dso: reports.dso,
    Link: links.link,
    WriteOff: approvals.write_off,
    ReverseWriteOff: approvals.reverse_write_off,
    Refund: refunds.refund,
    Waive: money.waive,
    Assign: collect.assign,
    FollowUp: collect.follow_up,
    ShowWorklist: collect.show_worklist,
    ShowRejects: rejects.show_rejects,
    ShowJournal: books.show_journal,
    ShowStatus: books.show_status,
    ShowCollections: books.show_collections,
    ShowGl: books.show_gl,
    ShowServices: books.show_services,
}
