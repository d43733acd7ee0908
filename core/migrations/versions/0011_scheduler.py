"""Scheduled jobs: run claims, dunning rules and levels, pauses, sending hours per
location, the dunning history and month-end ATB snapshots (AR-029, AR-108, AR-150,
AR-162).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
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


def _runs() -> None:
    t = "job_run"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        _check(t, "status", "status IN ('running','finished','failed')"),
        _pk(t),
        sa.UniqueConstraint("job", "period", name=op.f("uq_job_run_job_period")),
    )


def _rules() -> None:
    t = "dunning_rule"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("financial_class", sa.String(length=30), nullable=True),
        sa.Column("location", sa.String(length=30), nullable=True),
        sa.Column("min_balance_minor", MINOR, server_default="0", nullable=False),
        sa.Column("min_gap_days", sa.Integer(), server_default="7", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _check(t, "min_balance", "min_balance_minor >= 0"),
        _check(t, "gap", "min_gap_days BETWEEN 0 AND 365"),
        _pk(t),
        sa.UniqueConstraint("code", name=op.f("uq_dunning_rule_code")),
    )
    t = "dunning_level"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("days_after_due", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=12), server_default="message", nullable=False),
        _check(t, "level", "level >= 1"),
        _check(t, "days", "days_after_due BETWEEN -90 AND 3650"),
        _check(t, "action", "action IN ('message','collections')"),
        _fk(t, "rule_id", "dunning_rule"),
        _pk(t),
        sa.UniqueConstraint("rule_id", "level", name=op.f("uq_dunning_level_rule_id_level")),
        sa.UniqueConstraint(
            "rule_id", "days_after_due", name=op.f("uq_dunning_level_rule_id_days_after_due")
        ),
    )


def _pauses_and_hours() -> None:
    t = "dunning_pause"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=300), server_default="", nullable=False),
        sa.Column("from_day", sa.Integer(), nullable=False),
        sa.Column("until_day", sa.Integer(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("lifted_at", MOMENT, nullable=True),
        sa.Column("lifted_by", sa.String(length=120), nullable=True),
        _check(t, "reason", "reason IN ('promise_to_pay','dispute','plan','hardship','other')"),
        _check(t, "dates", "until_day IS NULL OR until_day >= from_day"),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "item_id", "ar_item"),
        _pk(t),
    )
    op.create_index("ix_dunning_pause_account", t, ["account_id"])
    op.create_index("ix_dunning_pause_item", t, ["item_id"])
    t = "location_hours"
    op.create_table(
        t,
        sa.Column("location", sa.String(length=30), nullable=False),
        sa.Column("time_zone", sa.String(length=60), nullable=False),
        sa.Column("send_from_minute", sa.Integer(), server_default="480", nullable=False),
        sa.Column("send_until_minute", sa.Integer(), server_default="1260", nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _check(
            t,
            "window",
            "send_from_minute >= 0 AND send_from_minute < send_until_minute "
            "AND send_until_minute <= 1440",
        ),
        sa.PrimaryKeyConstraint("location", name=op.f("pk_location_hours")),
    )


def _notices() -> None:
    t = "dunning_notice"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=30), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("anchor_day", sa.Integer(), nullable=False),
        sa.Column("planned_day", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("location", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("verified", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("overdue_minor", MINOR, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("queued_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.Column("failure", sa.String(length=40), nullable=True),
        _check(
            t,
            "status",
            "status IN ('queued','sending','sent','failed','skipped','expired','done')",
        ),
        _check(t, "action", "action IN ('message','collections')"),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "recipient_id", "customer_account"),
        _pk(t),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_dunning_notice_dedupe_key")),
    )
    op.create_index(
        "uq_dunning_notice_level",
        t,
        ["account_id", "rule", "level", "anchor_day"],
        unique=True,
        sqlite_where=sa.text("status <> 'expired'"),
        postgresql_where=sa.text("status <> 'expired'"),
    )
    op.create_index("ix_dunning_notice_account_day", t, ["account_id", "planned_day"])
    op.create_index("ix_dunning_notice_status", t, ["status", "planned_day"])


def _snapshots() -> None:
    t = "atb_snapshot"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("basis", sa.String(length=10), nullable=False),
        sa.Column("bounds", sa.String(length=60), nullable=False),
        sa.Column("total_minor", MINOR, nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("taken_at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _pk(t),
        sa.UniqueConstraint(
            "as_of", "currency", "basis", name=op.f("uq_atb_snapshot_as_of_currency_basis")
        ),
    )
    t = "atb_snapshot_line"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("group_key", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        _check(t, "dimension", "dimension IN ('total','location','financial_class')"),
        _fk(t, "snapshot_id", "atb_snapshot"),
        _pk(t),
        sa.UniqueConstraint(
            "snapshot_id",
            "dimension",
            "group_key",
            "position",
            name=op.f("uq_atb_snapshot_line_snapshot_id_dimension_group_key_position"),
        ),
    )


def upgrade() -> None:
    _runs()
    _rules()
    _pauses_and_hours()
    _notices()
    _snapshots()


def downgrade() -> None:
    for table in (
        "atb_snapshot_line",
        "atb_snapshot",
        "dunning_notice",
        "location_hours",
        "dunning_pause",
        "dunning_level",
        "dunning_rule",
        "job_run",
    ):
        op.drop_table(table)
