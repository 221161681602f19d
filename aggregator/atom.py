"""An Atom 1.0 feed (RFC 4287) of stored articles: any search, followed in a feed reader."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime

from aggregator import __version__
from aggregator._dates import isoformat
from aggregator.records import StoredArticle

ATOM = "http://www.w3.org/2005/Atom"
_XML_UNSAFE = str.maketrans({c: None for c in range(32) if c not in (9, 10, 13)})


def _text(value: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped."""
    return value.translate(_XML_UNSAFE)


def render_atom(
    articles: Sequence[StoredArticle], *, title: str, feed_id: str, now: datetime
) -> bytes:
    ET.register_namespace("", ATOM)

    def element(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        child = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
        if text is not None:
            child.text = _text(text)
        return child

    feed = ET.Element(f"{{{ATOM}}}feed")
    element(feed, "id", feed_id)
    element(feed, "title", title)
    updated = max((a.updated for a in articles), default=now)
    element(feed, "updated", isoformat(updated))
    author = element(feed, "author")
    element(author, "name", "aggregator")
    element(feed, "generator", "aggregator", version=__version__)
    for article in articles:
        entry = element(feed, "entry")
        element(entry, "id", f"urn:aggregator:article:{article.id}:{article.key}"[:1000])
        element(entry, "title", article.title)
        element(entry, "updated", isoformat(article.updated))
        element(entry, "published", isoformat(article.published))
        if article.url:
            element(entry, "link", href=article.url, rel="alternate")
        if article.author:
            person = element(entry, "author")
            element(person, "name", article.author)
        summary = article.summary_text or article.title
        tags = article.tags
        details = [f"Source: {article.feed}"]
        if tags.agencies:
            details.append("Agencies: " + ", ".join(tags.agencies))
        if tags.entities:
            details.append("Entities: " + ", ".join(tags.entities))
        if tags.action:
            details.append("Action: " + tags.action.replace("_", " "))
        if tags.penalty:
            details.append(f"Penalty: {tags.penalty.currency} {tags.penalty.amount:,.0f}")
        element(entry, "summary", summary + "\n\n" + " · ".join(details), type="text")
        for term in (*tags.agencies, *tags.entities):
            element(entry, "category", term=term)
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"
