"""Money: integer minor units, strict parsing, exact splits (AR-120)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ValidationError
from core.money import MAX_MINOR, Money, parse_money, parse_positive, split_minor


def test_parsing_is_exact_and_refuses_extra_decimals() -> None:
    assert parse_money("1,234.50", "USD") == Money(123450, "USD")
    assert parse_money("12", "JPY") == Money(12, "JPY")
    assert parse_money("1.234", "BHD") == Money(1234, "BHD")
    with pytest.raises(ValidationError, match="more decimals than USD allows"):
        parse_money("10.005", "USD")
    with pytest.raises(ValidationError, match="more decimals than JPY allows"):
        parse_money("1.5", "JPY")


@pytest.mark.parametrize("text", ["", "abc", "1..2", "NaN", "Infinity", "1e400x"])
def test_garbage_is_not_an_amount(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_money(text, "USD")


def test_zero_and_negative_are_refused_where_a_positive_amount_is_needed() -> None:
    with pytest.raises(ValidationError, match="greater than zero"):
        parse_positive("0.00", "USD")
    with pytest.raises(ValidationError, match="greater than zero"):
        parse_positive("-5", "USD")


def test_floats_and_unknown_currencies_are_refused() -> None:
    with pytest.raises(ValidationError, match="floats are not money"):
        Money.from_decimal(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ISO 4217"):
        Money(1, "usd")


def test_fifteen_digits_fit_and_sixteen_do_not() -> None:
    assert Money(MAX_MINOR, "USD").to_decimal() == Decimal("9999999999999.99")
    assert str(parse_money("9999999999999.99", "USD")) == "9999999999999.99"
    with pytest.raises(ValidationError, match="15 digits"):
        Money(MAX_MINOR + 1, "USD")


def test_arithmetic_keeps_the_currency() -> None:
    assert Money(150, "USD") - Money(60, "USD") == Money(90, "USD")
    with pytest.raises(ValidationError, match="cannot combine USD with EUR"):
        _ = Money(1, "USD") + Money(1, "EUR")


def test_split_by_largest_remainder() -> None:
    assert split_minor(100, [1, 1, 1]) == [34, 33, 33]
    assert split_minor(-100, [1, 1, 1]) == [-34, -33, -33]
    assert Money(1000, "USD").split([70, 30]) == (Money(700, "USD"), Money(300, "USD"))
    with pytest.raises(ValidationError):
        split_minor(10, [0, 0])


@given(
    st.integers(-(10**15) + 1, 10**15 - 1), st.lists(st.integers(0, 1000), min_size=1, max_size=12)
)
def test_split_parts_always_add_up(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    parts = split_minor(total, weights)
    assert sum(parts) == total
    exact = [total * w / sum(weights) for w in weights]
    assert all(abs(p - e) < 1 for p, e in zip(parts, exact, strict=True))
