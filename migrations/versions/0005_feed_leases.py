"""Per-feed leases (one fetcher at a time across processes) and disabling gone feeds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("lease_owner", sa.String(200)))
    op.add_column("feeds", sa.Column("lease_expires", sa.DateTime(timezone=True)))
    op.add_column("feeds", sa.Column("disabled", sa.Boolean(), nullable=False, server_default="0"))
    op.add_column("feeds", sa.Column("disabled_reason", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        for name in ("disabled_reason", "disabled", "lease_expires", "lease_owner"):
            batch.drop_column(name)
