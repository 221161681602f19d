"""The user's query language → a :class:`SearchQuery`; never a syntax error.

* words: all must match (``binance penalty``)
* ``"quoted phrases"`` (an unclosed quote runs to the end)
* ``-word`` / ``-"a phrase"``: must not match
* ``a OR b``: either (binds tighter than the implicit AND: ``sec OR cftc binance``)
* ``prefix*``

Anything else (column filters, ``NEAR(``, parentheses, operators of other engines) is text;
characters that are not letters or digits only separate words. The SQL lives in the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aggregator.catalog import Catalog
from aggregator.errors import UsageError
from aggregator.records import SearchQuery, SearchTerm

MAX_TERMS = 64  # beyond this a query is pasted text, not a search; the rest is ignored
MAX_TERM_LENGTH = 200
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class _Token:
    term: SearchTerm | None  # None for the OR operator
    negated: bool = False


def parse_query(text: str) -> tuple[SearchQuery, bool]:
    """Parse a query; returns it and whether terms beyond MAX_TERMS were dropped.

    Raises :class:`UsageError` for an empty query.
    """
    text = _CONTROL.sub(" ", text or "")
    if not text.strip():
        raise UsageError("the search query is empty; give at least one word")
    tokens = list(_tokens(text))
    clauses: list[list[SearchTerm]] = []
    excluded: list[SearchTerm] = []
    join_next = False
    count = 0
    truncated = False
    for index, token in enumerate(tokens):
        if token.term is None:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            usable = (
                clauses
                and not join_next
                and following is not None
                and following.term is not None
                and not following.negated
                and index > 0
                and tokens[index - 1].term is not None
                and not tokens[index - 1].negated
            )
            if usable:
                join_next = True
                continue
            token = _Token(SearchTerm("OR"))  # a stray OR is just the word
        term = token.term
        assert term is not None
        if not _searchable(term.text):
            join_next = False
            continue
        if count >= MAX_TERMS:
            truncated = True
            break
        count += 1
        if token.negated:
            excluded.append(term)
        elif join_next:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        join_next = False
    return SearchQuery(tuple(tuple(c) for c in clauses), tuple(excluded)), truncated


def _searchable(text: str) -> bool:
    return any(character.isalnum() for character in text)


def _tokens(text: str):  # type: ignore[no-untyped-def]
    position = 0
    length = len(text)
    while position < length:
        character = text[position]
        if character.isspace():
            position += 1
            continue
        negated = False
        if character == "-" and position + 1 < length and not text[position + 1].isspace():
            negated = True
            position += 1
            character = text[position]
        if character == '"':
            end = text.find('"', position + 1)
            if end == -1:
                end = length
            phrase = " ".join(text[position + 1 : end].split())[:MAX_TERM_LENGTH]
            position = end + 1
            if phrase:
                yield _Token(SearchTerm(phrase, phrase=True), negated)
            continue
        end = position
        while end < length and not text[end].isspace() and text[end] != '"':
            end += 1
        word = text[position:end][:MAX_TERM_LENGTH]
        position = end
        if word == "OR" and not negated:
            yield _Token(None)
            continue
        prefix = word.endswith("*") and _searchable(word.rstrip("*"))
        yield _Token(SearchTerm(word.rstrip("*") if prefix else word, prefix=prefix), negated)


def expand_entities(query: SearchQuery, catalog: Catalog) -> SearchQuery:
    """A term that names a catalog entity (by name or alias) also matches the articles tagged
    with that entity, whatever alias they use: "CZ" finds "Changpeng Zhao" and back."""

    def expand(terms: tuple[SearchTerm, ...]) -> tuple[SearchTerm, ...]:
        result = list(terms)
        for term in terms:
            if term.prefix:
                continue
            record = catalog.entity(term.text)
            if record is not None:
                canonical = SearchTerm(record.name, phrase=True)
                if canonical not in result:
                    result.append(canonical)
        return tuple(result)

    return SearchQuery(
        clauses=tuple(expand(clause) for clause in query.clauses),
        excluded=expand(query.excluded),
    )
