"""Tags on articles: agencies, entities, action, penalty, case numbers, and an index of them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON_COLUMNS = ("agencies", "mentioned_agencies", "entities", "case_numbers", "tag_evidence")

# The index gains a third column: the canonical names of the tagged entities and agencies, so
# that a search for "Changpeng Zhao" also finds the articles that only say "CZ".
SQLITE_FTS = [
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TABLE IF EXISTS articles_fts",
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, summary_text, tag_text,
        content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, summary_text, tag_text)
        VALUES (new.id, new.title, new.summary_text, new.tag_text);
    END""",
    """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, summary_text, tag_text)
        VALUES ('delete', old.id, old.title, old.summary_text, old.tag_text);
    END""",
    """CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary_text, tag_text
    ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, summary_text, tag_text)
        VALUES ('delete', old.id, old.title, old.summary_text, old.tag_text);
        INSERT INTO articles_fts(rowid, title, summary_text, tag_text)
        VALUES (new.id, new.title, new.summary_text, new.tag_text);
    END""",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): recreating the table would drop the FTS triggers.
    for name in _JSON_COLUMNS:
        op.add_column("articles", sa.Column(name, sa.Text(), nullable=False, server_default="[]"))
    op.add_column("articles", sa.Column("action", sa.String(20)))
    op.add_column("articles", sa.Column("penalty_usd", sa.Float()))
    op.add_column("articles", sa.Column("penalty_amount", sa.Float()))
    op.add_column("articles", sa.Column("penalty_currency", sa.String(3)))
    op.add_column("articles", sa.Column("tag_text", sa.Text(), nullable=False, server_default=""))
    op.add_column("articles", sa.Column("tag_version", sa.String(64)))
    op.create_index(op.f("ix_articles_action"), "articles", ["action"])
    op.create_table(
        "article_tags",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_tags_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "kind", "value", name=op.f("pk_article_tags")),
    )
    op.create_index(op.f("ix_article_tags_kind"), "article_tags", ["kind", "value"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    op.drop_index(op.f("ix_article_tags_kind"), table_name="article_tags")
    op.drop_table("article_tags")
    op.drop_index(op.f("ix_articles_action"), table_name="articles")
    with op.batch_alter_table("articles") as batch:
        for name in (*_JSON_COLUMNS, "action", "penalty_usd", "penalty_amount",
                     "penalty_currency", "tag_text", "tag_version"):  # fmt: skip
            batch.drop_column(name)
