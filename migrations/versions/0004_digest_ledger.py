"""The digest ledger: one row per (day, recipient), written before the message is sent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        # claimed -> sending (DATA under way) -> sent; failed (retried); unknown (not resent)
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_deliveries")),
        sa.UniqueConstraint("day", "recipient", name=op.f("uq_digest_deliveries_day_recipient")),
    )


def downgrade() -> None:
    op.drop_table("digest_deliveries")
