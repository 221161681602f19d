"""The daily briefing: built from store queries for one day in the configured time zone,
rendered as plain text and as e-mail-safe HTML from templates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from aggregator._dates import as_utc
from aggregator.catalog import Catalog
from aggregator.config import Config, DigestConfig
from aggregator.records import (
    ArticleFilter,
    Digest,
    DigestSection,
    FeedHealth,
    FeedKind,
    FeedState,
    FetchStatus,
    Story,
    StoryOutline,
)
from aggregator.store import Store

# The agencies readers look for first; any other follows, busiest first.
AGENCY_ORDER = ("SEC", "CFTC", "DOJ", "OFAC", "TREASURY", "FINCEN", "FRB", "OCC", "FDIC",
                "CFPB", "FTC", "FINRA", "NYDFS", "NYAG", "FCA")  # fmt: skip
OTHER_SECTION = "Other enforcement news"
TEMPLATES = Path(__file__).parent / "templates"


def day_window(day: date, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in ``zone``, as aware UTC (23 or 25 hours across DST)."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return as_utc(start), as_utc(end)  # type: ignore[return-value]


def default_day(now: datetime, zone: str) -> date:
    """The day a morning digest reports on: yesterday, in ``zone``."""
    return now.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)


def _is_enforcement(story: StoryOutline) -> bool:
    return story.regulator or story.action


def _agency(story: Story) -> str | None:
    for article in story.articles:  # the lead first
        if article.tags.agencies:
            return article.tags.agencies[0]
    return None


def _penalty(story: Story) -> float:
    return max((a.tags.penalty_usd or 0.0 for a in story.articles), default=0.0)


def _watched(story: Story, watchlist: Iterable[str]) -> bool:
    wanted = set(watchlist)
    return any(wanted & set(a.tags.entities) for a in story.articles)


def _health(feeds: Iterable[FeedState], now: datetime, silent_after: int) -> list[FeedHealth]:
    found = []
    for feed in feeds:
        if feed.last_status is FetchStatus.ERROR:
            found.append(
                FeedHealth(
                    feed.name,
                    "failing",
                    f"{feed.consecutive_failures} failed attempts; last: {feed.last_error}",
                    feed.last_success,
                )
            )
        elif feed.kind is FeedKind.REGULATOR and feed.last_success is not None:
            latest = feed.latest_article
            if latest is None or latest < now - timedelta(seconds=silent_after):
                detail = (
                    f"nothing new since {latest:%Y-%m-%d}" if latest else "no article stored yet"
                )
                found.append(FeedHealth(feed.name, "silent", detail, latest))
    return found


def build_digest(
    store: Store,
    *,
    day: date,
    config: DigestConfig,
    catalog: Catalog,
    feeds: Iterable[str],
    watchlist: Iterable[str],
    now: datetime,
) -> Digest:
    """Everything the briefing of ``day`` says, from the store."""
    start, end = day_window(day, config.timezone)
    stories = store.get_stories(ArticleFilter(since=start, until=end))
    enforcement = [s for s in stories if _is_enforcement(StoryOutline.of(s))]
    grouped: dict[str | None, list[Story]] = {}
    for story in enforcement:
        grouped.setdefault(_agency(story), []).append(story)

    def order(code: str | None) -> tuple[int, int, str]:
        if code is None:
            return (2, 0, "")
        if code in AGENCY_ORDER:
            return (0, AGENCY_ORDER.index(code), code)
        return (1, -len(grouped[code]), code)

    sections = []
    for code in sorted(grouped, key=order):
        members = grouped[code]
        record = catalog.agency(code) if code else None
        sections.append(
            DigestSection(
                agency=code,
                name=record.name if record else (code or OTHER_SECTION),
                releases=tuple(s for s in members if s.lead.feed_kind is FeedKind.REGULATOR),
                coverage=tuple(s for s in members if s.lead.feed_kind is not FeedKind.REGULATOR),
                penalty_usd=sum(_penalty(s) for s in members),
            )
        )
    article_count = store.count_articles(ArticleFilter(since=start, until=end))
    in_enforcement = sum(1 for s in enforcement for a in s.articles if start <= a.published < end)
    # The seven days before, read in one pass (a story spanning days is counted once) and
    # counted by the day of their lead.
    windows = [day_window(day - timedelta(days=back), config.timezone) for back in range(1, 8)]
    week = store.get_story_outlines(ArticleFilter(since=windows[-1][0], until=windows[0][1]))
    previous = [
        sum(1 for s in week if _is_enforcement(s) and first <= s.lead_published < last)
        for first, last in windows
    ]
    watchlist = tuple(watchlist)
    return Digest(
        day=day,
        timezone=config.timezone,
        start=start,
        end=end,
        generated=now,
        sections=tuple(sections),
        watchlist=tuple(s for s in enforcement if watchlist and _watched(s, watchlist)),
        story_count=len(enforcement),
        article_count=article_count,
        other_articles=max(article_count - in_enforcement, 0),
        average_7d=sum(previous) / 7,
        health=tuple(_health(store.get_feeds(list(feeds)), now, config.silent_after)),
    )


def build_configured_digest(
    store: Store, config: Config, catalog: Catalog, *, day: date, now: datetime
) -> Digest:
    """The digest of ``day`` as config.toml describes it: its feeds, watch list and settings."""
    return build_digest(
        store,
        day=day,
        config=config.digest,
        catalog=catalog,
        feeds=[source.name for source in config.feeds],
        watchlist=[record.name for name in config.watchlist if (record := catalog.entity(name))],
        now=now,
    )


def _environment(autoescape: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["money"] = format_money
    environment.filters["safe_url"] = safe_url
    environment.filters["sources"] = lambda story: sorted({a.feed for a in story.coverage})
    environment.filters["snippet"] = lambda text, size=280: (
        text if len(text) <= size else text[:size].rsplit(" ", 1)[0] + " …"
    )
    return environment


def format_money(amount: float | None) -> str:
    if not amount:
        return ""
    for size, suffix in ((1e9, " billion"), (1e6, " million")):
        if amount >= size:
            return f"${amount / size:,.3g}{suffix}".replace(".0 ", " ")
    return f"${amount:,.0f}"


def safe_url(url: str | None) -> str | None:
    """Only http(s) links reach a digest."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def render_text(digest: Digest, *, watchlist_names: Iterable[str] = ()) -> str:
    template = _environment(autoescape=False).get_template("digest.txt")
    return template.render(digest=digest, watchlist_names=list(watchlist_names)).strip() + "\n"


def render_html(digest: Digest, *, watchlist_names: Iterable[str] = ()) -> str:
    template = _environment(autoescape=True).get_template("digest.html")
    return template.render(digest=digest, watchlist_names=list(watchlist_names))
