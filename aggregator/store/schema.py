"""The tables, as SQLAlchemy Core objects on one MetaData with a naming convention.

Alembic's ``target_metadata``; every change here comes with a revision in ``migrations/``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("agency", String(40)),
    Column("interval", Integer, nullable=False),
    Column("title", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("permanent_url", Text),
    Column("http_status", Integer),
    Column("last_fetched", DateTime(timezone=True)),
    Column("last_success", DateTime(timezone=True)),
    Column("last_status", String(20)),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("next_check", DateTime(timezone=True)),
    Column("created", DateTime(timezone=True), nullable=False),
    # Who is fetching it now: a lease that expires if the worker dies.
    Column("lease_owner", String(200)),
    Column("lease_expires", DateTime(timezone=True)),
    Column("disabled", Boolean, nullable=False, server_default="0"),  # e.g. after 410 Gone
    Column("disabled_reason", Text),
    UniqueConstraint("name"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("guid", Text),
    Column("url", Text),
    Column("title", Text, nullable=False),
    Column("summary_html", Text, nullable=False, server_default=""),
    Column("summary_text", Text, nullable=False, server_default=""),
    Column("author", Text),
    Column("categories", Text, nullable=False, server_default="[]"),  # JSON array
    Column("published", DateTime(timezone=True), nullable=False),
    Column("published_estimated", Boolean, nullable=False, server_default="0"),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Column("content_hash", String(64), nullable=False),
    # Tags (JSON arrays of codes / names), written by the tagger with its version.
    Column("agencies", Text, nullable=False, server_default="[]"),
    Column("mentioned_agencies", Text, nullable=False, server_default="[]"),
    Column("entities", Text, nullable=False, server_default="[]"),
    Column("case_numbers", Text, nullable=False, server_default="[]"),
    Column("tag_evidence", Text, nullable=False, server_default="[]"),
    Column("action", String(20)),
    Column("penalty_usd", Float),
    Column("penalty_amount", Float),
    Column("penalty_currency", String(3)),
    Column("tag_text", Text, nullable=False, server_default=""),  # indexed for search
    Column("tag_version", String(64)),
    Column("story_id", Integer),  # stories.id; kept consistent by the store
    Column("story_text", Text),  # JSON [tokens, anchors] (records.StoryText), or NULL
    UniqueConstraint("feed_id", "key"),
    Index(None, "published"),
    Index(None, "action"),
    Index(None, "story_id"),
    Index(None, "feed_id"),
    # Each feed's article count and newest date (every claim of feeds to poll) read from this
    # index alone: the table rows cost 25 ms a poll at 15,000 articles, 105 at 100,000.
    Index("ix_articles_feed_published", "feed_id", "published"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("lead_article_id", Integer),
    Column("title", Text, nullable=False, server_default=""),
    Column("first_published", DateTime(timezone=True), nullable=False),
    Column("last_published", DateTime(timezone=True), nullable=False),
    Column("article_count", Integer, nullable=False, server_default="1"),
    Column("updated", DateTime(timezone=True), nullable=False),
    Index(None, "first_published"),
)

# One row per (article, kind, value) so that filters by agency or entity use an index.
# kind: agency | mentioned_agency | entity
article_tags = Table(
    "article_tags",
    metadata,
    Column(
        "article_id",
        Integer,
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("kind", String(20), primary_key=True),
    Column("value", String(200), primary_key=True),
    Index("ix_article_tags_kind", "kind", "value"),
)


# The digest ledger: a row is written (claimed) before a message goes out, so that a crash or a
# second process can never send the digest of a day to a recipient twice.
digest_deliveries = Table(
    "digest_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", String(10), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("status", String(20), nullable=False),  # claimed|sending|sent|failed|unknown
    Column("message_id", String(300), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("claimed_by", String(200)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("day", "recipient"),
)
