"""Plan instalments and statements (issue 6, AR-144, AR-148, AR-161): autopay charge
attempts, a plan's default, statement cycles.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, key: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{key}"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _check(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}"))


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _plan_charge() -> None:
    t = "plan_charge"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_day", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="charging", nullable=False),
        sa.Column("payment_ref", sa.String(length=200), nullable=True),
        sa.Column("failure", sa.String(length=60), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        _check(t, "status", "status IN ('charging', 'succeeded', 'failed')"),
        _check(t, "amounts", "amount_minor > 0 AND attempt > 0"),
        _fk(t, "plan_id", "payment_plan"),
        _pk(t),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_plan_charge_idempotency_key")),
        sa.UniqueConstraint(
            "plan_id", "seq", "attempt", name=op.f("uq_plan_charge_plan_id_seq_attempt")
        ),
    )


def _statement_cycle() -> None:
    t = "statement_cycle"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(length=30), nullable=True),
        sa.Column("financial_class", sa.String(length=30), nullable=True),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("min_balance_minor", MINOR, server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _check(t, "frequency", "frequency IN ('monthly', 'weekly', 'daily', 'never')"),
        _check(
            t,
            "day",
            "(frequency = 'monthly' AND day BETWEEN 1 AND 31) OR "
            "(frequency = 'weekly' AND day BETWEEN 1 AND 7) OR "
            "(frequency IN ('daily', 'never') AND day IS NULL)",
        ),
        _check(t, "min_balance", "min_balance_minor >= 0"),
        _check(t, "scope", "account_id IS NULL OR (location IS NULL AND financial_class IS NULL)"),
        _fk(t, "account_id", "customer_account"),
        _pk(t),
    )
    op.create_index("ix_statement_cycle_account", t, ["account_id"])


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite needs no table rebuild (payment_plan has children).
    op.add_column("payment_plan", sa.Column("defaulted_on", sa.Integer(), nullable=True))
    op.add_column("payment_plan", sa.Column("defaulted_seq", sa.Integer(), nullable=True))
    _plan_charge()
    _statement_cycle()


def downgrade() -> None:
    op.drop_index("ix_statement_cycle_account", table_name="statement_cycle")
    op.drop_table("statement_cycle")
    op.drop_table("plan_charge")
    with op.batch_alter_table("payment_plan") as batch:
        batch.drop_column("defaulted_seq")
        batch.drop_column("defaulted_on")
