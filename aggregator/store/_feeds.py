"""Feed rows: configuration sync, fetch state, row → record."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select

from aggregator._dates import as_utc
from aggregator.errors import NotFoundError
from aggregator.records import (
    FeedKind,
    FeedSource,
    FeedState,
    FeedUpdateIntent,
    FetchStatus,
    Validators,
)
from aggregator.store.schema import articles, feeds


def sync_feeds(connection: Connection, sources: Sequence[FeedSource], now: datetime) -> None:
    """Insert configured feeds that are new and update the settings of known ones.

    Feeds no longer configured are left alone with their articles (nothing is lost); they are
    simply not fetched.
    """
    existing = {row.name: row for row in connection.execute(select(feeds))}
    for source in sources:
        row = existing.get(source.name)
        values = {
            "url": source.url,
            "kind": source.kind.value,
            "agency": source.agency,
            "interval": source.interval,
        }
        if row is None:
            connection.execute(feeds.insert().values(name=source.name, created=now, **values))
            continue
        changed = {key: value for key, value in values.items() if getattr(row, key) != value}
        if "url" in changed:
            # A new address invalidates what we knew about the old one, a 410 included.
            changed.update(
                etag=None,
                last_modified=None,
                permanent_url=None,
                next_check=None,
                disabled=False,
                disabled_reason=None,
            )
        if changed:
            connection.execute(feeds.update().where(feeds.c.id == row.id).values(**changed))


def ensure_feed(connection: Connection, source: FeedSource, now: datetime) -> int:
    """The id of the feed named ``source.name``, created from ``source`` if it does not exist."""
    found = connection.execute(select(feeds.c.id).where(feeds.c.name == source.name)).scalar()
    if found is not None:
        return int(found)
    result = connection.execute(
        feeds.insert().values(
            name=source.name,
            url=source.url,
            kind=source.kind.value,
            agency=source.agency,
            interval=source.interval,
            created=now,
        )
    )
    return int(result.inserted_primary_key[0])


def feed_id(connection: Connection, name: str) -> int:
    found = connection.execute(select(feeds.c.id).where(feeds.c.name == name)).scalar()
    if found is None:
        raise NotFoundError(f"no feed named {name!r} in the store")
    return int(found)


def get_feeds(connection: Connection, names: Iterable[str] | None = None) -> list[FeedState]:
    counts = (
        select(
            articles.c.feed_id,
            func.count().label("n"),
            func.max(articles.c.published).label("latest"),
        )
        .group_by(articles.c.feed_id)
        .subquery()
    )
    query = (
        select(
            feeds,
            func.coalesce(counts.c.n, 0).label("article_count"),
            counts.c.latest.label("latest_article"),
        )
        .select_from(feeds.outerjoin(counts, counts.c.feed_id == feeds.c.id))
        .order_by(feeds.c.name)
    )
    if names is not None:
        query = query.where(feeds.c.name.in_(list(names)))
    return [feed_from_row(row) for row in connection.execute(query)]


def find_feed_by_url(connection: Connection, urls: Iterable[str]) -> str | None:
    wanted = [url for url in urls if url]
    if not wanted:
        return None
    query = select(feeds.c.name).where(feeds.c.url.in_(wanted) | feeds.c.permanent_url.in_(wanted))
    return connection.execute(query.order_by(feeds.c.id).limit(1)).scalar()


_NOT_MODIFIED = (
    feeds.update()
    .where(feeds.c.name == bindparam("feed"))
    .values(
        last_fetched=bindparam("fetched"),
        last_status=FetchStatus.NOT_MODIFIED.value,
        next_check=bindparam("next"),
        http_status=bindparam("http"),
        etag=bindparam("new_etag"),
        last_modified=bindparam("new_last_modified"),
        permanent_url=func.coalesce(bindparam("permanent"), feeds.c.permanent_url),
        lease_owner=None,
        lease_expires=None,
        last_error=None,
        consecutive_failures=0,
        last_success=bindparam("fetched"),
    )
)


def is_plain_not_modified(intent: FeedUpdateIntent) -> bool:
    """A "not modified" answer from the network that carries its validators: nothing but the
    feed's schedule changes, which ``apply_not_modified`` writes in bulk."""
    return (
        intent.status is FetchStatus.NOT_MODIFIED
        and intent.from_network
        and intent.validators is not None
        and not intent.articles
        and not intent.disable
    )


def apply_not_modified(connection: Connection, intents: Sequence[FeedUpdateIntent]) -> None:
    """``apply_state`` for many "not modified" answers in one statement (a poll where nearly
    every feed answers 304 is the common case)."""
    rows = [
        {
            "feed": intent.feed,
            "fetched": intent.fetched,
            "next": intent.next_check,
            "http": intent.http_status,
            "new_etag": intent.validators.etag if intent.validators else None,
            "new_last_modified": intent.validators.last_modified if intent.validators else None,
            "permanent": intent.permanent_url,
        }
        for intent in intents
    ]
    if rows and connection.execute(_NOT_MODIFIED, rows).rowcount != len(rows):
        known = set(connection.execute(select(feeds.c.name)).scalars())
        missing = next(intent.feed for intent in intents if intent.feed not in known)
        raise NotFoundError(f"no feed named {missing!r} in the store")


def apply_state(connection: Connection, feed: int, intent: FeedUpdateIntent) -> None:
    if not intent.from_network:
        if intent.title:
            connection.execute(
                feeds.update()
                .where(feeds.c.id == feed, feeds.c.title.is_(None))
                .values(title=intent.title)
            )
        return
    values: dict[str, Any] = {
        "last_fetched": intent.fetched,
        "last_status": intent.status.value,
        "next_check": intent.next_check,
        "http_status": intent.http_status,
    }
    if intent.validators is not None:
        values["etag"] = intent.validators.etag
        values["last_modified"] = intent.validators.last_modified
    if intent.permanent_url is not None:
        values["permanent_url"] = intent.permanent_url
    # The fetch is over: the lease is released in the same transaction as its result.
    values["lease_owner"] = None
    values["lease_expires"] = None
    if intent.disable:
        values["disabled"] = True
        values["disabled_reason"] = intent.disable
    if intent.status is FetchStatus.ERROR:
        values["last_error"] = intent.error
        values["consecutive_failures"] = feeds.c.consecutive_failures + 1
    else:
        values["last_error"] = None
        values["consecutive_failures"] = 0
        values["last_success"] = intent.fetched
        if intent.title:
            values["title"] = intent.title
    connection.execute(feeds.update().where(feeds.c.id == feed).values(**values))


def feed_from_row(row: Any) -> FeedState:
    mapping = row._mapping
    return FeedState(
        id=row.id,
        name=row.name,
        url=row.url,
        kind=FeedKind(row.kind),
        agency=row.agency,
        interval=row.interval,
        title=row.title,
        validators=Validators(etag=row.etag, last_modified=row.last_modified),
        last_fetched=as_utc(row.last_fetched),
        last_success=as_utc(row.last_success),
        last_status=FetchStatus(row.last_status) if row.last_status else None,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
        next_check=as_utc(row.next_check),
        permanent_url=row.permanent_url,
        http_status=row.http_status,
        article_count=int(mapping.get("article_count", 0) or 0),
        latest_article=as_utc(mapping.get("latest_article")),
        disabled_reason=row.disabled_reason if row.disabled else None,
        lease_owner=row.lease_owner,
    )


def claim_feeds(
    connection: Connection,
    names: Sequence[str],
    *,
    now: datetime,
    worker: str,
    lease: timedelta,
    due_only: bool,
    include_disabled: bool,
    owner_is_gone: Callable[[str], bool] | None = None,
) -> list[FeedState]:
    """Lease the named feeds that are due (or all) and not leased by a live worker.

    Runs inside a write transaction that holds the lock (SQLite) or with row locks skipped by
    other workers (PostgreSQL), so two processes never fetch one feed at the same moment.
    """
    query = select(feeds.c.id, feeds.c.lease_owner, feeds.c.lease_expires).where(
        feeds.c.name.in_(list(names))
    )
    if due_only:
        query = query.where(or_(feeds.c.next_check.is_(None), feeds.c.next_check <= now))
    if not include_disabled:
        query = query.where(feeds.c.disabled.is_(False))
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [
        row.id
        for row in connection.execute(query)
        if row.lease_expires is None
        or as_utc(row.lease_expires) < now  # type: ignore[operator]
        or (owner_is_gone is not None and row.lease_owner and owner_is_gone(row.lease_owner))
    ]
    if not ids:
        return []
    connection.execute(
        feeds.update()
        .where(feeds.c.id.in_(ids))
        .values(lease_owner=worker, lease_expires=now + lease)
    )
    leased = set(ids)
    return [state for state in get_feeds(connection, names) if state.id in leased]


def release_feeds(connection: Connection, names: Sequence[str], worker: str) -> None:
    """Give back leases this worker holds (when it stops before fetching them)."""
    connection.execute(
        feeds.update()
        .where(feeds.c.name.in_(list(names)), feeds.c.lease_owner == worker)
        .values(lease_owner=None, lease_expires=None)
    )
