"""The daily cash digest (issue 6): the day before's receipts and adjustments by payer and
method (AR-170), the messages to patients that failed that day (AR-179, account and
reason, never the phone), the unapplied payments (AR-139) and the accounts in credit
(AR-056), posted once through the real Slack messenger to the fake Slack; the dry run
prints it and posts nothing."""

from __future__ import annotations

from datetime import date

import pytest

from core.clock import FixedClock
from core.db import Database
from core.ledger.accounts import Account
from core.patients.outbox import claim_send, record_outcome
from core.ports import Delivery
from core.services.payments import record_payment
from core.services.writeoffs import write_off
from scheduler.runner import run_job
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import FakeSlack, fake_slack
from tests.scheduler.digest_helpers import at, charge, person, posted_to, slack_ports, text_of

__all__ = ["fake_slack"]

JUNE_28, JUNE_29, JUNE_30 = date(2026, 6, 28), date(2026, 6, 29), date(2026, 6, 30)
CASH = "C0CASH"
PHONE = "+15550001234"


async def pays(db: Database, account: Account, amount: str, on: date, method: str) -> None:
    await record_payment(db, ADMIN, account_id=account.id, amount=usd(amount), received_on=on,
                         key=f"pays-{account.id}-{amount}-{on}", method=method)  # fmt: skip


async def delivery(db: Database, clock: FixedClock, account: Account, day: date, ok: bool) -> None:
    clock.moment = at(day, 12)
    send = await claim_send(db, channel="sms", address=PHONE, kind="dunning_reminder",
                            account_id=account.id, dedupe_key=f"test-{day}-{ok}")  # fmt: skip
    assert send is not None
    result = Delivery(ok=True) if ok else Delivery(False, None, "invalid_address", "21211")
    await record_outcome(db, send.id, result)


@pytest.fixture
async def day(db: Database, clock: FixedClock) -> dict[str, Account]:
    """29 June: Ana pays 50 by card and 5 of her bill is written off, Luis pays 30 in cash,
    the insurer Aetna pays 100 by check that matches nothing (unapplied); a text to Ana's
    phone fails. Ana also paid 10 on the 28th, and another text failed on the 30th."""
    ana = await person(db, "López", "Ana", phone=PHONE)
    luis = await person(db, "Chen", "Luis", location="north")
    aetna = await person(db, "Aetna", "", customer_type="insurer", financial_class="commercial")
    await charge(db, ana, "200.00", date(2026, 6, 1))
    await charge(db, luis, "80.00", date(2026, 6, 25))
    await pays(db, ana, "10.00", JUNE_28, "card")
    await pays(db, ana, "50.00", JUNE_29, "card")
    await pays(db, luis, "30.00", JUNE_29, "cash")
    await pays(db, aetna, "100.00", JUNE_29, "check")
    await write_off(db, ADMIN, account_id=ana.id, key="wo-ana", on=JUNE_29, reason="ADMIN",
                    note="courtesy", amount=usd("5.00"))  # fmt: skip
    await delivery(db, clock, ana, JUNE_29, ok=False)
    await delivery(db, clock, ana, JUNE_29, ok=True)
    await delivery(db, clock, ana, JUNE_30, ok=False)
    clock.moment = at(JUNE_30, 14)
    return {"ana": ana, "luis": luis, "aetna": aetna}


async def test_the_cash_digest_tells_the_day_before_by_payer_and_method(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, day: dict[str, Account]
) -> None:
    report = await run_job(db, clock, slack_ports(fake_slack, cash_channel=CASH), "cash-digest")

    assert report is not None and report.summary == "1 cash digest posted"
    [posted] = posted_to(fake_slack, CASH)
    assert posted.body["text"] == "Cash digest for Jun 29, 2026: $180.00 received"
    shown = text_of(posted)
    assert "*Cash digest* for Jun 29, 2026 (USD)" in shown
    assert (
        "*Receipts*: $180.00 from 3 accounts\n"
        "• self-pay · card: $50.00 (1)\n"
        "• self-pay · cash: $30.00 (1)\n"
        "• Aetna · check: $100.00 (1)"
    ) in shown
    assert (
        "*Adjustments*: -$5.00 on A/R\n• Administrative write-off · self-pay: -$5.00 (1)" in shown
    )
    ana, aetna = day["ana"], day["aetna"]
    assert (
        "*Messages to patients not delivered*: 1\n• sms, invalid address: 1\n"
        f"• {ana.number} · sms · dunning_reminder · invalid address"
    ) in shown
    assert PHONE not in shown and "21211" not in shown
    assert "*Unapplied payments*: 1, oldest first (`/ar unapplied` to apply them)" in shown
    assert f"• *{aetna.number}* · Jun 29, 2026 · $100.00 unapplied of $100.00" in shown
    # AR-056: the accounts in credit, for a supervisor to review; Aetna's 100 matched nothing
    assert "*Accounts in credit*: 1, largest first, to review (`/ar credits`" in shown
    assert f"• *{aetna.number}* · in credit $100.00 since Jun 29, 2026" in shown
    assert "$10.00" not in shown  # the 28th's payment


async def test_the_cash_digest_goes_once_a_day(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, day: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack, cash_channel=CASH)
    await run_job(db, clock, ports, "cash-digest")
    clock.advance(hours=3)
    assert await run_job(db, clock, ports, "cash-digest") is None
    again = await run_job(db, clock, ports, "cash-digest", rerun=True)

    assert again is not None and again.summary == "0 cash digests posted"
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert fake_slack.called("files.getUploadURLExternal") == []  # no chart for cash
    clock.moment = at(date(2026, 7, 1), 14)
    await run_job(db, clock, ports, "cash-digest")
    second = posted_to(fake_slack, CASH)[1]
    assert "*Cash digest* for Jun 30, 2026" in text_of(second)
    assert "No receipts." in text_of(second) and "No adjustments." in text_of(second)
    assert "*Messages to patients not delivered*: 1\n" in text_of(second)  # the 30th's


async def test_the_dry_run_prints_the_cash_digest_and_posts_nothing(
    db: Database, clock: FixedClock, fake_slack: FakeSlack, day: dict[str, Account]
) -> None:
    ports = slack_ports(fake_slack, cash_channel=CASH)
    dry = await run_job(db, clock, ports, "cash-digest", dry_run=True)

    assert dry is not None and dry.summary == "dry run: 1 cash digest would be posted"
    assert "--- cash digest for all locations to channel C0CASH:" in dry.lines
    assert "• Aetna · check: $100.00 (1)" in dry.lines
    quiet = await run_job(db, clock, ports, "cash-digest", as_of=date(2026, 7, 2), dry_run=True)
    assert quiet is not None and "*Cash digest* for Jul 1, 2026 (USD)" in quiet.lines
    assert "*Messages to patients not delivered*: none" in quiet.lines
    assert fake_slack.web_api_calls == []
    nowhere = await run_job(db, clock, slack_ports(fake_slack), "cash-digest")
    assert nowhere is not None
    assert nowhere.summary == "no channel for the cash digest: set ARBOT_CASH_DIGEST_CHANNEL"
    assert fake_slack.web_api_calls == []
