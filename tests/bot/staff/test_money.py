"""``/ar charge`` and ``/ar payment``: what gets posted, who may post it, and that a
request Slack sends twice posts once (AR-064, AR-080, AR-094, AR-095, BI-19)."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import func, select

from bot.staff import ids
from core.clock import FixedClock
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.profile import set_credit_profile
from core.services.held import HeldStatus, load_held
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.core.helpers import ADMIN, balance_of, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")


async def entries(db: Database) -> list[tuple[str, str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(journal_entry.c.entry_type, journal_entry.c.actor, journal_entry.c.source)
            .where(journal_entry.c.entry_type.in_(["CHARGE", "PAYMENT"]))
            .order_by(journal_entry.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def entry_count(db: Database) -> int:
    async with db.read() as conn:
        count = await conn.execute(select(func.count()).select_from(journal_entry))
        return int(count.scalar_one())


@pytest.fixture
async def ana(db: Database) -> Account:
    return await patient(db, "López", "Ana")


async def test_a_charge_posts_and_shows_the_new_balance(
    slack: Slack, db: Database, ana: Account
) -> None:
    shown = text_of(await slack.command(f"charge {ana.number} cons 2 2026-06-29", "U0BILLER"))
    assert f"Charged *$160.00* to *{ana.number}*  Ana López (T" in shown
    assert "New balance: *$160.00*" in shown
    assert await balance_of(db, ana.id) == usd("160.00")
    assert len(await entries(db)) == 1
    _, actor, source = (await entries(db))[0]
    assert source == "slack" and actor.startswith("staff:")


async def test_a_charge_past_the_credit_limit_shows_the_warning(
    slack: Slack, db: Database, ana: Account, clock: FixedClock
) -> None:
    await set_credit_profile(
        db, ADMIN, account_id=ana.id, credit_limit=usd("100.00"), terms_code="NET30",
        risk_class="B", effective_from=clock.now().date(), reason="new patient",
    )  # fmt: skip
    reply = await slack.command(f"charge {ana.number} XRAY", "U0BILLER")
    assert f":warning: account {ana.number} goes 20.00 over its credit limit" in text_of(reply)
    assert await balance_of(db, ana.id) == usd("120.00")


async def test_a_charge_slack_sends_again_posts_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    """Slack retries with the same body (same trigger_id) and X-Slack-Retry-Num."""
    from tests.fakes.slack import command_body

    body = command_body(
        f"charge {ana.number} CONS", user="U0BILLER", response_url=slack.fake.response_url("c"),
        trigger_id="1111.2222.retry",
    )  # fmt: skip
    first = await slack.send(body)
    again = await slack.send(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    assert first.status == again.status == 200
    assert len(await entries(db)) == 1
    assert await balance_of(db, ana.id) == usd("80.00")
    replies = [text_of(r) for r in slack.fake.replies]
    assert "Charged *$80.00*" in replies[0]
    assert "was already posted as T" in replies[1] and "not posted again" in replies[1]
    # A new command (a new trigger_id) is a new charge.
    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    assert await balance_of(db, ana.id) == usd("160.00")


@pytest.mark.parametrize(
    ("user", "text", "missing"),
    [
        ("U0CLERK", "charge {n} CONS", "Chris Clerk (clerk) lacks the permission 'post_charge'"),
        ("U0AUDIT", "charge {n} CONS", "lacks the permission 'post_charge'"),
        ("U0AUDIT", "payment {n} 10 cash", "Ada Auditor (auditor) lacks the permission "
         "'record_payment'"),
        ("U0AUDIT", "payment {n} 500 cash", "lacks the permission 'record_payment'"),
        ("U0NORTH", "payment {n} 10 cash", "may not work on accounts of location 'main'"),
    ],
)  # fmt: skip
async def test_core_refuses_what_a_role_may_not_do_and_nothing_is_posted(
    slack: Slack, db: Database, ana: Account, user: str, text: str, missing: str
) -> None:
    before = await entry_count(db)
    reply = await slack.command(text.format(n=ana.number), user)
    assert missing in text_of(reply)
    assert "Nothing was posted" in text_of(reply)
    assert buttons(reply) == []
    assert await entry_count(db) == before


async def test_mistyped_commands_post_nothing(slack: Slack, db: Database, ana: Account) -> None:
    before = await entry_count(db)
    for text in (
        f"payment {ana.number} 10.005 cash",
        f"payment {ana.number} 10 bitcoin",
        f"charge {ana.number} NOPE",
        f"charge {ana.number} CONS 0",
        "charge Z0000009 CONS",
        f'payment {ana.number} 10 cash "' + "x" * 4990,
    ):
        reply = await slack.command(text, "U0ADMIN")
        assert text_of(reply).startswith(":warning: ")
    assert await entry_count(db) == before


async def test_a_payment_within_the_balance_is_recorded_at_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"charge {ana.number} XRAY", "U0BILLER")
    shown = text_of(
        await slack.command(f'payment {ana.number} 100 check "cheque 1042"', "U0CLERK")
    )
    assert f"Recorded *$100.00* (check, cheque 1042) on *{ana.number}*" in shown
    assert "Applied to open items: $100.00 · unapplied: $0.00" in shown
    assert "New balance: *$20.00*" in shown
    assert await balance_of(db, ana.id) == usd("20.00")


async def confirmation(slack: Slack, account: Account, text: str) -> dict[str, str]:
    reply = await slack.command(text, "U0CLERK")
    shown = text_of(reply)
    assert "would leave the account *$30.00 in credit*" in shown
    assert f"*{account.number}*" in shown
    found = {b["action_id"]: b["value"] for b in buttons(reply)}
    assert set(found) == {ids.CONFIRM_PAYMENT, ids.CANCEL_PAYMENT}
    assert found[ids.CONFIRM_PAYMENT] == found[ids.CANCEL_PAYMENT]
    # An opaque token, not the amount (a digest's hex digits may by chance read "110").
    assert re.fullmatch("[0-9a-f]{32}", found[ids.CONFIRM_PAYMENT])
    return found


async def test_a_payment_that_leaves_a_credit_asks_first_and_confirm_records_it_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    before = await entry_count(db)
    token = (await confirmation(slack, ana, f"payment {ana.number} 110 cash"))[ids.CONFIRM_PAYMENT]
    assert await entry_count(db) == before  # nothing until confirmed
    done = await slack.press(ids.CONFIRM_PAYMENT, token, "U0CLERK")
    assert done.body["replace_original"] is True
    assert "Recorded *$110.00* (cash)" in text_of(done)
    assert "New balance: *-$30.00* (credit)" in text_of(done)
    again = await slack.press(ids.CONFIRM_PAYMENT, token, "U0CLERK")
    assert "already recorded" in text_of(again)
    assert await balance_of(db, ana.id) == usd("-30.00")
    assert [e[0] for e in await entries(db)] == ["CHARGE", "PAYMENT"]


async def test_cancel_drops_the_payment_and_its_token_posts_nothing_after(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    token = (await confirmation(slack, ana, f"payment {ana.number} 110 cash"))[ids.CANCEL_PAYMENT]
    cancelled = await slack.press(ids.CANCEL_PAYMENT, token, "U0CLERK")
    assert cancelled.body["replace_original"] is True
    assert "was not recorded" in text_of(cancelled)
    late = await slack.press(ids.CONFIRM_PAYMENT, token, "U0CLERK")
    assert "this payment was cancelled" in text_of(late)
    assert await balance_of(db, ana.id) == usd("80.00")


async def race(slack: Slack, token: str, *action_ids: str) -> list[str]:
    """Press ``action_ids`` on the same question at the same moment; what each was told."""
    from tests.fakes.slack import action_body

    url = slack.fake.response_url
    bodies = [
        action_body(action_id, token, user="U0CLERK", response_url=url(f"r{n}"))
        for n, action_id in enumerate(action_ids)
    ]
    before = len(slack.fake.replies)
    answers = await asyncio.gather(*(slack.send(body) for body in bodies))
    assert all(a.status == 200 for a in answers)
    told = {r.path: text_of(r) for r in slack.fake.replies[before:]}
    return [told[f"/response/r{n}"] for n in range(len(action_ids))]


async def test_confirm_and_cancel_at_the_same_moment_have_one_outcome(
    slack: Slack, db: Database, ana: Account
) -> None:
    """Review finding: the held payment lived in the audit log, so a Confirm and a Cancel
    pressed together could both go through. Core now holds it in a row that moves once."""
    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    token = (await confirmation(slack, ana, f"payment {ana.number} 110 cash"))[ids.CONFIRM_PAYMENT]
    confirmed, cancelled = await race(slack, token, ids.CONFIRM_PAYMENT, ids.CANCEL_PAYMENT)
    async with db.read() as conn:
        held = await load_held(conn, token)
    payments = [e for e in await entries(db) if e[0] == "PAYMENT"]
    if held.status is HeldStatus.CONFIRMED:
        assert "Recorded *$110.00*" in confirmed
        assert f"this payment was already recorded as T{held.entry_id:08d}" in cancelled
        assert len(payments) == 1 and await balance_of(db, ana.id) == usd("-30.00")
    else:
        assert held.status is HeldStatus.CANCELLED and held.entry_id is None
        assert "was not recorded" in cancelled
        assert "this payment was cancelled" in confirmed
        assert payments == [] and await balance_of(db, ana.id) == usd("80.00")


async def test_confirm_pressed_twice_at_once_records_once(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    token = (await confirmation(slack, ana, f"payment {ana.number} 110 cash"))[ids.CONFIRM_PAYMENT]
    told = await race(slack, token, ids.CONFIRM_PAYMENT, ids.CONFIRM_PAYMENT)
    assert sorted("already recorded" in t for t in told) == [False, True]
    assert [e[0] for e in await entries(db)] == ["CHARGE", "PAYMENT"]
    assert await balance_of(db, ana.id) == usd("-30.00")


async def test_only_the_person_who_asked_may_confirm_and_only_for_a_while(
    slack: Slack, db: Database, ana: Account, clock: FixedClock
) -> None:
    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    token = (await confirmation(slack, ana, f"payment {ana.number} 110 cash"))[ids.CONFIRM_PAYMENT]
    other = await slack.press(ids.CONFIRM_PAYMENT, token, "U0ADMIN")
    assert "only the person who asked may confirm or cancel" in text_of(other)
    stranger = await slack.press(ids.CONFIRM_PAYMENT, token, "U0STRANGER")
    assert "not linked to an arbot staff user" in text_of(stranger)
    forged = await slack.press(ids.CONFIRM_PAYMENT, "0" * 32, "U0CLERK")
    assert "no payment waiting" in text_of(forged)
    clock.advance(minutes=31)
    expired = await slack.press(ids.CONFIRM_PAYMENT, token, "U0CLERK")
    assert "this question has expired" in text_of(expired)
    assert await balance_of(db, ana.id) == usd("80.00")


async def test_a_retried_payment_question_is_one_question(
    slack: Slack, db: Database, ana: Account
) -> None:
    from tests.fakes.slack import command_body

    await slack.command(f"charge {ana.number} CONS", "U0BILLER")
    body = command_body(
        f"payment {ana.number} 110 cash", user="U0CLERK", trigger_id="3333.4444.retry",
        response_url=slack.fake.response_url("p"),
    )  # fmt: skip
    await slack.send(body)
    await slack.send(body, **{"X-Slack-Retry-Num": "1"})
    first, second = (buttons(r) for r in slack.fake.replies[-2:])
    assert first == second
    await slack.press(ids.CONFIRM_PAYMENT, first[0]["value"], "U0CLERK")
    # Once recorded, the same request again replays the payment instead of asking.
    await slack.send(body, **{"X-Slack-Retry-Num": "2"})
    assert "already recorded" in text_of(slack.fake.replies[-1])
    assert await balance_of(db, ana.id) == usd("-30.00")


async def test_a_payment_on_an_account_kept_in_another_currency_is_refused(
    slack: Slack, db: Database
) -> None:
    """AR-034: each account is kept in its own currency, set when it is opened."""
    from core.customers import NewCustomer, register_customer

    euro = await register_customer(db, ADMIN, NewCustomer("Weber", "Eva", "EUR"))
    shown = text_of(await slack.command(f"payment {euro.number} 10 cash", "U0CLERK"))
    assert f"account {euro.number} is kept in EUR" in shown
