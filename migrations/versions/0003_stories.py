"""Stories: the same event reported by several sources, kept up to date as articles arrive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_article_id", sa.Integer()),
        sa.Column("title", sa.Text(), nullable=False, server_default=""),
        sa.Column("first_published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index(op.f("ix_stories_first_published"), "stories", ["first_published"])
    # Plain ADD COLUMN (a batch copy would drop the FTS triggers); the store keeps the link
    # consistent, and a story is never deleted while articles point at it.
    op.add_column("articles", sa.Column("story_id", sa.Integer()))
    op.create_index(op.f("ix_articles_story_id"), "articles", ["story_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_story_id"), table_name="articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("story_id")
    op.drop_index(op.f("ix_stories_first_published"), table_name="stories")
    op.drop_table("stories")
