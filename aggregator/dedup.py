"""Article identity and content fingerprints: pure functions, no I/O.

An article is identified within its feed by its guid; without one by its canonical link; without
either by a hash of its title and date. Items of one feed that share a link but differ by guid
(court dockets do this) are different articles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from aggregator._urls import canonical_url
from aggregator.records import Article


def article_key(
    guid: str | None, url: str | None, title: str, published: datetime | None, summary: str = ""
) -> str:
    """The identity of an item within its feed, stable across fetches."""
    if guid:
        return "guid:" + guid
    if url:
        return "url:" + canonical_url(url)
    # Never the time first seen: the key must not change from one fetch to the next.
    basis = [title, published.isoformat() if published else summary]
    return "hash:" + _digest(basis)


def disambiguate(articles: Sequence[Article]) -> tuple[Article, ...]:
    """One document's articles with unique keys.

    An exact repeat of an item is dropped. Items that share a guid but differ in content (EDGAR
    lists one filing once per filer; PACER repeats a docket entry's guid) are different
    articles: the first keeps the plain key, later ones get the key plus a content suffix, so
    the keys are the same on every fetch of the same document.
    """
    seen: dict[str, str] = {}
    kept: list[Article] = []
    for article in articles:
        known = seen.get(article.key)
        if known is None:
            seen[article.key] = article.content_hash
            kept.append(article)
            continue
        if known == article.content_hash:
            continue
        key = f"{article.key}#{article.content_hash[:12]}"
        if key in seen:
            continue
        seen[key] = article.content_hash
        kept.append(replace(article, key=key))
    return tuple(kept)


def content_hash(fields: Iterable[object]) -> str:
    """A fingerprint of what a reader sees, so an unchanged article is not rewritten."""
    return _digest(list(fields))


def _digest(value: object) -> str:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]
