"""Follow-up reminders (AR-101): each collector gets one Slack direct message, through the
real Slack messenger to the fake Slack, listing their flags due by today, oldest first,
with how late each is; nobody else's, nothing done, nothing not yet due. Once a day;
an owner without a Slack user is counted; a refused post does not stop the others; the
dry run sends nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.staff.ids import VIEW_ACCOUNT
from core.auth import Actor, add_staff
from core.clock import FixedClock
from core.db import Database
from core.ledger.accounts import Account
from core.worklists import assign_collector, close_follow_up, flag_follow_up
from scheduler.ports import Ports
from scheduler.runner import run_job
from tests.core.helpers import ADMIN
from tests.fakes.slack import FakeSlack, fake_slack
from tests.scheduler.digest_helpers import (
    at,
    blocks_of,
    charge,
    person,
    posted_to,
    slack_ports,
    text_of,
)

__all__ = ["fake_slack"]

JUNE_20, JUNE_30 = date(2026, 6, 20), date(2026, 6, 30)
BEA, COLE = "U0BEA", "U0COLE"


async def staff(db: Database, name: str, role: str, slack: str | None) -> Actor:
    async with db.transaction() as tx:
        return await add_staff(tx, ADMIN, name=name, role=role, slack_user_id=slack)


async def owing(db: Database, last: str, first: str, amount: str = "120.00") -> Account:
    account = await person(db, last, first)
    await charge(db, account, amount, date(2026, 5, 1))
    return account


async def flag(db: Database, who: Actor, account: Account, due: date, note: str) -> int:
    found = await flag_follow_up(db, who, account_id=account.id, due=due, note=note,
                                 key=f"flag-{account.id}-{due}-{note[:20]}")  # fmt: skip
    return found.id


@pytest.fixture
async def team(db: Database) -> dict[str, Actor]:
    return {
        "super": await staff(db, "Sam Supervisor", "supervisor", "U0SUPER"),
        "bea": await staff(db, "Bea Biller", "biller", BEA),
        "cole": await staff(db, "Cole Clerk", "clerk", COLE),
        "dan": await staff(db, "Dan Desk", "clerk", None),
    }


async def collects(db: Database, team: dict[str, Actor], who: str, *accounts: Account) -> None:
    for account in accounts:
        await assign_collector(db, team["super"], account_id=account.id, collector=team[who])


@pytest.fixture
async def flagged(db: Database, clock: FixedClock, team: dict[str, Actor]) -> dict[str, Account]:
    """Flags set on 20 June. Bea's: Ana on the 22nd, Luis today (the 30th), Rosa on
    3 July, Tom on the 25th (done since). Cole's: Eva on the 29th. Dan, who has no Slack
    user, flagged Kim, who has no collector, for the 28th."""
    clock.moment = at(JUNE_20, 12)
    ana, luis = await owing(db, "López", "Ana", "120.00"), await owing(db, "Chen", "Luis", "80.00")
    rosa, tom = await owing(db, "Ruiz", "Rosa"), await owing(db, "Tan", "Tom")
    eva, kim = await owing(db, "Evans", "Eva", "45.50"), await owing(db, "Kim", "Jo")
    await collects(db, team, "bea", ana, luis, rosa, tom)
    await collects(db, team, "cole", eva)
    await flag(db, team["cole"], ana, date(2026, 6, 22), "call about the plan & <!channel>")
    await flag(db, team["bea"], luis, JUNE_30, "check the insurer paid")
    await flag(db, team["bea"], rosa, date(2026, 7, 3), "not yet")
    done = await flag(db, team["bea"], tom, date(2026, 6, 25), "settled")
    await close_follow_up(db, team["bea"], done, "paid at the desk")
    await flag(db, team["cole"], eva, date(2026, 6, 29), "promised to pay Friday")
    await flag(db, team["dan"], kim, date(2026, 6, 28), "ask for the new address")
    clock.moment = at(JUNE_30, 14)
    return {"ana": ana, "luis": luis, "rosa": rosa, "tom": tom, "eva": eva, "kim": kim}


async def test_each_collector_reads_their_follow_ups_due_oldest_first(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, flagged: dict[str, Account]
) -> None:
    report = await run_job(db, clock, slack_ports(fake_slack), "follow-ups")

    assert report is not None
    assert report.summary == "2 collectors reminded of 3 follow-ups due; 1 without a Slack user"
    assert "Dan Desk: 1 follow-up due, no Slack user to remind" in report.lines
    assert len(fake_slack.called("chat.postMessage")) == 2
    [to_bea] = posted_to(fake_slack, BEA)  # a post to a user id is the bot's DM to them
    ana, luis = flagged["ana"], flagged["luis"]
    assert to_bea.body["text"] == "You have 2 follow-ups due by Jun 30, 2026"
    assert text_of(to_bea) == (
        "*Follow-ups due* by Jun 30, 2026: 2 accounts to follow up, oldest first\n"
        f"*{ana.number}*  Ana López\n"
        "review Jun 22, 2026 · *8 days overdue* · balance $120.00\n"
        "> call about the plan &amp; &lt;!channel&gt;\n"
        f"*{luis.number}*  Luis Chen\n"
        "review Jun 30, 2026 · due today · balance $80.00\n"
        "> check the insurer paid\n"
        "Type `/ar worklist` to see them all, mark one done or snooze it."
    )
    buttons = [b["accessory"] for b in blocks_of(to_bea) if "accessory" in b]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (VIEW_ACCOUNT, str(ana.id)),
        (VIEW_ACCOUNT, str(luis.id)),
    ]
    for other in ("rosa", "tom", "eva", "kim"):  # not due, done, Cole's, Dan's
        assert flagged[other].number not in text_of(to_bea)
    [to_cole] = posted_to(fake_slack, COLE)
    assert f"*{flagged['eva'].number}*  Eva Evans" in text_of(to_cole)
    assert "*1 day overdue* · balance $45.50\n> promised to pay Friday" in text_of(to_cole)
    assert ana.number not in text_of(to_cole)


async def test_reminders_go_once_a_day_and_again_the_next_while_still_open(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, flagged: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack)
    await run_job(db, clock, ports, "follow-ups")
    clock.advance(hours=3)

    assert await run_job(db, clock, ports, "follow-ups") is None  # the day's run is claimed
    assert len(fake_slack.called("chat.postMessage")) == 2
    clock.moment = at(JUNE_30 + timedelta(days=1), 12)
    again = await run_job(db, clock, ports, "follow-ups")
    assert again is not None and again.summary.startswith("2 collectors reminded of 3 follow")
    assert "*9 days overdue*" in text_of(posted_to(fake_slack, BEA)[1])


async def test_a_refused_reminder_does_not_stop_the_others(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, flagged: dict[str, Account]
) -> None:
    fake_slack.fail_next("chat.postMessage", "user_not_found")  # Bea's, the first

    report = await run_job(db, clock, slack_ports(fake_slack), "follow-ups")

    assert report is not None
    assert report.summary == (
        "1 collector reminded of 1 follow-up due; 1 without a Slack user; 1 reminder failed"
    )
    [failed] = [line for line in report.lines if line.startswith("failed:")]
    assert failed.startswith("failed: Bea Biller (U0BEA): SlackApiError")
    assert "user_not_found" in failed
    assert posted_to(fake_slack, BEA) == [] and len(posted_to(fake_slack, COLE)) == 1


async def test_a_long_list_shows_fifteen_and_counts_the_rest_within_slack_limits(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, team: dict[str, Actor]
) -> None:
    clock.moment = at(JUNE_20, 12)
    for n in range(17):
        account = await owing(db, f"Many{n:02d}", "Pat")
        await collects(db, team, "bea", account)
        await flag(db, team["bea"], account, JUNE_20 + timedelta(days=n % 5), "&" * 300)
    clock.moment = at(JUNE_30, 14)

    report = await run_job(db, clock, slack_ports(fake_slack), "follow-ups")

    assert report is not None and report.summary == "1 collector reminded of 17 follow-ups due"
    assert fake_slack.refusals == []
    [to_bea] = posted_to(fake_slack, BEA)
    shown = text_of(to_bea)
    assert "17 accounts to follow up" in shown and shown.count("review Jun") == 15
    assert "…and 2 more" in shown
    assert "review Jun 20, 2026 · *10 days overdue*" in shown.split("\n")[2]


async def test_the_dry_run_says_who_would_be_reminded_and_sends_nothing(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, flagged: dict[str, Account]
) -> None:
    dry = await run_job(db, clock, slack_ports(fake_slack), "follow-ups", dry_run=True)

    assert dry is not None
    assert dry.summary == (
        "dry run: 2 collectors would be reminded of 3 follow-ups due; 1 without a Slack user"
    )
    assert dry.lines == (
        "Bea Biller (U0BEA): 2 follow-ups due",
        "Cole Clerk (U0COLE): 1 follow-up due",
        "Dan Desk: 1 follow-up due, no Slack user to remind",
    )
    nowhere = await run_job(db, clock, Ports(), "follow-ups")
    assert nowhere is not None
    assert nowhere.summary == "Slack is not configured (SLACK_BOT_TOKEN): no follow-up reminders"
    assert fake_slack.web_api_calls == []
    quiet = await run_job(db, clock, Ports(), "follow-ups", as_of=JUNE_20, dry_run=True)
    assert quiet is not None and quiet.summary == "no follow-ups due by 2026-06-20"
