"""Article rows: upsert by identity key with content-hash change detection, reads, row → record."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from aggregator._dates import as_utc
from aggregator.errors import NotFoundError
from aggregator.records import Article, ArticleFilter, FeedKind, StoreCounts, StoredArticle
from aggregator.store.schema import articles, feeds

_KEY_BATCH = 500  # keys per IN (...) lookup; well under every backend's parameter limit


def write_articles(
    connection: Connection, feed: int, batch: Sequence[Article], now: datetime
) -> StoreCounts:
    """Insert new articles, update changed ones in place, leave unchanged ones untouched."""
    unique: dict[str, Article] = {}
    for article in batch:
        unique.setdefault(article.key, article)  # the first of two same-key items wins
    keys = list(unique)
    existing: dict[str, Any] = {}
    for start in range(0, len(keys), _KEY_BATCH):
        chunk = keys[start : start + _KEY_BATCH]
        query = select(
            articles.c.id, articles.c.key, articles.c.content_hash, articles.c.published
        ).where(articles.c.feed_id == feed, articles.c.key.in_(chunk))
        existing.update((row.key, row) for row in connection.execute(query))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for key, article in unique.items():
        row = existing.get(key)
        values = _values(article)
        if row is None:
            inserts.append(
                {**values, "feed_id": feed, "key": key, "first_seen": now, "updated": now}
            )
        elif row.content_hash != article.content_hash:
            if article.published_estimated:
                # No date in the feed: keep the moment we first saw it, not this fetch's time.
                values["published"] = as_utc(row.published)
                values["published_estimated"] = True
            updates.append({**values, "updated": now, "row_id": row.id})
        else:
            unchanged += 1
    if inserts:
        connection.execute(articles.insert(), inserts)
    if updates:
        statement = (
            articles.update()
            .where(articles.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in updates[0] if name != "row_id"})
        )
        connection.execute(statement, updates)
    return StoreCounts(new=len(inserts), updated=len(updates), unchanged=unchanged)


def _values(article: Article) -> dict[str, Any]:
    return {
        "guid": article.guid,
        "url": article.url,
        "title": article.title,
        "summary_html": article.summary_html,
        "summary_text": article.summary_text,
        "author": article.author,
        "categories": json.dumps(list(article.categories), ensure_ascii=False),
        "published": article.published,
        "published_estimated": article.published_estimated,
        "content_hash": article.content_hash,
    }


def article_columns() -> list[Any]:
    return [
        *articles.c,
        feeds.c.name.label("feed_name"),
        feeds.c.kind.label("feed_kind"),
        feeds.c.agency.label("feed_agency"),
    ]


def apply_filter(query: Select[Any], where: ArticleFilter) -> Select[Any]:
    if where.since is not None:
        query = query.where(articles.c.published >= where.since)
    if where.until is not None:
        query = query.where(articles.c.published < where.until)
    if where.sources:
        query = query.where(feeds.c.name.in_(list(where.sources)))
    return query


def get_article(connection: Connection, article_id: int) -> StoredArticle:
    query = (
        select(*article_columns())
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(articles.c.id == article_id)
    )
    row = connection.execute(query).first()
    if row is None:
        raise NotFoundError(f"no article with id {article_id}")
    return article_from_row(row)


def iter_articles(connection: Connection, where: ArticleFilter) -> Iterator[StoredArticle]:
    query = select(*article_columns()).select_from(
        articles.join(feeds, feeds.c.id == articles.c.feed_id)
    )
    query = apply_filter(query, where).order_by(articles.c.published.desc(), articles.c.id.desc())
    if where.limit is not None:
        query = query.limit(where.limit)
    for row in connection.execution_options(yield_per=1000).execute(query):
        yield article_from_row(row)


def article_from_row(row: Any) -> StoredArticle:
    return StoredArticle(
        id=row.id,
        feed=row.feed_name,
        feed_kind=FeedKind(row.feed_kind),
        feed_agency=row.feed_agency,
        key=row.key,
        guid=row.guid,
        url=row.url,
        title=row.title,
        summary_html=row.summary_html,
        summary_text=row.summary_text,
        author=row.author,
        categories=tuple(json.loads(row.categories or "[]")),
        published=as_utc(row.published),  # type: ignore[arg-type]
        published_estimated=bool(row.published_estimated),
        first_seen=as_utc(row.first_seen),  # type: ignore[arg-type]
        updated=as_utc(row.updated),  # type: ignore[arg-type]
    )
