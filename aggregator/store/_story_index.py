"""The newest articles of a SQLite store by the words and parties their story candidates are
looked up by, held in memory between updates (see :class:`CandidateIndex`)."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime

from aggregator.dedup import StoryFeatures, findable_words

_SECOND = 1_000_000  # StoryFeatures' profile keeps microseconds
# Articles held: a week of 2,000 busy feeds. About 200 bytes each (some 40 words and parties
# of 4 bytes, time, feed and story), so at most about 20 MiB.
CAPACITY = 100_000
MAX_ID = 2**31 - 1  # ids are held as 32-bit integers; a store past them looks up in SQL


def seconds(features: StoryFeatures) -> int:
    """An article's time as the index holds it: whole seconds since 1970."""
    return features.profile.when // _SECOND


def entity_key(entity: str) -> str:
    """An entity's posting key: apart from every word (words are lower-case letters)."""
    return "=" + entity


class CandidateIndex:
    """Every article with an id from ``low`` to ``high``: the words and entities it can be
    found by (``dedup.findable_words``), its time, feed and story.

    Looking candidates up in the full-text index cost two statements per new article, most of
    the writing process's time in an ingest. Only the process that writes a SQLite store uses
    this: SQLite hands out ids in commit order (writes hold the database lock), so the rows
    written by another process since the last look are exactly those above ``high``
    (``Store`` reads them before each use). PostgreSQL's ids are not in commit order: there,
    lookups stay in SQL. Older articles than ``low`` are looked up in SQL too, so an index
    that starts empty in a new process, or that dropped its oldest ids to stay under
    ``capacity``, only costs time. ``clear`` after a transaction that rolled back. An edit
    made by this process is given to ``edited``; one made by another process is not seen,
    and the article stays findable by its earlier words only (and by SQL once dropped)."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity or CAPACITY
        self.clear()

    def clear(self) -> None:
        self.low = 0  # 0: nothing held yet
        self.high = 0
        self._postings: dict[str, array[int]] = {}  # ascending ids
        # By id - low: seconds since 1970, feed number, story (0: none, or no such article).
        self._when: array[int] = array("q")
        self._feed: array[int] = array("i")
        self._story: array[int] = array("q")
        self._feeds: dict[str, int] = {}

    @property
    def empty(self) -> bool:
        return self.low == 0

    def start_at(self, article_id: int) -> None:
        """Hold articles from ``article_id`` on (an empty index only)."""
        assert self.empty, "the index holds articles already"
        self.low, self.high = article_id, article_id - 1

    def add(self, article_id: int, features: StoryFeatures, story_id: int | None) -> None:
        """Hold an article; ids come in increasing order, above ``high``."""
        assert not self.empty and article_id > self.high, "ids must grow"
        gap = article_id - self.high - 1  # ids never used, or rolled back
        if gap:
            self._when.extend([0] * gap)
            self._feed.extend([-1] * gap)
            self._story.extend([0] * gap)
        self._when.append(seconds(features))
        self._feed.append(self._feeds.setdefault(features.feed, len(self._feeds)))
        self._story.append(story_id or 0)
        postings = self._postings
        for key in (*findable_words(features), *map(entity_key, features.entities)):
            found = postings.get(key)
            if found is None:
                postings[key] = array("i", (article_id,))
            else:
                found.append(article_id)
        self.high = article_id
        if self.high - self.low + 1 > self.capacity:
            self._drop_before(self.high - self.capacity * 3 // 4)

    def edited(self, article_id: int, features: StoryFeatures) -> None:
        """An article held was edited: it can be found by its new words too (the old ones
        stay; a candidate is scored by its current text anyway)."""
        if not self.low <= article_id <= self.high:
            return
        self._when[article_id - self.low] = seconds(features)
        postings = self._postings
        for key in (*findable_words(features), *map(entity_key, features.entities)):
            ids = postings.get(key)
            if ids is None:
                postings[key] = array("i", (article_id,))
                continue
            at = bisect_left(ids, article_id)
            if at == len(ids) or ids[at] != article_id:
                ids.insert(at, article_id)  # rare enough for the copy it costs

    def set_story(self, article_id: int, story_id: int) -> None:
        if self.low <= article_id <= self.high:
            self._story[article_id - self.low] = story_id

    def matches(self, keys: Iterable[str], first_id: int, count: int) -> list[int]:
        """The newest ``count`` ids of ``first_id`` or later held under any of ``keys``,
        newest first."""
        first_id = max(first_id, self.low)
        found: set[int] = set()
        for key in keys:
            ids = self._postings.get(key)
            if ids:
                start = max(bisect_left(ids, first_id), len(ids) - count)
                found.update(ids[start:])
        return sorted(found, reverse=True)[:count]

    def usable(
        self,
        ids: Iterable[int],
        *,
        feed: str,
        since: datetime,
        until: datetime,
        limit: int | None = None,
    ) -> list[tuple[int, int, int]]:
        """Of ``ids``, as (id, seconds since 1970, story): those already in a story, of another
        feed than ``feed``, published from ``since`` to ``until``; the first ``limit`` of them."""
        own = self._feeds.get(feed, -2)
        first, last = int(since.timestamp()), int(until.timestamp())
        low, when, feeds, stories = self.low, self._when, self._feed, self._story
        kept = []
        for article_id in ids:
            at = article_id - low
            if stories[at] and feeds[at] != own and first <= when[at] <= last:
                kept.append((article_id, when[at], stories[at]))
                if len(kept) == limit:
                    break
        return kept

    def _drop_before(self, article_id: int) -> None:
        drop = article_id - self.low
        for array_ in (self._when, self._feed, self._story):
            del array_[:drop]
        for key in list(self._postings):
            ids = self._postings[key]
            cut = bisect_left(ids, article_id)
            if cut == len(ids):
                del self._postings[key]
            elif cut:
                del ids[:cut]
        self.low = article_id
