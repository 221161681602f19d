"""feedparser → :class:`ParsedFeed`: the raw fields of each item, dates made aware UTC.

A document that is not a feed (an HTML page, an empty body, a JSON error object) raises
:class:`ParseError`; a feed with some unusable items keeps the good ones.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import feedparser

from aggregator._dates import from_struct_time
from aggregator.errors import ParseError
from aggregator.records import ParsedFeed, RawEntry

log = logging.getLogger(__name__)

MAX_CATEGORIES = 50
MAX_GUID = 2048
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_JSON_START = re.compile(rb"^\s*[\[{]")


def parse_feed(content: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a feed document. ``url`` names the document in errors and resolves relative links."""
    if not content or not content.strip():
        raise ParseError(url, "not a feed: empty document")
    headers = {}
    if url.startswith(("http://", "https://")):
        headers["content-location"] = url
    if content_type:
        headers["content-type"] = content_type
    try:
        # BytesIO, never bytes: feedparser tries a bytes argument as a file name first.
        parsed = feedparser.parse(
            io.BytesIO(content),
            response_headers=headers,
            sanitize_html=False,  # extract.py sanitises with an allow-list
            resolve_relative_uris=True,
        )
    except Exception as exc:  # feedparser's internals raise anything on hostile input
        raise ParseError(url, f"not a feed: parser failed ({type(exc).__name__})") from exc
    version = parsed.get("version") or ""
    raw_entries = parsed.get("entries") or []
    if not version and not raw_entries:
        raise ParseError(url, "not a feed: " + _why_not_a_feed(content, parsed))
    entries: list[RawEntry] = []
    skipped = 0
    for raw in raw_entries:
        try:
            entry = _entry(raw)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            log.debug("skipped an unusable item of %s: %r", url, exc)
            entry = None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    feed = parsed.get("feed") or {}
    self_url = None
    for link in feed.get("links") or []:
        if link.get("rel") == "self" and link.get("href"):
            self_url = str(link["href"]).strip()
            break
    return ParsedFeed(
        version=version or "unknown",
        title=_text(feed.get("title")),
        link=_text(feed.get("link")),
        self_url=self_url,
        entries=tuple(entries),
        skipped=skipped,
    )


def _why_not_a_feed(content: bytes, parsed: Any) -> str:
    head = content[:2048]
    if _HTML_START.match(head):
        return "an HTML page"
    if _JSON_START.match(head):
        return "JSON that is not a JSON Feed"
    problem = parsed.get("bozo_exception")
    if problem is not None:
        message = " ".join(str(problem).split())[:200]
        return f"malformed document ({message})" if message else "malformed document"
    return "no RSS, Atom or JSON Feed elements found"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _entry(raw: Any) -> RawEntry | None:
    guid = _text(raw.get("id"))
    if guid is not None:
        guid = guid.strip()[:MAX_GUID]
    link = _text(raw.get("link"))
    title = _text(raw.get("title"))
    summary, summary_type = _summary(raw)
    if not (title or link or summary):
        return None
    published = None
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        published = from_struct_time(raw.get(key))
        if published is not None:
            break
    return RawEntry(
        guid=guid or None,
        link=link,
        title=title,
        summary=summary,
        summary_type=summary_type,
        author=_author(raw),
        categories=_categories(raw),
        published=published,
    )


def _summary(raw: Any) -> tuple[str | None, str | None]:
    detail = raw.get("summary_detail") or {}
    value = _text(raw.get("summary"))
    if value:
        return value, detail.get("type")
    for content in raw.get("content") or []:
        value = _text(content.get("value"))
        if value:
            return value, content.get("type")
    return None, None


def _author(raw: Any) -> str | None:
    names: list[str] = []
    for author in raw.get("authors") or []:
        name = _text(author.get("name") if hasattr(author, "get") else None)
        if name and name.strip() not in names:
            names.append(name.strip())
    if not names:
        name = _text(raw.get("author"))
        if name:
            names.append(name.strip())
    return ", ".join(names) or None


def _categories(raw: Any) -> tuple[str, ...]:
    seen: list[str] = []
    for tag in raw.get("tags") or []:
        term = _text(tag.get("term") or tag.get("label"))
        if term:
            term = " ".join(term.split())
            if term not in seen:
                seen.append(term)
        if len(seen) >= MAX_CATEGORIES:
            break
    return tuple(seen)
