"""Parsing and tagging in worker processes: the same articles, tags and stories as in the main
process, broken documents reported the same way, and a worker that dies costs nothing."""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import prepare
from aggregator.catalog import load_catalog
from aggregator.config import HttpConfig
from aggregator.dedup import story_anchors, story_tokens
from aggregator.fetch import Fetcher
from aggregator.prepare import GC_THRESHOLD, Download, Prepared, Preparer, fewer_collections
from aggregator.records import ArticleFilter, FeedKind, FeedSource, FetchStatus
from aggregator.store import Store, open_store
from aggregator.tag import tag_articles
from aggregator.update import Updater, ingest
from tests.conftest import FeedServer

FEEDS = Path(__file__).parent / "data" / "feeds"
DOCUMENTS = sorted(path for path in FEEDS.iterdir() if not path.name.endswith(".expected.json"))
NOT_A_FEED = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def sources_on(server: FeedServer) -> list[FeedSource]:
    sources = [
        FeedSource(
            path.stem,
            server.add(f"/{path.name}", path.read_bytes()),
            kind=FeedKind.REGULATOR if path.stem.startswith("sec") else FeedKind.NEWS,
            agency="SEC" if path.stem.startswith("sec") else None,
        )
        for path in DOCUMENTS
    ]
    sources.append(FeedSource("login-page", server.add("/login.xml", NOT_A_FEED)))
    for outlet, title in (
        ("wire-one", "SEC charges Quillfeather Exchange founder over $12.7 million fraud"),
        ("wire-two", "Quillfeather Exchange founder charged by SEC in $12.7 million fraud"),
    ):
        sources.append(FeedSource(outlet, server.add(f"/{outlet}.xml", coverage(outlet, title))))
    return sources


def coverage(outlet: str, title: str) -> bytes:
    """Two outlets' report of one event: a story of two articles."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>https://{outlet}.test/</link><item><guid>{outlet}-1</guid><title>{title}</title>"
        f"<link>https://{outlet}.test/quillfeather</link>"
        "<description>&lt;p&gt;The Securities and Exchange Commission said the founder of "
        "Quillfeather Exchange misappropriated $12.7 million of customer funds.&lt;/p&gt;"
        "</description><pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate></item>"
        "</channel></rss>"
    ).encode()


def stored(store: Store) -> tuple[dict[str, object], set[frozenset[tuple[str, str]]]]:
    """Every article by (feed, key) with what was stored of it, and the stories as sets of
    (feed, key): comparable across two stores whose ids differ."""
    articles = {}
    for article in store.get_articles():
        articles[f"{article.feed}|{article.key}"] = (
            article.title,
            article.summary_html,
            article.summary_text,
            article.published,
            article.tags,
        )
    stories = {
        frozenset((member.feed, member.key) for member in story.articles)
        for story in store.get_stories(ArticleFilter())
    }
    return articles, stories


def run(server: FeedServer, path: Path, processes: int) -> tuple[dict, tuple]:  # type: ignore[type-arg]
    store = open_store(f"sqlite:///{path}")
    try:
        with Fetcher(HttpConfig(concurrency=4, per_host=4, allow_private_networks=True)) as f:
            updater = Updater(store, f, load_catalog(), clock=lambda: NOW, processes=processes)
            outcomes = updater.update(sources_on(server), only_due=False, workers=4)
        summary = {o.feed: (o.status, o.new, o.skipped, o.error) for o in outcomes}
        return summary, stored(store)
    finally:
        store.close()


def test_worker_processes_store_what_the_main_process_stores(
    feed_server: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers from the first document on: these few small documents would never be worth them.
    monkeypatch.setattr(prepare, "START_AFTER", 0.0)
    monkeypatch.setattr(prepare, "PREPARE_WHILE_STARTING", False)
    here = run(feed_server, tmp_path / "here.sqlite", processes=0)
    with caplog.at_level(logging.DEBUG, logger="aggregator.prepare"):
        workers = run(feed_server, tmp_path / "workers.sqlite", processes=1)
    assert workers == here
    outcomes, (articles, stories) = workers
    assert outcomes["login-page"][0] is FetchStatus.ERROR
    assert "not a feed" in str(outcomes["login-page"][3])
    assert sum(1 for o in outcomes.values() if o[0] is FetchStatus.OK) == len(DOCUMENTS) + 2
    assert len(articles) > 30
    assert {"wire-one", "wire-two"} in [{feed for feed, _ in story} for story in stories]
    used = [r.getMessage() for r in caplog.records if "in worker processes" in r.getMessage()]
    assert used and not used[0].startswith("prepared 0 "), used


def download(path: Path) -> Download:
    return Download(
        content=path.read_bytes(),
        url=f"https://agency.test/{path.name}",
        content_type=None,
        kind=FeedKind.REGULATOR,
        agency="SEC",
        now=NOW,
    )


def test_workers_start_only_once_preparing_here_took_longer_than_starting_them() -> None:
    job = download(FEEDS / "sec_press_releases.xml")
    preparer = Preparer(load_catalog(), processes=1, start_after=3600.0)
    try:
        for _ in range(3):
            preparer.result(preparer.submit(job), job)
        assert preparer._pool is None  # a poll where a few feeds changed: no process started
        preparer.start_after = 0.0
        preparer.result(preparer.submit(job), job)
        assert preparer._pool is not None
    finally:
        preparer.close()


def test_documents_are_prepared_here_until_a_worker_has_started() -> None:
    job = download(FEEDS / "sec_press_releases.xml")
    preparer = Preparer(load_catalog(), processes=1, start_after=0.0)
    try:
        first = preparer.submit(job)  # starts the worker, which takes about a second
        assert first.done() and preparer._pool is not None and preparer._in_workers == 0
        deadline = time.monotonic() + 60
        while not preparer._started():
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        second = preparer.submit(job)
        assert preparer._in_workers == 1
        assert preparer.result(second, job) == preparer.result(first, job)
    finally:
        preparer.close()


def test_a_worker_that_dies_leaves_its_document_to_the_main_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "PREPARE_WHILE_STARTING", False)
    catalog = load_catalog()
    job = download(FEEDS / "sec_press_releases.xml")
    expected = Preparer(catalog, processes=0).prepare_here(job)
    assert isinstance(expected, Prepared) and expected.articles
    preparer = Preparer(catalog, processes=1, start_after=0.0)  # a worker from the first on
    try:
        first = preparer.submit(job)
        second = preparer.submit(job)
        assert preparer.result(first, job) == expected
        assert preparer.result(second, job) == expected
        pool = preparer._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)  # a real death, as the kernel's OOM killer would
        with caplog.at_level(logging.WARNING, logger="aggregator.prepare"):
            results = [preparer.result(preparer.submit(job), job) for _ in range(3)]
        assert results == [expected] * 3
        assert any("worker process died" in r.getMessage() for r in caplog.records)
        assert preparer._pool is None  # not used again in this run
    finally:
        preparer.close()


def test_story_text_is_the_one_the_store_would_work_out() -> None:
    prepared = Preparer(load_catalog(), processes=0).prepare_here(download(DOCUMENTS[0]))
    assert isinstance(prepared, Prepared)
    for article in prepared.articles:
        assert article.story_text is not None
        assert article.story_text.tokens == story_tokens(article.title, article.summary_text)
        assert article.story_text.anchors == story_anchors(article.title, article.summary_text)


def test_items_the_store_holds_as_they_are_are_not_tagged_again() -> None:
    preparer = Preparer(load_catalog(), processes=0)
    job = download(FEEDS / "pacer_docket.xml")
    full = preparer.prepare_here(job)
    assert isinstance(full, Prepared) and len(full.articles) == 4  # and one exact repeat
    known = frozenset((a.key, a.content_hash) for a in full.articles[:2])
    # A known key with other content is a changed item: it is prepared again.
    edited = full.articles[2]
    known |= {(edited.key, "a hash of an older version")}
    partial = preparer.prepare_here(replace(job, known=known))
    assert isinstance(partial, Prepared)
    assert partial.articles == full.articles[2:]
    assert partial.unchanged == 2


def rss(*items: tuple[str, str]) -> str:
    body = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><title>{title}</title>'
        "<pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate></item>"
        for guid, title in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{body}</channel></rss>'
    )


def test_a_feed_that_gains_an_item_stores_the_new_and_the_edited_ones_only(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagged: list[str] = []

    def tag_and_count(articles, **options):  # type: ignore[no-untyped-def]
        tagged.extend(article.guid for article in articles)
        return tag_articles(articles, **options)

    # The updater prepares in this process (processes=0), so the count sees every item.
    monkeypatch.setattr(prepare, "tag_articles", tag_and_count)
    url = feed_server.add("/w.xml", rss(("a", "SEC sues Quillon Labs"), ("b", "Old title")))
    sources = [FeedSource("w", url)]
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    later = NOW.replace(hour=13)
    clock = [NOW]
    with Fetcher(HttpConfig(allow_private_networks=True)) as fetcher:
        updater = Updater(store, fetcher, load_catalog(), clock=lambda: clock[0])
        (first,) = updater.update(sources, only_due=False)
        assert (first.new, first.updated) == (2, 0)
        feed_server.add(
            "/w.xml",
            rss(("c", "CFTC fines Zentrix $3 million"), ("a", "SEC sues Quillon Labs"),
                ("b", "New title")),
        )  # fmt: skip
        clock[0] = later
        (second,) = updater.update(sources, only_due=False)
    assert (second.new, second.updated) == (1, 1)
    assert sorted(tagged) == ["a", "b", "b", "c"]  # the unchanged "a" was tagged once only
    by_guid = {article.guid: article for article in store.get_articles()}
    assert by_guid["a"].updated == NOW  # untouched
    assert by_guid["b"].updated == later and by_guid["b"].title == "New title"
    assert by_guid["c"].tags.agencies == ("CFTC",)  # the new item was tagged
    assert by_guid["a"].tags.agencies == ("SEC",)  # and the untouched one kept its tags
    store.close()


def test_an_item_changed_by_another_writer_meanwhile_is_left_to_the_next_document(
    tmp_path: Path,
) -> None:
    """Versions read before preparing may be out of date when the articles are written: an
    item then left out is not lost, the store keeps the other writer's version, and the next
    document is compared with that."""
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.sync_feeds([FeedSource("w", "https://w.test/rss")], NOW)
    state = store.get_feed("w")
    catalog = load_catalog()

    def document(title: str) -> Download:
        return replace(
            download(FEEDS / "sec_press_releases.xml"),
            content=rss(("a", title)).encode(),
            kind=FeedKind.NEWS,
            agency=None,
        )

    def put(job: Download) -> tuple[int, int]:
        prepared = Preparer(catalog, processes=0).prepare_here(job)
        assert isinstance(prepared, Prepared)
        outcome = ingest(
            store, state, prepared, base_url=job.url, fetched=None, now=NOW, next_check=NOW
        )
        return outcome.new, outcome.updated

    assert put(document("First version")) == (1, 0)
    stale = store.article_versions("w")
    assert put(document("Another writer's version")) == (0, 1)
    # This process read the versions before the other writer's change landed:
    assert put(replace(document("First version"), known=stale)) == (0, 0)
    assert [a.title for a in store.get_articles()] == ["Another writer's version"]
    # Its next document is compared with what the store holds now.
    known = store.article_versions("w")
    assert put(replace(document("First version"), known=known)) == (0, 1)
    store.close()


def test_an_update_collects_garbage_less_often_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == (max(GC_THRESHOLD, before[0]), *before[1:])
    assert gc.get_threshold() == before


def test_the_console_script_leaves_the_command_line_to_the_process_that_runs_it() -> None:
    # A spawned worker imports the program's main module as it starts: for the console script
    # that must not mean the whole command line (the store, the digest, the scheduler).
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["aggregator"] == "aggregator.__main__:run"
    code = "import sys, aggregator.__main__; print(sorted(m for m in sys.modules if m in " \
        "('aggregator.cli', 'aggregator.store', 'sqlalchemy')))"  # fmt: skip
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
