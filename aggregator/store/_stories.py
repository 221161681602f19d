"""Story membership: candidates for an article, assignment, and the stories of a period."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, column, literal_column, select, table

from aggregator._dates import as_utc
from aggregator.dedup import (
    STORY_WINDOW_HOURS,
    StoryFeatures,
    is_roundup,
    story_anchors,
    story_lead,
    story_tokens,
)
from aggregator.records import ArticleFilter, Story
from aggregator.store._articles import apply_filter, article_columns, article_from_row
from aggregator.store.schema import article_tags, articles, feeds, stories

Chooser = Callable[[StoryFeatures, list[StoryFeatures]], "int | None"]
CANDIDATE_LIMIT = 60  # per way of finding them; enough for any real news day
_FEATURE_COLUMNS = (
    articles.c.id,
    articles.c.story_id,
    articles.c.title,
    articles.c.summary_text,
    articles.c.published,
    articles.c.entities,
    articles.c.case_numbers,
    articles.c.penalty_usd,
    articles.c.action,
    feeds.c.name.label("feed_name"),
    feeds.c.kind.label("feed_kind"),
    feeds.c.agency.label("feed_agency"),
)


def _features(row: Any) -> StoryFeatures:
    return StoryFeatures(
        article_id=row.id,
        story_id=row.story_id,
        feed=row.feed_name,
        regulator=row.feed_kind == "regulator",
        published=as_utc(row.published),  # type: ignore[arg-type]
        tokens=story_tokens(row.title, row.summary_text),
        anchors=story_anchors(row.title, row.summary_text),
        entities=frozenset(json.loads(row.entities or "[]")),
        case_numbers=frozenset(json.loads(row.case_numbers or "[]")),
        penalty_usd=row.penalty_usd,
        action=row.action,
        roundup=is_roundup(row.title),
        agency=row.feed_agency,
    )


def _select_features() -> Any:
    return select(*_FEATURE_COLUMNS).select_from(
        articles.join(feeds, feeds.c.id == articles.c.feed_id)
    )


def _candidates(
    connection: Connection, article: StoryFeatures, cache: dict[int, StoryFeatures]
) -> list[StoryFeatures]:
    window = timedelta(hours=STORY_WINDOW_HOURS)
    base = _select_features().where(
        articles.c.published >= article.published - window,
        articles.c.published <= article.published + window,
        articles.c.story_id.is_not(None),
        articles.c.id != article.article_id,
        # One outlet does not report one event twice (see dedup.story_similarity).
        feeds.c.name != article.feed,
    )

    def features(row: Any) -> StoryFeatures:
        known = cache.get(row.id)
        if known is None or known.story_id != row.story_id:
            known = cache[row.id] = _features(row)
        return known

    found: dict[int, StoryFeatures] = {}
    if article.entities:
        sharing = select(article_tags.c.article_id).where(
            article_tags.c.kind == "entity", article_tags.c.value.in_(sorted(article.entities))
        )
        query = base.where(articles.c.id.in_(sharing)).limit(CANDIDATE_LIMIT)
        found.update((f.article_id, f) for f in map(features, connection.execute(query)))
    words = sorted((w for w in article.tokens if len(w) > 3 and w.isalnum()), key=len)[-8:]
    if words and connection.dialect.name == "sqlite":
        fts = table("articles_fts", column("rowid"))
        # Tokens are crude stems ("confid" for "confidential"): match them as prefixes.
        expression = " OR ".join('"' + w.replace('"', '""') + '"*' for w in words)
        matching = (
            select(fts.c.rowid)
            .select_from(fts)
            .where(literal_column("articles_fts").op("MATCH")(expression))
        )
        query = base.where(articles.c.id.in_(matching)).limit(CANDIDATE_LIMIT)
        found.update((f.article_id, f) for f in map(features, connection.execute(query)))
    return list(found.values())


def assign_stories(
    connection: Connection, article_ids: Sequence[int], choose: Chooser, now: datetime
) -> None:
    """Put each article into the story ``choose`` picks among its candidates, or a new one,
    in order, so that an article of this batch can join a story another one just started."""
    cache: dict[int, StoryFeatures] = {}
    for article_id in article_ids:
        row = connection.execute(_select_features().where(articles.c.id == article_id)).first()
        if row is None or row.story_id is not None:
            continue
        article = _features(row)
        story_id = choose(article, _candidates(connection, article, cache))
        if story_id is None:
            result = connection.execute(
                stories.insert().values(
                    lead_article_id=article.article_id,
                    title=row.title,
                    first_published=article.published,
                    last_published=article.published,
                    article_count=1,
                    updated=now,
                )
            )
            story_id = int(result.inserted_primary_key[0])
            connection.execute(
                articles.update().where(articles.c.id == article_id).values(story_id=story_id)
            )
            continue  # a story of one: its row says everything already
        connection.execute(
            articles.update().where(articles.c.id == article_id).values(story_id=story_id)
        )
        _refresh(connection, story_id, now)


def _refresh(connection: Connection, story_id: int, now: datetime) -> None:
    """Recompute a story's lead, dates and size from its members (ids and dates only)."""
    rows = connection.execute(
        select(articles.c.id, articles.c.title, articles.c.published, feeds.c.kind)
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(articles.c.story_id == story_id)
    ).all()
    if not rows:
        return
    dates = [as_utc(row.published) for row in rows]
    lead_id = story_lead((row.id, row.kind == "regulator", as_utc(row.published)) for row in rows)
    lead = next(row for row in rows if row.id == lead_id)
    connection.execute(
        stories.update()
        .where(stories.c.id == story_id)
        .values(
            lead_article_id=lead.id,
            title=lead.title,
            first_published=min(dates),  # type: ignore[type-var]
            last_published=max(dates),  # type: ignore[type-var]
            article_count=len(rows),
            updated=now,
        )
    )


def stories_in(connection: Connection, where: ArticleFilter) -> list[Story]:
    """The stories with at least one article matching ``where`` (typically one day), each
    with all its members, ordered by the lead's date."""
    matching = apply_filter(
        select(articles.c.story_id)
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(articles.c.story_id.is_not(None)),
        where,
    )
    members = (
        select(*article_columns(), stories.c.lead_article_id)
        .select_from(
            articles.join(feeds, feeds.c.id == articles.c.feed_id).join(
                stories, stories.c.id == articles.c.story_id
            )
        )
        .where(articles.c.story_id.in_(matching))
        .order_by(articles.c.published, articles.c.id)
    )
    grouped: dict[int, list[Any]] = {}
    for row in connection.execute(members):
        grouped.setdefault(row.story_id, []).append(row)
    result = []
    for story_id, rows in grouped.items():
        lead_id = rows[0].lead_article_id
        ordered = sorted(rows, key=lambda r: (r.id != lead_id, r.published, r.id))
        items = tuple(article_from_row(r) for r in ordered)
        result.append(Story(id=story_id, lead=items[0], articles=items))
    result.sort(key=lambda story: (story.lead.published, story.id))
    return result
