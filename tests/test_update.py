"""The update orchestrator against a real HTTP server and a real SQLite store: validators and
conditional GET across runs, permanent redirects, the per-host limit, and failures kept per feed."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.catalog import load_catalog
from aggregator.config import HttpConfig
from aggregator.errors import NotFoundError
from aggregator.fetch import Fetcher
from aggregator.parse import parse_feed
from aggregator.prepare import prepare
from aggregator.records import ArticleFilter, FeedKind, FeedOutcome, FeedSource, FetchStatus
from aggregator.store import Store
from aggregator.update import Document, Updater, ingest_all
from tests.conftest import FeedServer, Request

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def rss(*items: tuple[str, str]) -> bytes:
    """A tiny RSS 2.0 document with one item per (guid, title)."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title>"
        f"<link>https://agency.test/{guid}</link>"
        f"<pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Enforcement actions</title><link>https://agency.test/</link>{body}"
        "</channel></rss>"
    ).encode()


ACTIONS = rss(
    ("sec-1", "SEC charges exchange"),
    ("sec-2", "CFTC fines broker"),
    ("sec-3", "FCA bans adviser"),
)
HTML = b"<!DOCTYPE html><html><head><title>Home</title></head><body>Welcome</body></html>"


def header(request: Request, name: str) -> str | None:
    for key, value in request.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def update(
    store: Store, sources: list[FeedSource], config: HttpConfig | None = None, **options: object
) -> dict[str, FeedOutcome]:
    with Fetcher(config or HttpConfig()) as fetcher:
        outcomes = Updater(store, fetcher, **options).update(sources, only_due=False)  # type: ignore[arg-type]
    assert len(outcomes) == len(sources)
    return {outcome.feed: outcome for outcome in outcomes}


def titles(store: Store, feed: str) -> set[str]:
    return {article.title for article in store.get_articles(ArticleFilter(sources=(feed,)))}


# -- validators and conditional GET ------------------------------------------------------------


def test_a_rotating_etag_is_saved_each_time_and_adds_nothing_the_second_time(
    feed_server: FeedServer, store: Store
) -> None:
    source = FeedSource("sec", feed_server.add("/sec.xml", ACTIONS, rotate_etag=True))

    first = update(store, [source])["sec"]
    assert (first.status, first.new, first.updated) == (FetchStatus.OK, 3, 0)
    assert store.get_feed("sec").validators.etag == '"rotating-1"'

    second = update(store, [source])["sec"]

    assert second.status is FetchStatus.OK  # the server never answers 304
    assert (second.new, second.updated) == (0, 0)
    assert store.get_feed("sec").validators.etag == '"rotating-2"'  # the latest one served
    requests = feed_server.requests_to("/sec.xml")
    assert header(requests[0], "If-None-Match") is None
    assert header(requests[1], "If-None-Match") == '"rotating-1"'
    assert store.get_feed("sec").article_count == 3


def test_a_second_run_is_a_conditional_get_and_not_modified(
    feed_server: FeedServer, store: Store
) -> None:
    last_modified = "Mon, 23 Nov 2026 09:00:00 GMT"
    url = feed_server.add("/sec.xml", ACTIONS, etag='"abc"', last_modified=last_modified)
    source = FeedSource("sec", url)

    first = update(store, [source])["sec"]
    second = update(store, [source])["sec"]

    assert (first.status, first.new) == (FetchStatus.OK, 3)
    assert second.status is FetchStatus.NOT_MODIFIED
    assert (second.new, second.updated, second.error) == (0, 0, None)
    conditional = feed_server.requests_to("/sec.xml")[1]
    assert header(conditional, "If-None-Match") == '"abc"'
    assert header(conditional, "If-Modified-Since") == last_modified
    state = store.get_feed("sec")
    assert state.last_status is FetchStatus.NOT_MODIFIED
    assert state.http_status == 304
    assert (state.validators.etag, state.validators.last_modified) == ('"abc"', last_modified)
    assert state.article_count == 3
    assert state.consecutive_failures == 0


def test_changed_content_under_a_new_etag_is_stored(feed_server: FeedServer, store: Store) -> None:
    url = feed_server.add("/sec.xml", ACTIONS, etag='"v1"')
    source = FeedSource("sec", url)
    update(store, [source])
    feed_server.add(
        "/sec.xml",
        rss(("sec-1", "SEC charges exchange (amended)"), ("sec-4", "OCC consent order")),
        etag='"v2"',
    )

    outcome = update(store, [source])["sec"]

    assert (outcome.status, outcome.new, outcome.updated) == (FetchStatus.OK, 1, 1)
    assert store.get_feed("sec").validators.etag == '"v2"'
    assert "OCC consent order" in titles(store, "sec")


# -- permanent redirects -----------------------------------------------------------------------


def test_a_permanent_redirect_is_recorded_and_used_next_time(
    feed_server: FeedServer, store: Store
) -> None:
    new_url = feed_server.add("/new.xml", ACTIONS, etag='"n1"')
    old_url = feed_server.add("/old.xml", status=301, headers={"Location": new_url})
    source = FeedSource("sec", old_url)

    first = update(store, [source])["sec"]

    assert (first.status, first.new) == (FetchStatus.OK, 3)
    state = store.get_feed("sec")
    assert state.permanent_url == new_url
    assert state.url == old_url  # the configured address is left as configured

    second = update(store, [source])["sec"]

    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.url == new_url
    assert len(feed_server.requests_to("/old.xml")) == 1  # not asked again
    assert len(feed_server.requests_to("/new.xml")) == 2
    assert header(feed_server.requests_to("/new.xml")[1], "If-None-Match") == '"n1"'
    assert store.get_feed("sec").permanent_url == new_url


def test_a_temporary_redirect_is_not_recorded(feed_server: FeedServer, store: Store) -> None:
    new_url = feed_server.add("/new.xml", ACTIONS)
    old_url = feed_server.add("/old.xml", status=302, headers={"Location": new_url})
    source = FeedSource("sec", old_url)

    update(store, [source])
    update(store, [source])

    assert store.get_feed("sec").permanent_url is None
    assert len(feed_server.requests_to("/old.xml")) == 2


# -- the per-host limit ------------------------------------------------------------------------


@pytest.mark.parametrize("per_host", [1, 2, 3])
def test_the_server_never_sees_more_than_per_host_requests_at_once(
    feed_server: FeedServer, store: Store, per_host: int
) -> None:
    sources = [
        FeedSource(f"feed-{index}", feed_server.add(f"/feed-{index}.xml", ACTIONS, delay=0.2))
        for index in range(6)
    ]

    with Fetcher(HttpConfig(per_host=per_host)) as fetcher:
        outcomes = Updater(store, fetcher).update(sources, only_due=False, workers=6)

    assert [outcome.status for outcome in outcomes] == [FetchStatus.OK] * 6
    assert feed_server.max_active == per_host  # reached (there are 6 workers), never passed


def test_waiting_for_a_per_host_slot_does_not_eat_the_deadline(
    feed_server: FeedServer, store: Store
) -> None:
    # Each feed answers in 0.4 s, well within the 1 s timeout; one at a time, the third waits
    # 0.8 s for its turn.
    sources = [
        FeedSource(f"feed-{index}", feed_server.add(f"/feed-{index}.xml", ACTIONS, delay=0.4))
        for index in range(3)
    ]

    outcomes = update(store, sources, HttpConfig(per_host=1, timeout=1.0))

    assert {name: outcome.error for name, outcome in outcomes.items()} == dict.fromkeys(
        ("feed-0", "feed-1", "feed-2")
    )


# -- failures stay with their feed -------------------------------------------------------------


def test_one_failing_feed_never_stops_the_others(feed_server: FeedServer, store: Store) -> None:
    sources = [
        FeedSource("ok-a", feed_server.add("/a.xml", ACTIONS)),
        FeedSource("missing", feed_server.url("/nowhere.xml")),  # the server's own 404
        FeedSource("slow", feed_server.add("/slow.xml", ACTIONS, delay=2.0)),
        FeedSource("homepage", feed_server.add("/index.html", HTML, content_type="text/html")),
        FeedSource("ok-b", feed_server.add("/b.xml", rss(("fca-1", "FCA fines bank")))),
    ]
    config = HttpConfig(timeout=1.0)

    started = time.monotonic()
    outcomes = update(store, sources, config)

    assert time.monotonic() - started < 1.9  # the slow feed did not hold the others up long
    expected = {
        "ok-a": (FetchStatus.OK, None),
        "missing": (FetchStatus.ERROR, "HTTP 404 Not Found"),
        "slow": (FetchStatus.ERROR, "timed out reading"),
        "homepage": (FetchStatus.ERROR, "not a feed"),
        "ok-b": (FetchStatus.OK, None),
    }
    for name, (status, error) in expected.items():
        outcome = outcomes[name]
        assert outcome.status is status, name
        state = store.get_feed(name)
        if error is None:
            assert outcome.error is None
            assert state.last_error is None
            assert state.consecutive_failures == 0
        else:
            assert outcome.error is not None
            assert outcome.error.startswith(error), name
            assert state.last_error == outcome.error
            assert state.last_status is FetchStatus.ERROR
            assert state.consecutive_failures == 1
    assert titles(store, "ok-a") == {
        "SEC charges exchange",
        "CFTC fines broker",
        "FCA bans adviser",
    }
    assert titles(store, "ok-b") == {"FCA fines bank"}
    for name in ("missing", "slow", "homepage"):
        assert store.get_feed(name).article_count == 0

    update(store, sources, config)

    for name in ("missing", "slow", "homepage"):
        assert store.get_feed(name).consecutive_failures == 2, name
    for name in ("ok-a", "ok-b"):
        assert store.get_feed(name).consecutive_failures == 0


def test_a_success_after_failures_clears_the_error(feed_server: FeedServer, store: Store) -> None:
    url = feed_server.add("/sec.xml", status=500)
    source = FeedSource("sec", url)
    update(store, [source])
    assert store.get_feed("sec").last_error == "HTTP 500 Internal Server Error"

    feed_server.add("/sec.xml", ACTIONS)
    outcome = update(store, [source])["sec"]

    assert (outcome.status, outcome.new) == (FetchStatus.OK, 3)
    state = store.get_feed("sec")
    assert (state.last_error, state.consecutive_failures) == (None, 0)


def test_an_html_page_is_not_a_feed_and_its_validators_are_not_kept(
    feed_server: FeedServer, store: Store
) -> None:
    url = feed_server.add("/feed", HTML, content_type="text/html", etag='"page"')
    source = FeedSource("sec", url)

    outcome = update(store, [source])["sec"]

    assert outcome.status is FetchStatus.ERROR
    assert outcome.error is not None
    assert outcome.error.startswith("not a feed")
    assert store.get_feed("sec").validators.etag is None
    update(store, [source])
    # Downloaded again in full, not answered "not modified".
    assert header(feed_server.requests_to("/feed")[1], "If-None-Match") is None


def test_retry_after_sets_the_next_check(feed_server: FeedServer, store: Store) -> None:
    url = feed_server.add("/sec.xml", status=429, headers={"Retry-After": "7200"})
    source = FeedSource("sec", url, interval=600)

    outcome = update(store, [source], clock=lambda: NOW)["sec"]

    assert outcome.error is not None
    assert outcome.error.startswith("HTTP 429 Too Many Requests")
    # Backing off after one failure would wait 600-660 s; the server asked for two hours.
    assert store.get_feed("sec").next_check == NOW + timedelta(seconds=7200)


# -- documents stored together -------------------------------------------------------------------


def test_documents_stored_together_are_all_stored_or_none(store: Store) -> None:
    """``ingest_all`` writes several feeds' documents in one transaction: each feed gets its
    own outcome, and when one of them cannot be written nothing of the others is kept."""
    catalog = load_catalog()
    sources = [
        FeedSource("first", "https://agency.test/first.xml", kind=FeedKind.REGULATOR, agency="SEC"),
        FeedSource("second", "https://agency.test/second.xml"),
    ]
    store.sync_feeds(sources, NOW)

    def document(name: str, content: bytes) -> Document:
        state = store.get_feed(name)
        parsed = parse_feed(content, url=state.url)
        prepared = prepare(
            parsed, base_url=state.url, now=NOW, catalog=catalog, kind=state.kind,
            agency=state.agency,
        )  # fmt: skip
        return Document(state, prepared, state.url, None, NOW, NOW + timedelta(hours=1))

    first = document("first", ACTIONS)
    second = document("second", rss(("news-1", "Exchange settles with SEC")))
    # A feed removed from the store meanwhile: the transaction fails as a whole.
    orphan = Document(replace(first.feed, name="gone"), second.prepared, None, None, NOW, NOW)
    with pytest.raises(NotFoundError):
        ingest_all(store, [first, orphan])
    assert store.count_articles() == 0

    outcomes = ingest_all(store, [first, second])
    assert [(o.feed, o.status, o.new) for o in outcomes] == [
        ("first", FetchStatus.OK, 3),
        ("second", FetchStatus.OK, 1),
    ]
    assert titles(store, "first") == {
        "SEC charges exchange",
        "CFTC fines broker",
        "FCA bans adviser",
    }
    assert titles(store, "second") == {"Exchange settles with SEC"}
    assert store.get_feed("second").title == "Enforcement actions"  # the feed's state too
