"""A fetched document → its items cleaned and tagged (:class:`Prepared`), in worker processes
when the machine has cores to spare.

Parsing, cleaning and tagging are pure CPU work and more than a third of what an ingest costs;
story assignment and the store's writes must stay in the one process that owns the store. So
with two cores or more the documents of a run go to worker processes while the calling process
writes what they hand back: both cores work, where threads would share one (the GIL).

The workers start once the run has spent ``START_AFTER`` seconds preparing documents itself (a
poll where a feed or two changed never pays the half second of CPU a process takes to start)
and stop at its end. Until the first of them is ready (half a second or more: it imports the
code and builds the tagger) the calling process goes on preparing documents itself rather than
wait.
A worker that dies is not fatal: its documents, and the rest of the run's, are prepared in the
calling process instead.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.catalog import Catalog
from aggregator.dedup import disambiguate, story_anchors, story_tokens
from aggregator.errors import ParseError
from aggregator.extract import build_article, clean_text
from aggregator.parse import parse_feed
from aggregator.records import Article, FeedKind, ParsedFeed, StoryText
from aggregator.tag import tag_article, tag_articles

log = logging.getLogger(__name__)

MAX_PROCESSES = 4  # the writing process is the limit beyond this
START_AFTER = 0.1  # seconds of preparing in the calling process before workers are started
PREPARE_WHILE_STARTING = True  # a test seam: False sends documents to workers still starting
# Allocations between two runs of the cyclic garbage collector during an update. At Python's
# 700, one ran every few articles and walked the story caches each time: 7% of the writing
# process's CPU and 4% of a worker's. What an update makes holds few cycles, and those wait.
GC_THRESHOLD = 20_000


def collect_less() -> tuple[int, int, int]:
    """Collect cyclic garbage every GC_THRESHOLD allocations; returns the thresholds before."""
    old = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD, old[0]), *old[1:])
    return old


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """``collect_less`` while inside."""
    old = collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*old)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A feed document's items, cleaned and tagged: what ``update.ingest`` stores."""

    title: str | None  # the feed's own title, cleaned
    articles: tuple[Article, ...]  # new or changed since the versions the document was given
    skipped: int = 0  # items that were unusable and left out
    unchanged: int = 0  # items left out because the store holds them as they are


@dataclass(frozen=True, slots=True)
class Download:
    """A fetched document and what preparing it needs to know of its feed."""

    content: bytes
    url: str  # where it came from: names it in errors, resolves its relative links
    content_type: str | None
    kind: FeedKind
    agency: str | None
    now: datetime
    known: frozenset[tuple[str, str]] = frozenset()  # Store.article_versions of its feed


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A document that is not a feed (a ParseError, which does not survive pickling)."""

    url: str
    reason: str


def prepare(
    parsed: ParsedFeed,
    *,
    base_url: str | None,
    now: datetime,
    catalog: Catalog,
    kind: FeedKind | str | None,
    agency: str | None,
    known: frozenset[tuple[str, str]] = frozenset(),
) -> Prepared:
    """Clean and tag a parsed document's entries.

    Entries whose (key, content hash) is in ``known`` are left out: the store holds them as
    they are, and tagging them again was most of the cost of a feed that gained one item.
    Were one changed in the store meanwhile (another process), it stays as that process wrote
    it; the next document that changes is compared with it afresh."""
    built = disambiguate(
        [build_article(entry, base_url=base_url, now=now) for entry in parsed.entries]
    )
    fresh = [article for article in built if (article.key, article.content_hash) not in known]
    articles = with_story_text(tag_articles(fresh, catalog=catalog, kind=kind, agency=agency))
    return Prepared(
        title=clean_text(parsed.title) or None,
        articles=articles,
        skipped=parsed.skipped,
        unchanged=len(built) - len(fresh),
    )


def with_story_text(articles: tuple[Article, ...]) -> tuple[Article, ...]:
    """The articles with the words story matching compares (see StoryText), worked out where
    they are prepared: in a worker, that costs the writing process nothing."""
    return tuple(
        replace(
            article,
            story_text=StoryText(
                story_tokens(article.title, article.summary_text),
                story_anchors(article.title, article.summary_text),
            ),
        )
        for article in articles
    )


def prepare_download(download: Download, catalog: Catalog) -> Prepared:
    """Parse, clean and tag a fetched document. Raises ParseError when it is not a feed."""
    parsed = parse_feed(download.content, url=download.url, content_type=download.content_type)
    return prepare(
        parsed,
        base_url=download.url,
        now=download.now,
        catalog=catalog,
        kind=download.kind,
        agency=download.agency,
        known=download.known,
    )


def default_processes() -> int:
    """Worker processes worth starting here: one core is left to the writing process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(cores - 1, MAX_PROCESSES))


class Preparer:
    """Prepares downloads in up to ``processes`` worker processes (0: in the calling thread).
    ``submit`` hands back a future of a :class:`Prepared` or an :class:`Unreadable`; call
    ``close`` when the run is over. Used from one thread."""

    def __init__(
        self, catalog: Catalog, processes: int | None = None, start_after: float | None = None
    ) -> None:
        self.catalog = catalog
        self.processes = default_processes() if processes is None else max(0, processes)
        self.start_after = START_AFTER if start_after is None else start_after
        self._seconds_here = 0.0
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[bool] | None = None  # done once a worker has started
        self._submitted = 0
        self._in_workers = 0
        self._broken = False

    def submit(self, download: Download) -> Future[Prepared | Unreadable]:
        self._submitted += 1
        if (
            self.processes
            and not self._broken
            and (self._pool is not None or self._seconds_here >= self.start_after)
        ):
            try:
                pool = self._workers()
                if self._started() or not PREPARE_WHILE_STARTING:
                    future = pool.submit(_prepare_in_worker, download)
                    self._in_workers += 1
                    return future
            except BrokenProcessPool:
                self._give_up_workers()
        future: Future[Prepared | Unreadable] = Future()
        future.set_result(self.prepare_here(download))
        return future

    def prepare_here(self, download: Download) -> Prepared | Unreadable:
        """Prepare in the calling process (also the way back when a worker died)."""
        started = time.monotonic()
        try:
            return _prepare_or_unreadable(download, self.catalog)
        finally:
            self._seconds_here += time.monotonic() - started

    def result(self, future: Future[Prepared | Unreadable], download: Download) -> Prepared:
        """The future's result; raises ParseError for a document that is not a feed. When
        its worker died, the document is prepared here and workers are not used again."""
        try:
            outcome = future.result()
        except BrokenProcessPool:
            self._give_up_workers()
            outcome = self.prepare_here(download)
        if isinstance(outcome, Unreadable):
            raise ParseError(outcome.url, outcome.reason)
        return outcome

    def close(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = self._ready = None
        if self._submitted:
            log.debug(
                "prepared %d of %d documents in worker processes",
                self._in_workers,
                self._submitted,
            )
        self._submitted = self._in_workers = 0
        self._seconds_here = 0.0

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the calling process runs fetch threads and holds a database
            # connection, neither of which a forked child may touch.
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                # Compressed: "spawn" writes a new process's arguments into a pipe of 64 KiB,
                # and the catalog's 110 KB kept the writing process waiting there until the
                # child had imported everything (0.6 s); 35 KB fit at once.
                initargs=(zlib.compress(pickle.dumps(self.catalog, pickle.HIGHEST_PROTOCOL)),),
            )
            self._ready = self._pool.submit(_ready_in_worker)
        return self._pool

    def _started(self) -> bool:
        """Whether a worker is ready; raises BrokenProcessPool when starting it failed."""
        if self._ready is None or not self._ready.done():
            return False
        self._ready.result()
        return True

    def _give_up_workers(self) -> None:
        if not self._broken:
            log.warning("a parsing worker process died; parsing in the main process instead")
        self._broken = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._ready = None


_catalog: Catalog | None = None  # a worker process's own copy


def _start_worker(packed_catalog: bytes) -> None:
    global _catalog
    _catalog = pickle.loads(zlib.decompress(packed_catalog))
    tag_article("", "", catalog=_catalog)  # builds the tagger's matchers: ready means ready
    collect_less()  # for good: a worker does nothing else
    # Ctrl-C reaches the whole process group: the main process decides how to stop, and a
    # worker killed mid-document would only break the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ready_in_worker() -> bool:
    return True  # run by a worker once it has started (see Preparer._started)


def _prepare_in_worker(download: Download) -> Prepared | Unreadable:
    assert _catalog is not None, "worker started without its catalog"
    return _prepare_or_unreadable(download, _catalog)


def _prepare_or_unreadable(download: Download, catalog: Catalog) -> Prepared | Unreadable:
    try:
        return prepare_download(download, catalog)
    except ParseError as exc:
        return Unreadable(exc.url, exc.reason)
