"""Frozen records passed between the stages of the pipeline.

fetch → :class:`FetchResult`; parse → :class:`ParsedFeed` of :class:`RawEntry`;
extract → :class:`Article`; update → :class:`FeedOutcome`; the store returns
:class:`StoredArticle`, :class:`FeedState` and :class:`SearchHit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class FeedKind(StrEnum):
    REGULATOR = "regulator"
    NEWS = "news"


class FetchStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FeedSource:
    """A feed as configured by the user."""

    name: str
    url: str
    kind: FeedKind = FeedKind.NEWS
    agency: str | None = None
    interval: int = 3600  # seconds between checks


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators sent back on the next request."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A successful HTTP exchange: a body, or ``not_modified`` with no body."""

    url: str  # the URL finally answered, after redirects
    status: FetchStatus
    http_status: int
    content: bytes | None = None
    content_type: str | None = None
    validators: Validators = field(default_factory=Validators)
    permanent_url: str | None = None  # set when every redirect on the way was permanent
    max_age: int | None = None  # Cache-Control max-age, seconds


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One item of a feed as feedparser gave it: text not yet cleaned, HTML not yet sanitised."""

    guid: str | None
    link: str | None
    title: str | None
    summary: str | None  # HTML or text as published
    summary_type: str | None  # "text/html" or "text/plain"
    author: str | None
    categories: tuple[str, ...]
    published: datetime | None  # aware UTC, None when missing or unparseable


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document."""

    version: str  # feedparser's format name: rss20, atom10, json11 ...
    title: str | None
    link: str | None
    self_url: str | None
    entries: tuple[RawEntry, ...]
    skipped: int = 0  # items that were unusable and left out


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a tag was given: the text that matched, and where."""

    field: str  # agency | mentioned_agency | entity | action | penalty | case_number
    value: str
    text: str
    where: str  # title | summary | feed


@dataclass(frozen=True, slots=True)
class Money:
    amount: float
    currency: str  # ISO 4217


@dataclass(frozen=True, slots=True)
class Tags:
    """What the tagger found in one article."""

    agencies: tuple[str, ...] = ()  # codes of agencies that act or are a party
    mentioned_agencies: tuple[str, ...] = ()  # every agency named (a superset of agencies)
    entities: tuple[str, ...] = ()  # canonical names
    action: str | None = None  # one of tag.ACTIONS, None when not about enforcement
    penalty_usd: float | None = None
    penalty: Money | None = None  # the amount in its own currency, USD included
    case_numbers: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    version: str = ""  # tagger version + catalog fingerprint


@dataclass(frozen=True, slots=True)
class StoryText:
    """What story matching reads of an article's text (``dedup.story_tokens`` and
    ``story_anchors``), worked out where the article is prepared: in a worker process, not in
    the one that writes the store."""

    tokens: frozenset[str]
    anchors: frozenset[str]


@dataclass(frozen=True, slots=True)
class Article:
    """A cleaned article ready to be stored. ``key`` is its identity within its feed."""

    key: str
    guid: str | None
    url: str | None
    title: str
    summary_html: str
    summary_text: str
    author: str | None
    categories: tuple[str, ...]
    published: datetime  # aware UTC
    published_estimated: bool  # True when the feed gave no usable date: published = first seen
    content_hash: str
    tags: Tags = field(default_factory=Tags)
    story_text: StoryText | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as kept in the store."""

    id: int
    feed: str
    feed_kind: FeedKind
    feed_agency: str | None
    key: str
    guid: str | None
    url: str | None
    title: str
    summary_html: str
    summary_text: str
    author: str | None
    categories: tuple[str, ...]
    published: datetime
    published_estimated: bool
    first_seen: datetime
    updated: datetime
    tags: Tags = field(default_factory=Tags)
    story_id: int | None = None


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed as kept in the store: its configuration and what the last fetches left."""

    id: int
    name: str
    url: str
    kind: FeedKind
    agency: str | None
    interval: int
    title: str | None
    validators: Validators
    last_fetched: datetime | None
    last_success: datetime | None
    last_status: FetchStatus | None
    last_error: str | None
    consecutive_failures: int
    next_check: datetime | None
    permanent_url: str | None = None  # where the feed said it moved for good
    http_status: int | None = None
    article_count: int = 0
    latest_article: datetime | None = None  # publication date of its newest stored article
    disabled_reason: str | None = None  # set when the feed is no longer fetched (410 Gone)
    lease_owner: str | None = None


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """What one write of a feed's articles changed."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    new_ids: tuple[int, ...] = ()
    updated_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """The result of updating one feed: ok, not modified, or an error with a one-line reason."""

    feed: str
    url: str
    status: FetchStatus
    new: int = 0
    updated: int = 0
    error: str | None = None
    skipped: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One alternative of a query clause: a word, a phrase or a prefix."""

    text: str
    phrase: bool = False
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed user query: every clause must match; a clause is any of its terms (``OR``)."""

    clauses: tuple[tuple[SearchTerm, ...], ...]
    excluded: tuple[SearchTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Which stored articles to return."""

    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()  # any of these acting agencies
    entities: tuple[str, ...] = ()  # any of these entities (canonical names)
    actions: tuple[str, ...] = ()  # any of these action types
    limit: int | None = None
    oldest_first: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    article: StoredArticle
    score: float
    snippet: str  # plain text; matches wrapped in HIGHLIGHT_START / HIGHLIGHT_END


HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"


@dataclass(frozen=True, slots=True)
class FeedUpdateIntent:
    """Everything one fetch of one feed writes, applied by the store in one transaction."""

    feed: str
    fetched: datetime
    status: FetchStatus
    next_check: datetime
    articles: tuple[Article, ...] = ()
    validators: Validators | None = None  # None: keep the stored ones
    error: str | None = None
    http_status: int | None = None
    title: str | None = None
    permanent_url: str | None = None
    from_network: bool = True  # False for ``import``: articles only, fetch state untouched
    disable: str | None = None  # a reason to stop fetching the feed (410 Gone)


@dataclass(frozen=True, slots=True)
class Story:
    """One event and every stored article that reports it; the lead first."""

    id: int
    lead: StoredArticle
    articles: tuple[StoredArticle, ...]  # the lead first, then by date

    @property
    def coverage(self) -> tuple[StoredArticle, ...]:
        return self.articles[1:]


@dataclass(frozen=True, slots=True)
class StoryOutline:
    """What counting stories needs, without their articles: when the lead was published and
    whether a regulator published a member or a member reports an enforcement action."""

    id: int
    lead_published: datetime
    regulator: bool
    action: bool

    @classmethod
    def of(cls, story: Story) -> StoryOutline:
        return cls(
            id=story.id,
            lead_published=story.lead.published,
            regulator=any(a.feed_kind is FeedKind.REGULATOR for a in story.articles),
            action=any(a.tags.action for a in story.articles),
        )


@dataclass(frozen=True, slots=True)
class DigestSection:
    """One agency's part of a digest: its own releases, then the press stories about it."""

    agency: str | None  # code; None for stories no catalogued agency acts in
    name: str
    releases: tuple[Story, ...]
    coverage: tuple[Story, ...]
    penalty_usd: float


@dataclass(frozen=True, slots=True)
class FeedHealth:
    feed: str
    problem: str  # "failing" | "silent"
    detail: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Digest:
    """The briefing of one day in the configured time zone."""

    day: date
    timezone: str
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive
    generated: datetime
    sections: tuple[DigestSection, ...]
    watchlist: tuple[Story, ...]
    story_count: int
    article_count: int
    other_articles: int  # stored that day but not about enforcement
    average_7d: float  # enforcement stories per day over the previous seven days
    health: tuple[FeedHealth, ...]

    @property
    def quiet(self) -> bool:
        return self.story_count == 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """A row of the digest ledger."""

    day: str
    recipient: str
    status: str  # claimed | sending | sent | failed | unknown
    message_id: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    updated: datetime
