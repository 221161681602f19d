"""The storage interface: the only code that talks to the database.

Open one with :func:`open_store`. Every method takes and returns records (never rows), runs in
its own transaction, and raises :class:`~aggregator.errors.StoreError` (or a subclass) on a
database failure, naming the database.

Feeds
    ``sync_feeds``, ``ensure_feed``, ``get_feeds``, ``get_feed``, ``find_feed_by_url``
Updates
    ``apply_update``: one fetch's articles and the feed's new state, in one transaction;
    ``apply_updates``: several of them in one transaction
Articles
    ``get_article``, ``get_articles``, ``count_articles``
Search
    ``search``
Schema
    ``open_store(url, migrate=True)`` migrates a new or older store on first use;
    ``revision``, ``upgrade``
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from aggregator.errors import NotFoundError, SchemaError, StoreError
from aggregator.records import (
    ArticleFilter,
    Delivery,
    FeedSource,
    FeedState,
    FeedUpdateIntent,
    FetchStatus,
    SearchHit,
    SearchQuery,
    StoreCounts,
    StoredArticle,
    Story,
    StoryOutline,
    Tags,
)
from aggregator.store import (
    _articles,
    _copy,
    _digests,
    _feeds,
    _search_postgresql,
    _search_sqlite,
    _stories,
    migrate,
)
from aggregator.store._engine import (
    display_url,
    make_engine,
    read_transaction,
    wrap_errors,
    write_transaction,
)
from aggregator.store._story_index import CandidateIndex

__all__ = ["Store", "open_store"]


class Store:
    """One database. Safe to share between threads; several processes may open the same one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.display_url = display_url(url)
        self._engine = make_engine(url)
        self.dialect = self._engine.dialect.name
        self._story_features = _stories.FeatureCache()
        # Only where ids are handed out in commit order (see CandidateIndex).
        self._candidates = CandidateIndex() if self.dialect == "sqlite" else None
        # Write transactions take turns anyway; this keeps a rollback's clear from another
        # thread's lookups.
        self._candidates_lock = threading.Lock()

    def close(self) -> None:
        """Close the connections and let go of the story caches (tens of megabytes in a busy
        store). A store used again afterwards opens new connections and starts cold."""
        self._engine.dispose()
        self._story_features.clear()
        if self._candidates is not None:
            with self._candidates_lock:
                self._candidates.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def revision(self) -> tuple[str | None, str]:
        """(the store's schema revision or None when empty, the newest this code knows)."""
        with wrap_errors(self.url), self._engine.connect() as connection:
            return migrate.current_revision(connection), migrate.head_revision()

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest revision; returns (before, after). Raises SchemaError when the
        store is newer than this code."""
        with wrap_errors(self.url):
            return migrate.upgrade(self._engine, self.url)

    def ensure_current(self) -> None:
        with wrap_errors(self.url):
            migrate.ensure_current(self._engine, self.url)

    # -- feeds --------------------------------------------------------------------------------

    def sync_feeds(self, sources: Sequence[FeedSource], now: datetime) -> None:
        """Make the stored feeds match the configured ones (feeds are never deleted here)."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            _feeds.sync_feeds(connection, sources, now)

    def ensure_feed(self, source: FeedSource, now: datetime) -> FeedState:
        """The feed named ``source.name``, created from ``source`` when missing."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            _feeds.ensure_feed(connection, source, now)
            return _feeds.get_feeds(connection, [source.name])[0]

    def get_feeds(self, names: Iterable[str] | None = None) -> list[FeedState]:
        """Feeds by name (all when ``names`` is None), sorted by name, with article counts."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _feeds.get_feeds(connection, names)

    def get_feed(self, name: str) -> FeedState:
        """Raises NotFoundError."""
        found = self.get_feeds([name])
        if not found:
            raise NotFoundError(f"no feed named {name!r} in {self.display_url}")
        return found[0]

    def claim_feeds(
        self,
        names: Sequence[str],
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        due_only: bool = True,
        include_disabled: bool = False,
        owner_is_gone: Callable[[str], bool] | None = None,
    ) -> list[FeedState]:
        """Lease the named feeds that are due (all with ``due_only=False``) and not being
        fetched by another live worker; their result (``apply_update``) releases the lease.
        A lease that outlives its worker expires after ``lease``, or at once when
        ``owner_is_gone(owner)`` says its process no longer exists."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            return _feeds.claim_feeds(
                connection,
                names,
                now=now,
                worker=worker,
                lease=lease,
                due_only=due_only,
                include_disabled=include_disabled,
                owner_is_gone=owner_is_gone,
            )

    def release_feeds(self, names: Sequence[str], worker: str) -> None:
        """Give back the leases ``worker`` holds on these feeds."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            _feeds.release_feeds(connection, names, worker)

    def find_feed_by_url(self, urls: Iterable[str]) -> str | None:
        """The name of a feed whose URL (or permanent redirect) is one of ``urls``."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _feeds.find_feed_by_url(connection, list(urls))

    # -- updates ------------------------------------------------------------------------------

    def apply_update(
        self, intent: FeedUpdateIntent, choose_story: _stories.Chooser | None = None
    ) -> StoreCounts:
        """Write one fetch's articles, their stories (when ``choose_story`` is given) and the
        feed's new state (validators, status, error, next check, lease released) in one
        transaction: a crash leaves either all of it or none."""
        return self.apply_updates([intent], choose_story)[0]

    def apply_updates(
        self, intents: Sequence[FeedUpdateIntent], choose_story: _stories.Chooser | None = None
    ) -> list[StoreCounts]:
        """``apply_update`` for several fetches in one transaction: a poll where most feeds
        answer "not modified" costs one commit, not one per feed."""
        plain = [intent for intent in intents if _feeds.is_plain_not_modified(intent)]
        bulk = {id(intent) for intent in plain}
        try:
            with wrap_errors(self.url), write_transaction(self._engine) as connection:
                _feeds.apply_not_modified(connection, plain)
                return [
                    self._apply(connection, intent, choose_story)
                    if id(intent) not in bulk
                    else StoreCounts()
                    for intent in intents
                ]
        except BaseException:
            if self._candidates is not None:
                with self._candidates_lock:
                    self._candidates.clear()  # it may hold ids the rollback took back
            raise

    def _apply(
        self,
        connection: Connection,
        intent: FeedUpdateIntent,
        choose_story: _stories.Chooser | None,
    ) -> StoreCounts:
        feed = _feeds.feed_id(connection, intent.feed)
        counts = StoreCounts()
        if intent.status is FetchStatus.OK and intent.articles:
            with self._candidates_lock:
                counts = self._write(connection, feed, intent, choose_story)
        _feeds.apply_state(connection, feed, intent)
        return counts

    def _write(
        self,
        connection: Connection,
        feed: int,
        intent: FeedUpdateIntent,
        choose_story: _stories.Chooser | None,
    ) -> StoreCounts:
        """A fetch's articles and their stories (``_apply``)."""
        counts = _articles.write_articles(connection, feed, intent.articles, intent.fetched)
        if counts.updated_ids:
            self._story_features.forget(counts.updated_ids)
            if self._candidates is not None:
                _stories.reindex(
                    connection, self._candidates, counts.updated_ids, self._story_features
                )
        if choose_story is not None and counts.new_ids:
            texts = {
                article.content_hash: article.story_text
                for article in intent.articles
                if article.story_text is not None
            }
            _stories.assign_stories(
                connection,
                counts.new_ids,
                choose_story,
                intent.fetched,
                self._story_features,
                texts,
                self._candidates,
            )
        return counts

    # -- articles -----------------------------------------------------------------------------

    def get_article(self, article_id: int) -> StoredArticle:
        """Raises NotFoundError."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _articles.get_article(connection, article_id)

    def get_articles(self, where: ArticleFilter | None = None) -> Iterator[StoredArticle]:
        """Articles newest first, streamed."""
        where = where or ArticleFilter()
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            yield from _articles.iter_articles(connection, where)

    def article_versions(self, feed: str, limit: int = 500) -> frozenset[tuple[str, str]]:
        """(key, content hash) of the feed's ``limit`` newest articles: what a new document of
        the feed is compared with before its items are tagged (see prepare)."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _articles.versions(connection, _feeds.feed_id(connection, feed), limit)

    def stale_articles(self, version: str, after_id: int, limit: int) -> list[StoredArticle]:
        """Up to ``limit`` articles after ``after_id`` (id order) whose tags were not made by
        ``version``: the work list of ``retag``."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _articles.stale_articles(connection, version, after_id, limit)

    def count_stale_tags(self, version: str) -> int:
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _articles.count_stale(connection, version)

    def set_tags(self, updates: Sequence[tuple[int, Tags]]) -> None:
        """Replace the tags of existing articles, in one transaction."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            _articles.set_tags(connection, updates)

    def count_articles(self, where: ArticleFilter | None = None) -> int:
        """How many articles match ``where`` (all of them by default)."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _articles.count(connection, where or ArticleFilter())

    # -- stories ------------------------------------------------------------------------------

    def get_stories(self, where: ArticleFilter) -> list[Story]:
        """Stories with an article matching ``where``, each with all its articles."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _stories.stories_in(connection, where)

    def get_story_outlines(self, where: ArticleFilter) -> list[StoryOutline]:
        """The outlines of ``get_stories(where)``, read without loading a single article: a
        week's worth takes milliseconds, where its stories took a third of a second."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _stories.outlines_in(connection, where)

    # -- digest ledger ------------------------------------------------------------------------

    def claim_delivery(
        self,
        day: str,
        recipient: str,
        message_id: str,
        *,
        worker: str,
        now: datetime,
        force: bool = False,
    ) -> tuple[bool, Delivery]:
        """Record the intent to send ``day``'s digest to ``recipient`` before sending it.

        Returns (True, row) when the caller may send; (False, row) when it was sent already,
        is being sent by another process, or its fate is unknown (a connection dropped during
        DATA), unless ``force``. A failed send may be claimed again.
        """
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            return _digests.claim(connection, day, recipient, message_id, worker, now, force)

    def mark_delivery(
        self, day: str, recipient: str, status: str, now: datetime, error: str | None = None
    ) -> None:
        """Record how a claimed delivery went: sending, sent, failed or unknown."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            _digests.mark(connection, day, recipient, status, now, error)

    def get_deliveries(self, day: str | None = None) -> list[Delivery]:
        """Ledger rows, newest day first."""
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return _digests.deliveries(connection, day)

    # -- moving a store -----------------------------------------------------------------------

    def copy_to(
        self, target: Store, on_rows: Callable[[str, int], None] | None = None
    ) -> dict[str, int]:
        """Copy every feed, article, tag, story and digest-ledger row into ``target`` (an
        empty store at the same schema revision), ids kept, in one transaction on the target;
        the row counts are checked. Returns rows copied per table."""
        if self.revision()[0] != target.revision()[0]:
            raise SchemaError(
                f"{target.display_url} is at schema {target.revision()[0]}, "
                f"{self.display_url} at {self.revision()[0]}: upgrade both first"
            )
        with (
            wrap_errors(self.url),
            read_transaction(self._engine) as source,
            wrap_errors(target.url),
            write_transaction(target._engine) as destination,
        ):
            return _copy.copy_tables(source, destination, on_rows)

    # -- housekeeping -------------------------------------------------------------------------

    def optimize(self) -> None:
        """Merge the full-text index segments and refresh the query planner's statistics."""
        with wrap_errors(self.url), write_transaction(self._engine) as connection:
            if self.dialect == "sqlite":
                connection.exec_driver_sql(
                    "INSERT INTO articles_fts(articles_fts) VALUES ('optimize')"
                )
                connection.exec_driver_sql("PRAGMA optimize")
            else:
                connection.exec_driver_sql("ANALYZE")

    # -- search -------------------------------------------------------------------------------

    def search(self, query: SearchQuery, where: ArticleFilter, now: datetime) -> list[SearchHit]:
        """Ranked full-text search: relevance (title above body) times recency, a regulator's
        release above press coverage at equal relevance."""
        backend = _search_postgresql if self.dialect == "postgresql" else _search_sqlite
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"{self.display_url}: full-text search needs SQLite or PostgreSQL")
        with wrap_errors(self.url), read_transaction(self._engine) as connection:
            return backend.search(connection, query, where, now)


def open_store(url: str, *, migrate_schema: bool = True) -> Store:
    """Open the store at ``url``; a new or older store is migrated first (one process at a
    time), a newer one is refused with SchemaError."""
    store = Store(url)
    if migrate_schema:
        try:
            store.ensure_current()
        except BaseException:
            store.close()
            raise
    return store
