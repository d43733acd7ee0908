"""The account view's "Edit details" (AR-007, AR-039): the patient's details changed in
a modal apply at once, each field is checked on its own and refused on its field, and
the date of birth is never repeated into a channel or the audit trail's text."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.staff import ids
from core.db import Database
from core.db.audit import audit_log
from core.ledger.accounts import Account
from core.ledger.tables import customer_account
from core.profile.demographics import update_customer
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.bot.staff.test_modals import opened, submit, typed
from tests.core.helpers import ADMIN
from tests.fakes.slack import action_body

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
BORN = date(1980, 4, 12)


@pytest.fixture
async def ana(db: Database) -> Account:
    return await patient(db, "Lopez", "Ana", date_of_birth=BORN, language="es")


async def open_details(slack: Slack, account: Account, user: str) -> dict[str, Any]:
    url = slack.fake.response_url(f"d{time.time_ns()}")
    await slack.send(action_body(ids.ACCOUNT_DETAILS, str(account.id), user=user,
                                 response_url=url))  # fmt: skip
    return opened(slack)


def filled(view: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The modal's values as Slack sends them: what it showed, with ``changes``."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element, block_id = block.get("element") or {}, block.get("block_id")
        if block_id is None:
            continue
        shown = changes.get(block_id, element.get("initial_value") or element.get(
            "initial_date") or (element.get("initial_option") or {}).get("value"))  # fmt: skip
        kind = element["type"]
        if kind == "datepicker":
            state = {"type": kind, "selected_date": shown}
        elif kind == "static_select":
            state = {"type": kind, "selected_option": {"value": shown} if shown else None}
        else:
            state = {"type": kind, "value": shown}
        values[block_id] = {ids.FIELD: state}
    return values


async def row_of(db: Database, account: Account) -> Any:
    async with db.read() as conn:
        found = await conn.execute(
            select(customer_account).where(customer_account.c.id == account.id)
        )
        return found.one()


async def test_details_saved_apply_at_once(slack: Slack, db: Database, ana: Account) -> None:
    view = await open_details(slack, ana, "U0BILLER")
    assert view["callback_id"] == ids.DETAILS_MODAL
    assert view["private_metadata"] == f"C0BILLING/{ana.id}"
    shown = filled(view)
    assert shown[ids.DETAILS_LAST][ids.FIELD]["value"] == "Lopez"
    assert shown[ids.DETAILS_BORN][ids.FIELD]["selected_date"] == "1980-04-12"
    assert shown[ids.DETAILS_LANGUAGE][ids.FIELD]["value"] == "es"

    values = filled(view, **{ids.DETAILS_LAST: "García", ids.DETAILS_BORN: "1980-04-21",
                             ids.DETAILS_TYPE: "OP"})  # fmt: skip
    assert await submit(slack, "U0BILLER", view, values) is None

    row = await row_of(db, ana)
    assert (row.name, row.last_name, row.date_of_birth) == (
        "Ana García",
        "García",
        BORN.replace(day=21),
    )
    assert (row.patient_type, row.language) == ("OP", "es")
    [told] = slack.fake.called("chat.postEphemeral")
    said = told.body["text"]
    assert "Ana García saved: last name, date of birth, patient type changed." in said
    messages = [c.raw.decode() for c in slack.fake.calls if not c.method.startswith("views.")]
    assert messages and not any("1980" in m for m in messages)  # only the modal showed it
    # At once: the account view and search already know the new name.
    assert f"*{ana.number}*  Ana García" in text_of(await slack.command(f"account {ana.number}"))
    assert "Ana García" in text_of(await slack.command("find garcia"))
    async with db.read() as conn:
        trail = (await conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == "customer.update")
        )).scalars().all()  # fmt: skip
    assert len(trail) == 1 and "García" in trail[0] and "1980" not in trail[0]


async def test_saving_what_is_on_file_changes_nothing(
    slack: Slack, db: Database, ana: Account
) -> None:
    view = await open_details(slack, ana, "U0BILLER")
    assert await submit(slack, "U0BILLER", view, filled(view)) is None
    [told] = slack.fake.called("chat.postEphemeral")
    assert "Nothing changed on" in told.body["text"]


@pytest.mark.parametrize(
    ("block", "value", "said"),
    [
        (ids.DETAILS_BORN, "2090-01-01", "2090-01-01 is not a plausible date of birth"),
        (ids.DETAILS_LANGUAGE, "klingon-xx-yy", "not a language arbot knows"),
        (ids.DETAILS_LAST, "x" * 101, "a last name needs 1 to 100 characters"),
        (ids.DETAILS_CLASS, "self pay!", "financial class"),
    ],
)
async def test_a_bad_field_is_refused_on_it_and_nothing_changes(
    slack: Slack, db: Database, ana: Account, block: str, value: str, said: str
) -> None:
    view = await open_details(slack, ana, "U0BILLER")
    before = await row_of(db, ana)
    values = filled(view, **{block: value, ids.DETAILS_FIRST: "Anna"})
    answer = await submit(slack, "U0BILLER", view, values)
    assert answer is not None and list(answer["errors"]) == [block]
    assert said in answer["errors"][block]
    assert await row_of(db, ana) == before


async def test_only_who_may_manage_the_account_sees_and_changes_its_details(
    slack: Slack, db: Database, ana: Account
) -> None:
    refused = await open_details(slack, ana, "U0CLERK")
    assert "manage_accounts" in json.dumps(refused) and "1980" not in json.dumps(refused)
    allowed = await open_details(slack, ana, "U0BILLER")
    answer = await submit(slack, "U0CLERK", allowed, {**filled(allowed), **typed(
        ids.DETAILS_LAST, "García")})  # fmt: skip
    assert answer is not None and "manage_accounts" in answer["errors"][ids.DETAILS_LAST]
    assert (await row_of(db, ana)).last_name == "Lopez"


async def test_only_what_was_changed_in_the_modal_is_saved(
    slack: Slack, db: Database, ana: Account
) -> None:
    """A field left as the modal showed it is not written: a change made meanwhile by
    someone else stays, and a value on file in another form (an import's "Medicare") is
    neither rewritten nor refused."""
    await update_customer(db, ADMIN, ana.id, financial_class="commercial")
    async with db.transaction() as tx:  # as an import may have written it
        await tx.conn.execute(
            update(customer_account)
            .where(customer_account.c.id == ana.id)
            .values(financial_class="Medicare")
        )
    view = await open_details(slack, ana, "U0BILLER")
    await update_customer(db, ADMIN, ana.id, language="fr", last_name="Lopez-Diaz")
    values = filled(view, **{ids.DETAILS_BORN: "1980-04-21"})
    assert await submit(slack, "U0BILLER", view, values) is None
    row = await row_of(db, ana)
    assert (row.language, row.last_name, row.financial_class) == ("fr", "Lopez-Diaz", "Medicare")
    assert row.date_of_birth == BORN.replace(day=21)
    [told] = slack.fake.called("chat.postEphemeral")
    assert "saved: date of birth changed." in told.body["text"]
