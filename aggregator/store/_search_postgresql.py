"""Full-text search on PostgreSQL: a SearchQuery built into a tsquery from functions over bound
parameters (plainto_tsquery, phraseto_tsquery), so no user input reaches tsquery syntax."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, literal_column, select

from aggregator.records import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    ArticleFilter,
    SearchHit,
    SearchQuery,
    SearchTerm,
)
from aggregator.store._articles import apply_filter, article_columns, article_from_row
from aggregator.store._search_sqlite import (
    RANKED_MATCHES,
    RECENCY_BONUS,
    RECENCY_HALF_LIFE_DAYS,
    REGULATOR_BONUS,
)
from aggregator.store.schema import articles, feeds

_PREFIX_SAFE = re.compile(r"[^\w]+", re.UNICODE)
SEARCH = literal_column("articles.search")


def _term(term: SearchTerm) -> Any:
    if term.prefix:
        # Only letters and digits reach to_tsquery, joined by & and ended with :*.
        words = [w for w in _PREFIX_SAFE.split(term.text.lower()) if w]
        if words:
            return func.to_tsquery("simple", " & ".join(words) + ":*")
    if term.phrase:
        return func.phraseto_tsquery("english", term.text)
    return func.plainto_tsquery("english", term.text)


def _any(terms: tuple[SearchTerm, ...]) -> Any:
    query = _term(terms[0])
    for term in terms[1:]:
        query = query.op("||")(_term(term))
    return query


def tsquery(query: SearchQuery) -> tuple[Any | None, Any | None]:
    positive = None
    for clause in query.clauses:
        part = _any(clause)
        positive = part if positive is None else positive.op("&&")(part)
    negative = _any(query.excluded) if query.excluded else None
    return positive, negative


def search(
    connection: Connection, query: SearchQuery, where: ArticleFilter, now: datetime
) -> list[SearchHit]:
    positive, negative = tsquery(query)
    if positive is None and negative is None:
        return []
    limit = where.limit if where.limit is not None else 20
    age_days = func.greatest(0.0, func.extract("epoch", now - articles.c.published) / 86400.0)
    recency = 1.0 + RECENCY_BONUS / (1.0 + age_days / RECENCY_HALF_LIFE_DAYS)
    kind_bonus = case((feeds.c.kind == "regulator", REGULATOR_BONUS), else_=1.0)
    joined = articles.join(feeds, feeds.c.id == articles.c.feed_id)
    order = (literal_column("score").desc(), articles.c.published.desc(), articles.c.id.desc())
    if positive is None:
        statement = select(
            *article_columns(),
            (recency * kind_bonus).label("score"),
            literal_column("''").label("snippet"),
            literal_column("''").label("title_snippet"),
        ).select_from(joined)
        statement = apply_filter(statement.where(~SEARCH.op("@@")(negative)), where)
        return [_hit(row) for row in connection.execute(statement.order_by(*order).limit(limit))]
    # As on SQLite (see _search_sqlite.search): ts_rank_cd reads every match's tsvector, so
    # only the newest RANKED_MATCHES matches (after filters) are ranked, and only the hits
    # shown get a ts_headline.
    matching = select(articles.c.id).select_from(joined).where(SEARCH.op("@@")(positive))
    if negative is not None:
        matching = matching.where(~SEARCH.op("@@")(negative))
    window = (
        apply_filter(matching, where)
        .order_by(articles.c.id.desc())
        .limit(max(RANKED_MATCHES, limit))
        .subquery()
    )
    score = func.ts_rank_cd(SEARCH, positive) * recency * kind_bonus
    ranked = (
        select(articles.c.id, score.label("score"))
        .select_from(joined.join(window, window.c.id == articles.c.id))
        .order_by(*order)
        .limit(limit)
        .subquery()
    )
    options = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, MaxWords=30, MinWords=12"
    statement = (
        select(
            *article_columns(),
            ranked.c.score,
            func.ts_headline("english", articles.c.summary_text, positive, options).label(
                "snippet"
            ),
            func.ts_headline("english", articles.c.title, positive, options).label("title_snippet"),
        )
        .select_from(joined.join(ranked, ranked.c.id == articles.c.id))
        .order_by(ranked.c.score.desc(), articles.c.published.desc(), articles.c.id.desc())
    )
    return [_hit(row) for row in connection.execute(statement)]


def _hit(row: Any) -> SearchHit:
    article = article_from_row(row)
    snippet = row.snippet or ""
    if HIGHLIGHT_START not in snippet:
        snippet = row.title_snippet or article.summary_text[:200] or article.title
    return SearchHit(article=article, score=float(row.score or 0.0), snippet=snippet)
