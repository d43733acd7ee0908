"""The payment modal splitting one cheque over several accounts (AR-016, AR-096), driven
as Slack drives it; a part that would leave a credit is refused unless allowed (AR-095),
an unknown account is refused on its field (AR-094), and nothing is posted then."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from tests.bot.staff.approval_helpers import charge
from tests.bot.staff.conftest import Slack, patient
from tests.bot.staff.test_modals import opened, submit, typed
from tests.core.helpers import balance_of, usd
from tests.fakes.slack import command_body

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@pytest.fixture
async def children(db: Database) -> tuple[Account, Account]:
    ana, leo = await patient(db, "López", "Ana"), await patient(db, "López", "Leo")
    await charge(db, ana, "100.00")
    await charge(db, leo, "80.00")
    return ana, leo


async def open_split(slack: Slack, text: str = "payment split", user: str = "U0CLERK") -> Any:
    url = slack.fake.response_url("split")
    await slack.send(command_body(text, user=user, response_url=url))
    return opened(slack)


def cheque(amount: str, *rows: tuple[str, str], credit: bool = False) -> dict[str, Any]:
    values = {
        **typed(ids.PAYMENT_AMOUNT, amount),
        ids.PAYMENT_METHOD: {ids.FIELD: {"type": "static_select",
                                         "selected_option": {"value": "check"}}},
        **typed(ids.PAYMENT_REFERENCE, "cheque 1042"),
        ids.PAYMENT_CREDIT: {ids.FIELD: {"type": "checkboxes", "selected_options":
                                         [{"value": "yes"}] if credit else []}},
    }  # fmt: skip
    for n, (account, part) in enumerate(rows):
        values |= typed(f"{ids.PAYMENT_ACCOUNT}{n}", account)
        values |= typed(f"{ids.PAYMENT_PART}{n}", part)
    return values


async def payments(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(journal_entry.c.entry_type == "PAYMENT")
        return int((await conn.execute(query)).scalar_one())


async def test_one_cheque_pays_two_accounts_once(
    slack: Slack, db: Database, children: tuple[Account, Account]
) -> None:
    ana, leo = children
    view = await open_split(slack)
    assert view["callback_id"] == ids.PAYMENT_MODAL
    assert view["private_metadata"] == "C0BILLING/-"
    values = cheque("150", (ana.number, "90"), (leo.number.lower(), "60.00"))
    assert await submit(slack, "U0CLERK", view, values) is None
    assert await submit(slack, "U0CLERK", view, values) is None  # a double submit
    assert await payments(db) == 2
    assert await balance_of(db, ana.id) == usd("10.00")
    assert await balance_of(db, leo.id) == usd("20.00")
    first, again = slack.fake.called("chat.postEphemeral")
    told = first.body["text"]
    assert "Recorded *$150.00* (cheque 1042) as 2 payments" in told
    assert f"*{ana.number}*  Ana López: $90.00 (T" in told and "new balance *$10.00*" in told
    assert f"*{leo.number}*  Leo López: $60.00 (T" in told and "new balance *$20.00*" in told
    assert "already recorded" in again.body["text"]


@pytest.mark.parametrize(
    ("rows", "block", "error"),
    [
        ((("NOPE99", "90"), ("{leo}", "60")), f"{ids.PAYMENT_ACCOUNT}0", "there is no account"),
        ((("{ana}", "90"), ("{leo}", "50")), f"{ids.PAYMENT_PART}1",
         "the parts add up to 140.00, not to the payment's 150.00"),
        ((("{ana}", "90"), ("{leo}", "6O")), f"{ids.PAYMENT_PART}1", "'6O' is not an amount"),
        ((("{ana}", "90"), ("{ana}", "60")), f"{ids.PAYMENT_ACCOUNT}1", "on another row"),
        ((("{ana}", "90"), ("", "60")), f"{ids.PAYMENT_ACCOUNT}1", "is not an account number"),
        ((), f"{ids.PAYMENT_ACCOUNT}0", "name an account"),
        ((("{ana}", "120"), ("{leo}", "30")), f"{ids.PAYMENT_PART}0",
         "120.00 is more than the 100.00 account"),
    ],
)  # fmt: skip
async def test_bad_rows_are_refused_on_their_field_and_nothing_is_posted(
    slack: Slack,
    db: Database,
    children: tuple[Account, Account],
    rows: tuple[tuple[str, str], ...],
    block: str,
    error: str,
) -> None:
    ana, leo = children
    view = await open_split(slack)
    filled = [(a.format(ana=ana.number, leo=leo.number), p) for a, p in rows]
    answer = await submit(slack, "U0CLERK", view, cheque("150", *filled))
    assert answer is not None and answer["response_action"] == "errors"
    assert error in answer["errors"][block], answer
    assert await payments(db) == 0
    assert slack.fake.called("chat.postEphemeral") == []


async def test_a_credit_is_left_only_when_allowed(
    slack: Slack, db: Database, children: tuple[Account, Account]
) -> None:
    ana, leo = children
    view = await open_split(slack, f"payment split {ana.number}")
    first_row = next(b for b in view["blocks"] if b.get("block_id") == f"{ids.PAYMENT_ACCOUNT}0")
    assert first_row["element"]["initial_value"] == ana.number
    values = cheque("150", (ana.number, "120"), (leo.number, "30"), credit=True)
    assert await submit(slack, "U0CLERK", view, values) is None
    assert await balance_of(db, ana.id) == usd("-20.00")
    assert await balance_of(db, leo.id) == usd("50.00")


async def test_an_account_elsewhere_is_refused_on_its_row(
    slack: Slack, db: Database, children: tuple[Account, Account]
) -> None:
    ana, leo = children
    view = await open_split(slack, user="U0NORTH")  # a clerk of the north location
    answer = await submit(
        slack, "U0NORTH", view, cheque("150", (ana.number, "90"), (leo.number, "60"))
    )
    assert answer is not None
    assert (
        "may not work on accounts of location 'main'"
        in answer["errors"][f"{ids.PAYMENT_ACCOUNT}0"]
    )
    auditor = await open_split(slack, user="U0AUDIT")
    assert "lacks the permission 'record_payment'" in str(auditor["blocks"])
    assert await payments(db) == 0


@pytest.mark.parametrize(
    ("block", "value", "error"),
    [
        (ids.PAYMENT_METHOD, {"type": "static_select", "selected_option": {"value": "bitcoin"}},
         "pick a method: cash, card"),
        (ids.PAYMENT_REFERENCE, {"type": "plain_text_input", "value": "9" * 61},
         "at most 60 characters"),
    ],
)  # fmt: skip
async def test_a_forged_method_or_reference_is_refused_and_nothing_is_posted(
    slack: Slack,
    db: Database,
    children: tuple[Account, Account],
    block: str,
    value: dict[str, Any],
    error: str,
) -> None:
    """Slack's form offers only the methods and 60 characters; a forged submission
    (signed, so from someone holding the secret's app) is checked again."""
    ana, _ = children
    view = await open_split(slack)
    values = cheque("50", (ana.number, "50")) | {block: {ids.FIELD: value}}
    answer = await submit(slack, "U0CLERK", view, values)
    assert answer is not None and answer["response_action"] == "errors"
    assert error in answer["errors"][block], answer
    assert await payments(db) == 0
    assert await balance_of(db, ana.id) == usd("100.00")
