"""The ATB digest (issue 6): each location's in its channel and the consolidated one for
managers (BI-20), buckets with amount, percent and accounts (AR-192), the largest
balances (AR-187), the change since the previous digest (AR-193), a PNG chart uploaded
with it, all through the real Slack messenger and the fake Slack over HTTP; posted once
per period however often the job runs; the dry run prints and posts nothing."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.cli import _jobs_run
from core.clock import FixedClock
from core.db import Database
from core.digests import bucket_accounts, digest_post
from core.errors import ValidationError
from core.ledger.accounts import Account
from core.ledger.aging import AgingRule
from core.services.payments import record_payment
from core.settings import Settings
from scheduler.chart import BEFORE, NOW
from scheduler.digests import DigestNotPosted, digest_settings, parse_channels
from scheduler.runner import run_job
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import BOT_TOKEN, FakeSlack, fake_slack
from tests.scheduler.digest_helpers import (
    CHANNELS,
    MANAGERS,
    at,
    charge,
    clinic,
    drill_buttons,
    png_size,
    posted_to,
    slack_ports,
    text_of,
)

__all__ = ["fake_slack"]

JUNE_29, JUNE_30 = date(2026, 6, 29), date(2026, 6, 30)


@pytest.fixture
async def accounts(db: Database) -> dict[str, Account]:
    return await clinic(db)


def colours(png: bytes) -> set[tuple[int, int, int]]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {colour for _, colour in image.getcolors(maxcolors=1 << 16) or []}


async def test_each_location_and_the_managers_get_their_digest_with_a_chart(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    report = await run_job(db, clock, slack_ports(fake_slack), "atb-digest")

    assert report is not None and report.summary == "3 ATB digests posted"
    [managers] = posted_to(fake_slack, MANAGERS)
    shown = text_of(managers)
    assert "*Daily ATB digest*: all locations, as of Jun 30, 2026 (USD)" in shown
    assert "0-30               160.00   48.48        2\n" in shown
    assert "91-120             120.00   36.36        1\n" in shown
    assert "over 180            50.00   15.15        1\n" in shown
    assert "Total              330.00  100.00        3\n" in shown
    assert "• main: $250.00 (2 accounts)\n• north: $80.00 (1 account)" in shown
    ana, bea, luis = accounts["ana"], accounts["bea"], accounts["luis"]
    assert (
        f"*Largest balances*\n• *{ana.number}*  Ana López: $200.00\n"
        f"• *{luis.number}*  Luis Chen: $80.00\n• *{bea.number}*  Bea Brown: $50.00"
    ) in shown
    assert "The first digest for all locations" in shown
    assert managers.body["text"] == (
        "ATB digest, all locations, as of Jun 30, 2026: $330.00 on 3 accounts"
    )
    assert list(drill_buttons(managers)) == ["0-30 (2)", "91-120 (1)", "over 180 (1)"]

    [north] = posted_to(fake_slack, CHANNELS["north"])
    north_text = text_of(north)
    assert "location north" in north_text and "Total               80.00" in north_text
    assert "Ana" not in north_text and "By location" not in north_text
    [main] = posted_to(fake_slack, CHANNELS["main"])
    assert "Total              250.00  100.00        2" in text_of(main)
    assert "Luis" not in text_of(main)

    completed = fake_slack.called("files.completeUploadExternal")
    assert sorted(c.body["channel_id"] for c in completed) == ["C0MAIN", "C0MANAGERS", "C0NORTH"]
    for asked, done in zip(
        fake_slack.called("files.getUploadURLExternal"), completed, strict=True
    ):
        [shared] = done.json("files")
        png = fake_slack.uploads[shared["id"]]
        assert int(asked.body["length"]) == len(png) > 2000
        assert png_size(png) == (760, 380)
        assert NOW in colours(png) and BEFORE not in colours(png)
        assert asked.body["filename"].endswith("-2026-06-30.png")
    assert completed[0].body["initial_comment"] == "ATB all locations, Jun 30, 2026"


async def test_a_rerun_posts_nothing_twice(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack)
    await run_job(db, clock, ports, "atb-digest")
    calls = len(fake_slack.web_api_calls)

    assert await run_job(db, clock, ports, "atb-digest") is None  # the day's run is claimed
    again = await run_job(db, clock, ports, "atb-digest", rerun=True)  # by hand

    assert again is not None and again.summary == "0 ATB digests posted"
    assert "already posted: all locations (C0MANAGERS)" in again.lines
    assert len(fake_slack.web_api_calls) == calls == 12  # 3 x (message + 3 upload calls)


async def test_the_next_digest_shows_what_changed_since_the_last(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack)
    clock.moment = at(JUNE_29, 14)
    await run_job(db, clock, ports, "atb-digest", as_of=JUNE_29)
    clock.moment = at(JUNE_30, 14)
    await charge(db, accounts["luis"], "40.00", JUNE_30)
    await record_payment(db, ADMIN, account_id=accounts["ana"].id, amount=usd("120.00"),
                         received_on=JUNE_30, key="ana-pays", method="card")  # fmt: skip

    await run_job(db, clock, ports, "atb-digest", as_of=JUNE_30)

    first, second = posted_to(fake_slack, MANAGERS)
    assert "as of Jun 29, 2026" in text_of(first)
    shown = text_of(second)
    assert "Bucket             Amount       % Accounts        Change ±Accts" in shown
    assert "0-30               200.00   80.00        2        +40.00      0" in shown
    assert "91-120               0.00    0.00        0       -120.00     -1" in shown
    assert "over 180            50.00   20.00        1          0.00      0" in shown
    assert "Total              250.00  100.00        3        -80.00" in shown
    assert "Change since the digest as of Jun 29, 2026: *-$80.00*" in shown
    assert "• main: $130.00 (2 accounts), -$120.00\n• north: $120.00 (1 account), +$40.00" in shown
    [_, north_now] = posted_to(fake_slack, CHANNELS["north"])
    assert "0-30               120.00  100.00        1        +40.00      0" in text_of(north_now)
    charts = [fake_slack.uploads[f] for f in sorted(fake_slack.uploads)]
    assert BEFORE not in colours(charts[0]) and BEFORE in colours(charts[3])


async def test_weekly_digests_go_on_the_first_run_of_each_week(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack, atb="weekly", atb_channels={})
    monday, tuesday, next_monday = JUNE_29, JUNE_30, date(2026, 7, 6)
    for day in (monday, tuesday, next_monday):
        clock.moment = at(day, 14)
        await run_job(db, clock, ports, "atb-digest", as_of=day)

    posts = posted_to(fake_slack, MANAGERS)
    assert [p.body["text"].split(":")[0] for p in posts] == [
        "ATB digest, all locations, as of Jun 29, 2026",
        "ATB digest, all locations, as of Jul 6, 2026",
    ]
    assert "*Weekly ATB digest*" in text_of(posts[1])
    assert "Change since the digest as of Jun 29, 2026" in text_of(posts[1])
    async with db.read() as conn:
        periods = (await conn.execute(select(digest_post.c.period))).scalars().all()
    assert sorted(periods) == ["2026-W27", "2026-W28"]


async def test_a_failed_post_fails_the_run_and_the_retry_posts_only_what_is_missing(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack)
    fake_slack.fail_next("chat.postMessage", "channel_not_found")  # the managers' message
    fake_slack.fail_next("files.completeUploadExternal", "ratelimited")  # main's chart

    with pytest.raises(DigestNotPosted, match="2 of 3 ATB digests could not be posted"):
        await run_job(db, clock, ports, "atb-digest")
    assert [c.body["channel"] for c in fake_slack.succeeded("chat.postMessage")] == [
        "C0MAIN",
        "C0NORTH",
    ]
    retried = await run_job(db, clock, ports, "atb-digest")  # the scheduler's next tick

    assert retried is not None and retried.summary == "2 ATB digests posted"
    messages = [c.body["channel"] for c in fake_slack.succeeded("chat.postMessage")]
    assert sorted(messages) == ["C0MAIN", "C0MANAGERS", "C0NORTH"]  # main's not again
    charts = [c.body["channel_id"] for c in fake_slack.succeeded("files.completeUploadExternal")]
    assert sorted(charts) == ["C0MAIN", "C0MANAGERS", "C0NORTH"]
    assert await run_job(db, clock, ports, "atb-digest", rerun=True) is not None
    assert len(fake_slack.succeeded("chat.postMessage")) == 3


def cli_settings(db: Database, fake: FakeSlack, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": db.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": fake.api_url,
            "ARBOT_ATB_DIGEST_CHANNEL": MANAGERS,
            "ARBOT_ATB_DIGEST_CHANNELS": "main=C0MAIN, north=C0NORTH",
            **extra,
        }
    )


async def test_arbot_jobs_run_dry_run_prints_the_digests_and_posts_nothing(
    db: Database,
    clock: FixedClock,
    fake_slack: FakeSlack,
    accounts: dict[str, Account],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("bot.cli.SystemClock", lambda: clock)
    settings = cli_settings(db, fake_slack)
    dry = argparse.Namespace(name="atb-digest", as_of=JUNE_30, dry_run=True)

    assert await _jobs_run(dry, settings) == 0

    out = capsys.readouterr().out
    assert out.startswith("dry run: 3 ATB digests would be posted\n")
    assert "--- ATB digest for all locations to channel C0MANAGERS:" in out
    assert "--- ATB digest for north to channel C0NORTH:" in out
    assert "Total              330.00  100.00        3" in out
    assert "[0-30 (2)] [91-120 (1)] [over 180 (1)]" in out
    assert "(chart atb-north-2026-06-30.png: PNG, " in out
    assert fake_slack.web_api_calls == []
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(digest_post))).scalar() == 0

    run = argparse.Namespace(name="atb-digest", as_of=JUNE_30, dry_run=False)
    assert await _jobs_run(run, settings) == 0
    assert await _jobs_run(run, settings) == 0  # by hand again
    out = capsys.readouterr().out
    assert "3 ATB digests posted" in out and "0 ATB digests posted" in out
    assert len(fake_slack.called("chat.postMessage")) == 3


async def test_nothing_is_posted_when_the_digest_is_off_or_has_no_channel(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    off = await run_job(db, clock, slack_ports(fake_slack, atb="off"), "atb-digest")
    assert off is not None and off.summary == "the ATB digest is off (ARBOT_ATB_DIGEST=off)"
    nowhere = slack_ports(fake_slack, atb_channel="", atb_channels={})
    none = await run_job(db, clock, nowhere, "atb-digest", rerun=True)
    assert none is not None and none.summary.startswith("no channel for the ATB digest")
    assert fake_slack.web_api_calls == []


def test_the_configuration_is_checked() -> None:
    assert parse_channels(" main=C1 , north = C2,") == {"main": "C1", "north": "C2"}
    for bad in ("main", "main=C1,main=C2", "=C1"):
        with pytest.raises(ValidationError, match="lists each location once as location=channel"):
            parse_channels(bad)
    with pytest.raises(ValidationError, match="must be daily, weekly or off, not 'hourly'"):
        digest_settings(atb="hourly", atb_channel="", atb_channels="", cash_channel="")
    assert digest_settings(atb="", atb_channel="C1", atb_channels="", cash_channel="").atb == (
        "daily"
    )


async def test_digests_age_by_the_offices_rule_and_compare_only_like_with_like(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, accounts: dict[str, Account]
) -> None:
    """AR-194: an office aging in 0-90 and over 90 gets its digest so, keeps the rule
    with it (a bucket's accounts are read again by that rule), and a later digest by
    another rule compares its total but not its buckets, which are not alike."""
    office = AgingRule(bounds=(90,))
    clock.moment = at(JUNE_29, 14)
    await run_job(db, clock, replace(slack_ports(fake_slack), aging=office), "atb-digest",
                  as_of=JUNE_29)  # fmt: skip
    clock.moment = at(JUNE_30, 14)
    await run_job(db, clock, slack_ports(fake_slack), "atb-digest", as_of=JUNE_30)

    first, second = posted_to(fake_slack, MANAGERS)
    shown = text_of(first)
    assert "0-90               160.00   48.48        2\n" in shown
    assert "over 90            170.00   51.52        2\n" in shown
    assert list(drill_buttons(first)) == ["0-90 (2)", "over 90 (2)"]
    async with db.read() as conn:
        kept = (await conn.execute(select(digest_post.c.id).where(
            digest_post.c.as_of == JUNE_29, digest_post.c.scope == ""))).scalar_one()  # fmt: skip
        old = await bucket_accounts(conn, ADMIN, kept, 1)
    assert old.digest.rule == office
    assert [a.name for a in old.accounts] == ["Ana López", "Bea Brown"]
    assert old.total == usd("170.00")
    later = text_of(second)  # the total compares; buckets of another rule do not
    assert "0-30               160.00   48.48        2\n" in later
    assert "61-90                0.00    0.00        0\n" in later
    assert "Total              330.00  100.00        3          0.00\n" in later
