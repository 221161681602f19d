"""The store: article identity, change detection, transactions, migrations, concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.dedup import article_key, choose_story, story_anchors, story_tokens
from aggregator.errors import NotFoundError, SchemaError
from aggregator.extract import build_article
from aggregator.records import (
    Article,
    ArticleFilter,
    FeedKind,
    FeedSource,
    FeedUpdateIntent,
    FetchStatus,
    RawEntry,
    StoryOutline,
    StoryText,
    Tags,
    Validators,
)
from aggregator.store import Store, open_store
from aggregator.store._articles import story_text_from
from aggregator.store._stories import Chooser

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SOURCE = FeedSource("docket", "https://court.test/rss", FeedKind.REGULATOR, "DOJ")


def raw(**fields: object) -> RawEntry:
    base: dict[str, object] = {
        "guid": None,
        "link": None,
        "title": "A title",
        "summary": "A summary",
        "summary_type": "text/html",
        "author": None,
        "categories": (),
        "published": NOW - timedelta(days=1),
    }
    base.update(fields)
    return RawEntry(**base)  # type: ignore[arg-type]


def write(
    store: Store,
    *articles: Article,
    feed: str = "docket",
    at: datetime = NOW,
    choose: Chooser | None = None,
) -> tuple[int, int]:
    counts = store.apply_update(
        FeedUpdateIntent(
            feed=feed, fetched=at, status=FetchStatus.OK, next_check=at, articles=articles
        ),
        choose,
    )
    return counts.new, counts.updated


@pytest.fixture
def docket(any_store: Store) -> Store:
    any_store.sync_feeds([SOURCE], NOW)
    return any_store


@pytest.mark.parametrize(
    ("guid", "url", "expected"),
    [
        ("abc-123", "https://x.test/a", "guid:abc-123"),
        (None, "HTTPS://X.Test/a?utm_source=rss&id=7&fbclid=zz#top", "url:https://x.test/a?id=7"),
        (None, "https://x.test:443/a?gclid=1", "url:https://x.test/a"),
        (
            None,
            "https://ecf.test/cgi-bin/DktRpt.pl?492165&10",
            "url:https://ecf.test/cgi-bin/DktRpt.pl?492165&10",
        ),
    ],
    ids=["guid-wins", "canonical-link", "default-port-and-gclid", "docket-query-kept"],
)
def test_article_key(guid: str | None, url: str | None, expected: str) -> None:
    assert article_key(guid, url, "t", NOW) == expected


def test_article_key_without_guid_or_link_is_stable_hash() -> None:
    first = article_key(None, None, "Order entered", NOW)
    assert first.startswith("hash:")
    assert first == article_key(None, None, "Order entered", NOW)
    assert first != article_key(None, None, "Order entered", NOW + timedelta(days=1))


def test_items_sharing_a_link_with_different_guids_are_different_articles(docket: Store) -> None:
    link = "https://ecf.test/cgi-bin/DktRpt.pl?492165"
    a = build_article(raw(guid=f"{link}&10", link=link, title="Order"), base_url=None, now=NOW)
    b = build_article(raw(guid=f"{link}&11", link=link, title="Motion"), base_url=None, now=NOW)
    assert write(docket, a, b) == (2, 0)
    assert docket.count_articles() == 2


def test_unchanged_article_is_not_rewritten_and_edit_updates_in_place(docket: Store) -> None:
    entry = raw(guid="g1", link="https://x.test/1", title="SEC charges Acme")
    first = build_article(entry, base_url=None, now=NOW)
    assert write(docket, first) == (1, 0)
    (stored,) = docket.get_articles()
    assert write(docket, build_article(entry, base_url=None, now=NOW + timedelta(hours=1))) == (
        0,
        0,
    )
    edited = build_article(
        raw(guid="g1", link="https://x.test/1", title="SEC charges Acme and its CEO"),
        base_url=None,
        now=NOW,
    )
    assert write(docket, edited, at=NOW + timedelta(hours=2)) == (0, 1)
    after = docket.get_article(stored.id)
    assert after.title == "SEC charges Acme and its CEO"
    assert after.first_seen == stored.first_seen
    assert after.updated == NOW + timedelta(hours=2)
    assert docket.count_articles() == 1


def test_estimated_date_keeps_first_seen_across_fetches(docket: Store) -> None:
    entry = raw(guid="g2", published=None)
    first = build_article(entry, base_url=None, now=NOW)
    assert first.published_estimated and first.published == NOW
    write(docket, first)
    later = NOW + timedelta(days=3)
    assert write(docket, build_article(entry, base_url=None, now=later), at=later) == (0, 0)
    edited = build_article(raw(guid="g2", published=None, title="Edited"), base_url=None, now=later)
    assert write(docket, edited, at=later) == (0, 1)
    (stored,) = docket.get_articles()
    assert stored.published == NOW
    assert stored.published_estimated


def test_far_future_date_is_estimated() -> None:
    article = build_article(raw(published=datetime(2099, 1, 1, tzinfo=UTC)), base_url=None, now=NOW)
    assert article.published == NOW
    assert article.published_estimated


def test_apply_update_records_state_in_the_same_transaction(docket: Store) -> None:
    docket.apply_update(
        FeedUpdateIntent(
            feed="docket",
            fetched=NOW,
            status=FetchStatus.ERROR,
            next_check=NOW + timedelta(hours=1),
            error="HTTP 500 Internal Server Error",
        )
    )
    docket.apply_update(
        FeedUpdateIntent(
            feed="docket",
            fetched=NOW,
            status=FetchStatus.ERROR,
            next_check=NOW,
            error="timed out reading",
        )
    )
    state = docket.get_feed("docket")
    assert (state.last_status, state.last_error, state.consecutive_failures) == (
        FetchStatus.ERROR,
        "timed out reading",
        2,
    )
    docket.apply_update(
        FeedUpdateIntent(
            feed="docket",
            fetched=NOW,
            status=FetchStatus.NOT_MODIFIED,
            next_check=NOW,
            validators=Validators(etag='"v2"', last_modified="Tue, 24 Nov 2026 10:00:00 GMT"),
        )
    )
    state = docket.get_feed("docket")
    assert state.consecutive_failures == 0
    assert state.last_error is None
    assert state.validators.etag == '"v2"'
    assert state.last_success == NOW


def test_failed_write_leaves_nothing(docket: Store) -> None:
    good = build_article(raw(guid="ok"), base_url=None, now=NOW)
    with pytest.raises(NotFoundError):
        write(docket, good, feed="no-such-feed")
    assert docket.count_articles() == 0


def test_sync_feeds_updates_settings_and_keeps_unconfigured_feeds(docket: Store) -> None:
    write(docket, build_article(raw(guid="kept"), base_url=None, now=NOW))
    moved = FeedSource(
        "docket", "https://court.test/new-rss", FeedKind.REGULATOR, "DOJ", interval=600
    )
    docket.sync_feeds([moved, FeedSource("other", "https://o.test/rss")], NOW)
    state = docket.get_feed("docket")
    assert (state.url, state.interval, state.article_count) == (
        "https://court.test/new-rss",
        600,
        1,
    )
    docket.sync_feeds([FeedSource("other", "https://o.test/rss")], NOW)
    assert {f.name for f in docket.get_feeds()} == {"docket", "other"}


def test_get_missing_things_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no article with id 7"):
        store.get_article(7)
    with pytest.raises(NotFoundError, match="no feed named 'x'"):
        store.get_feed("x")


# -- schema ------------------------------------------------------------------------------------


def test_new_store_is_migrated_on_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    with open_store(url) as store:
        assert store.revision()[0] == store.revision()[1]
    connection = sqlite3.connect(tmp_path / "fresh.sqlite")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"feeds", "articles", "articles_fts", "alembic_version"} <= tables
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite"
    url = f"sqlite:///{path}"
    open_store(url).close()
    connection = sqlite3.connect(path)
    connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.commit()
    connection.close()
    with pytest.raises(SchemaError, match=r"9999.*newer version"):
        open_store(url)


def _open_and_write(url: str, worker: int) -> int:
    with open_store(url) as store:
        store.sync_feeds([SOURCE], NOW)
        for index in range(20):
            article = build_article(raw(guid=f"w{worker}-{index}"), base_url=None, now=NOW)
            store.apply_update(
                FeedUpdateIntent(
                    feed="docket",
                    fetched=NOW,
                    status=FetchStatus.OK,
                    next_check=NOW,
                    articles=(article,),
                )
            )
        return store.count_articles()


def test_several_processes_start_and_write_at_once(tmp_path: Path) -> None:
    """Only one migrates, none sees "database is locked", nothing is lost."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.starmap(_open_and_write, [(url, worker) for worker in range(4)])
    with open_store(url) as store:
        assert store.count_articles() == 80
        assert len(store.get_feeds()) == 1


def test_story_outlines_say_what_the_stories_say(docket: Store) -> None:
    docket.sync_feeds([SOURCE, FeedSource("wire", "https://wire.test/rss", FeedKind.NEWS)], NOW)

    def article(guid: str, title: str, days: int, action: str | None = None) -> Article:
        built = build_article(
            raw(guid=guid, title=title, published=NOW - timedelta(days=days)),
            base_url=SOURCE.url,
            now=NOW,
        )
        return replace(built, tags=Tags(action=action))

    write(docket, article("d1", "Order in the matter of Harbor Ridge", 1), choose=choose_story)
    write(
        docket,
        article("w1", "Quillon Labs founder sued over token sale", 2, action="charge"),
        article("w2", "Markets rally as volumes climb", 3),
        article("w3", "Older coverage of Zentrix", 10, action="charge"),
        feed="wire",
        choose=choose_story,
    )
    where = ArticleFilter(since=NOW - timedelta(days=7), until=NOW)
    outlines = docket.get_story_outlines(where)
    assert outlines == [StoryOutline.of(story) for story in docket.get_stories(where)]
    assert [(o.regulator, o.action) for o in outlines] == [
        (False, False),  # oldest lead first
        (False, True),
        (True, False),
    ]


def test_story_text_is_kept_with_the_article_and_never_outlives_an_edit(docket: Store) -> None:
    from aggregator.store import _stories

    def stored() -> StoryText | None:
        with docket._engine.connect() as connection:
            (row,) = connection.execute(_stories._BY_ID, {"ids": [1]}).all()
        return story_text_from(row.story_text)

    first = build_article(
        raw(guid="q1", title="Quillon Labs founder sued", summary="Regulators sued Zentrix."),
        base_url=SOURCE.url,
        now=NOW,
    )
    text = StoryText(
        story_tokens(first.title, first.summary_text),
        story_anchors(first.title, first.summary_text),
    )
    write(docket, replace(first, story_text=text))
    assert stored() == text
    # An edit that arrives without story text (a caller that did not work it out) must not
    # leave the old text's words behind: matching then reads the new text itself.
    edited = build_article(
        raw(guid="q1", title="Quillon Labs founder settles", summary="A settlement."),
        base_url=SOURCE.url,
        now=NOW,
    )
    assert write(docket, edited) == (0, 1)
    assert stored() is None
