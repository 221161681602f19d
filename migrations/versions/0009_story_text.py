"""Articles keep the words story matching reads of them; a feed's articles are indexed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

An article is a candidate for every article of the next three days that shares a word with
it; in a busy store the candidates outnumber what the writing process can keep in memory, and
working out their story words again was a fifth of an ingest's time at 2,000 feeds. The worker
process that tags an article now stores them (JSON, about 0.7 KB). Rows written before this
revision keep NULL and are read as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("story_text", sa.Text()))
    op.create_index(op.f("ix_articles_feed_id"), "articles", ["feed_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_feed_id"), "articles")
    op.drop_column("articles", "story_text")
