"""Money: an integer number of minor units (cents) and an ISO 4217 currency.

There is exactly one way to make a money value from outside data, :func:`parse_money`
(or :meth:`Money.from_decimal`), and it refuses anything the currency cannot hold:
``"10.005"`` in USD is an error, not a rounding. Floats are refused outright (AR-120).
Amounts of 15 significant digits fit; the database stores them in 64-bit columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision

from core.errors import ValidationError

MAX_MINOR = 10**15 - 1
"""The largest magnitude stored: 15 digits of minor units (AR-120)."""


@cache
def currency_exponent(currency: str) -> int:
    """Number of decimals the currency has (USD 2, JPY 0, BHD 3)."""
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ValidationError(f"{currency!r} is not an ISO 4217 currency code")
    try:
        return int(get_currency_precision(currency))
    except (KeyError, ValueError) as exc:  # pragma: no cover - babel knows every ISO code
        raise ValidationError(f"unknown currency {currency!r}") from exc


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount in minor units of one currency. Immutable; arithmetic keeps the currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise ValidationError(
                f"money needs an integer number of minor units, got {self.minor!r}"
            )
        currency_exponent(self.currency)
        if abs(self.minor) > MAX_MINOR:
            raise ValidationError(f"{self.minor} minor units exceed the 15 digits arbot stores")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Exact conversion; more decimals than the currency has is an error."""
        if isinstance(amount, float):
            raise ValidationError("floats are not money: pass a Decimal or a string")
        try:
            value = Decimal(amount)
        except InvalidOperation as exc:
            raise ValidationError(f"{amount!r} is not an amount") from exc
        if not value.is_finite():
            raise ValidationError(f"{amount!r} is not an amount")
        exponent = currency_exponent(currency)
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise ValidationError(
                f"{amount} has more decimals than {currency} allows ({exponent})"
            )
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def __str__(self) -> str:
        """Plain decimal string, e.g. ``"12.50"``: the form used in CSV and JSON."""
        exponent = currency_exponent(self.currency)
        return f"{self.to_decimal():.{exponent}f}"

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValidationError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __bool__(self) -> bool:
        return self.minor != 0

    def split(self, weights: Sequence[int]) -> tuple[Money, ...]:
        """Split by integer weights so that the parts always add up exactly."""
        return tuple(Money(part, self.currency) for part in split_minor(self.minor, weights))


def parse_money(text: str, currency: str) -> Money:
    """Parse what a person typed (``"1,234.50"``, ``"12"``) into money; strict about decimals."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not cleaned:
        raise ValidationError("an amount is required")
    return Money.from_decimal(cleaned, currency)


def parse_positive(text: str, currency: str) -> Money:
    """Parse an amount that must be greater than zero (payments, charges, write-offs)."""
    money = parse_money(text, currency)
    require_positive(money, "amount")
    return money


def require_positive(amount: Money, what: str) -> None:
    """Refuse zero and negative amounts where only money in one direction makes sense."""
    if amount.minor <= 0:
        raise ValidationError(f"a {what} must be greater than zero, got {amount}")


def split_minor(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of ``total`` by non-negative integer ``weights``.

    Each part gets ``total * w / sum(w)`` rounded down; the units left over go to the
    parts with the largest remainders (earlier parts win ties). The parts always sum
    to ``total``. Negative totals split like their absolute value, then negate.
    """
    if not weights:
        raise ValidationError("cannot split into zero parts")
    if any(w < 0 for w in weights):
        raise ValidationError("split weights must not be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValidationError("split weights must not all be zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    parts = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    left = magnitude - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]
