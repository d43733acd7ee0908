"""Who dunning plans to remind, at which level and through which channel, and whom it
leaves alone (AR-029, AR-108, AR-162, BI-21)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.customers import record_consent, set_status, status_of
from core.db import Database
from core.dunning import (
    DEFAULT_RULE,
    DunningLevel,
    DunningMessage,
    DunningRule,
    claim_notice,
    define_rule,
    finish_notice,
    lift_pause,
    pause_dunning,
    plan_dunning,
    queue_dunning,
)
from core.dunning.tables import dunning_notice
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.plans import AGREEMENT_VERSION, PlanPolicy, enrol_plan
from core.plans.tables import payment_plan
from core.services.adjustments import dispute_item
from core.services.payments import record_payment
from tests.core.dunning_helpers import AS_OF, item_of, opt_in_sms, owes, patient
from tests.core.helpers import ADMIN, CLERK, usd


async def plan(db: Database, as_of=AS_OF, rules=None) -> dict[str, DunningMessage]:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return {m.account_number: m for m in await plan_dunning(conn, as_of, rules)}


async def test_each_account_gets_the_highest_level_its_oldest_item_reached(db: Database) -> None:
    # 95 days is past collections (90), but no message has gone out yet: final notice.
    ages = {0: 1, 14: 1, 15: 2, 31: 3, 50: 4, 61: 5, 95: 5}
    accounts = {}
    for days in ages:
        accounts[days] = await patient(db, f"Age{days}")
        await owes(db, accounts[days], "40.00", days)
    not_due = await patient(db, "NotDue")
    await owes(db, not_due, "40.00", -5)  # due in five days: nothing yet
    tiny = await patient(db, "Tiny")
    await owes(db, tiny, "5.00", 40)  # not above the default minimum of 5.00

    planned = await plan(db)

    assert not_due.number not in planned and tiny.number not in planned
    for days, level in ages.items():
        message = planned[accounts[days].number]
        step = DEFAULT_RULE.levels[level - 1]
        assert (message.level, message.template, message.action) == (
            level,
            step.template,
            step.action,
        )
        assert message.days_overdue == days and message.channel == "telegram"
        assert message.anchor_due == AS_OF - timedelta(days=days)
        assert message.amount_due == usd("40.00")
        assert message.dedupe_key == f"dunning:{accounts[days].id}:default:{level}:2026-06-30"
    # Highest levels first, so that what cannot go today is the least urgent.
    assert [m.level for m in planned.values()] == sorted(ages.values(), reverse=True)


async def test_collections_come_only_after_a_notice_went_out_and_the_gap_passed(
    db: Database,
) -> None:
    account = await patient(db)
    await owes(db, account, "400.00", 95)
    await queue_dunning(db, AS_OF)
    async with db.read() as conn:
        notice_id = (await conn.execute(select(dunning_notice.c.id))).scalar_one()
    assert await plan(db, AS_OF + timedelta(days=8)) == {}  # queued, never sent
    assert await claim_notice(db, notice_id)
    await finish_notice(db, notice_id, "sent")

    assert await plan(db, AS_OF + timedelta(days=6)) == {}  # within the gap
    later = AS_OF + timedelta(days=7)
    [flag] = (await plan(db, later)).values()
    assert (flag.level, flag.action, flag.channel) == (6, "collections", None)
    done = await queue_dunning(db, later)
    assert (done.collections, done.messages) == (1, 0)
    async with db.read() as conn:
        assert await status_of(conn, account.id) == "in_collections"
    assert await plan(db, later + timedelta(days=30)) == {}


async def test_a_few_cents_left_on_an_old_item_do_not_make_a_final_notice(
    db: Database,
) -> None:
    account = await patient(db)
    await owes(db, account, "100.00", 100)
    await record_payment(
        db, ADMIN, account_id=account.id, amount=usd("99.50"), method="cash", key="most",
        received_on=AS_OF - timedelta(days=60),
    )  # fmt: skip
    await owes(db, account, "40.00", 20)

    [message] = (await plan(db)).values()

    assert (message.level, message.template) == (2, "reminder")
    assert message.anchor_due == AS_OF - timedelta(days=100)  # the debt began there
    assert message.amount_due == usd("40.50")


async def test_the_amount_is_what_the_dunnable_items_owe_less_unapplied_credit(
    db: Database,
) -> None:
    account = await patient(db)
    await owes(db, account, "100.00", 40)
    await owes(db, account, "60.00", 10)
    await owes(db, account, "25.00", -3)  # not yet due: in the amount, not overdue
    await owes(db, account, "20.00", 5, payer="medicare")  # on the account: the patient's
    insurer = await patient(db, "Acme Insurance", customer_type="insurer")
    await owes(db, insurer, "500.00", 50)  # insurers are billed, not dunned by chat
    await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("30.00"),
        method="cash",
        key="pay-1",
        received_on=AS_OF - timedelta(days=2),
    )

    [message] = (await plan(db)).values()

    assert message.level == 3  # the 40-day-old item is the anchor (30 <= 40 < 45)
    # 205 charged to the patient; the payment went to the oldest item.
    assert message.amount_due == usd("175.00")
    assert message.overdue == usd("150.00")
    assert message.account_id == account.id


async def test_channels_telegram_first_then_sms_with_consent(db: Database) -> None:
    tg = await patient(db, "Tele", verified=True)
    tg_unverified = await patient(db, "Unver", verified=False)
    phone_only = await patient(db, "Phone", telegram=False, phone="+15550000001")
    phone_opted_in = await patient(db, "OptIn", telegram=False, phone="+15550000002")
    await opt_in_sms(db, "+15550000002")
    tg_stopped = await patient(db, "Stopped", phone="+15550000003")
    await opt_in_sms(db, "+15550000003")
    for account in (tg, tg_unverified, phone_only, phone_opted_in, tg_stopped):
        await owes(db, account, "50.00", 20)
    planned = await plan(db)
    tg_address = planned[tg_stopped.number].address
    assert tg_address is not None and planned[tg_stopped.number].channel == "telegram"
    await record_consent(
        db, ADMIN, channel="telegram", address=tg_address, granted=False, source="chat"
    )

    planned = await plan(db)

    assert (planned[tg.number].channel, planned[tg.number].verified) == ("telegram", True)
    assert (planned[tg_unverified.number].channel, planned[tg_unverified.number].verified) == (
        "telegram",
        False,
    )
    assert phone_only.number not in planned  # SMS needs an opt-in
    sms = planned[phone_opted_in.number]
    assert (sms.channel, sms.address, sms.verified) == ("sms", "+15550000002", False)
    fallback = planned[tg_stopped.number]
    assert (fallback.channel, fallback.address) == ("sms", "+15550000003")


async def test_reminders_go_to_the_guarantor_in_their_language(db: Database) -> None:
    parent = await patient(db, "Parent", language="es")
    child = await patient(db, "Child", telegram=False, guarantor_id=parent.id)
    await owes(db, child, "80.00", 20)

    message = (await plan(db))[child.number]

    assert message.recipient_id == parent.id and message.account_id == child.id
    assert message.channel == "telegram" and message.locale == "es"


async def test_disputed_items_are_never_dunned(db: Database) -> None:
    only_disputed = await patient(db, "OnlyDisputed")
    entry = await owes(db, only_disputed, "70.00", 50)
    await dispute_item(
        db, ADMIN, item_id=item_of(entry), disputed=True, on=AS_OF, reason="wrong bill"
    )
    mixed = await patient(db, "Mixed")
    old = await owes(db, mixed, "90.00", 70)
    await owes(db, mixed, "20.00", 20)
    await dispute_item(db, ADMIN, item_id=item_of(old), disputed=True, on=AS_OF, reason="x")

    planned = await plan(db)

    assert only_disputed.number not in planned
    assert (planned[mixed.number].level, planned[mixed.number].amount_due) == (2, usd("20.00"))


async def test_pauses_leave_items_and_accounts_out_until_their_last_day(db: Database) -> None:
    promised = await patient(db, "Promised")
    await owes(db, promised, "70.00", 20)
    pause = await pause_dunning(
        db,
        ADMIN,
        account_id=promised.id,
        reason="promise_to_pay",
        from_day=AS_OF - timedelta(days=1),
        until_day=AS_OF + timedelta(days=3),
        note="pays on Friday",
    )
    one_item = await patient(db, "OneItem")
    paused_entry = await owes(db, one_item, "300.00", 80)
    await owes(db, one_item, "20.00", 16)
    await pause_dunning(
        db, ADMIN, account_id=one_item.id, item_id=item_of(paused_entry), reason="hardship",
        from_day=AS_OF,
    )  # fmt: skip

    planned = await plan(db)
    assert promised.number not in planned
    assert (planned[one_item.number].level, planned[one_item.number].amount_due) == (
        2,
        usd("20.00"),
    )
    later = AS_OF + timedelta(days=4)  # the day after the promise's last day
    assert promised.number in await plan(db, later)

    await lift_pause(db, ADMIN, pause.id)
    assert promised.number in await plan(db)
    with pytest.raises(InvalidState, match="already lifted"):
        await lift_pause(db, ADMIN, pause.id)


async def test_accounts_someone_else_handles_are_left_alone(db: Database) -> None:
    handled = {}
    for status in ("disputed", "in_collections", "bad_debt"):
        handled[status] = await patient(db, status.title())
        await owes(db, handled[status], "70.00", 40)
        await set_status(
            db, ADMIN, account_id=handled[status].id, status=status, reason="test", on=AS_OF
        )
    on_hold = await patient(db, "Hold")
    await owes(db, on_hold, "70.00", 40)
    await set_status(
        db, ADMIN, account_id=on_hold.id, status="credit_hold", reason="test", on=AS_OF
    )

    planned = await plan(db)

    assert not {a.number for a in handled.values()} & set(planned)
    assert on_hold.number in planned  # credit hold stops new charges, not reminders


async def test_rules_per_financial_class_and_location_most_specific_first(
    db: Database,
) -> None:
    gentle = DunningRule(
        code="north-self",
        name="North self-pay, gentle",
        financial_class="self_pay",
        location="north",
        levels=(DunningLevel(1, 30, "reminder"), DunningLevel(2, 120, "final_notice")),
        min_balance_minor=1_000,
    )
    await define_rule(db, ADMIN, gentle)
    await define_rule(
        db,
        ADMIN,
        DunningRule(
            code="all",
            name="Everyone else",
            levels=(DunningLevel(1, 10, "reminder"),),
            min_gap_days=14,
        ),
    )
    north = await patient(db, "North", location="north")
    await owes(db, north, "60.00", 45)
    small_north = await patient(db, "SmallNorth", location="north")
    await owes(db, small_north, "9.99", 45)
    main = await patient(db, "Main")
    await owes(db, main, "60.00", 45)

    planned = await plan(db)

    assert (planned[north.number].rule, planned[north.number].level) == ("north-self", 1)
    assert small_north.number not in planned  # not above the rule's minimum of 10.00
    assert (planned[main.number].rule, planned[main.number].template) == ("all", "reminder")
    with pytest.raises(InvalidState, match="already covers"):
        await define_rule(db, ADMIN, DunningRule("other", "x", (DunningLevel(1, 5, "r"),)))


async def test_bad_rules_and_pauses_are_refused(db: Database) -> None:
    account = await patient(db)
    bad = [
        (DunningRule("r", "R", ()), "at least one level"),
        (DunningRule("r", "R", (DunningLevel(2, 5, "x"),)), "number the levels"),
        (DunningRule("r", "R", (DunningLevel(1, 5, "x"), DunningLevel(2, 5, "y"))), "same day"),
        (DunningRule("r", "R", (DunningLevel(1, 5, "x", "shout"),)), "not a dunning action"),
        (DunningRule("r", "R", (DunningLevel(1, 5, "x"),), min_gap_days=-1), "gap"),
        (DunningRule("R R", "R", (DunningLevel(1, 5, "x"),)), "not a rule code"),
    ]
    for rule, message in bad:
        with pytest.raises(ValidationError, match=message):
            await define_rule(db, ADMIN, rule)
    with pytest.raises(PermissionDenied):
        await define_rule(db, CLERK, DunningRule("r", "R", (DunningLevel(1, 5, "x"),)))
    with pytest.raises(ValidationError, match="not a reason"):
        await pause_dunning(db, ADMIN, account_id=account.id, reason="bored", from_day=AS_OF)
    with pytest.raises(ValidationError, match="end before it starts"):
        await pause_dunning(
            db,
            ADMIN,
            account_id=account.id,
            reason="other",
            from_day=AS_OF,
            until_day=AS_OF - timedelta(days=1),
        )
    async with db.read() as conn:
        assert await plan_dunning(conn, AS_OF) == []  # nothing owed, nothing planned


async def test_an_account_on_an_active_plan_is_not_dunned_until_the_plan_ends(
    db: Database,
) -> None:
    account = await patient(db)
    await owes(db, account, "300.00", 40)
    enrolled = await enrol_plan(
        db,
        Actor("patient", str(account.id), "the patient"),
        account_id=account.id,
        count=3,
        policy=PlanPolicy(),
        agreement_version=AGREEMENT_VERSION,
        agreement_digest="0" * 64,
        channel="telegram",
        key="plan-1",
    )

    assert await plan(db) == {}  # the plan's own notices go instead (AR-162)

    async with db.transaction() as tx:  # what the plan job does to a plan in default
        await tx.conn.execute(
            payment_plan.update()
            .where(payment_plan.c.id == enrolled.id)
            .values(status="cancelled")
        )
    [message] = (await plan(db)).values()
    assert (message.level, message.amount_due) == (3, usd("300.00"))
