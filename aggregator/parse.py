"""feedparser → :class:`ParsedFeed`: the raw fields of each item, dates made aware UTC.

Ordinary RSS 2.0 and Atom 1.0 documents are read by :mod:`aggregator._fastfeed` instead, an lxml
mirror of what feedparser does with them that gives the same dicts several times faster.

A document that is not a feed (an HTML page, an empty body, a JSON error object) raises
:class:`ParseError`; a feed with some unusable items keeps the good ones.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from aggregator._dates import from_struct_time
from aggregator.errors import ParseError
from aggregator.records import ParsedFeed, RawEntry

try:
    from aggregator._fastfeed import read_fast
except (ImportError, AttributeError):  # feedparser's internals moved: it reads every document
    read_fast = None

log = logging.getLogger(__name__)

MAX_CATEGORIES = 50
MAX_GUID = 2048
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_JSON_START = re.compile(rb"^\s*[\[{]")
JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/"


def parse_feed(
    content: bytes, *, url: str, content_type: str | None = None, fast: bool = True
) -> ParsedFeed:
    """Parse a feed document. ``url`` names the document in errors and resolves relative links.

    Ordinary RSS 2.0 and Atom 1.0 documents take a fast path (lxml) that gives exactly what
    feedparser gives; ``fast=False`` always uses feedparser.
    """
    if not content or not content.strip():
        raise ParseError(url, "not a feed: empty document")
    content = defuse(content)
    if _JSON_START.match(content[:64].lstrip(b"\xef\xbb\xbf")):
        json_feed = _parse_json_feed(content, url)
        if json_feed is not None:
            return json_feed
    fast = fast and read_fast is not None
    parsed = _read_fast(content, url=url, content_type=content_type) if fast else None
    if parsed is None:
        parsed = _read_with_feedparser(content, url=url, content_type=content_type)
    return parsed


def _read_fast(content: bytes, *, url: str, content_type: str | None) -> ParsedFeed | None:
    """The fast path on a defused document, or None when feedparser has to read it."""
    data = read_fast(content, headers=_response_headers(url, content_type))
    return None if data is None else _parsed_feed(url, *data)


def _read_with_feedparser(content: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    try:
        # BytesIO, never bytes: feedparser tries a bytes argument as a file name first.
        parsed = feedparser.parse(
            io.BytesIO(content),
            response_headers=_response_headers(url, content_type),
            sanitize_html=False,  # extract.py sanitises with an allow-list
            resolve_relative_uris=True,
        )
    except Exception as exc:  # feedparser's internals raise anything on hostile input
        raise ParseError(url, f"not a feed: parser failed ({type(exc).__name__})") from exc
    version = parsed.get("version") or ""
    raw_entries = parsed.get("entries") or []
    if not version and not raw_entries:
        raise ParseError(url, "not a feed: " + _why_not_a_feed(content, parsed))
    return _parsed_feed(url, version, parsed.get("feed") or {}, raw_entries)


def _response_headers(url: str, content_type: str | None) -> dict[str, str]:
    """What feedparser is told of the HTTP response: where the document came from (the base of
    relative links) and its declared type (which decides its character encoding)."""
    headers = {}
    if url.startswith(("http://", "https://")):
        headers["content-location"] = url
    if content_type:
        headers["content-type"] = content_type
    return headers


def _parsed_feed(url: str, version: str, feed: Any, raw_entries: list[Any]) -> ParsedFeed:
    """feedparser's ``feed`` and ``entries``, or the fast path's dicts of their shape → record."""
    entries: list[RawEntry] = []
    skipped = max(len(raw_entries) - MAX_ITEMS, 0)
    for raw in raw_entries[:MAX_ITEMS]:
        try:
            entry = _entry(raw)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            log.debug("skipped an unusable item of %s: %r", url, exc)
            entry = None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
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


# -- defusing: what a hostile document could do to feedparser --------------------------------

MAX_ITEMS = 5000  # items kept from one document; the rest are counted as skipped
MAX_PERSON_FIELD = 1000  # characters of an author/e-mail element feedparser will see
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))  # fmt: skip
# A DOCTYPE with its internal subset, anywhere (feedparser only strips <!ENTITY at the start
# of a line, and its fallback parser expands entities: a billion-laughs in one line).
_DOCTYPE = re.compile(rb"<!DOCTYPE(?:[^\[>]|\[[^\]]*\])*>", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"^(<\?xml[^>]*?encoding=)([\"'])[^\"']*\2", re.IGNORECASE)
# feedparser's author/e-mail pattern backtracks: 120 KB in <author> took 80 s here.
_PERSON_FIELD = re.compile(
    rb"(<(?:[\w-]+:)?(?:author|creator|email|managingEditor|webMaster|name|contributor|"
    rb"publisher)\b[^<>]{0,500}>)([^<]{%d,})" % MAX_PERSON_FIELD,
    re.IGNORECASE,
)


def defuse(content: bytes) -> bytes:
    """The document with what could hurt the parser removed: DTDs and entity declarations
    (no expansion, nothing fetched), over-long person fields; UTF-16/32 re-encoded as UTF-8
    so that these byte patterns apply."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            try:
                text = content[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                break
            content = _DECLARED_ENCODING.sub(rb"\1\2utf-8\2", text.encode("utf-8"))
            break
    if b"<!" in content:
        content = _DOCTYPE.sub(b"", content)
        content = _ENTITY.sub(b"", content)
    return _PERSON_FIELD.sub(lambda m: m.group(1) + m.group(2)[:MAX_PERSON_FIELD], content)


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
        # dict.get: FeedParserDict.get("updated_parsed") falls back to "published_parsed" with
        # a DeprecationWarning.
        published = from_struct_time(dict.get(raw, key))
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


# -- JSON Feed (https://jsonfeed.org/version/1.1), which feedparser 6.0 does not read ----------


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed | None:
    """A JSON Feed document, or None when the JSON is something else."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION_PREFIX):
        return None
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "not a feed: JSON Feed without an items list")
    entries: list[RawEntry] = []
    skipped = 0
    feed_authors = _json_authors(data)
    for item in items:
        entry = _json_entry(item, feed_authors) if isinstance(item, dict) else None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    number = version.rstrip("/").rsplit("/", 1)[-1].replace(".", "")
    return ParsedFeed(
        version=f"json{number}",
        title=_json_text(data.get("title")),
        link=_json_text(data.get("home_page_url")),
        self_url=_json_text(data.get("feed_url")),
        entries=tuple(entries),
        skipped=skipped,
    )


def _json_text(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value.strip() else None


def _json_authors(data: dict[str, Any]) -> str | None:
    authors = data.get("authors")
    if not isinstance(authors, list):
        authors = [data.get("author")]  # JSON Feed 1.0
    names = [
        name.strip()
        for author in authors
        if isinstance(author, dict) and (name := _json_text(author.get("name")))
    ]
    return ", ".join(dict.fromkeys(names)) or None


def _json_date(value: Any) -> datetime | None:
    text = _json_text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _json_entry(item: dict[str, Any], feed_authors: str | None) -> RawEntry | None:
    summary, summary_type = None, None
    # The summary first, as for RSS and Atom items; the full content when there is none.
    for key, kind in (("summary", "text/plain"), ("content_html", "text/html"),
                      ("content_text", "text/plain")):  # fmt: skip
        summary = _json_text(item.get(key))
        if summary:
            summary_type = kind
            break
    title = _json_text(item.get("title"))
    link = _json_text(item.get("url")) or _json_text(item.get("external_url"))
    if not (title or link or summary):
        return None
    tags = item.get("tags")
    categories = (
        tuple(
            dict.fromkeys(
                " ".join(tag.split()) for tag in tags if isinstance(tag, str) and tag.strip()
            )
        )[:MAX_CATEGORIES]
        if isinstance(tags, list)
        else ()
    )
    guid = _json_text(item.get("id"))
    return RawEntry(
        guid=guid.strip()[:MAX_GUID] if guid else None,
        link=link,
        title=title,
        summary=summary,
        summary_type=summary_type,
        author=_json_authors(item) or feed_authors,
        categories=categories,
        published=_json_date(item.get("date_published")) or _json_date(item.get("date_modified")),
    )
