"""Whatever is typed after ``/ar``, signed and POSTed as Slack sends it, the person gets one
ephemeral reply that says what is wrong, never a stack trace or a failure reference, and
the ledger is left as it was."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.staff.parse import ChargeForm, PaymentForm, parse
from bot.staff.words import ParseError
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.fakes.slack import Call

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
FAILURE = "could not finish this request"


async def entry_count(db: Database) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(func.count()).select_from(journal_entry))
        return int(found.scalar_one())


def refused_plainly(reply: Call) -> str:
    """What the person read, once it is known to be a refusal and nothing worse."""
    shown = text_of(reply)
    raw = reply.raw.decode()
    assert "Traceback" not in raw and FAILURE not in raw and "quote reference" not in raw, raw
    return shown


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    assert account.number == "A0000001"
    return account


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("account Ä1", "'Ä1' is not an account number"),
        ("payment A0000001 １０ cash", "'１０' is not an amount"),
        ("payment A0000001 ١٢٣ cash", "'١٢٣' is not an amount"),
        ("'; DROP TABLE journal_entry; --", '"\';" is not an /ar subcommand'),
        ("account '; DROP TABLE journal_entry; --", "usage: /ar account"),
        ("payment A0000001 10 cash '; DROP TABLE journal_entry; --", "usage: /ar payment"),
        ("x" * 5000, "that command is 5,000 characters long"),
        ("payment A0000001 10 cash " + "r" * 4975, "5,000 characters long"),
        ("find Ana\x00", "the command contains control characters"),
        ("account A0000001\x07", "the command contains control characters"),
        ("payment A0000001 10 cash \x1b[31mred", "the command contains control characters"),
        ("account 😀", "'😀' is not an account number"),
        ("payment A0000001 10 💵", "'💵' is not a payment method"),
        ("💸 A0000001 10 cash", "'💸' is not an /ar subcommand"),
    ],
    ids=lambda v: repr(v)[:40],
)
async def test_hostile_text_gets_one_specific_refusal_and_posts_nothing(
    slack: Slack, db: Database, ana: Account, text: str, message: str
) -> None:
    before = await entry_count(db)
    reply = await slack.command(text, "U0ADMIN")  # one ephemeral reply, or it fails
    shown = refused_plainly(reply)
    assert shown.startswith(":warning: "), shown
    assert message in shown, shown
    assert "Nothing was posted" in shown
    assert len(shown) < 500  # a long value is quoted back short
    assert await entry_count(db) == before
    assert slack.fake.web_api_calls == []


async def test_a_command_with_the_word_payload_is_a_command(
    slack: Slack, db: Database, ana: Account
) -> None:
    """Found by the random-text test: slack-bolt reads any form body containing the
    word "payload" as a button's payload, finds none, and answers 404, so a note or a
    search with that word was lost ("the payload of the 835 was wrong")."""
    reply = await slack.command("find payload", "U0ADMIN")
    assert "No account matches “payload”" in refused_plainly(reply)
    shown = text_of(await slack.command(f"account {ana.number} payload", "U0ADMIN"))
    assert "usage: /ar account" in shown


async def test_sql_in_a_search_is_only_searched_for(
    slack: Slack, db: Database, ana: Account
) -> None:
    before = await entry_count(db)
    reply = await slack.command('find "\'; DROP TABLE journal_entry; --"', "U0ADMIN")
    assert "No account matches “'; DROP TABLE journal_entry; --”" in refused_plainly(reply)
    assert await entry_count(db) == before  # the table is there, as full as it was
    emoji = refused_plainly(await slack.command("find 😀😀", "U0ADMIN"))
    assert "No account matches “😀😀”" in emoji


def answered_in_a_modal(text: str) -> bool:
    """``/ar charge [account]`` and ``/ar payment split`` open a modal: their answer is
    the modal, not an ephemeral message."""
    try:
        return isinstance(parse(text, "USD"), ChargeForm | PaymentForm)
    except ParseError:
        return False


WORDS = st.sampled_from(
    ["help", "find", "account", "charge", "payment", "pay", "atb", "writeoff", "refund",
     "reverse", "unapplied", "link", "A0000001", "a0000001", "Z0000009", "CONS", "XRAY",
     "NOPE", "0", "10", "1,200.50", "１０", "-5", "all", "cash", "bitcoin", "--over", "--by",
     "doctor", "--basis", "due", "--as-of", "2026-02-30", "ADMIN", "CREDIT_BALANCE",
     "T00000001", '"', "“x”", "'", "😀", "Ä1", "<!channel>", "\u202e", "\x00"]
)  # fmt: skip
TYPED = st.one_of(
    # Anything at all, from the most powerful user: no real account is ever named, so
    # nothing can rightly be posted.
    st.tuples(st.just("U0ADMIN"), st.text(max_size=1100)),
    # Real subcommands around the real account, from a user who may only look.
    st.tuples(st.just("U0AUDIT"), st.lists(WORDS, max_size=7).map(" ".join)),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(typed=TYPED)
@example(typed=("U0ADMIN", "payment A0000001 1" + "0" * 400 + " cash"))
@example(typed=("U0ADMIN", "atb --over=" + "9" * 50))
@example(typed=("U0AUDIT", "payment A0000001 10 cash"))
@example(typed=("U0AUDIT", "writeoff A0000001 all ADMIN x"))
@example(typed=("U0ADMIN", "payload"))  # found by this test: slack-bolt's 404
async def test_random_text_gets_one_reply_and_leaves_the_ledger_alone(
    slack: Slack, db: Database, ana: Account, typed: tuple[str, str]
) -> None:
    user, text = typed
    assume(not answered_in_a_modal(text))
    before = await entry_count(db)
    reply = await slack.command(text, user)  # exactly one ephemeral reply
    refused_plainly(reply)
    assert await entry_count(db) == before
