"""Raw feed fields → clean records: plain text, allow-listed HTML, absolute http(s) links."""

from __future__ import annotations

import html
import re
import warnings
from datetime import datetime, timedelta

import nh3
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from aggregator._urls import absolute_http_url, canonical_url
from aggregator.dedup import article_key, content_hash
from aggregator.records import Article, RawEntry

MAX_TITLE = 1000  # characters
MAX_SUMMARY_HTML = 200_000
MAX_SUMMARY_TEXT = 50_000
FUTURE_TOLERANCE = timedelta(days=1)  # beyond this a date is a publisher's mistake

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "cite", "code", "dd", "del", "div", "dl", "dt",
        "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "li", "ol", "p", "pre", "q",
        "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"}}
# Removed with their content, not just unwrapped.
DROPPED_CONTENT_TAGS = {
    "script",
    "style",
    "template",
    "noscript",
    "iframe",
    "object",
    "svg",
    "math",
}

# Control characters and line/paragraph separators become a space; invisible format
# characters (zero-width space, bidi overrides, BOM) are removed, since they sit inside words.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
# Elements that separate words when rendered; inline ones (a, b, em ...) do not.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
_WHITESPACE = re.compile(r"\s+")
# "&amp;nbsp;" and friends: entities escaped twice by the publisher's CMS.
_DOUBLE_ESCAPED = re.compile(r"&amp;(#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_ENTITY = re.compile(r"&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_MARKUP_HINT = re.compile(r"<[a-zA-Z/!]|&")


def clean_text(value: str | None, *, limit: int = MAX_TITLE) -> str:
    """Plain text: markup removed, entities decoded (twice-escaped ones too), control
    characters removed, whitespace collapsed."""
    if not value:
        return ""
    text = value
    if _MARKUP_HINT.search(text):
        text = _visible_text(text)
    if _ENTITY.search(text):
        text = html.unescape(text)
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", text))
    text = _WHITESPACE.sub(" ", text).strip()
    return text[:limit]


def sanitize_html(value: str | None, *, plain: bool = False) -> str:
    """Allow-listed HTML: no scripts, styles, images, event handlers; links only http(s)."""
    if not value:
        return ""
    if plain:
        return html.escape(clean_text(value, limit=MAX_SUMMARY_TEXT), quote=False)
    value = _DOUBLE_ESCAPED.sub(r"&\1;", value[:MAX_SUMMARY_HTML])
    value = _INVISIBLE.sub("", _CONTROL.sub(" ", value))
    cleaned = nh3.clean(
        value,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=DROPPED_CONTENT_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return cleaned.strip()


def html_to_text(value: str, *, limit: int = MAX_SUMMARY_TEXT) -> str:
    """The text a reader sees in HTML that ``sanitize_html`` produced, whitespace collapsed.

    Only for that HTML: its serialiser writes every ``<`` of the text as ``&lt;``, quotes
    every attribute value with ``"`` and keeps no comments, so a tag is exactly what
    ``_SANITISED_TAG`` matches and a regular expression reads it as a browser would, at a
    tenth of the cost of an HTML parser (tests/test_extract.py holds it to the parser's
    reading). Raw HTML goes through ``clean_text``.
    """
    if not value:
        return ""
    text = value
    if "<" in text:
        text = _SANITISED_TAG.sub(_tag_gap, text)
    if "&" in text:
        text = html.unescape(text)
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", text))
    return _WHITESPACE.sub(" ", text).strip()[:limit]


_SANITISED_TAG = re.compile(r'</?([a-zA-Z][a-zA-Z0-9]*)(?:[^">]|"[^"]*")*>')


def _tag_gap(tag: re.Match[str]) -> str:
    # Block elements separate words, inline ones do not ("Stable<em>coin</em>" is one word).
    return " " if tag.group(1).lower() in _BLOCK_TAGS else ""


def build_article(entry: RawEntry, *, base_url: str | None, now: datetime) -> Article:
    """A raw item → a clean :class:`Article`; a missing or far-future date becomes ``now``."""
    title = clean_text(entry.title)
    link = absolute_http_url(entry.link, base_url)
    url = canonical_url(link) if link else None  # tracking parameters never reach a reader
    plain = bool(entry.summary_type) and "html" not in (entry.summary_type or "")
    summary_html = sanitize_html(entry.summary, plain=plain)
    summary_text = html_to_text(summary_html)
    if not title:
        title = summary_text[:120] or url or "(untitled)"
    guid = clean_text(entry.guid, limit=2048) or None
    author = clean_text(entry.author, limit=300) or None
    categories = tuple(c for c in (clean_text(c, limit=200) for c in entry.categories) if c)
    estimated = entry.published is None or entry.published > now + FUTURE_TOLERANCE
    published = now if estimated or entry.published is None else entry.published
    key = article_key(guid, url, title, entry.published if not estimated else None, summary_text)
    fingerprint = content_hash(
        [
            guid,
            url,
            title,
            summary_html,
            author,
            list(categories),
            None if estimated else published.isoformat(),
        ]
    )
    return Article(
        key=key,
        guid=guid,
        url=url,
        title=title,
        summary_html=summary_html,
        summary_text=summary_text,
        author=author,
        categories=categories,
        published=published,
        published_estimated=estimated,
        content_hash=fingerprint,
    )


def _soup(value: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        # A title such as "example.com" looks like a file name to bs4; it is text.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(value, "html.parser")


def _visible_text(value: str) -> str:
    """The text of an HTML fragment as rendered: block elements separate words, inline ones
    do not (``Stable<em>coin</em>`` is one word, ``<p>a</p><p>b</p>`` two)."""
    soup = _soup(value)
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(" ")
        tag.insert_after(" ")
    return soup.get_text()
