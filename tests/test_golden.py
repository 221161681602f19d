"""Golden pairs: hand-written feed documents in ``tests/data/feeds`` and the articles expected
from them (``NAME.xml``/``NAME.json`` next to ``NAME.expected.json``), run through
parse → build_article → disambiguate as :func:`aggregator.update.ingest` does.

Expected files list the articles in document order. Each has ``key`` (or ``key_prefix`` when the
rest is a digest: ``hash:`` keys and ``#``-suffixed keys of repeated guids), ``guid``, ``url``,
``title``, ``summary_text``, ``author``, ``categories``, ``published`` (ISO 8601, UTC) and
``published_estimated``; optionally ``summary_html_contains``. ``summary_html`` itself is only
checked for safety.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.dedup import disambiguate
from aggregator.errors import ParseError
from aggregator.extract import build_article
from aggregator.parse import parse_feed
from aggregator.records import Article

FEEDS = Path(__file__).parent / "data" / "feeds"
FEEDPARSER_TESTS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feedparser-tests"
FEED_URL = "https://example.test/feed"
FIXED_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

CONTENT_TYPES = {".xml": "application/xml", ".json": "application/feed+json"}
FIELDS = (
    "guid",
    "url",
    "title",
    "summary_text",
    "author",
    "categories",
    "published",
    "published_estimated",
)
# Cases that expose a bug in the code: the expectation says what should happen.
# name -> (what is wrong, the exception the golden test fails with, whether parsing itself fails)
KNOWN_BUGS: dict[str, tuple[str, type[BaseException], bool]] = {}

_UNSAFE_HTML = [
    (re.compile(r"<\s*script", re.I), "<script"),
    (re.compile(r"<\s*img", re.I), "<img"),
    (re.compile(r"<[^>]*\son[a-z]+\s*=", re.I), "on*= attribute"),
    (re.compile(r"javascript:", re.I), "javascript:"),
    (re.compile(r"<[^>]*\sstyle\s*=", re.I), "style= attribute"),
]


def _fixture_files() -> list[Path]:
    return sorted(
        path
        for path in FEEDS.iterdir()
        if path.suffix in CONTENT_TYPES and not path.name.endswith(".expected.json")
    )


def _fixture_params(*, only_crashes: bool = False) -> list[Any]:
    params = []
    for path in _fixture_files():
        marks = []
        if path.name in KNOWN_BUGS:
            reason, raises, crashes = KNOWN_BUGS[path.name]
            if crashes or not only_crashes:
                marks.append(pytest.mark.xfail(strict=True, raises=raises, reason=reason))
        params.append(pytest.param(path, id=path.name, marks=marks))
    return params


def _expected_path(path: Path) -> Path:
    return path.with_name(path.stem + ".expected.json")


def run_pipeline(content: bytes, *, content_type: str | None) -> tuple[Article, ...]:
    parsed = parse_feed(content, url=FEED_URL, content_type=content_type)
    return disambiguate(
        [build_article(entry, base_url=FEED_URL, now=FIXED_NOW) for entry in parsed.entries]
    )


def _actual_value(article: Article, name: str) -> object:
    value = getattr(article, name)
    return list(value) if name == "categories" else value


def _expected_value(expected: dict[str, Any], name: str) -> object:
    value = expected[name]
    if name == "published":
        moment = datetime.fromisoformat(value)
        assert moment.utcoffset() == timedelta(0), f"expected file: {value!r} is not UTC"
        return moment
    return value


def _describe(article: Article) -> str:
    return f"{article.key!r} / {article.title!r}"


def _check_key(article: Article, expected: dict[str, Any], where: str) -> list[str]:
    if "key" in expected:
        if article.key != expected["key"]:
            return [f"{where} key: expected {expected['key']!r}, got {article.key!r}"]
        return []
    prefix = expected["key_prefix"]
    if not article.key.startswith(prefix):
        return [f"{where} key: expected prefix {prefix!r}, got {article.key!r}"]
    rest = article.key[len(prefix) :]
    digest_length = 32 if prefix == "hash:" else 12
    if not re.fullmatch(f"[0-9a-f]{{{digest_length}}}", rest):
        return [f"{where} key: expected {digest_length} hex digits after {prefix!r}, got {rest!r}"]
    return []


def _check_safe_html(article: Article, where: str) -> list[str]:
    return [
        f"{where} summary_html contains {label}: {article.summary_html!r}"
        for pattern, label in _UNSAFE_HTML
        if pattern.search(article.summary_html)
    ]


def test_every_fixture_has_an_expectation() -> None:
    files = _fixture_files()
    assert len(files) >= 10
    missing = [path.name for path in files if not _expected_path(path).is_file()]
    assert not missing, f"fixtures without NAME.expected.json: {missing}"


@pytest.mark.parametrize("path", _fixture_params())
def test_golden(path: Path) -> None:
    expected_articles = json.loads(_expected_path(path).read_text(encoding="utf-8"))
    articles = run_pipeline(path.read_bytes(), content_type=CONTENT_TYPES[path.suffix])

    problems: list[str] = []
    if len(articles) != len(expected_articles):
        problems.append(
            f"expected {len(expected_articles)} articles, got {len(articles)}: "
            + "; ".join(_describe(article) for article in articles)
        )
    for index, (article, expected) in enumerate(zip(articles, expected_articles, strict=False)):
        where = f"[{index}] {expected['title'][:50]!r}:"
        problems += _check_key(article, expected, where)
        for name in FIELDS:
            want = _expected_value(expected, name)
            got = _actual_value(article, name)
            if got != want:
                problems.append(f"{where} {name}: expected {want!r}, got {got!r}")
        if article.published.utcoffset() != timedelta(0):
            problems.append(f"{where} published is not UTC: {article.published!r}")
        problems += [
            f"{where} summary_html lacks {fragment!r}: {article.summary_html!r}"
            for fragment in expected.get("summary_html_contains", [])
            if fragment not in article.summary_html
        ]
        problems += _check_safe_html(article, where)
    keys = [article.key for article in articles]
    if len(set(keys)) != len(keys):
        problems.append(f"duplicate keys: {keys}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", _fixture_params(only_crashes=True))
def test_golden_is_stable(path: Path) -> None:
    """A second parse of the same document gives the same keys and fingerprints."""
    content = path.read_bytes()
    first = run_pipeline(content, content_type=CONTENT_TYPES[path.suffix])
    second = run_pipeline(content, content_type=CONTENT_TYPES[path.suffix])
    assert [(a.key, a.content_hash) for a in first] == [(a.key, a.content_hash) for a in second]


NOT_FEEDS = [
    pytest.param(
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
        b"<body><h1>Not Found</h1><p>The requested URL was not found.</p></body></html>",
        "text/html; charset=utf-8",
        id="html-error-page",
    ),
    pytest.param(b"", None, id="empty-body"),
    pytest.param(b"  \r\n\t \n", "application/rss+xml", id="whitespace-only"),
    pytest.param(b'{"error": "not found"}', "application/json", id="json-error-object"),
    pytest.param(
        b"Service temporarily unavailable. Please try again later.\n",
        "text/plain",
        id="plain-text",
    ),
]


@pytest.mark.parametrize(("content", "content_type"), NOT_FEEDS)
def test_not_a_feed_raises_parse_error(content: bytes, content_type: str | None) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(content, url=FEED_URL, content_type=content_type)
    assert caught.value.url == FEED_URL
    assert caught.value.reason.startswith("not a feed")


def _corpus_files() -> list[Path]:
    if not FEEDPARSER_TESTS.is_dir():
        return []
    return sorted(
        path
        for path in FEEDPARSER_TESTS.rglob("*")
        if path.is_file() and path.name not in {"LICENSE", "README.md"}
    )


@pytest.mark.corpus
def test_feedparser_corpus_never_crashes() -> None:
    if not FEEDPARSER_TESTS.is_dir():
        pytest.skip(f"feedparser test corpus not found at {FEEDPARSER_TESTS}")
    files = _corpus_files()
    assert files, f"no documents under {FEEDPARSER_TESTS}"
    failures: list[str] = []
    for path in files:
        name = str(path.relative_to(FEEDPARSER_TESTS))
        try:
            parsed = parse_feed(path.read_bytes(), url=FEED_URL)
        except ParseError:
            continue
        except Exception as exc:  # the point of the test: report every other exception
            failures.append(f"{name}: parse_feed raised {type(exc).__name__}: {exc}")
            continue
        for index, entry in enumerate(parsed.entries):
            try:
                article = build_article(entry, base_url=FEED_URL, now=FIXED_NOW)
            except Exception as exc:
                failures.append(f"{name} entry {index}: build_article raised {exc!r}")
                continue
            failures += [f"{name} entry {index}: {p}" for p in _check_safe_html(article, "")]
    assert not failures, f"{len(failures)} of {len(files)} documents failed:\n" + "\n".join(
        failures
    )
