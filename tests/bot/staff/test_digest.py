"""Drilling from an ATB digest's bucket to its accounts (issue 6): the button posted by
the scheduler, pressed through the real bolt app with a signed request, answers the
presser alone with the bucket's accounts read again from the ledger, permission
checked in core (VIEW_REPORTS at the digest's location, BI-20)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.staff.digest import DRILL
from core.auth import add_staff
from core.clock import FixedClock
from core.db import Database
from core.ledger.accounts import Account
from core.services.payments import record_payment
from scheduler.runner import run_job
from tests.bot.staff.conftest import Slack, text_of
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import Call
from tests.scheduler.digest_helpers import (
    CHANNELS,
    MANAGERS,
    clinic,
    drill_buttons,
    posted_to,
    slack_ports,
)

pytestmark = pytest.mark.usefixtures("staff")


@pytest.fixture
async def accounts(db: Database) -> dict[str, Account]:
    return await clinic(db)


@pytest.fixture
async def digests(
    slack: Slack, db: Database, clock: FixedClock, accounts: dict[str, Account]
) -> dict[str, Call]:
    """The day's digests, posted by the scheduler into the fake Slack the app talks to."""
    await run_job(db, clock, slack_ports(slack.fake), "atb-digest")
    return {
        "all": posted_to(slack.fake, MANAGERS)[0],
        **{loc: posted_to(slack.fake, channel)[0] for loc, channel in CHANNELS.items()},
    }


async def test_a_bucket_lists_its_accounts_to_whoever_pressed(
    slack: Slack, digests: dict[str, Call], accounts: dict[str, Account]
) -> None:
    recent = drill_buttons(digests["all"])["0-30 (2)"]

    reply = await slack.press(DRILL, recent, "U0BILLER")

    shown = text_of(reply)
    assert "*0-30 days*, all locations, as of Jun 30, 2026: $160.00 on 2 accounts" in shown
    ana, luis = accounts["ana"], accounts["luis"]
    assert f"• *{ana.number}*  Ana López: $80.00 (balance $200.00)" in shown
    assert f"• *{luis.number}*  Luis Chen: $80.00\n" in shown + "\n"
    assert "Bea" not in shown
    old = text_of(await slack.press(DRILL, drill_buttons(digests["main"])["over 180 (1)"]))
    assert "*over 180 days*, location main" in old and "Bea Brown: $50.00" in old


async def test_the_accounts_are_read_again_from_the_ledger(
    slack: Slack, db: Database, digests: dict[str, Call], accounts: dict[str, Account]
) -> None:
    luis, today = accounts["luis"].id, date(2026, 6, 30)
    await record_payment(db, ADMIN, account_id=luis, amount=usd("80.00"), received_on=today,
                         key="luis-pays", method="cash")  # fmt: skip

    shown = text_of(await slack.press(DRILL, drill_buttons(digests["all"])["0-30 (2)"]))
    assert "$80.00 on 1 account" in shown and "Luis" not in shown
    north = text_of(await slack.press(DRILL, drill_buttons(digests["north"])["0-30 (1)"]))
    assert "No account has anything in this bucket any more." in north


async def test_who_may_drill_is_decided_in_core(
    slack: Slack, db: Database, digests: dict[str, Call]
) -> None:
    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Nils North", role="biller", locations=["north"],
                        slack_user_id="U0NILS")  # fmt: skip
    everyone = drill_buttons(digests["all"])["0-30 (2)"]

    clerk = text_of(await slack.press(DRILL, everyone, "U0CLERK"))
    assert "Chris Clerk (clerk) lacks the permission 'view_reports'" in clerk
    consolidated = text_of(await slack.press(DRILL, everyone, "U0NILS"))
    assert "Nils North sees the accounts of north only" in consolidated
    main = text_of(await slack.press(DRILL, drill_buttons(digests["main"])["0-30 (1)"], "U0NILS"))
    assert "may not work on accounts of location 'main'" in main
    north = text_of(
        await slack.press(DRILL, drill_buttons(digests["north"])["0-30 (1)"], "U0NILS")
    )
    assert "Luis Chen: $80.00" in north
    stranger = text_of(await slack.press(DRILL, everyone, "U0NOBODY"))
    assert "your Slack account is not linked to an arbot staff user" in stranger
    assert "Luis" not in clerk + consolidated + main + stranger


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("x:1", "this button does not name a digest"),
        ("7", "this button does not name a digest's bucket"),
        ("999:0", "there is no digest 999"),
        ("{id}:9", "the digest has no bucket 9"),
        ("{id}:-1", "this button does not name a digest's bucket"),
    ],
)
async def test_a_forged_button_changes_nothing_and_says_why(
    slack: Slack, digests: dict[str, Call], value: str, said: str
) -> None:
    digest_id = drill_buttons(digests["all"])["0-30 (2)"].split(":")[0]
    reply = await slack.press(DRILL, value.format(id=digest_id), "U0BILLER")
    assert said in text_of(reply)
