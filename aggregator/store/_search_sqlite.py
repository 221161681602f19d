"""Full-text search on SQLite FTS5: a SearchQuery translated to a MATCH expression built only
from quoted strings, so no user input can reach FTS5's own syntax."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    case,
    column,
    func,
    literal_column,
    select,
    table,
)

from aggregator.records import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    ArticleFilter,
    SearchHit,
    SearchQuery,
    SearchTerm,
)
from aggregator.store._articles import apply_filter, article_columns, article_from_row
from aggregator.store.schema import articles, feeds

TITLE_WEIGHT = 8.0  # bm25 weight of the title against 1.0 for the summary
RECENCY_HALF_LIFE_DAYS = 30.0  # a month-old article keeps half of its recency bonus
RECENCY_BONUS = 0.5  # at most +50 % for an article published today
REGULATOR_BONUS = 1.1  # a regulator's own release ranks above press coverage at equal relevance
SNIPPET_TOKENS = 24
RANKED_MATCHES = 1_000  # the newest matches ranked (see search); older ones need a filter
_FTS = table("articles_fts", column("rowid"))


def _quoted(term: SearchTerm) -> str:
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


def _alternatives(terms: tuple[SearchTerm, ...]) -> str:
    """Terms joined by OR, each once as the index sees it: its tokenizer folds case, so
    "binance" OR "Binance" (a word and the entity it names) would make FTS5 find, and bm25
    count, the same phrase twice."""
    quoted = (_quoted(term) for term in terms)
    return " OR ".join(dict.fromkeys(q.lower() if q.isascii() else q for q in quoted))


def match_expression(query: SearchQuery) -> tuple[str | None, str | None]:
    """(positive expression or None, excluded expression or None)."""
    positive = " AND ".join("(" + _alternatives(clause) + ")" for clause in query.clauses)
    negative = _alternatives(query.excluded)
    return positive or None, negative or None


def search(
    connection: Connection, query: SearchQuery, where: ArticleFilter, now: datetime
) -> list[SearchHit]:
    positive, negative = match_expression(query)
    if positive is None and negative is None:
        return []
    limit = where.limit if where.limit is not None else 20
    if positive is None:
        return _excluding_only(connection, negative or "", where, limit, _score(now))
    expression = positive if negative is None else f"({positive}) NOT ({negative})"
    values = {
        "expression": expression,
        "now": now,
        "window": max(RANKED_MATCHES, limit),
        "limit": limit,
    }
    ranked = connection.execute(_ranked(replace(where, limit=None)), values).all()
    if not ranked:
        return []
    shown = [row.id for row in ranked]
    rows = connection.execute(
        _SHOWN, {"expression": expression, "first": min(shown), "last": max(shown), "ids": shown}
    ).all()
    by_id = {row.id: row for row in rows}
    return [_hit(by_id[row.id], row.score) for row in ranked if row.id in by_id]


def _score(now: Any = None) -> Any:
    """Recency (a bonus halving each RECENCY_HALF_LIFE_DAYS) times the regulator bonus; at
    ``now``, or at the statement's "now" parameter."""
    now = bindparam("now") if now is None else now
    age_days = func.max(0.0, func.julianday(now) - func.julianday(articles.c.published))
    recency = 1.0 + RECENCY_BONUS / (1.0 + age_days / RECENCY_HALF_LIFE_DAYS)
    return recency * case((feeds.c.kind == "regulator", REGULATOR_BONUS), else_=1.0)


_MATCHING = literal_column("articles_fts").op("MATCH")(bindparam("expression"))


@functools.lru_cache(maxsize=32)
def _ranked(where: ArticleFilter) -> Select[Any]:
    """The ranking statement of a filter, built once (building it cost a tenth of a search).

    bm25 costs a pass over every match: 35-60 ms for a word in half of 100,000 articles.
    The newest matches are scored (FTS5 hands them over in rowid order and stops), so a
    search takes a few milliseconds however common its words; filters apply before the cut."""
    relevance = literal_column(f"-bm25(articles_fts, {TITLE_WEIGHT}, 1.0)")
    window = (
        apply_filter(
            select(articles.c.id, articles.c.published, (relevance * _score()).label("score"))
            .select_from(_FTS)
            .join(articles, articles.c.id == _FTS.c.rowid)
            .join(feeds, feeds.c.id == articles.c.feed_id)
            .where(_MATCHING),
            where,
        )
        .order_by(_FTS.c.rowid.desc())
        .limit(bindparam("window"))
        .subquery()
    )
    return (
        select(window.c.id, window.c.score)
        .order_by(window.c.score.desc(), window.c.published.desc(), window.c.id.desc())
        .limit(bindparam("limit"))
    )


# The hits shown, with snippets (only for them: highlighting every match cost as much as
# ranking it). FTS5 gets the range, not the list: offered the list, the planner matched the
# whole index again and dropped all but these rows (3 ms of a 10 ms search). ``+ 0`` keeps the
# list from being offered.
_SNIPPET = (
    f"snippet(articles_fts, 1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', {SNIPPET_TOKENS})"
)
_TITLE_SNIPPET = f"highlight(articles_fts, 0, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}')"
_SHOWN = (
    select(
        *article_columns(),
        literal_column(_SNIPPET).label("snippet"),
        literal_column(_TITLE_SNIPPET).label("title_snippet"),
    )
    .select_from(_FTS)
    .join(articles, articles.c.id == _FTS.c.rowid)
    .join(feeds, feeds.c.id == articles.c.feed_id)
    .where(
        _MATCHING,
        _FTS.c.rowid.between(bindparam("first"), bindparam("last")),
        (_FTS.c.rowid + 0).in_(bindparam("ids", expanding=True)),
    )
)


def _excluding_only(
    connection: Connection, negative: str, where: ArticleFilter, limit: int, score: Any
) -> list[SearchHit]:
    """Only exclusions: everything recent that does not match them."""
    excluded = (
        select(_FTS.c.rowid)
        .select_from(_FTS)
        .where(literal_column("articles_fts").op("MATCH")(negative))
    )
    statement = (
        select(
            *article_columns(),
            score.label("score"),
            literal_column("''").label("snippet"),
            literal_column("''").label("title_snippet"),
        )
        .select_from(articles.join(feeds, feeds.c.id == articles.c.feed_id))
        .where(articles.c.id.not_in(excluded))
    )
    statement = apply_filter(statement, where).order_by(
        literal_column("score").desc(), articles.c.published.desc(), articles.c.id.desc()
    )
    return [_hit(row, row.score) for row in connection.execute(statement.limit(limit))]


def _hit(row: Any, score: float | None) -> SearchHit:
    article = article_from_row(row)
    # The summary's best passage when the match is there, else the title with its match.
    snippet = row.snippet or ""
    if HIGHLIGHT_START not in snippet:
        snippet = row.title_snippet or article.summary_text[:200] or article.title
    return SearchHit(article=article, score=float(score or 0.0), snippet=snippet)
