"""PostgreSQL full-text search: a generated tsvector column and its GIN index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

On SQLite the FTS5 table of 0001/0002 does this job; nothing changes there.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Title and tags weigh more than the summary (ts_rank_cd weights A > B). The column is
# generated, so it is current in the same transaction as every article write.
POSTGRESQL = [
    """ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(tag_text, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(summary_text, '')), 'B')
    ) STORED""",
    "CREATE INDEX ix_articles_search ON articles USING gin (search)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_articles_search")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS search")
