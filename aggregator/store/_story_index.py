"""The newest articles of a SQLite store by the words and parties their story candidates are
looked up by, held in memory between updates (see :class:`CandidateIndex`)."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime

from aggregator.dedup import Gate, StoryFeatures, findable_words, gate, ruled_out

_SECOND = 1_000_000  # StoryFeatures' profile keeps microseconds
# Articles held: a week of 2,000 busy feeds. About 230 bytes each (some 40 words and parties
# of 4 bytes, time, feed, story and gate), so at most about 23 MiB.
CAPACITY = 100_000
_HEADLINE_WORDS = 4  # dedup.Gate's headline mask: 256 bits
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
        # By id - low: seconds since 1970, feed number, story (0: none, or no such article),
        # and the article's dedup.Gate (its publisher as a number, -1 for none).
        self._when: array[int] = array("q")
        self._feed: array[int] = array("i")
        self._story: array[int] = array("q")
        self._roundup: array[int] = array("b")
        self._penalty: array[float] = array("d")
        self._cases: array[int] = array("Q")
        self._headline = [array("Q") for _ in range(_HEADLINE_WORDS)]  # 64 bits each
        self._publisher: array[int] = array("i")
        self._feeds: dict[str, int] = {}
        self._publishers: dict[str | int | None, int] = {None: -1}

    def _columns(self) -> tuple[array, ...]:  # type: ignore[type-arg]
        return (
            self._when,
            self._feed,
            self._story,
            self._roundup,
            self._penalty,
            self._cases,
            self._publisher,
            *self._headline,
        )

    def _gate_values(self, features: StoryFeatures) -> tuple[float, ...]:
        """The article's gate as the columns from ``_roundup`` on hold it."""
        found = gate(features)
        code = self._publishers.setdefault(found.publisher, len(self._publishers) - 1)
        headline = found.headline.to_bytes(8 * _HEADLINE_WORDS, "little")
        return (
            int(found.roundup),
            found.penalty,
            found.cases,
            code,
            *(
                int.from_bytes(headline[8 * at : 8 * at + 8], "little")
                for at in range(_HEADLINE_WORDS)
            ),
        )

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
        row = (
            seconds(features),
            self._feeds.setdefault(features.feed, len(self._feeds)),
            story_id or 0,
            *self._gate_values(features),
        )
        for column, value in zip(self._columns(), row, strict=True):
            if gap:  # never usable: no story
                column.extend([0] * gap)
            column.append(value)
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
        at = article_id - self.low
        self._when[at] = seconds(features)
        for column, value in zip(self._columns()[3:], self._gate_values(features), strict=True):
            column[at] = value
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

    def possible(self, gate: Gate, ids: Iterable[int]) -> list[int]:
        """Those of ``ids`` (held) that an article of ``gate`` is not ``dedup.ruled_out``
        with: the only ones worth reading and scoring."""
        if gate.publisher is not None:
            gate = gate._replace(publisher=self._publishers.get(gate.publisher, -2))
        low, roundup, penalty, cases = self.low, self._roundup, self._penalty, self._cases
        publisher, (h0, h1, h2, h3) = self._publisher, self._headline
        kept = []
        for article_id in ids:
            at = article_id - low
            headline = h0[at] | h1[at] << 64 | h2[at] << 128 | h3[at] << 192
            if not ruled_out(
                gate, bool(roundup[at]), penalty[at], cases[at], headline, publisher[at]
            ):
                kept.append(article_id)
        return kept

    def _drop_before(self, article_id: int) -> None:
        drop = article_id - self.low
        for column in self._columns():
            del column[:drop]
        for key in list(self._postings):
            ids = self._postings[key]
            cut = bisect_left(ids, article_id)
            if cut == len(ids):
                del self._postings[key]
            elif cut:
                del ids[:cut]
        self.low = article_id
