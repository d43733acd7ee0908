"""``arbot jobs run dunning`` and ``late-fees`` over the channels configured in the
environment: real aiogram and Twilio clients talking HTTP to the fakes on 127.0.0.1,
each message sent exactly once however often the job is run by hand; ``arbot jobs
list`` shows the run."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from bot.cli import _jobs_list, _jobs_run
from core.clock import FixedClock
from core.db import Database
from core.dunning import set_location_hours
from core.settings import Settings
from tests.core.dunning_helpers import AS_OF, opt_in_sms, owes, patient
from tests.core.helpers import ADMIN, balance_of, usd
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, fake_telegram
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, fake_twilio

__all__ = ["fake_telegram", "fake_twilio"]


def settings_for(db: Database, telegram: FakeTelegram, twilio: FakeTwilio) -> Settings:
    return Settings(
        database_url=db.url,
        telegram_bot_token=BOT_TOKEN,
        telegram_api_base=telegram.base,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=twilio.base,
        public_base_url="https://clinic.example",
    )


async def test_a_run_by_hand_sends_through_the_configured_channels_once(
    db: Database,
    clock: FixedClock,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("bot.cli.SystemClock", lambda: clock)
    await set_location_hours(db, ADMIN, location="main", zone="America/New_York")
    on_telegram = await patient(db, "Tele")
    await owes(db, on_telegram, "45.00", 20)
    by_sms = await patient(db, "Texted", telegram=False, phone="+15550004000")
    await opt_in_sms(db, "+15550004000")
    await owes(db, by_sms, "80.00", 35)
    settings = settings_for(db, fake_telegram, fake_twilio)
    run = argparse.Namespace(name="dunning", as_of=AS_OF, dry_run=False)

    assert await _jobs_run(run, settings) == 0
    first = capsys.readouterr().out
    assert await _jobs_run(run, settings) == 0  # by hand again: nothing twice
    second = capsys.readouterr().out

    assert first.splitlines()[0] == (
        "2 reminders queued, 2 sent now, 0 accounts flagged for collections"
    )
    # Delivered, not merely tried: both providers accepted them (a wrong bot token
    # here once made Telegram's answer 401, counted as handled).
    assert "sent: 2" in first.splitlines()
    assert second.splitlines()[0].startswith("0 reminders queued, 0 sent now")
    [telegram] = fake_telegram.called("sendMessage")
    assert telegram.params["text"].startswith(
        f"Reminder from the billing office: $45.00 on account {on_telegram.number}"
    )
    assert "https://clinic.example/pay/" in telegram.params["text"]
    [sms] = fake_twilio.messages
    assert sms.to == "+15550004000" and sms.body.startswith(
        "You have a balance with the billing office."
    )
    assert "Reply HELP for help, STOP to stop these texts." in sms.body

    assert await _jobs_list(argparse.Namespace(), settings) == 0
    listing = capsys.readouterr().out
    assert "last: 2026-06-30 finished" in listing
    # One column of names, as long as the longest: every schedule starts in one place.
    starts = {line.index("cron") for line in listing.splitlines() if " cron " in line}
    assert len(starts) == 1, listing
    assert "0 reminders queued, 0 sent now" in listing  # the latest attempt's summary


async def test_a_dry_run_by_hand_shows_who_cannot_be_reached(
    db: Database,
    clock: FixedClock,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("bot.cli.SystemClock", lambda: clock)
    nobody = await patient(db, "Nobody", telegram=False, phone="+15550004001")
    await owes(db, nobody, "80.00", 35)
    run = argparse.Namespace(name="dunning", as_of=AS_OF, dry_run=True)

    assert await _jobs_run(run, settings_for(db, fake_telegram, fake_twilio)) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("dry run for 2026-06-30: 0 planned (nothing), 1 more owe")
    assert out[1].split()[:6] == [nobody.number, "level", "3", "reminder", "UNREACHABLE", "80.00"]
    assert fake_telegram.called("sendMessage") == [] and fake_twilio.messages == []


async def test_late_fees_by_hand_post_once_and_invoice_through_the_real_channels(
    db: Database,
    clock: FixedClock,
    fake_telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """AR-107, AR-151: ``ARBOT_LATE_FEE`` set, a run by hand charges the month's fee
    and the invoice goes through aiogram to the fake Bot API; a second run neither
    charges nor sends again."""
    monkeypatch.setattr("bot.cli.SystemClock", lambda: clock)
    late = await patient(db, "Late")
    await owes(db, late, "200.00", 60)
    settings = replace(settings_for(db, fake_telegram, fake_twilio), late_fee="10.00")
    run = argparse.Namespace(name="late-fees", as_of=AS_OF, dry_run=False)

    assert await _jobs_run(run, settings) == 0
    first = capsys.readouterr().out
    assert await _jobs_run(run, settings) == 0
    second = capsys.readouterr().out

    assert first.splitlines()[0].startswith("1 accounts owe a late fee this month (USD 10.00")
    assert first.splitlines()[0].endswith("1 late-fee invoices sent now")
    assert second.splitlines()[0].endswith("0 late-fee invoices sent now")
    [telegram] = fake_telegram.called("sendMessage")
    assert telegram.params["text"].startswith(
        f"Invoice from the billing office: a late fee of $10.00 was added to account {late.number}"
    )
    assert "Balance now: $210.00." in telegram.params["text"]
    assert await balance_of(db, late.id) == usd("210.00")
