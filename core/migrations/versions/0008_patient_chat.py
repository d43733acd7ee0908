"""Patient chats: identity checks and lock-outs, conversation state, inbound event
deduplication and the outbox of messages with their delivery outcomes (AR-179).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
