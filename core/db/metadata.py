"""The one SQLAlchemy ``MetaData`` every table in arbot belongs to, and shared column types."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

EPOCH = date(1970, 1, 1)

MAX_ID = 2**31 - 1
"""The largest row id: ids are INTEGER, 32 bits on PostgreSQL. A number typed or sent
back by a button above it names no row (and PostgreSQL would refuse to compare it)."""

# 64-bit integers everywhere money lives (AR-120); SQLite's INTEGER is already 64-bit.
Minor = BigInteger().with_variant(Integer(), "sqlite")
Currency = String(3)


def to_day(value: date) -> int:
    return (value - EPOCH).days


def from_day(value: int) -> date:
    return EPOCH + timedelta(days=value)


def day_number(column: Any) -> Any:
    """A :class:`DayNumber` column as its stored integer, to compare with :func:`to_day`
    values and subtract in SQL (aging, dunning and bad debt count days this way)."""
    return type_coerce(column, Integer)


class DayNumber(TypeDecorator[date]):
    """A calendar date stored as whole days since 1970-01-01.

    Aging is date arithmetic over a million rows; integers make it one subtraction in
    any database, and a covering index can hold them.
    """

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"DayNumber needs a date, got {value!r}")
        return to_day(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> date | None:
        return None if value is None else from_day(int(value))


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware moment, stored in UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(f"UtcDateTime needs an aware datetime, got {value!r}")
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
