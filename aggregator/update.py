"""The orchestrator: fetch → parse → extract → store, for one feed and for all due feeds.

Feeds are fetched in parallel (a global limit, and a per-host limit inside the fetcher),
parsed in worker processes (see prepare) and written in the calling thread, the documents
ready at the same moment in one transaction. Per-feed failures become
:class:`FeedOutcome` values stored on the feed; anything else is a bug and propagates.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from aggregator._dates import utcnow
from aggregator._urls import absolute_http_url, canonical_url
from aggregator.catalog import Catalog, load_catalog
from aggregator.dedup import choose_story
from aggregator.errors import DocumentError, FeedError, ParseError
from aggregator.extract import clean_text
from aggregator.fetch import Fetcher
from aggregator.parse import parse_feed
from aggregator.prepare import (
    Download,
    Prepared,
    Preparer,
    Unreadable,
    fewer_collections,
    prepare,
)
from aggregator.records import (
    FeedKind,
    FeedOutcome,
    FeedSource,
    FeedState,
    FeedUpdateIntent,
    FetchResult,
    FetchStatus,
    ParsedFeed,
)
from aggregator.store import Store
from aggregator.tag import tag_article, tag_version

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(days=1)
LEASE_MARGIN = 60  # seconds a lease outlives the longest fetch, for parsing and writing
MAX_RETRY_AFTER = timedelta(days=1)
MAX_CACHE_AGE = timedelta(days=1)
IMPORT_MAX_BYTES = 100 * 1024 * 1024
IMPORT_SUFFIXES = frozenset({".xml", ".rss", ".atom", ".rdf", ".json", ".feed"})
WRITE_BATCH = 8  # prepared documents stored in one transaction, at most

Clock = Callable[[], datetime]


def next_check_after(
    now: datetime,
    interval: int,
    *,
    failures: int = 0,
    retry_after: float | None = None,
    max_age: int | None = None,
    jitter: float = 0.0,
) -> datetime:
    """When to look at a feed again.

    After a success: the feed's interval, or longer if ``Cache-Control: max-age`` asks (up to a
    day). After ``failures`` consecutive failures: the interval doubled per failure, with
    ``jitter`` (0..1, a fraction added) so that failed feeds do not retry in lockstep, never more
    than a day; a longer ``Retry-After`` wins, up to a day. Polling never stops.
    """
    delay = timedelta(seconds=interval)
    if failures > 0:
        delay = min(delay * (2 ** min(failures - 1, 16)), MAX_BACKOFF)
        delay += delay * 0.1 * jitter
        delay = min(delay, MAX_BACKOFF)
    if max_age:
        delay = max(delay, min(timedelta(seconds=max_age), MAX_CACHE_AGE))
    if retry_after:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return now + delay


def process_is_gone(owner: str) -> bool:
    """Whether a lease's owner ("host:pid") was a process of this host that no longer runs:
    its feeds need not wait for the lease to expire. Other hosts' owners are never judged."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class Document:
    """A prepared document of a feed, ready to be stored (see ``ingest``)."""

    feed: FeedState
    prepared: Prepared
    base_url: str | None
    fetched: FetchResult | None  # None: not from the network (an import)
    now: datetime
    next_check: datetime

    def intent(self) -> FeedUpdateIntent:
        fetched = self.fetched
        return FeedUpdateIntent(
            feed=self.feed.name,
            fetched=self.now,
            status=FetchStatus.OK,
            next_check=self.next_check,
            articles=self.prepared.articles,
            validators=fetched.validators if fetched else None,
            http_status=fetched.http_status if fetched else None,
            title=self.prepared.title,
            permanent_url=fetched.permanent_url if fetched else None,
            from_network=fetched is not None,
        )


def ingest_all(store: Store, documents: Sequence[Document]) -> list[FeedOutcome]:
    """Store prepared documents' articles and their stories with their feeds' new states, in
    one transaction: all of them or, after a crash, none."""
    counts = store.apply_updates([document.intent() for document in documents], choose_story)
    return [
        FeedOutcome(
            feed=document.feed.name,
            url=document.base_url or "",
            status=FetchStatus.OK,
            new=count.new,
            updated=count.updated,
            skipped=document.prepared.skipped,
        )
        for document, count in zip(documents, counts, strict=True)
    ]


def ingest(
    store: Store,
    feed: FeedState,
    prepared: Prepared,
    *,
    base_url: str | None,
    fetched: FetchResult | None,
    now: datetime,
    next_check: datetime,
) -> FeedOutcome:
    """Store a prepared document's articles and their stories with the feed's new state."""
    document = Document(feed, prepared, base_url, fetched, now, next_check)
    return ingest_all(store, [document])[0]


@dataclass(frozen=True, slots=True)
class _Preparing:
    """A downloaded document on its way through the preparer."""

    state: FeedState
    started: float
    fetched: FetchResult
    download: Download


@dataclass
class Updater:
    """Updates feeds into a store. ``clock`` and ``rng`` are seams for tests.

    ``processes`` worker processes parse and tag (None: one per core but the first). They are
    started with Python's "spawn", which imports the calling program's main module again: a
    script that sets it must keep its work under ``if __name__ == "__main__":``."""

    store: Store
    fetcher: Fetcher
    catalog: Catalog = field(default_factory=load_catalog)
    clock: Clock = utcnow
    rng: random.Random | None = None
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    stop: threading.Event | None = None  # set by a signal handler: finish the write, stop
    processes: int | None = 0

    def update(
        self,
        sources: Sequence[FeedSource],
        *,
        only_due: bool = True,
        explicit: bool = False,
        workers: int = 8,
        on_outcome: Callable[[FeedOutcome], None] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> list[FeedOutcome]:
        """Fetch the configured feeds (those due, or all) and store what they hold.

        Each feed is leased in the store first, so a feed another process is fetching right
        now is skipped. ``explicit`` (feeds named by the user) includes disabled feeds.
        """
        now = self.clock()
        self.store.sync_feeds(sources, now)
        lease = timedelta(seconds=self.fetcher.config.timeout * 2 + LEASE_MARGIN)
        chosen = self.store.claim_feeds(
            [source.name for source in sources],
            now=now,
            worker=self.worker,
            lease=lease,
            due_only=only_due,
            include_disabled=explicit,
            owner_is_gone=process_is_gone,
        )
        if on_start is not None:
            on_start(len(chosen))
        outcomes: list[FeedOutcome] = []
        try:
            with fewer_collections():
                for outcome in self._run(chosen, workers):
                    outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
        finally:
            done = {outcome.feed for outcome in outcomes}
            unfinished = [state.name for state in chosen if state.name not in done]
            if unfinished:
                self.store.release_feeds(unfinished, self.worker)
        return outcomes

    def _run(self, states: Sequence[FeedState], workers: int) -> Iterator[FeedOutcome]:
        if not states:
            return
        limit = max(1, min(workers, len(states)))
        pool = ThreadPoolExecutor(max_workers=limit)
        preparer = Preparer(self.catalog, self.processes)
        # "Not modified" results are written in batches (see _NotModified).
        unchanged = _NotModified(self.store)
        # Downloads never run far ahead of parsing and writing: at most ``limit`` fetches are
        # under way, and no more than ``limit`` more documents wait to be prepared or written.
        waiting = iter(states)
        fetching: dict[Future[FetchResult], tuple[FeedState, float]] = {}
        preparing: dict[Future[Prepared | Unreadable], _Preparing] = {}
        ready: list[tuple[_Preparing, Future[Prepared | Unreadable]]] = []

        def top_up() -> None:
            while len(fetching) < limit and len(fetching) + len(preparing) < 2 * limit:
                state = next(waiting, None)
                if state is None:
                    return
                url = state.permanent_url or state.url
                fetch = pool.submit(self.fetcher.fetch, url, state.validators, configured=state.url)
                fetching[fetch] = (state, time.monotonic())

        try:
            top_up()
            while fetching or preparing:
                done, _ = wait([*fetching, *preparing], return_when=FIRST_COMPLETED)
                for future in done:
                    if self.stop is not None and self.stop.is_set():
                        return  # shutting down: what was stored stays, the rest is released
                    if future in preparing:
                        ready.append((preparing.pop(future), future))  # type: ignore[call-overload]
                        continue
                    if future in fetching:
                        state, started = fetching.pop(future)  # type: ignore[call-overload]
                        try:
                            result: FetchResult | FeedError = future.result()  # type: ignore[assignment]
                        except FeedError as exc:
                            result = exc
                        now = self.clock()
                        if isinstance(result, FetchResult) and result.status is FetchStatus.OK:
                            download = Download(
                                content=result.content or b"",
                                url=result.url,
                                content_type=result.content_type,
                                kind=state.kind,
                                agency=state.agency,
                                now=now,
                                # A feed with nothing stored (every feed of a first
                                # poll) has nothing to compare with: no query.
                                known=(
                                    self.store.article_versions(state.name)
                                    if state.article_count
                                    else frozenset()
                                ),
                            )
                            job = _Preparing(state, started, result, download)
                            preparing[preparer.submit(download)] = job
                            continue
                        outcome = _with_seconds(
                            self._store_result(state, result, unchanged, now),
                            time.monotonic() - started,
                        )
                        _log_outcome(outcome)
                        yield outcome
                if ready:
                    stored, ready = self._store_documents(ready, preparer, unchanged), []
                    for job, outcome in stored:
                        outcome = _with_seconds(outcome, time.monotonic() - job.started)
                        _log_outcome(outcome)
                        yield outcome
                top_up()
        finally:
            unchanged.flush()
            # On a stop, fetches not started are cancelled and running ones are not waited for.
            stopping = self.stop is not None and self.stop.is_set()
            pool.shutdown(wait=not stopping, cancel_futures=True)
            preparer.close(cancel=stopping)

    def _store_documents(
        self,
        ready: Sequence[tuple[_Preparing, Future[Prepared | Unreadable]]],
        preparer: Preparer,
        unchanged: _NotModified,
    ) -> list[tuple[_Preparing, FeedOutcome]]:
        """Store the documents prepared since the last look, up to WRITE_BATCH to a
        transaction: in a cold ingest the writing process sets the pace, and a commit per
        feed was a tenth of its time. Documents that are not feeds are stored as failures."""
        outcomes: list[tuple[_Preparing, FeedOutcome]] = []
        documents: list[tuple[_Preparing, Document]] = []
        for job, future in ready:
            now = job.download.now
            try:
                prepared = preparer.result(future, job.download)
            except ParseError as exc:
                # The validators of a broken document are not saved: the next fetch must
                # download it again rather than be told "not modified".
                error = FeedError(exc.url, exc.reason)
                outcomes.append((job, self._store_result(job.state, error, unchanged, now)))
                continue
            next_check = next_check_after(now, job.state.interval, max_age=job.fetched.max_age)
            document = Document(job.state, prepared, job.fetched.url, job.fetched, now, next_check)
            documents.append((job, document))
        for start in range(0, len(documents), WRITE_BATCH):
            batch = documents[start : start + WRITE_BATCH]
            stored = ingest_all(self.store, [document for _, document in batch])
            outcomes.extend(zip((job for job, _ in batch), stored, strict=True))
        return outcomes

    def _store_result(
        self,
        state: FeedState,
        result: FetchResult | FeedError,
        unchanged: _NotModified,
        now: datetime,
    ) -> FeedOutcome:
        """Store a "not modified" answer or a failure."""
        url = state.permanent_url or state.url
        if isinstance(result, FetchResult):  # not modified
            unchanged.add(
                FeedUpdateIntent(
                    feed=state.name,
                    fetched=now,
                    status=FetchStatus.NOT_MODIFIED,
                    next_check=next_check_after(now, state.interval, max_age=result.max_age),
                    validators=result.validators,
                    http_status=result.http_status,
                    permanent_url=result.permanent_url,
                )
            )
            return FeedOutcome(feed=state.name, url=url, status=FetchStatus.NOT_MODIFIED)
        failures = state.consecutive_failures + 1
        jitter = (self.rng or random).random()
        gone = result.http_status == 410
        self.store.apply_update(
            FeedUpdateIntent(
                feed=state.name,
                fetched=now,
                status=FetchStatus.ERROR,
                next_check=next_check_after(
                    now,
                    state.interval,
                    failures=failures,
                    retry_after=result.retry_after,
                    jitter=jitter,
                ),
                error=result.reason,
                http_status=result.http_status,
                disable=f"{result.reason}: not fetched until its url changes" if gone else None,
            )
        )
        return FeedOutcome(feed=state.name, url=url, status=FetchStatus.ERROR, error=result.reason)


class _NotModified:
    """Feed states of "not modified" answers, written together: in an all-304 poll one
    commit per feed cost more than the HTTP request. A batch is written when it is full or a
    second old (well inside any lease) and when the run ends; lost in a crash, it only means
    those feeds are asked again."""

    BATCH = 100
    MAX_AGE = 1.0  # seconds

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[FeedUpdateIntent] = []
        self.since = 0.0

    def add(self, intent: FeedUpdateIntent) -> None:
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append(intent)
        if len(self.pending) >= self.BATCH or time.monotonic() - self.since > self.MAX_AGE:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self.store.apply_updates(batch)


def _with_seconds(outcome: FeedOutcome, seconds: float) -> FeedOutcome:
    return replace(outcome, seconds=round(seconds, 3))


def _log_outcome(outcome: FeedOutcome) -> None:
    if outcome.status is FetchStatus.ERROR:
        log.warning(
            "updated feed=%s status=error error=%r seconds=%.2f",
            outcome.feed,
            outcome.error,
            outcome.seconds,
        )
    else:
        log.info(
            "updated feed=%s status=%s new=%d updated=%d seconds=%.2f",
            outcome.feed,
            outcome.status.value,
            outcome.new,
            outcome.updated,
            outcome.seconds,
        )


# -- import of saved documents -----------------------------------------------------------------


def find_documents(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named on the command line, and the feed-like files (by suffix) under folders,
    in a stable order. Raises DocumentError for a path that does not exist."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and child.suffix.lower() in IMPORT_SUFFIXES:
                    yield child
        elif path.exists():
            yield path
        else:
            raise DocumentError(str(path), "no such file or folder")


def import_document(
    store: Store,
    path: Path,
    *,
    catalog: Catalog,
    sources: Sequence[FeedSource] = (),
    feed: str | None = None,
    kind: FeedKind = FeedKind.NEWS,
    now: datetime,
) -> FeedOutcome:
    """Ingest one saved feed document. It goes to ``feed`` when given, else to the stored feed
    whose URL the document names as its own, else to a feed created for it."""
    started = time.monotonic()
    label = str(path)
    try:
        try:
            with path.open("rb") as handle:
                content = handle.read(IMPORT_MAX_BYTES + 1)
        except OSError as exc:
            raise DocumentError(label, f"cannot read: {exc.strerror or exc}") from exc
        if len(content) > IMPORT_MAX_BYTES:
            raise DocumentError(label, f"too large (limit {IMPORT_MAX_BYTES} bytes)")
        try:
            parsed = parse_feed(content, url=label)
        except ParseError as exc:
            raise DocumentError(label, exc.reason) from exc
    except DocumentError as exc:
        outcome = FeedOutcome(
            feed=feed or "", url=label, status=FetchStatus.ERROR, error=exc.reason
        )
        return _with_seconds(outcome, time.monotonic() - started)
    name = feed or _feed_for_document(store, parsed, path, sources, kind, now)
    base = parsed.self_url or parsed.link
    state = store.get_feed(name)
    prepared = prepare(
        parsed, base_url=base, now=now, catalog=catalog, kind=state.kind, agency=state.agency
    )
    outcome = ingest(store, state, prepared, base_url=base, fetched=None, now=now, next_check=now)
    return replace(outcome, url=label, seconds=round(time.monotonic() - started, 3))


def _feed_for_document(
    store: Store,
    parsed: ParsedFeed,
    path: Path,
    sources: Sequence[FeedSource],
    kind: FeedKind,
    now: datetime,
) -> str:
    # Only the document's own address (rel=self) identifies its feed; the channel <link> is
    # usually the site's home page, shared by all of a publisher's feeds.
    self_url = absolute_http_url(parsed.self_url)
    if self_url:
        for source in sources:
            if canonical_url(source.url) == canonical_url(self_url):
                store.ensure_feed(source, now)
                return source.name
        found = store.find_feed_by_url([self_url])
        if found:
            return found
    url = self_url or path.resolve().as_uri()
    title = "import:" + (clean_text(parsed.title) or path.stem)[:150]
    name = title
    for number in range(2, 1000):
        known = store.get_feeds([name])
        # Same title and neither document names its own address: taken as the same feed.
        if not known or (self_url is None and known[0].url.startswith("file:")):
            break
        name = f"{title} ({number})"
    store.ensure_feed(FeedSource(name=name, url=url, kind=kind), now)
    return name


# -- re-tagging ---------------------------------------------------------------------------------

RETAG_BATCH = 500


def retag(
    store: Store,
    catalog: Catalog,
    *,
    everything: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Tag again the stored articles whose tags another catalog made (all with
    ``everything``); returns how many were re-tagged. Each batch is one transaction, so an
    interrupted run keeps what it did and the next run goes on from there."""
    version = tag_version(catalog)
    wanted = "" if everything else version  # no stored version equals ""
    done = 0
    after = 0
    while True:
        batch = store.stale_articles(wanted, after, RETAG_BATCH)
        if not batch:
            return done
        store.set_tags(
            [
                (
                    article.id,
                    tag_article(
                        article.title,
                        article.summary_text,
                        catalog=catalog,
                        kind=article.feed_kind,
                        agency=article.feed_agency,
                    ),
                )
                for article in batch
            ]
        )
        after = batch[-1].id
        done += len(batch)
        if on_batch is not None:
            on_batch(len(batch))
