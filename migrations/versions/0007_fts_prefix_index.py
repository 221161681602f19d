"""SQLite: prefix indexes on the full-text index, for ``word*`` searches and story matching.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

A prefix query without a prefix index merges the lists of every word that starts with it
(``compl*`` took 13 ms at 100,000 articles, 3 ms with the index). Lengths 3-6 cover what
people type and the 4-6 letter stems story matching looks up (see store._stories). The
triggers refer to the table by name and survive it being recreated. PostgreSQL: nothing to do.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _fts(prefix: str) -> list[str]:
    option = f", prefix='{prefix}'" if prefix else ""
    return [
        "DROP TABLE IF EXISTS articles_fts",
        f"""CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, summary_text, tag_text,
            content='articles', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'{option}
        )""",
        "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _fts("3 4 5 6"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _fts(""):
            op.execute(statement)
