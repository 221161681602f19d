"""Feeds, articles, per-feed fetch state, and the SQLite full-text index.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The FTS5 index mirrors (title, summary_text) of articles; triggers keep it current inside the
# same transaction as every article write, so the index can never lag behind the table.
SQLITE_FTS = [
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, summary_text,
        content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, summary_text)
        VALUES (new.id, new.title, new.summary_text);
    END""",
    """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, summary_text)
        VALUES ('delete', old.id, old.title, old.summary_text);
    END""",
    """CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary_text ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, summary_text)
        VALUES ('delete', old.id, old.title, old.summary_text);
        INSERT INTO articles_fts(rowid, title, summary_text)
        VALUES (new.id, new.title, new.summary_text);
    END""",
]


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("agency", sa.String(40)),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("etag", sa.Text()),
        sa.Column("last_modified", sa.Text()),
        sa.Column("permanent_url", sa.Text()),
        sa.Column("http_status", sa.Integer()),
        sa.Column("last_fetched", sa.DateTime(timezone=True)),
        sa.Column("last_success", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.String(20)),
        sa.Column("last_error", sa.Text()),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_check", sa.DateTime(timezone=True)),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("name", name=op.f("uq_feeds_name")),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("guid", sa.Text()),
        sa.Column("url", sa.Text()),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary_html", sa.Text(), nullable=False, server_default=""),
        sa.Column("summary_text", sa.Text(), nullable=False, server_default=""),
        sa.Column("author", sa.Text()),
        sa.Column("categories", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_estimated", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_articles_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        sa.UniqueConstraint("feed_id", "key", name=op.f("uq_articles_feed_id_key")),
    )
    op.create_index(op.f("ix_articles_published"), "articles", ["published"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS articles_fts")
    op.drop_index(op.f("ix_articles_published"), table_name="articles")
    op.drop_table("articles")
    op.drop_table("feeds")
