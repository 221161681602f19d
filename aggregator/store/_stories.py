"""Story membership: candidates for an article, assignment, and the stories of a period."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    case,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects import postgresql  # noqa: F401 - gives func.to_tsquery its types

from aggregator._dates import as_utc
from aggregator.dedup import (
    FOLLOW_UP_HOURS,
    STORY_WINDOW_HOURS,
    StoryFeatures,
    compact,
    gate,
    is_roundup,
    lookup_forms,
    retrieval_words,
    story_anchors,
    story_lead,
    story_tokens,
)
from aggregator.records import ArticleFilter, Story, StoryOutline, StoryText
from aggregator.store._articles import (
    apply_filter,
    article_columns,
    article_from_row,
)
from aggregator.store._story_index import MAX_ID, CandidateIndex, entity_key, seconds
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
    articles.c.content_hash,
    articles.c.story_text,
    feeds.c.name.label("feed_name"),
    feeds.c.kind.label("feed_kind"),
    feeds.c.agency.label("feed_agency"),
)


class FeatureCache:
    """Story features of stored articles, kept between updates: an article is a candidate for
    every article of the next three days, and tokenising its text again each time was most of
    the cost of story assignment. Keyed by id and content hash (an edited article is read
    again); the oldest entries go first once ``size`` is reached. An entry is about 4 KB, so
    the default holds a busy three days in about 45 MB. A first poll of many feeds writes them
    one after another, each with articles of every day, so their candidates spread over the
    whole run: at 1,000 feeds x 50 items, 8,000 entries missed 68,000 times (re-read and
    worked out again), 12,000 entries 44,000 times, and the writing took 9% less time.

    Candidates found in the CandidateIndex come without their content hash: for them the
    cached version is taken. This process's own edits are forgotten as they are written; an
    article another process edited is matched by its earlier words until its entry goes,
    as an article re-tagged elsewhere already was (tags do not change the hash)."""

    def __init__(self, size: int = 12_000) -> None:
        self._size = size
        self._entries: dict[int, tuple[str, StoryFeatures]] = {}
        self._lock = threading.Lock()

    def get(
        self, article_id: int, story_id: int | None, content_hash: str | None
    ) -> StoryFeatures | None:
        """The features of this version of the article (of the version held, when
        ``content_hash`` is None), or None when not known."""
        known = self._entries.get(article_id)  # atomic: the lock guards the writes
        if known is None or (content_hash is not None and known[0] != content_hash):
            return None
        found = known[1]
        if found.story_id != story_id:  # assigned since, or moved: remember the new story
            found = found.with_story(story_id)
            with self._lock:
                self._entries[article_id] = (known[0], found)  # the hash it was read with
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def forget(self, article_ids: Sequence[int]) -> None:
        """Drop edited articles: the next use reads them again."""
        with self._lock:
            for article_id in article_ids:
                self._entries.pop(article_id, None)

    def features(self, row: Any, text: StoryText | None = None) -> StoryFeatures:
        """The features of a full feature row (see ``_FEATURE_COLUMNS``), cached. ``text``,
        when the row's text was already read for stories, saves reading it again."""
        found = self.get(row.id, row.story_id, row.content_hash)
        if found is None:
            found = _features(row, text)
            with self._lock:
                self._entries[row.id] = (row.content_hash, found)
                while len(self._entries) > self._size:
                    del self._entries[next(iter(self._entries))]
        return found


def _features(row: Any, text: StoryText | None) -> StoryFeatures:
    tokens: Iterable[str]
    anchors: Iterable[str]
    if text is not None:
        tokens, anchors = text.tokens, text.anchors
    elif row.story_text:
        # The stored lists as they are: made into sets once, below (a cache miss of story
        # matching, thousands an ingest, built each set three times).
        tokens, anchors = json.loads(row.story_text)
    else:  # written before the store kept it
        tokens = story_tokens(row.title, row.summary_text)
        anchors = story_anchors(row.title, row.summary_text)
    return StoryFeatures(
        article_id=row.id,
        story_id=row.story_id,
        feed=row.feed_name,
        regulator=row.feed_kind == "regulator",
        published=as_utc(row.published),  # type: ignore[arg-type]
        # Interned: the cache holds thousands of articles made of the same few thousand
        # words, each read or unpickled as a string of its own.
        # (StoryFeatures leaves the tokens compacted.)
        tokens=frozenset(map(sys.intern, tokens)),
        anchors=compact(map(sys.intern, anchors)),
        entities=compact(json.loads(row.entities or "[]")),
        case_numbers=compact(json.loads(row.case_numbers or "[]")),
        penalty_usd=row.penalty_usd,
        action=row.action,
        roundup=is_roundup(row.title),
        agency=row.feed_agency,
    )


# Built once with bound parameters: constructing a statement per article cost more than
# running it.
_BY_ID = (
    select(*_FEATURE_COLUMNS)
    .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
    .where(articles.c.id.in_(bindparam("ids", expanding=True)))
)
# What other processes wrote (CandidateIndex), in id order.
_AFTER = (
    select(*_FEATURE_COLUMNS)
    .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
    .where(articles.c.id > bindparam("after"), articles.c.id < bindparam("before"))
    .order_by(articles.c.id)
)
# Candidates are found by id, story and version only; the text is read for those not cached.
_IN_WINDOW = (
    select(articles.c.id, articles.c.story_id, articles.c.content_hash)
    .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
    .where(
        articles.c.published >= bindparam("since"),
        articles.c.published <= bindparam("until"),
        articles.c.story_id.is_not(None),
        # One outlet does not report one event twice (see dedup.story_similarity).
        feeds.c.name != bindparam("feed"),
    )
)
# As with words (below): the newest articles tagged with one of the entities, never further
# back than the oldest article of the week; a busy entity is tagged on thousands.
_ENTITY_MATCH = articles.c.id.in_(
    select(article_tags.c.article_id)
    .where(
        article_tags.c.kind == "entity",
        article_tags.c.value.in_(bindparam("entities", expanding=True)),
        article_tags.c.article_id >= bindparam("first_id"),
        article_tags.c.article_id < bindparam("below"),
    )
    .order_by(article_tags.c.article_id.desc())
    .limit(bindparam("matches"))
)
_fts = table("articles_fts", column("rowid"))
LOOKED_AT = 500  # the newest articles sharing a word, or an entity, that are looked at
# The newest matches only: FTS5 hands them over in rowid order and stops, where taking every
# match of eight common words meant reading most of the index for each new article (67 ms an
# article in a store of 100,000). ``first_id`` is the oldest article of the window, so the scan
# never goes further back than the window either.
_WORDS_MATCH = articles.c.id.in_(
    select(_fts.c.rowid)
    .select_from(_fts)
    .where(
        literal_column("articles_fts").op("MATCH")(bindparam("expression")),
        _fts.c.rowid >= bindparam("first_id"),
        _fts.c.rowid < bindparam("below"),
    )
    .order_by(_fts.c.rowid.desc())
    .limit(bindparam("matches"))
)


def _lookup(dialect: str, match: Any, nearest_first: bool) -> Any:
    """Candidates sharing ``match``. Entity lookups take the nearest in time first: when more
    than the cap share a busy entity, the ones dropped are the furthest from the article.
    Word lookups are not sorted (sorting every match cost a fifth of the ingest rate, before
    lookups were bounded, and found no more same-story pairs in tests/data/stories)."""
    query = _IN_WINDOW.where(match)
    if nearest_first:
        if dialect == "sqlite":
            at = func.julianday(bindparam("at"))
            distance = func.abs(func.julianday(articles.c.published) - at)
        else:
            distance = func.abs(func.extract("epoch", articles.c.published - bindparam("at")))
        query = query.order_by(distance, articles.c.id)
    return query.limit(CANDIDATE_LIMIT)


# PostgreSQL: the generated tsvector column (migration 0006), its lexemes matched as prefixes,
# through the GIN index. (Taking the newest matches, as on SQLite, made PostgreSQL walk the
# primary key testing each row: lookups 4x slower.)
_WORDS_MATCH_POSTGRESQL = literal_column("articles.search").op("@@")(
    func.to_tsquery("english", bindparam("expression"))
) & articles.c.id.between(bindparam("first_id"), bindparam("below") - 1)
_LOOKUPS = {
    ("sqlite", "entity"): _lookup("sqlite", _ENTITY_MATCH, nearest_first=True),
    ("sqlite", "words"): _lookup("sqlite", _WORDS_MATCH, nearest_first=False),
    ("postgresql", "entity"): _lookup("postgresql", _ENTITY_MATCH, nearest_first=True),
    ("postgresql", "words"): _lookup("postgresql", _WORDS_MATCH_POSTGRESQL, nearest_first=False),
}


def _lookup_bounds(article: StoryFeatures, hours: int) -> dict[str, Any]:
    span = timedelta(hours=hours)
    return {
        "since": article.published - span,
        "until": article.published + span,
        "at": article.published,
        "feed": article.feed,
    }


def _word_expression(dialect: str, words: Sequence[str]) -> str:
    # Tokens are crude stems ("confid" for "confidential"): match them as prefixes. Words are
    # letters and digits only (retrieval_words), so they hold no query syntax.
    if dialect == "sqlite":
        return " OR ".join(f'"{word}"*' for word in words)
    return " | ".join(f"{word}:*" for word in words)


@dataclass
class _Found:
    """An article's candidates as found: (id, story) from the in-memory index, and (id,
    story, content hash) rows from SQL."""

    ids: list[tuple[int, int]] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)


def _find(
    connection: Connection,
    article: StoryFeatures,
    first_ids: tuple[int, int],
    index: CandidateIndex | None,
) -> _Found:
    """Articles of other feeds that may report the same event: sharing a tagged entity (within
    a week, for follow-ups; nearest in time first) or words (within the window). ``first_ids``
    are the oldest article ids of the batch's window and week. Ids the index holds are looked
    up there, older ones in SQL."""
    dialect = connection.dialect.name
    found = _Found()
    if article.roundup:
        return found  # a round-up joins no story (dedup.story_similarity)
    use_index = index is not None and not index.empty
    below = index.low if use_index else _NO_ID_LIMIT  # type: ignore[union-attr]
    article_gate = gate(article) if use_index else None  # only the index keeps gates
    lookups = []
    if article.entities:
        lookups.append(("entity", sorted(article.entities), FOLLOW_UP_HOURS, first_ids[1]))
    words = retrieval_words(article)
    if words:
        lookups.append(("words", words, STORY_WINDOW_HOURS, first_ids[0]))
    for kind, values, hours, first_id in lookups:
        bounds = _lookup_bounds(article, hours)
        matched = 0
        if use_index:
            keys = (
                [entity_key(value) for value in values]
                if kind == "entity"
                else [form for word in values for form in lookup_forms(word)]
            )
            window = {"feed": article.feed, "since": bounds["since"], "until": bounds["until"]}
            if kind == "entity":  # every match is looked at: the nearest in time are taken
                ids = index.matches(keys, first_id, LOOKED_AT)
                usable = index.usable(ids, **window)
                at = seconds(article)
                usable.sort(key=lambda pair: (abs(pair[1] - at), pair[0]))
            else:
                # The newest matches first: the cap is mostly reached among the first few.
                for count in (2 * CANDIDATE_LIMIT, LOOKED_AT):
                    ids = index.matches(keys, first_id, count)
                    usable = index.usable(ids, **window, limit=CANDIDATE_LIMIT)
                    if len(usable) >= CANDIDATE_LIMIT or len(ids) < count:
                        break
            matched = len(ids)
            chosen = usable[:CANDIDATE_LIMIT]
            # The same candidates as SQL finds, less the pairs that could never score: they
            # are not read or scored (most are, on a busy day).
            story_of = {article_id: story for article_id, _, story in chosen}
            possible = index.possible(article_gate, [article_id for article_id, _, _ in chosen])
            found.ids.extend((article_id, story_of[article_id]) for article_id in possible)
            if len(usable) >= CANDIDATE_LIMIT:
                continue  # as many as SQL would give, and newer
        if first_id >= below or matched >= LOOKED_AT:
            continue  # the index held every match SQL could find
        parameters = {**bounds, "first_id": first_id, "below": below,
                      "matches": LOOKED_AT - matched}  # fmt: skip
        if kind == "entity":
            parameters["entities"] = values
        else:
            parameters["expression"] = _word_expression(dialect, values)
        found.rows.extend(connection.execute(_LOOKUPS[dialect, kind], parameters).all())
    return found


def _candidates(
    connection: Connection,
    batch: list[tuple[StoryFeatures, _Found]],
    cache: FeatureCache,
) -> list[list[StoryFeatures]]:
    """The features of each article's candidates (``_find``); those not cached are read for
    the whole batch at once."""
    per_article: list[tuple[list[StoryFeatures], list[int]]] = []
    for article, found in batch:
        rows = {row[0]: row for row in found.rows}
        rows.update((i, (i, story, None)) for i, story in found.ids)
        rows.pop(article.article_id, None)
        known: list[StoryFeatures] = []
        lacking: list[int] = []
        for article_id, story_id, content_hash in rows.values():
            features = cache.get(article_id, story_id, content_hash)
            if features is None:
                lacking.append(article_id)
            else:
                known.append(features)
        per_article.append((known, lacking))
    missing = sorted({i for _, lacking in per_article for i in lacking})
    read: dict[int, StoryFeatures] = {}
    for start in range(0, len(missing), _ID_BATCH):
        rows = connection.execute(_BY_ID, {"ids": missing[start : start + _ID_BATCH]})
        read.update((row.id, cache.features(row)) for row in rows)
    return [known + [read[i] for i in lacking if i in read] for known, lacking in per_article]


def assign_stories(
    connection: Connection,
    article_ids: Sequence[int],
    choose: Chooser,
    now: datetime,
    cache: FeatureCache | None = None,
    texts: dict[str, StoryText] | None = None,
    index: CandidateIndex | None = None,
) -> None:
    """Put each new article of one feed's update into the story ``choose`` picks among its
    candidates, or a new story of its own. ``texts`` holds the articles' story text already
    worked out, by content hash. ``index`` (SQLite only, see CandidateIndex) is brought up to
    date with what other processes wrote, then given the batch.

    Candidates come from other feeds only, so no article of the batch is a candidate for
    another: every choice is made first and the rows are written together.
    """
    cache = cache or FeatureCache()
    if not article_ids:
        return
    if index is not None and max(article_ids) > MAX_ID:
        index = None
    if index is not None:
        _catch_up(connection, index, min(article_ids), cache)
    fresh = []
    for start in range(0, len(article_ids), _ID_BATCH):
        chunk = list(article_ids[start : start + _ID_BATCH])
        fresh.extend(connection.execute(_BY_ID, {"ids": chunk}))
    fresh.sort(key=lambda row: row.id)
    unassigned = [row for row in fresh if row.story_id is None]
    if not unassigned:
        return
    # The oldest articles of the earliest window and week: lookups never scan back past them.
    earliest = min(as_utc(row.published) for row in unassigned)
    window, week = (
        connection.execute(_FIRST_SINCE, {"since": earliest - timedelta(hours=hours)}).scalar() or 0
        for hours in (STORY_WINDOW_HOURS, FOLLOW_UP_HOURS)
    )
    features = [cache.features(row, (texts or {}).get(row.content_hash)) for row in unassigned]
    found = [_find(connection, article, (window, week), index) for article in features]
    candidates = _candidates(connection, list(zip(features, found, strict=True)), cache)
    joining: list[dict[str, Any]] = []
    alone: list[Any] = []
    joiners: dict[int, list[Any]] = {}
    story_of: dict[int, int] = {}
    for row, article, among in zip(unassigned, features, candidates, strict=True):
        story_id = choose(article, among)
        if story_id is None:
            alone.append(row)
        else:
            joining.append({"row_id": row.id, "new_story": story_id})
            joiners.setdefault(story_id, []).append(row)
            story_of[row.id] = story_id
    if alone:
        inserted = connection.execute(
            # Matched by lead, not by order: asking for rows in parameter order made SQLite
            # insert them one statement each.
            stories.insert().returning(stories.c.id, stories.c.lead_article_id),
            [
                {
                    "lead_article_id": row.id,
                    "title": row.title,
                    "first_published": as_utc(row.published),
                    "last_published": as_utc(row.published),
                    "article_count": 1,
                    "updated": now,
                }
                for row in alone
            ],
        )
        for story in inserted:
            joining.append({"row_id": story.lead_article_id, "new_story": story.id})
            story_of[story.lead_article_id] = story.id
    if index is not None:
        for article in features:
            if article.article_id > index.high:
                index.add(article.article_id, article, story_of.get(article.article_id))
    if not joining:
        return
    connection.execute(_SET_STORY, joining)
    if joiners:
        _extend(connection, joiners, now)  # a story of one says everything in its row already


def _catch_up(
    connection: Connection, index: CandidateIndex, before: int, cache: FeatureCache
) -> None:
    """Give ``index`` the articles other processes wrote since it last looked (all ids below
    ``before``, the batch's first); an empty index, or one that would have to read more than
    it holds, starts afresh at ``before``."""
    if index.empty or before - index.high > index.capacity:
        index.clear()
        index.start_at(before)
        return
    rows = connection.execute(_AFTER, {"after": index.high, "before": before})
    for row in rows:
        index.add(row.id, cache.features(row), row.story_id)


def reindex(
    connection: Connection, index: CandidateIndex, article_ids: Sequence[int], cache: FeatureCache
) -> None:
    """Give ``index`` the new words of articles this process just edited."""
    held = sorted(i for i in article_ids if index.low <= i <= index.high)
    for start in range(0, len(held), _ID_BATCH):
        for row in connection.execute(_BY_ID, {"ids": held[start : start + _ID_BATCH]}):
            index.edited(row.id, cache.features(row))


_NO_ID_LIMIT = 2**31 - 1  # above any id: the column is a 32-bit integer on PostgreSQL
_ID_BATCH = 500
_FIRST_SINCE = select(func.min(articles.c.id)).where(articles.c.published >= bindparam("since"))
_SET_STORY = (
    articles.update()
    .where(articles.c.id == bindparam("row_id"))
    .values(story_id=bindparam("new_story"))
)


_lead = articles.alias("lead")
_lead_feed = feeds.alias("lead_feed")
_STORY_STATE = (
    select(
        stories.c.id,
        stories.c.first_published,
        stories.c.last_published,
        stories.c.article_count,
        _lead.c.id.label("lead_id"),
        _lead.c.title.label("lead_title"),
        _lead.c.published.label("lead_published"),
        _lead_feed.c.kind.label("lead_kind"),
    )
    .select_from(
        stories.join(_lead, _lead.c.id == stories.c.lead_article_id).join(
            _lead_feed, _lead_feed.c.id == _lead.c.feed_id
        )
    )
    .where(stories.c.id.in_(bindparam("ids", expanding=True)))
)


def _extend(connection: Connection, joiners: dict[int, list[Any]], now: datetime) -> None:
    """Add new members to stories: lead, dates and size worked out from the story's row and
    its current lead, not by reading every member again (a story of a busy week has hundreds).
    ``joiners`` maps a story to the feature rows of the articles joining it."""
    updates = []
    ids = sorted(joiners)
    for start in range(0, len(ids), _ID_BATCH):
        for story in connection.execute(_STORY_STATE, {"ids": ids[start : start + _ID_BATCH]}):
            rows = joiners[story.id]
            titles = {story.lead_id: story.lead_title, **{row.id: row.title for row in rows}}
            members = [
                (story.lead_id, story.lead_kind == "regulator", as_utc(story.lead_published)),
                *((row.id, row.feed_kind == "regulator", as_utc(row.published)) for row in rows),
            ]
            dates = [as_utc(story.first_published), as_utc(story.last_published)]
            dates += [as_utc(row.published) for row in rows]
            lead_id = story_lead(members)  # type: ignore[arg-type]
            updates.append(
                {
                    "story": story.id,
                    "lead_article_id": lead_id,
                    "title": titles[lead_id],
                    "first_published": min(dates),  # type: ignore[type-var]
                    "last_published": max(dates),  # type: ignore[type-var]
                    "article_count": story.article_count + len(rows),
                    "updated": now,
                }
            )
    if updates:
        connection.execute(
            stories.update()
            .where(stories.c.id == bindparam("story"))
            .values({name: bindparam(name) for name in updates[0] if name != "story"}),
            updates,
        )


def _matching(where: ArticleFilter) -> Any:
    """The ids of the stories with at least one article matching ``where``."""
    return apply_filter(
        select(articles.c.story_id)
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(articles.c.story_id.is_not(None)),
        where,
    )


def outlines_in(connection: Connection, where: ArticleFilter) -> list[StoryOutline]:
    """The outlines of the stories ``stories_in`` would return, in the same order."""
    flag = func.max
    statement = (
        select(
            stories.c.id,
            _lead.c.published,
            flag(case((feeds.c.kind == "regulator", 1), else_=0)),
            flag(case((func.coalesce(articles.c.action, "") != "", 1), else_=0)),
        )
        .select_from(
            articles.join(feeds, feeds.c.id == articles.c.feed_id)
            .join(stories, stories.c.id == articles.c.story_id)
            .join(_lead, _lead.c.id == stories.c.lead_article_id)
        )
        .where(articles.c.story_id.in_(_matching(where)))
        .group_by(stories.c.id, _lead.c.published)
        .order_by(_lead.c.published, stories.c.id)
    )
    return [
        StoryOutline(id, as_utc(published), bool(regulator), bool(action))  # type: ignore[arg-type]
        for id, published, regulator, action in connection.execute(statement)
    ]


def stories_in(connection: Connection, where: ArticleFilter) -> list[Story]:
    """The stories with at least one article matching ``where`` (typically one day), each
    with all its members, ordered by the lead's date."""
    matching = _matching(where)
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
