"""Article rows: upsert by identity key with content-hash change detection, reads, row → record."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select

from aggregator._dates import as_utc
from aggregator.errors import NotFoundError
from aggregator.records import (
    Article,
    ArticleFilter,
    Evidence,
    FeedKind,
    Money,
    StoreCounts,
    StoredArticle,
    StoryText,
    Tags,
)
from aggregator.store.schema import article_tags, articles, feeds

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
    tagged: list[tuple[int, Tags]] = []
    if inserts:
        # Matched by key, not by order: asking for rows in parameter order made SQLite insert
        # them one statement each.
        statement = articles.insert().returning(articles.c.id, articles.c.key)
        for row in connection.execute(statement, inserts):
            tagged.append((row.id, unique[row.key].tags))
    if updates:
        statement = (
            articles.update()
            .where(articles.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in updates[0] if name != "row_id"})
        )
        connection.execute(statement, updates)
        by_id = {row.id: key for key, row in existing.items()}
        tagged.extend(
            (values["row_id"], unique[by_id[values["row_id"]]].tags) for values in updates
        )
    _replace_tag_rows(connection, tagged)
    return StoreCounts(
        new=len(inserts),
        updated=len(updates),
        unchanged=unchanged,
        new_ids=tuple(sorted(article_id for article_id, _ in tagged[: len(inserts)])),
        updated_ids=tuple(values["row_id"] for values in updates),
    )


def versions(connection: Connection, feed: int, limit: int) -> frozenset[tuple[str, str]]:
    """(key, content hash) of the feed's ``limit`` newest articles."""
    query = (
        select(articles.c.key, articles.c.content_hash)
        .where(articles.c.feed_id == feed)
        .order_by(articles.c.id.desc())
        .limit(limit)
    )
    return frozenset((row.key, row.content_hash) for row in connection.execute(query))


def set_tags(connection: Connection, updates: Sequence[tuple[int, Tags]]) -> None:
    """Store new tags for existing articles (``retag``)."""
    if not updates:
        return
    rows = [{**_tag_values(tags), "row_id": article_id} for article_id, tags in updates]
    statement = (
        articles.update()
        .where(articles.c.id == bindparam("row_id"))
        .values({name: bindparam(name) for name in rows[0] if name != "row_id"})
    )
    connection.execute(statement, rows)
    _replace_tag_rows(connection, updates)


def _replace_tag_rows(connection: Connection, tagged: Sequence[tuple[int, Tags]]) -> None:
    if not tagged:
        return
    ids = [article_id for article_id, _ in tagged]
    for start in range(0, len(ids), _KEY_BATCH):
        chunk = ids[start : start + _KEY_BATCH]
        connection.execute(article_tags.delete().where(article_tags.c.article_id.in_(chunk)))
    rows = [
        {"article_id": article_id, "kind": kind, "value": value}
        for article_id, tags in tagged
        for kind, values in (
            ("agency", tags.agencies),
            ("mentioned_agency", tags.mentioned_agencies),
            ("entity", tags.entities),
        )
        for value in dict.fromkeys(values)
    ]
    if rows:
        connection.execute(article_tags.insert(), rows)


def _tag_values(tags: Tags) -> dict[str, Any]:
    return {
        "agencies": json.dumps(list(tags.agencies)),
        "mentioned_agencies": json.dumps(list(tags.mentioned_agencies)),
        "entities": json.dumps(list(tags.entities), ensure_ascii=False),
        "case_numbers": json.dumps(list(tags.case_numbers)),
        "tag_evidence": json.dumps(
            [[e.field, e.value, e.text, e.where] for e in tags.evidence], ensure_ascii=False
        ),
        "action": tags.action,
        "penalty_usd": tags.penalty_usd,
        "penalty_amount": tags.penalty.amount if tags.penalty else None,
        "penalty_currency": tags.penalty.currency if tags.penalty else None,
        # Indexed for search: canonical names find the articles that use an alias.
        "tag_text": " ".join([*tags.entities, *tags.mentioned_agencies]),
        "tag_version": tags.version or None,
    }


def _tags_from_row(row: Any) -> Tags:
    currency = row.penalty_currency
    return Tags(
        agencies=tuple(json.loads(row.agencies or "[]")),
        mentioned_agencies=tuple(json.loads(row.mentioned_agencies or "[]")),
        entities=tuple(json.loads(row.entities or "[]")),
        action=row.action,
        penalty_usd=row.penalty_usd,
        penalty=Money(row.penalty_amount, currency) if currency else None,
        case_numbers=tuple(json.loads(row.case_numbers or "[]")),
        evidence=tuple(Evidence(*item) for item in json.loads(row.tag_evidence or "[]")),
        version=row.tag_version or "",
    )


def _story_text_value(text: StoryText | None) -> str | None:
    if text is None:
        return None
    return json.dumps([sorted(text.tokens), sorted(text.anchors)], ensure_ascii=False)


def story_text_from(value: str | None) -> StoryText | None:
    """The stored story text of an article, or None for a row written without it."""
    if not value:
        return None
    tokens, anchors = json.loads(value)
    return StoryText(frozenset(tokens), frozenset(anchors))


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
        # Always written, so an edit never leaves the words of the old text behind.
        "story_text": _story_text_value(article.story_text),
        **_tag_values(article.tags),
    }


def article_columns() -> list[Any]:
    return [
        # Story text is for story matching only (see _stories); readers never need it.
        *(column for column in articles.c if column.name != "story_text"),
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
    for kind, values in (("agency", where.agencies), ("entity", where.entities)):
        if values:
            tagged = select(article_tags.c.article_id).where(
                article_tags.c.kind == kind, article_tags.c.value.in_(list(values))
            )
            query = query.where(articles.c.id.in_(tagged))
    if where.actions:
        query = query.where(articles.c.action.in_(list(where.actions)))
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
    if where.oldest_first:
        order = (articles.c.published.asc(), articles.c.id.asc())
    else:
        order = (articles.c.published.desc(), articles.c.id.desc())
    query = apply_filter(query, where).order_by(*order)
    if where.limit is not None:
        query = query.limit(where.limit)
    result = connection.execution_options(yield_per=1000).execute(query)
    try:
        for row in result:
            yield article_from_row(row)
    finally:
        # A caller that stops early must not leave a server-side cursor behind.
        result.close()


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
        tags=_tags_from_row(row),
        story_id=row.story_id,
    )


def stale_articles(
    connection: Connection, version: str, after_id: int, limit: int
) -> list[StoredArticle]:
    """Articles whose tags were not made by tagger+catalog ``version``, in id order."""
    query = (
        select(*article_columns())
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(
            articles.c.id > after_id,
            (articles.c.tag_version.is_(None)) | (articles.c.tag_version != version),
        )
        .order_by(articles.c.id)
        .limit(limit)
    )
    return [article_from_row(row) for row in connection.execute(query)]


def count_stale(connection: Connection, version: str) -> int:
    query = select(func.count()).where(
        (articles.c.tag_version.is_(None)) | (articles.c.tag_version != version)
    )
    return int(connection.execute(query).scalar_one())


def count(connection: Connection, where: ArticleFilter) -> int:
    query = apply_filter(
        select(func.count()).select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id)),
        where,
    )
    return int(connection.execute(query).scalar_one())
