"""The permission matrix (issue 4): every ``/ar`` subcommand and button that changes or
reveals something, as every staff role and as staff limited to another location.

What each cell expects comes from ``core.auth.ROLE_PERMISSIONS`` and :data:`NEEDS`
below, written down once, never from running the app: allowed, the action happens;
refused, one ephemeral reply names the missing permission (or the location rule) and
nothing is written (ledger, approval requests, link codes, allocations, audit trail).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from bot.staff.lookup import Where
from core.approvals import request_refund, request_write_off
from core.approvals.tables import approval_request
from core.auth import ROLE_PERMISSIONS, Actor, Permission, StaffRole, add_staff, load_staff
from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.db.audit import audit_log
from core.ledger.accounts import Account
from core.ledger.posting import load_entry
from core.ledger.tables import allocation, journal_entry
from core.links import link_code
from core.services.held import hold_payment
from core.services.memos import post_memo
from core.services.payments import record_payment
from core.services.writeoffs import write_off
from core.worklists import collector_assignment, flag_follow_up, follow_up
from tests.bot.staff.approval_helpers import DAY, charge, more_staff
from tests.bot.staff.conftest import USERS, Slack, patient, text_of
from tests.core.dunning_helpers import owes
from tests.core.helpers import ADMIN, usd
from tests.core.reports.test_baddebt_history import send
from tests.fakes.slack import Call, action_body, action_payload

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
P = Permission
HOME = "main"  # every account acted on is at this location

WHO = {
    **{slack_id: (role, locations) for slack_id, (_, role, locations) in USERS.items()},
    "U0MANAGER": ("manager", ()),  # from approval_helpers.more_staff
    "U0NSUP": ("supervisor", ("north",)),  # every permission a request needs, elsewhere
}
"""Who acts: Slack user -> (role, locations); one of each role, and two limited to north."""
NAMES = dict(
    zip(WHO, ("Alder", "Birch", "Cedar", "Dunn", "Elmer", "Finch", "Gable", "Hazel"), strict=True)
)


@dataclass(frozen=True, slots=True)
class Target:
    account: Account
    last: str  # the patient's last name, for find and lists
    arg: str  # what the command or button names: an account, an entry, a request


Setup = Callable[[Database, Account, str], Awaitable[str]]
Act = Callable[[Slack, Target, str], Awaitable[list[Call]]]
Done = Callable[[dict[str, int], list[Call], Slack, Target], bool]


@dataclass(frozen=True, slots=True)
class Case:
    needs: tuple[Permission, ...]
    act: Act
    done: Done
    setup: Setup | None = None
    credit: bool = False  # the account is in credit (a prepayment) rather than owing
    filters: bool = False  # a list: other locations' accounts are left out, not refused
    modal: bool = False  # opens a modal at once: a refusal is shown in it


def expected(slack_id: str, case: Case) -> str | None:
    """The refusal ``slack_id`` should get for ``case`` (``None``: allowed)."""
    role, locations = WHO[slack_id]
    for permission in case.needs:
        if permission not in ROLE_PERMISSIONS[StaffRole(role)]:
            return f"lacks the permission '{permission.value}'"
    if locations and HOME not in locations and not case.filters:
        return f"may not work on accounts of location '{HOME}'"
    return None


# Setups: what a cell needs beyond the account, made through core as someone else.
async def requester(db: Database) -> Actor:
    async with db.read() as conn:
        return await load_staff(conn, slack_user_id="U0SUPER2")


async def account_id(db: Database, account: Account, user: str) -> str:
    return str(account.id)


async def write_off_request(db: Database, account: Account, user: str) -> str:
    asked = await request_write_off(db, await requester(db), account_id=account.id,
                                    amount=usd("35"), reason="CHARITY", note="hardship",
                                    key=f"wo-{account.id}")  # fmt: skip
    return str(asked.id)


async def refund_request(db: Database, account: Account, user: str) -> str:
    asked = await request_refund(db, await requester(db), account_id=account.id,
                                 amount=usd("20"), reason="CREDIT_BALANCE", note="overpaid",
                                 key=f"rf-{account.id}", on=DAY)  # fmt: skip
    return str(asked.id)


async def posted_write_off(db: Database, account: Account, user: str) -> str:
    [entry] = await write_off(db, ADMIN, account_id=account.id, key=f"wo-{account.id}", on=DAY,
                              reason="CHARITY", note="hardship", amount=usd("10"))  # fmt: skip
    return f"T{entry.id:08d}"


async def posted_charge(db: Database, account: Account, user: str) -> str:
    return f"T{int(await charge_entry_id(db, account, user)):08d}"


async def charge_entry_id(db: Database, account: Account, user: str) -> str:
    invoice = await post_charges(db, ADMIN, account_id=account.id, key=f"inv-{account.id}",
                                 bill_date=DAY, lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    return str(invoice.entry.id)


async def sent_to_bad_debt(db: Database, account: Account, user: str) -> str:
    """The account's old debt written off to bad debt, as the nightly job does."""
    await owes(db, account, "300.00", 200)
    await send(db, account)
    return ""


async def held_payment(db: Database, account: Account, user: str) -> str:
    """A payment that would leave a credit, waiting for its asker's Confirm: held while
    they could record payments (someone without the permission cannot hold one), so the
    Confirm is what meets their role as it is now."""
    async with db.read() as conn:
        who = await load_staff(conn, slack_user_id=user)
    then = dataclasses.replace(who, role=StaffRole.ADMIN, locations=None)
    token = uuid.uuid4().hex
    await hold_payment(db, then, token=token, key=f"slack/payment/{token}", account_id=account.id,
                       amount=usd("500"), method="cash", source="slack")  # fmt: skip
    return token


async def owed_cash(db: Database, account: Account, user: str) -> str:
    await post_charges(db, ADMIN, account_id=account.id, key=f"c-{account.id}", bill_date=DAY,
                       lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    async with db.read() as conn:  # the Apply button names the payment (see target_for)
        payment = await load_entry(conn, key=f"pay-{account.id}")
    return f"{account.id}/{payment.id}"


# Acts: a command or a button press, signed, from the acting user.
def command(text: str) -> Act:
    async def act(slack: Slack, target: Target, user: str) -> list[Call]:
        words = text.format(n=target.account.number, arg=target.arg, name=target.last)
        return [await slack.command(words, user=user)]

    return act


def button(action_id: str, value: Callable[[Target], str] = lambda t: t.arg) -> Act:
    async def act(slack: Slack, target: Target, user: str) -> list[Call]:
        before = len(slack.fake.replies)
        url = slack.fake.response_url(f"perm{uuid.uuid4().hex}")
        response = await slack.send(action_body(action_id, value(target), user=user,
                                                response_url=url))  # fmt: skip
        assert response.status == 200
        return slack.fake.replies[before:]

    return act


async def late_fee(db: Database, account: Account, user: str) -> str:
    fee = await post_memo(db, ADMIN, memo_type="FINANCE_CHARGE", account_id=account.id,
                          amount=usd("15"), on=DAY, key=f"fee-{account.id}", reason="LATE_FEE",
                          note="late fee")  # fmt: skip
    return fee.number


async def flagged(db: Database, account: Account, user: str) -> str:
    """Someone else's follow-up (the admin's): closing or snoozing it takes
    ``manage_accounts`` (its owner may too: tests/bot/staff/test_worklist.py)."""
    flag = await flag_follow_up(db, ADMIN, account_id=account.id, due=date(2026, 6, 30),
                                note="call", key=f"flag-{account.id}")  # fmt: skip
    return str(flag.id)


def pick_option(action_id: str) -> Act:
    """An option picked in a static select: its value is the target's ``arg``."""

    async def act(slack: Slack, target: Target, user: str) -> list[Call]:
        before = len(slack.fake.replies)
        url = slack.fake.response_url(f"perm{uuid.uuid4().hex}")
        payload = action_payload(action_id, "", user=user, response_url=url)
        payload["actions"] = [{"action_id": action_id, "block_id": "b2", "type": "static_select",
                               "selected_option": {"value": target.arg}}]  # fmt: skip
        response = await slack.send(urlencode({"payload": json.dumps(payload)}))
        assert response.status == 200
        return slack.fake.replies[before:]

    return act


def modal(action_id: str) -> Act:
    """A button that opens a modal: the modal opens at once and then shows either its
    content or the refusal, which are what the presser reads (as replies, here)."""

    async def act(slack: Slack, target: Target, user: str) -> list[Call]:
        before = len(slack.fake.called("views.update"))
        replies = await button(action_id)(slack, target, user)
        shown = [c.json("view") for c in slack.fake.called("views.update")[before:]]
        return replies + [Call("views.update", view, {}) for view in shown]

    return act


# Done: how a cell shows the action happened.
def grew(table: str) -> Done:
    return lambda delta, replies, slack, target: delta[table] > 0


def shows(what: str) -> Done:
    def done(delta: dict[str, int], replies: list[Call], slack: Slack, target: Target) -> bool:
        wanted = {"number": target.account.number}.get(what, what)
        return len(replies) == 1 and wanted in text_of(replies[0])

    return done


def modal_shown(callback_id: str) -> Done:
    def done(delta: dict[str, int], replies: list[Call], slack: Slack, target: Target) -> bool:
        return len(replies) == 1 and replies[0].body.get("callback_id") == callback_id

    return done


def older(target: Target) -> str:
    return Where(target.account.id).value(page=1)


NEEDS: dict[str, Case] = {
    "find": Case((P.VIEW_ACCOUNTS,), command("find {name}"), shows(""), filters=True),
    "account": Case((P.VIEW_ACCOUNTS,), command("account {n}"), shows("number")),
    "invoice": Case((P.VIEW_ACCOUNTS,), command("invoice {arg}"), shows("number"), posted_charge),
    "entry": Case((P.VIEW_ACCOUNTS,), command("entry {arg}"), shows("number"), posted_charge),
    "charge": Case((P.POST_CHARGE,), command("charge {n} CONS"), grew("journal")),
    "payment": Case((P.RECORD_PAYMENT,), command("payment {n} 5 cash"), grew("journal")),
    "writeoff": Case(
        (P.REQUEST_WRITE_OFF,), command("writeoff {n} 35 CHARITY hardship"), grew("requests")
    ),
    "writeoff reverse": Case(
        (P.REQUEST_WRITE_OFF,),
        command("writeoff reverse {arg} KEYING_ERROR wrong account"),
        grew("requests"),
        posted_write_off,
    ),
    "waive": Case(
        (P.REVERSE_ENTRY,), command("waive {arg} ADMIN first time"), grew("journal"), late_fee
    ),
    "assign": Case((P.MANAGE_ACCOUNTS,), command("assign {n} U0CLERK"), grew("assignments")),
    "followup": Case((P.FOLLOW_UP,), command("followup {n} +1 call back"), grew("flags")),
    "refund": Case(
        (P.REQUEST_REFUND,),
        command("refund {n} 20 CREDIT_BALANCE overpaid"),
        grew("requests"),
        credit=True,
    ),
    "atb": Case((P.VIEW_REPORTS,), command(f"atb --location {HOME}"), shows("Total")),
    "journal": Case((P.VIEW_REPORTS,), command(f"journal --location {HOME}"), shows("Journal")),
    "status": Case((P.VIEW_REPORTS,), command(f"status --location {HOME}"), shows("A/R status")),
    "collections": Case(
        (P.VIEW_REPORTS,), command(f"collections --location {HOME}"), shows("Collections")
    ),
    "gl": Case((P.VIEW_REPORTS,), command("gl"), shows("General ledger")),
    "rejects": Case((P.VIEW_REPORTS,), command("rejects"), shows("Rejected import rows")),
    "services": Case(
        (P.VIEW_REPORTS,), command(f"services --location {HOME}"), shows("Services billed")
    ),
    "dso": Case((P.VIEW_REPORTS,), command(f"dso --location {HOME}"), shows("Days in A/R")),
    "unapplied": Case(
        (P.VIEW_ACCOUNTS,), command("unapplied"), shows(""), credit=True, filters=True
    ),
    "credits": Case((P.VIEW_ACCOUNTS,), command("credits"), shows(""), credit=True, filters=True),
    "baddebt": Case(
        (P.VIEW_ACCOUNTS,), command("baddebt"), shows("Bad debt"), sent_to_bad_debt, filters=True
    ),
    "delinquent": Case(
        (P.VIEW_ACCOUNTS,), command("delinquent --over 0"), shows(""), filters=True
    ),
    "link": Case((P.MANAGE_ACCOUNTS,), command("link {n}"), grew("codes")),
    "View": Case((P.VIEW_ACCOUNTS,), button(ids.VIEW_ACCOUNT), shows("number"), account_id),
    "Open an invoice": Case(
        (P.VIEW_ACCOUNTS,), pick_option(ids.ACCOUNT_INVOICE), shows("number"), charge_entry_id
    ),
    "Open an entry": Case(
        (P.VIEW_ACCOUNTS,), pick_option(ids.ACCOUNT_ENTRY), shows("number"), charge_entry_id
    ),
    "Open the invoice": Case(
        (P.VIEW_ACCOUNTS,), button(ids.ENTRY_INVOICE), shows("number"), charge_entry_id
    ),
    "account paging": Case(
        (P.VIEW_ACCOUNTS,), button(ids.ACCOUNT_OLDER, older), shows("number"), account_id
    ),
    "payment Confirm": Case(
        (P.RECORD_PAYMENT,), button(ids.CONFIRM_PAYMENT), grew("journal"), held_payment
    ),
    "Approve write-off": Case(
        (P.APPROVE_WRITE_OFF,), button(ids.APPROVE_REQUEST), grew("journal"), write_off_request
    ),
    "Approve refund": Case(
        (P.REFUND,), button(ids.APPROVE_REQUEST), grew("journal"), refund_request, credit=True
    ),
    "Reject": Case(
        (P.APPROVE_WRITE_OFF,),
        modal(ids.REJECT_REQUEST),
        modal_shown(ids.REJECT_MODAL),
        write_off_request,
        modal=True,
    ),
    **{
        f"account view: {name}": Case(
            (needs,), modal(action_id), modal_shown(callback_id), account_id, modal=True
        )
        for name, needs, action_id, callback_id in (
            ("Post charge", P.POST_CHARGE, ids.ACCOUNT_CHARGE, ids.CHARGE_MODAL),
            ("Record payment", P.RECORD_PAYMENT, ids.ACCOUNT_PAYMENT, ids.PAYMENT_MODAL),
            ("Request write-off", P.REQUEST_WRITE_OFF, ids.ACCOUNT_WRITEOFF, ids.WRITEOFF_MODAL),
            ("Edit details", P.MANAGE_ACCOUNTS, ids.ACCOUNT_DETAILS, ids.DETAILS_MODAL),
        )
    },
    "follow-up Done": Case(
        (P.MANAGE_ACCOUNTS,), button(ids.FOLLOW_UP_DONE), shows("Done: the follow-up"), flagged
    ),
    "follow-up Snooze": Case(
        (P.MANAGE_ACCOUNTS,), button(ids.FOLLOW_UP_SNOOZE), shows("Snoozed the follow-up"), flagged
    ),
    "Apply": Case(
        (P.APPLY_CASH,), button(ids.APPLY_UNAPPLIED), grew("allocations"), owed_cash, credit=True
    ),
}
"""Action -> the permissions it needs, as the issue and core's services define them."""

TABLES = {"journal": journal_entry, "requests": approval_request, "codes": link_code,
          "allocations": allocation, "audit": audit_log, "assignments": collector_assignment,
          "flags": follow_up}  # fmt: skip


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {
            name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for name, t in TABLES.items()
        }


@pytest.fixture
async def people(db: Database) -> None:
    await more_staff(db)
    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Nick North", role="supervisor", locations=["north"],
                        slack_user_id="U0NSUP")  # fmt: skip


async def target_for(db: Database, case: Case, user: str) -> Target:
    """A fresh account at HOME for one cell, so no cell depends on another."""
    account = await patient(db, NAMES[user], "Pat", location=HOME)
    if case.credit:
        await record_payment(db, ADMIN, account_id=account.id, amount=usd("100"),
                             received_on=DAY, key=f"pay-{account.id}", method="cash")  # fmt: skip
    else:
        await charge(db, account, "80.00")
        await charge(db, account, "120.00")
    return Target(account, NAMES[user], await case.setup(db, account, user) if case.setup else "")


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("action", list(NEEDS))
async def test_each_role_gets_exactly_what_its_permissions_allow(
    slack: Slack, db: Database, action: str
) -> None:
    case = NEEDS[action]
    wrong: list[str] = []
    for user in WHO:
        target = await target_for(db, case, user)
        opened = len(slack.fake.called("views.open"))
        before = await counts(db)
        replies = await case.act(slack, target, user)
        after = await counts(db)
        delta = {name: after[name] - before[name] for name in after}
        delta["modals"] = len(slack.fake.called("views.open")) - opened - case.modal
        shown = [text_of(r) for r in replies]
        refusal = expected(user, case)
        cell = f"{action} as {user} ({'/'.join(map(str, WHO[user]))})"
        if refusal is not None:
            if len(shown) != 1 or refusal not in shown[0] or any(delta.values()):
                wrong.append(f"{cell}: want refusal {refusal!r}, got {shown} {delta}")
            continue
        if not case.done(delta, replies, slack, target):
            wrong.append(f"{cell}: want it done, got {shown} {delta}")
        elif case.filters:
            hidden = WHO[user][1] and HOME not in WHO[user][1]
            if hidden == (target.account.number in shown[0]):
                wrong.append(
                    f"{cell}: the other location's account {'shown' if hidden else 'hidden'}"
                )
    assert not wrong, "\n".join(wrong)
