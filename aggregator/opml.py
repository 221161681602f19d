"""OPML 2.0 in and out: the list of feeds, as other feed readers export and import it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from aggregator._urls import absolute_http_url
from aggregator.errors import DocumentError
from aggregator.parse import defuse
from aggregator.records import FeedKind, FeedSource

# Our own attributes on <outline>, next to the standard type/text/xmlUrl.
KIND_ATTRIBUTE = "aggregatorKind"
AGENCY_ATTRIBUTE = "aggregatorAgency"


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    name: str
    url: str
    kind: FeedKind | None
    agency: str | None


def parse_opml(content: bytes, *, path: str) -> list[OpmlFeed]:
    """The feeds (outlines with an xmlUrl, at any depth) of an OPML document."""
    try:
        root = ET.fromstring(defuse(content))  # no DTD, so no entity expansion
    except ET.ParseError as exc:
        raise DocumentError(path, f"not OPML: {exc}") from None
    if root.tag.lower() != "opml":
        raise DocumentError(path, f"not OPML: the root element is <{root.tag[:40]}>")
    feeds = []
    for outline in root.iter("outline"):
        url = absolute_http_url(outline.get("xmlUrl") or outline.get("xmlurl"))
        if url is None:
            continue
        name = " ".join((outline.get("title") or outline.get("text") or url).split())[:200]
        kind_text = outline.get(KIND_ATTRIBUTE)
        kind = FeedKind(kind_text) if kind_text in ("regulator", "news") else None
        agency = (outline.get(AGENCY_ATTRIBUTE) or "").strip().upper() or None
        feeds.append(OpmlFeed(name=name, url=url, kind=kind, agency=agency))
    return feeds


def render_opml(sources: Iterable[FeedSource], *, now: datetime) -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "aggregator feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(root, "body")
    for source in sources:
        attributes = {
            "type": "rss",
            "text": source.name,
            "title": source.name,
            "xmlUrl": source.url,
            KIND_ATTRIBUTE: source.kind.value,
        }
        if source.agency:
            attributes[AGENCY_ATTRIBUTE] = source.agency
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
