"""``/ar`` commands are read into typed values, or refused with a message that says what
to fix; whatever is typed, nothing else can happen (a property, checked by hypothesis)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.staff.parse import (
    MAX_TEXT,
    METHODS,
    Atb,
    Charge,
    Command,
    Find,
    Help,
    Link,
    Payment,
    PaymentForm,
    Refund,
    ReverseWriteOff,
    ShowAccount,
    Unapplied,
    WriteOff,
    parse,
)
from bot.staff.parse_collect import ShowRejects
from bot.staff.words import ParseError
from core.ledger.aging import Basis, GroupBy
from core.money import Money


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("  help  ", Help()),
        ("HELP me", Help()),
        ("find López", Find("López")),
        ("find O'Brien", Find("O'Brien")),
        ('find "Ana   María"', Find("Ana   María")),
        ("search +1 555 123 4567", Find("+1 555 123 4567")),
        ("account A0000042", ShowAccount("A0000042")),
        ("show a0000042", ShowAccount("a0000042")),
        ("charge A0000042 cons", Charge("A0000042", "CONS")),
        ("charge A0000042 CONS 3", Charge("A0000042", "CONS", 3)),
        ("charge A0000042 CONS 2026-06-30", Charge("A0000042", "CONS", 1, date(2026, 6, 30))),
        ("charge A1 XR-CHEST 2026-06-30 2", Charge("A1", "XR-CHEST", 2, date(2026, 6, 30))),
        ("payment A0000042 120 cash", Payment("A0000042", usd(12000), "cash")),
        ("pay A1 1,234.50 Card", Payment("A1", usd(123450), "card")),
        (
            "payment A1 .5 check “cheque 1042”",
            Payment("A1", usd(50), "check", "cheque 1042"),
        ),
        ("payment split", PaymentForm()),
        ("pay SPLIT a0000042", PaymentForm("a0000042")),
        ("atb", Atb()),
        (
            "atb --as-of 2026-06-30 --by financial_class --over 90 --basis due --csv",
            Atb(date(2026, 6, 30), GroupBy.FINANCIAL_CLASS, 90, Basis.DUE, csv=True),
        ),
        ("atb over:90 --location=north", Atb(over=90, location="north")),
        ("atb --buckets 30,60,90", Atb(buckets=(30, 60, 90))),  # AR-194
        ("atb --detail", Atb(csv=True, detail=True)),  # AR-184: the CSV, with more
        ("rejects", ShowRejects()),  # AR-067
        ("rejects Payments", ShowRejects("payments")),
        (
            "writeoff A1 10 small_balance a note",
            WriteOff("A1", usd(1000), "SMALL_BALANCE", "a note"),
        ),
        ('writeoff A1 all ADMIN "see letter"', WriteOff("A1", None, "ADMIN", "see letter")),
        ("writeoff reverse T00000012 ADMIN oops", ReverseWriteOff(12, "ADMIN", "oops")),
        ("refund A1 20 CREDIT_BALANCE", Refund("A1", usd(2000), "CREDIT_BALANCE", "")),
        ("unapplied", Unapplied()),
        ("link A1", Link("A1")),
    ],
)
def test_commands_are_read_into_typed_values(text: str, command: object) -> None:
    assert parse(text, "USD") == command


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate", "'frobnicate' is not an /ar subcommand"),
        ("find a", "2+ characters"),
        ("account", "usage: /ar account <account number>"),
        ("account A1 A2", "usage: /ar account"),
        ("account '; DROP TABLE journal_entry; --", "usage: /ar account"),
        ("account <!channel>", "is not an account number"),
        ("charge A1 CONS 2 2026-06-30 x", "usage: /ar charge"),
        ("charge A1 CO*NS", "is not a service code"),
        ("charge A1 CONS 0", "'0' is not a quantity"),
        ("charge A1 CONS 10000", "from 1 to 9999"),
        ("charge A1 CONS 2 3", "'3' is neither a quantity nor a service date"),
        ("charge A1 CONS 2026-02-30", "'2026-02-30' is not a service date"),
        ("charge A1 CONS 30/06/2026", "is not a quantity"),
        ("payment A1 10.005 cash", "10.005 has more decimals than USD allows (2)"),
        ("payment A1 ten cash", "'ten' is not an amount"),
        ("payment A1 -10 cash", "'-10' is not an amount"),
        ("payment A1 1e3 cash", "'1e3' is not an amount"),
        ("payment A1 NaN cash", "'NaN' is not an amount"),
        ("payment A1 0 cash", "must be greater than zero"),
        ("payment A1 0.00 cash", "must be greater than zero"),
        ("payment A1 10000000000000 cash", "exceed the 15 digits"),
        ("payment A1 ١٢٣ cash", "is not an amount"),
        ("payment A1 10 bitcoin", "'bitcoin' is not a payment method"),
        ("payment A1 10 cash a b", "usage: /ar payment"),
        ("payment split A1 A2", "usage: /ar payment split [account]"),
        ("payment split <!here>", "is not an account number"),
        ('payment A1 10 cash "unclosed', "check the quotes"),
        ('payment A1 10 cash ref"x"', "check the quotes"),
        ("payment A1 10 cash " + "r" * 61, "1 to 60 characters"),
        ("atb --over", "--over needs a value"),
        ("atb --over ninety", "'ninety' is not a number of days"),
        ("atb --by colour", "--by takes one of financial_class"),
        ("atb --csv=yes", "--csv takes no value"),
        ("atb --csv --csv", "--csv is given twice"),
        ("atb --as-of 30-06-2026", "is not a --as-of date"),
        ("atb sideways", "is not an ATB option"),
        ("atb --buckets 90,30", "--buckets: bucket bounds must increase"),
        ("atb --detail=all", "--detail takes no value"),
        ("rejects refunds", "rejects are of patients, services, charges, payments, remittance"),
        ("rejects charges payments", "usage: /ar rejects"),
        ("find \x00", "control characters"),
        ("x" * 5000, "5,000 characters long"),
    ],
)
def test_mistakes_get_a_message_that_says_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ParseError) as refused:
        parse(text, "USD")
    assert message in str(refused.value)


def test_a_long_value_is_quoted_back_short() -> None:
    with pytest.raises(ParseError) as refused:
        parse("account " + "A" * 400, "USD")
    assert len(str(refused.value)) < 200


def test_amounts_follow_the_currency() -> None:
    assert parse("payment A1 1000 cash", "JPY") == Payment("A1", Money(1000, "JPY"), "cash")
    with pytest.raises(ParseError, match="more decimals than JPY allows"):
        parse("payment A1 10.5 cash", "JPY")


@given(st.text(max_size=MAX_TEXT + 50))
@example("payment A1 1" + "0" * 400 + " cash")
@example('find "' + "\u202e" * 10 + '"')
@example("charge A1 CONS 9" * 300)
@example("atb --over=" + "9" * 50)
def test_any_text_parses_or_raises_the_parsers_own_error(text: str) -> None:
    try:
        command = parse(text, "USD")
    except ParseError as refused:
        assert str(refused)
        assert "Traceback" not in str(refused)
    else:
        assert isinstance(command, Command)


words = st.sampled_from(
    ["help", "find", "account", "charge", "payment", "pay", "atb", "--over", "--csv", "90",
     "A0000042", "CONS", "2026-06-30", "1,200.50", "cash", '"ref 1"', "“x”", "'", "--by"]
)  # fmt: skip


@given(st.lists(words, max_size=8).map(" ".join))
def test_commands_made_of_real_words_parse_or_raise_the_parsers_own_error(text: str) -> None:
    try:
        parse(text, "USD")
    except ParseError as refused:
        assert str(refused)


@given(
    minor=st.integers(min_value=1, max_value=10**15 - 1),
    method=st.sampled_from(METHODS),
    reference=st.none()
    | st.text(alphabet="abc 123-/", min_size=1, max_size=60).map(str.strip).filter(bool),
)
def test_a_payment_reads_back_exactly_what_was_typed(
    minor: int, method: str, reference: str | None
) -> None:
    amount = usd(minor)
    quoted = f' "{reference}"' if reference is not None else ""
    parsed = parse(f"payment A0000042 {amount} {method}{quoted}", "USD")
    assert parsed == Payment("A0000042", amount, method, reference)
