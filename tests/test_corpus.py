"""The real feeds of ../shared/corpus, served over loopback: every entry stored exactly once.

Skipped when the corpus is not next to the checkout (a fresh clone elsewhere)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from click.testing import Result

from tests.conftest import CORPUS, FeedServer, feeds_config

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}"),
]


def corpus_feeds() -> list[Path]:
    return sorted((CORPUS / "feeds").rglob("*.xml"))


def test_corpus_feeds_land_once_and_refetch_is_conditional(
    feed_server: FeedServer, write_config: Callable[[str], Path], run: Callable[..., Result]
) -> None:
    expected = 0
    urls = {}
    for index, path in enumerate(corpus_feeds()):
        content = path.read_bytes()
        expected += len(feedparser.parse(io.BytesIO(content)).entries)
        urls[path.stem] = feed_server.add(
            f"/{index}.xml",
            content,
            content_type="application/xml",
            etag=f'"e{index}"',
            last_modified="Mon, 23 Nov 2026 10:00:00 GMT",
        )
    config = write_config(feeds_config(urls))
    first = run("fetch", "--json", config=config)
    assert first.exit_code == 0, first.output
    outcomes = json.loads(first.stdout)
    assert [o for o in outcomes if o["status"] != "ok"] == []
    assert sum(o["new"] for o in outcomes) == expected == 1181

    exported = run("export", config=config)
    lines = exported.stdout.splitlines()
    assert len(lines) == expected
    per_feed: dict[str, set[str]] = {}
    for line in lines:
        article = json.loads(line)
        assert article["guid"] or article["url"] or article["title"]
        per_feed.setdefault(article["source"], set()).add(article["id"])
    assert sum(len(ids) for ids in per_feed.values()) == expected

    before = len(feed_server.requests)
    second = run("fetch", "--all", "--json", config=config)
    outcomes = json.loads(second.stdout)
    assert {o["status"] for o in outcomes} == {"not_modified"}
    repeat = feed_server.requests[before:]
    assert len(repeat) == len(urls)
    assert all("If-None-Match" in r.headers and "If-Modified-Since" in r.headers for r in repeat)
    assert len(run("export", config=config).stdout.splitlines()) == expected


def test_corpus_binance_search_has_snippets(
    feed_server: FeedServer, write_config: Callable[[str], Path], run: Callable[..., Result]
) -> None:
    urls = {
        path.stem: feed_server.add(
            f"/{i}.xml", path.read_bytes(), content_type="application/rss+xml"
        )
        for i, path in enumerate(corpus_feeds())
    }
    config = write_config(feeds_config(urls))
    assert run("fetch", config=config).exit_code == 0
    result = run("search", "binance", "--json", config=config)
    hits = json.loads(result.stdout)
    assert len(hits) >= 5
    for hit in hits:
        text = (hit["title"] + " " + hit["summary_text"]).lower()
        assert "binance" in text
        assert "**" in hit["snippet"] and "binance" in hit["snippet"].lower()
        assert hit["url"].startswith("https://")
        assert "utm_" not in hit["url"]


def test_import_of_the_corpus_matches_fetch(run: Callable[..., Result]) -> None:
    result = run("import", str(CORPUS / "feeds"), "--json")
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)
    # Snapshots naming the same rel=self address are one feed, so an item present in two of
    # them is one article: Cointelegraph reuses the guid of its daily "what happened in crypto
    # today" column, so its 2026 snapshot updates the 2025 article instead of adding one.
    assert sum(o["new"] for o in outcomes) == 1180
    assert sum(o["updated"] for o in outcomes) == 1
    # Repeat snapshots: CoinDesk (Arc) 4, Cointelegraph 1, SEC litigation releases 1.
    assert len({o["feed"] for o in outcomes}) == len(outcomes) - 6
    again = json.loads(run("import", str(CORPUS / "feeds"), "--json").stdout)
    assert sum(o["new"] for o in again) == 0
    # Only the reused Cointelegraph guid changes again: the 2025 text, then the 2026 text.
    assert sum(o["updated"] for o in again) == 2


def test_every_feedparser_test_document_imports_without_a_crash(run: Callable[..., Result]) -> None:
    folder = CORPUS / "feedparser-tests"
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in {".xml", ".json"}]
    assert len(files) > 300
    result = run("import", *map(str, files), "--json")
    assert result.exit_code in (0, 1), result.output
    outcomes = json.loads(result.stdout)
    assert len(outcomes) == len(files)
    for outcome in outcomes:
        if outcome["status"] == "error":
            assert outcome["error"] and "\n" not in outcome["error"]
