"""Performance benchmark: ingest, re-poll, search, digest, tagging, memory and store size.

    python -m benchmarks.bench [--quick] [--feeds N --items M] [--latency MS] [--json PATH]
                               [--postgresql URL | --no-postgresql] [--no-reader]

Everything runs against a loopback feed farm (``benchmarks.farm``, a separate process) serving
a synthetic corpus (``benchmarks.corpus``), with fresh SQLite stores in a temporary folder, so
the numbers measure this code and not the network or a publisher. Each figure is printed next
to its target and marked PASS or FAIL. The smallest ingest and the search figures are measured
again on PostgreSQL (a schema made and dropped on the server ``--postgresql`` names; skipped
with the reason when it does not answer). When lemon24/reader is installed the same farm is
also fed to it (in a subprocess) and the ratios are printed.

The full run (cold ingests of 300x50 and 2000x50 feeds x items, search and the peak RSS at
the 100,000 articles of the second, a digest of a 5,000-article day) takes about ten minutes;
``--feeds N --items M`` sets the largest ingest. ``--quick`` (100x20, search at 10,000, a
1,500-article digest) takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from aggregator.catalog import Catalog, load_catalog
from aggregator.config import DigestConfig, HttpConfig
from aggregator.dedup import choose_story, disambiguate
from aggregator.digest import build_digest, render_html
from aggregator.extract import build_article, html_to_text, sanitize_html
from aggregator.fetch import Fetcher
from aggregator.parse import parse_feed
from aggregator.prepare import prepare, with_story_text
from aggregator.records import (
    Article,
    ArticleFilter,
    FeedKind,
    FeedSource,
    FeedUpdateIntent,
    FetchStatus,
    ParsedFeed,
    RawEntry,
)
from aggregator.search import expand_entities, parse_query
from aggregator.store import Store, open_store
from aggregator.tag import tag_article, tag_articles
from aggregator.update import Updater, ingest
from benchmarks.corpus import EPOCH, Item, feed_info, make_item, render_feed, search_queries

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
# Cold ingests of the size compared with reader, ours and reader's alike: the median is reported.
COLD_RUNS = 3


@dataclass
class Row:
    """One line of the result table."""

    metric: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None  # None: informational, no target
    note: str = ""


@dataclass
class Results:
    """The rows, printed as they come (a long run shows progress), and each phase's seconds."""

    rows: list[Row] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)  # MiB, after each phase

    def phase_done(self, name: str, started: float) -> None:
        self.timings[name] = time.perf_counter() - started
        self.peak_rss[name] = peak_rss_mib()

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {_format_row(row)}", flush=True)
        return row


def _format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.3g}"


def _format_row(row: Row) -> str:
    verdict = {True: "PASS", False: "FAIL", None: ""}[row.passed]
    return (
        f"{row.metric:<44} {_format_value(row.value):>10} {row.unit:<10} "
        f"{row.target:<18} {verdict:<5} {row.note}"
    ).rstrip()


def _scaled(measured: int, target_size: int) -> str:
    """A warning that a verdict was reached at another size than the target names."""
    if measured >= target_size * 0.95:
        return ""
    return f"; NB measured at {measured:,}, the target is for {target_size:,}"


def peak_rss_mib() -> float:
    """This process's high-water resident set (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024


def store_bytes(path: Path) -> int:
    """The database file with its write-ahead log and shared-memory index: what disk it costs."""
    return sum(
        candidate.stat().st_size
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if candidate.exists()
    )


def _spread(entries: int, seconds: Sequence[float]) -> str:
    """ "; median of 3, 700-820/s" for repeated runs, nothing for one."""
    if len(seconds) < 2:
        return ""
    slowest, fastest = entries / max(seconds), entries / min(seconds)
    return f"; median of {len(seconds)}, {slowest:,.0f}-{fastest:,.0f}/s"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: with 200 samples p95 is the 190th, a real observed latency."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


# -- the farm ---------------------------------------------------------------------------------


class FarmProcess:
    """The feed farm in a child process; closing its stdin stops it."""

    def __init__(self, feeds: int, items: int, latency: float) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.farm",
                "--feeds",
                str(feeds),
                "--items",
                str(items),
                "--latency",
                str(latency),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.close()
            raise RuntimeError("the feed farm did not start")

    def feed_urls(self, namespace: str, feeds: int, items: int) -> list[str]:
        return [f"{self.url}/{namespace}-m{items}/{index}.xml" for index in range(feeds)]

    def add_items(self, namespace: str, items: int, fraction: float, count: int) -> int:
        response = httpx.post(
            f"{self.url}/_control/add",
            params={"ns": f"{namespace}-m{items}", "fraction": fraction, "count": count},
        )
        response.raise_for_status()
        return int(response.json()["changed"])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def sources_for(urls: Sequence[str]) -> list[FeedSource]:
    """Configured feeds as a user would write them: regulators with their agency, outlets."""
    sources = []
    for index, url in enumerate(urls):
        info = feed_info(index)
        sources.append(
            FeedSource(
                name=info.name,
                url=url,
                kind=FeedKind(info.kind),
                agency=info.agency,
                interval=3600,
            )
        )
    return sources


# -- ingest -----------------------------------------------------------------------------------


@dataclass
class IngestRun:
    """One farm size's ingest measurements; its store stays open for the later phases."""

    store: Store
    path: Path
    entries: int
    cold_seconds: float  # the median of ``colds``
    colds: tuple[float, ...]  # seconds of each cold ingest of this size
    cold_cpu: tuple[float, float]  # CPU seconds of a cold ingest (medians): this process, workers
    repoll_seconds: float  # the median of three
    repoll_range: tuple[float, float]
    repoll_not_modified: int
    update_new: int
    update_seconds: float
    errors: list[str]


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user and system) of this process, and of its children that have ended
    (an update's parsing workers end with it)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, ended.ru_utime + ended.ru_stime


@dataclass(frozen=True)
class Timed:
    """One update: its wall seconds, CPU seconds here and in its workers, and outcomes."""

    seconds: float
    cpu: tuple[float, float]
    outcomes: list[Any]


def _timed_update(updater: Updater, sources: Sequence[FeedSource]) -> Timed:
    own, ended = cpu_seconds()
    started = time.perf_counter()
    outcomes = updater.update(sources, only_due=False, workers=16)
    seconds = time.perf_counter() - started
    own_after, ended_after = cpu_seconds()
    return Timed(seconds, (own_after - own, ended_after - ended), outcomes)


def run_ingest(
    farm: FarmProcess,
    folder: Path,
    feeds: int,
    items: int,
    catalog: Catalog,
    *,
    url: str | None = None,
    namespace: str = "ours",
    cold_runs: int = 1,
) -> IngestRun:
    """Cold ingest into a fresh store (a SQLite file in ``folder``, or ``url``), an all-304
    re-poll, then 10% of feeds with 5 new items, with the same Updater and Fetcher settings
    the issue names (concurrency 16, per host 16). With ``cold_runs`` > 1 (SQLite), as many
    cold ingests of the same documents go first into stores of their own, thrown away, and
    the median is reported: one run on this machine varies by 10-20%."""
    sources = sources_for(farm.feed_urls(namespace, feeds, items))
    colds: list[Timed] = []
    for run in range(cold_runs - 1):
        spare = folder / f"{namespace}-{feeds}x{items}-cold{run}.sqlite"
        spare_store = open_store(f"sqlite:///{spare}")
        with Fetcher(HttpConfig(concurrency=16, per_host=16)) as spare_fetcher:
            colds.append(
                _timed_update(Updater(spare_store, spare_fetcher, catalog, processes=None), sources)
            )
        spare_store.close()
        for leftover in folder.glob(f"{spare.name}*"):
            leftover.unlink()
    path = folder / f"{namespace}-{feeds}x{items}.sqlite"
    store = open_store(url or f"sqlite:///{path}")
    fetcher = Fetcher(HttpConfig(concurrency=16, per_host=16))
    updater = Updater(store, fetcher, catalog, processes=None)  # as `aggregator fetch` runs
    cold = _timed_update(updater, sources)
    colds.append(cold)
    errors = [f"{o.feed}: {o.error}" for o in cold.outcomes if o.status is FetchStatus.ERROR]
    entries = sum(o.new for o in cold.outcomes)
    # Three re-polls, the median reported: one pass is short enough for a WAL checkpoint or
    # a scheduler hiccup to double it.
    repolls = []
    for _ in range(3):
        repoll = _timed_update(updater, sources)
        repolls.append(repoll.seconds)
    not_modified = sum(1 for o in repoll.outcomes if o.status is FetchStatus.NOT_MODIFIED)
    farm.add_items(namespace, items, fraction=0.1, count=5)
    update = _timed_update(updater, sources)
    errors += [f"{o.feed}: {o.error}" for o in update.outcomes if o.status is FetchStatus.ERROR]
    fetcher.close()
    return IngestRun(
        store=store,
        path=path,
        entries=entries,
        cold_seconds=statistics.median(timed.seconds for timed in colds),
        colds=tuple(timed.seconds for timed in colds),
        cold_cpu=(
            statistics.median(timed.cpu[0] for timed in colds),
            statistics.median(timed.cpu[1] for timed in colds),
        ),
        repoll_seconds=statistics.median(repolls),
        repoll_range=(min(repolls), max(repolls)),
        repoll_not_modified=not_modified,
        update_new=sum(o.new for o in update.outcomes),
        update_seconds=update.seconds,
        errors=errors,
    )


# -- direct population ------------------------------------------------------------------------


def raw_entry(item: Item, published: datetime | None = None) -> RawEntry:
    """A generated item as the parse stage would hand it on (no XML round trip)."""
    return RawEntry(
        guid=item.guid,
        link=item.link,
        title=item.title,
        summary=item.summary_html,
        summary_type="text/html",
        author=item.author,
        categories=item.categories,
        published=published or item.published,
    )


def bulk_sources(first_feed: int, feeds: int) -> list[FeedSource]:
    """Feeds for articles written straight into a store, named apart from the farm's."""
    sources = []
    for index in range(first_feed, first_feed + feeds):
        info = feed_info(index)
        sources.append(
            FeedSource(
                f"bulk-{info.name}",
                f"https://bulk.example/{index}.xml",
                FeedKind(info.kind),
                info.agency,
            )
        )
    return sources


def clean_and_tag(job: tuple[int, int, str]) -> tuple[Article, ...]:
    """One feed's generated items, cleaned and tagged as ``ingest`` does: a process-pool task,
    since cleaning (BeautifulSoup) and tagging are pure CPU and the writes are not."""
    index, items, url = job
    now = datetime.now(UTC)
    info = feed_info(index)
    entries = [raw_entry(make_item(index, n)) for n in range(items)]
    return tag_articles(
        disambiguate([build_article(e, base_url=url, now=now) for e in entries]),
        catalog=load_catalog(),
        kind=info.kind,
        agency=info.agency,
    )


def bulk_fill(store: Store, *, first_feed: int, feeds: int, items: int) -> int:
    """Fill a search store fast: clean and tag in a process pool, write through
    ``apply_update`` without story assignment (search does not read stories). Returns how
    many articles were written."""
    now = datetime.now(UTC)
    sources = bulk_sources(first_feed, feeds)
    store.sync_feeds(sources, now)
    workers = os.cpu_count() or 1
    written = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # A few feeds in flight, not all: pool.map would queue every feed's articles in this
        # process (2,000 feeds x 50 items is half a gigabyte), and the peak RSS reported
        # would be the harness's, not the store's.
        pending: deque[tuple[FeedSource, Future[tuple[Article, ...]]]] = deque()
        for n, source in enumerate(sources):
            job = (first_feed + n, items, source.url)
            pending.append((source, pool.submit(clean_and_tag, job)))
            while len(pending) > workers * 4 or (pending and n == len(sources) - 1):
                done, future = pending.popleft()
                counts = store.apply_update(
                    FeedUpdateIntent(
                        feed=done.name,
                        fetched=now,
                        status=FetchStatus.OK,
                        next_check=now,
                        articles=future.result(),
                        from_network=False,
                    )
                )
                written += counts.new
    return written


def populate(
    store: Store,
    catalog: Catalog,
    *,
    first_feed: int,
    feeds: int,
    items: int,
    published: Callable[[int, int], datetime],
) -> int:
    """Write generated articles, dated by ``published``, through ``prepare`` and ``ingest``: the
    real clean → tag → store → story path, skipping only HTTP and XML parsing. Returns how many
    articles were written."""
    now = datetime.now(UTC)
    sources = bulk_sources(first_feed, feeds)
    store.sync_feeds(sources, now)
    written = 0
    for source, index in zip(sources, range(first_feed, first_feed + feeds), strict=True):
        entries = tuple(raw_entry(make_item(index, n), published(index, n)) for n in range(items))
        parsed = ParsedFeed("rss20", source.name, None, None, entries)
        state = store.get_feed(source.name)
        prepared = prepare(
            parsed,
            base_url=source.url,
            now=now,
            catalog=catalog,
            kind=state.kind,
            agency=state.agency,
        )
        outcome = ingest(
            store, state, prepared, base_url=source.url, fetched=None, now=now, next_check=now
        )
        written += outcome.new
    return written


# Ingest's stages in the order they run; the first four are a parsing worker's, the last two
# the writing process's.
STAGES = ("parse", "clean", "tag", "story words", "store write", "story assignment")


def time_stages(folder: Path, catalog: Catalog, feeds: int, items: int) -> dict[str, float]:
    """CPU seconds of each ingest stage over the farm's documents of ``feeds`` x ``items``,
    one stage after another on one core (HTTP left out): where a cold ingest's time goes.
    The writes go into two fresh stores, one without story assignment and one with it: the
    difference is what assigning stories costs."""
    clock = time.process_time  # this process's CPU: nothing else runs in it meanwhile
    now = datetime.now(UTC)
    base = "http://127.0.0.1/stages"
    sources = sources_for([f"{base}/{index}.xml" for index in range(feeds)])
    spent = dict.fromkeys(STAGES, 0.0)
    intents = []
    for index, source in enumerate(sources):
        document = render_feed(index, 0, items, base)
        started = clock()
        parsed = parse_feed(document, url=source.url, content_type="application/xml")
        parsed_at = clock()
        built = disambiguate(
            [build_article(entry, base_url=source.url, now=now) for entry in parsed.entries]
        )
        built_at = clock()
        tagged = tag_articles(built, catalog=catalog, kind=source.kind, agency=source.agency)
        tagged_at = clock()
        prepared = with_story_text(tagged)
        worded_at = clock()
        spent["parse"] += parsed_at - started
        spent["clean"] += built_at - parsed_at
        spent["tag"] += tagged_at - built_at
        spent["story words"] += worded_at - tagged_at
        intents.append(
            FeedUpdateIntent(
                feed=source.name,
                fetched=now,
                status=FetchStatus.OK,
                next_check=now,
                articles=prepared,
                from_network=False,
            )
        )
    written = {}
    for name, chooser in (("plain", None), ("stories", choose_story)):
        store = open_store(f"sqlite:///{folder / f'stages-{name}.sqlite'}")
        store.sync_feeds(sources, now)
        started = clock()
        for intent in intents:
            store.apply_update(intent, chooser)
        written[name] = clock() - started
        store.close()
    spent["store write"] = written["plain"]
    spent["story assignment"] = max(0.0, written["stories"] - written["plain"])
    return spent


# -- search, digest, tagging ------------------------------------------------------------------


def time_search(store: Store, queries: Sequence[str], catalog: Catalog) -> list[float]:
    """Milliseconds per query as ``aggregator search`` runs it: parse, entity expansion,
    the store's ranked search with the default limit of 20. A first pass warms the cache."""
    now = datetime.now(UTC)
    where = ArticleFilter(limit=20)
    prepared = [expand_entities(parse_query(q)[0], catalog) for q in queries]
    for query in prepared[:10]:
        store.search(query, where, now)
    latencies = []
    for query in prepared:
        started = time.perf_counter()
        store.search(query, where, now)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def digest_day_store(folder: Path, catalog: Catalog, articles: int) -> tuple[Store, list[str]]:
    """A store holding ``articles`` articles on one day (plus a twentieth of that on each of the
    seven days before, which the digest's 7-day average reads), with stories assigned."""
    store = open_store(f"sqlite:///{folder / 'digest.sqlite'}")
    day = EPOCH.date()
    per_feed = 50
    feeds = max(2, articles // per_feed)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)

    def on_day(feed: int, number: int) -> datetime:
        return start + timedelta(seconds=(feed * 7919 + number * 1723) % 86_000)

    def before(feed: int, number: int) -> datetime:
        return start - timedelta(days=1 + number % 7, seconds=(feed * 131 + number) % 86_000)

    populate(
        store,
        catalog,
        first_feed=10_000,
        feeds=feeds,
        items=per_feed,
        published=on_day,
    )
    history = max(1, feeds * 7 // 20)  # 7 days x a twentieth of the day's volume
    populate(
        store,
        catalog,
        first_feed=20_000,
        feeds=history,
        items=per_feed,
        published=before,
    )
    return store, [s.name for s in store.get_feeds()]


def time_digest(store: Store, feeds: list[str], catalog: Catalog) -> tuple[float, float, int]:
    """Seconds to build the digest of EPOCH's day and to render its HTML; and its story count."""
    config = DigestConfig()
    now = datetime.combine(EPOCH.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    build_digest(
        store,
        day=EPOCH.date(),
        config=config,
        catalog=catalog,
        feeds=feeds,
        watchlist=["Binance"],
        now=now,
    )
    started = time.perf_counter()
    digest = build_digest(
        store,
        day=EPOCH.date(),
        config=config,
        catalog=catalog,
        feeds=feeds,
        watchlist=["Binance", "Coinbase"],
        now=now + timedelta(hours=7),
    )
    built = time.perf_counter() - started
    started = time.perf_counter()
    render_html(digest, watchlist_names=["Binance", "Coinbase"])
    return built, time.perf_counter() - started, digest.story_count


def time_tagging(catalog: Catalog, count: int) -> float:
    """Items per second of ``tag_article`` on one core over cleaned generated items (cleaning
    is done before the clock starts: it is the extract stage's cost, not the tagger's)."""
    inputs = []
    for n in range(count):
        feed = n % 200
        item = make_item(feed, n // 200)
        info = feed_info(feed)
        inputs.append(
            (item.title, html_to_text(sanitize_html(item.summary_html)), info.kind, info.agency)
        )
    for title, summary, kind, agency in inputs[:50]:
        tag_article(title, summary, catalog=catalog, kind=kind, agency=agency)
    started = time.perf_counter()
    for title, summary, kind, agency in inputs:
        tag_article(title, summary, catalog=catalog, kind=kind, agency=agency)
    return count / (time.perf_counter() - started)


# -- reader -----------------------------------------------------------------------------------


def reader_installed() -> bool:
    """reader is optional: the comparison is skipped, with a line saying so, without it."""
    try:
        import reader  # noqa: F401
    except ImportError:
        return False
    return True


def run_reader(
    farm: FarmProcess,
    folder: Path,
    feeds: int,
    items: int,
    queries: Sequence[str],
    runs: int = 1,
) -> dict[str, Any]:
    """reader's cold ingest and search of the same documents, in a child process (see
    ``benchmarks.reader_run``), on a namespace of the farm it alone polls. With ``runs`` > 1,
    as many cold ingests into fresh databases (the last one also searched); their seconds
    are in "ingest_runs", their CPU seconds in "ingest_cpu_runs"."""
    urls_file = folder / "reader-urls.txt"
    urls_file.write_text("\n".join(farm.feed_urls("reader", feeds, items)))
    queries_file = folder / "queries.json"
    queries_file.write_text(json.dumps(list(queries)))
    seconds: list[float] = []
    cpu: list[float] = []
    for run in range(runs):
        last = run == runs - 1
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.reader_run",
                str(folder / f"reader{run}.sqlite"),
                str(urls_file),
                str(queries_file),
                *([] if last else ["--no-search"]),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(done.stdout)
        seconds.append(found["ingest_seconds"])
        cpu.append(found["ingest_cpu_seconds"])
    return {**found, "ingest_runs": seconds, "ingest_cpu_runs": cpu}


# -- PostgreSQL -------------------------------------------------------------------------------

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgresql_schema(server: str) -> tuple[str, Callable[[], None]] | str:
    """A fresh schema on ``server`` as (store URL, drop it), or why PostgreSQL is skipped."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"aggregator_bench_{uuid.uuid4().hex[:10]}"
    try:
        engine = create_engine(server, connect_args={"connect_timeout": 3})
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure: the phase is skipped with the reason
        return f"PostgreSQL not reachable at {server}: {type(exc).__name__}"

    def drop() -> None:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    separator = "&" if "?" in server else "?"
    return f"{server}{separator}options=-csearch_path%3D{schema}", drop


def postgresql_bytes(store: Store) -> int:
    """Tables, indexes and TOAST of the store's schema."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store.url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def run_postgresql(
    plan: Plan,
    farm: FarmProcess,
    folder: Path,
    catalog: Catalog,
    queries: Sequence[str],
    results: Results,
) -> None:
    """The smallest cold ingest and the search figures again, on PostgreSQL."""
    made = postgresql_schema(plan.postgresql or DEFAULT_PG)
    if isinstance(made, str):
        print(f"  skipped: {made}")
        return
    url, drop = made
    try:
        feeds, items = plan.sizes[0]
        run = run_ingest(farm, folder, feeds, items, catalog, url=url, namespace="pg")
        rate = run.entries / run.cold_seconds
        results.add(
            Row(
                f"PostgreSQL cold ingest {feeds}x{items}",
                rate,
                "entries/s",
                ">= 5,000",
                rate >= 5000,
                f"{run.entries:,} entries in {run.cold_seconds:.1f} s",
            )
        )
        per_feed = run.repoll_seconds * 1000 / feeds
        results.add(
            Row(
                f"PostgreSQL all-304 re-poll {feeds}x{items}",
                per_feed,
                "ms/feed",
                "<= 0.5",
                per_feed <= 0.5,
                f"{run.repoll_not_modified}/{feeds} answered 304; median of 3",
            )
        )
        have = run.store.count_articles()
        if have < plan.search_articles:
            missing = -(-(plan.search_articles - have) // 50)
            bulk_fill(run.store, first_feed=30_000, feeds=missing, items=50)
        have = run.store.count_articles()
        run.store.optimize()
        latencies = time_search(run.store, queries, catalog)
        p95 = percentile(latencies, 0.95)
        results.add(
            Row(
                f"PostgreSQL search p50 at {have:,}",
                statistics.median(latencies),
                "ms",
                note=f"{len(queries)} queries",
            )
        )
        results.add(
            Row(
                f"PostgreSQL search p95 at {have:,}",
                p95,
                "ms",
                "<= 10 at 100,000",
                p95 <= 10,
                f"max {max(latencies):.1f} ms" + _scaled(have, 100_000),
            )
        )
        size = postgresql_bytes(run.store)
        results.add(
            Row(
                "PostgreSQL store size per 1,000 articles",
                size * 1000 / max(have, 1) / MIB,
                "MiB",
                note=f"{size / MIB:.0f} MiB for {have:,} articles, indexes included",
            )
        )
        run.store.close()
    finally:
        drop()


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one run measures, and at which sizes."""

    sizes: tuple[tuple[int, int], ...]  # (feeds, items) of each cold ingest
    search_articles: int
    queries: int
    digest_articles: int
    tag_items: int
    latency: float
    reader: bool
    postgresql: str | None = None  # server URL; None: skip the PostgreSQL phase


def make_plan(args: argparse.Namespace) -> Plan:
    """The sizes of a run. The full run ingests 300x50 and 2000x50: the second store holds
    the 100,000 articles that search and the peak RSS are measured at (a smaller run tops
    its store up to the search size)."""
    reader = not args.no_reader
    if args.quick:
        plan = Plan(((100, 20),), 10_000, 200, 1_500, 3_000, args.latency, reader)
    else:
        plan = Plan(((300, 50), (2000, 50)), 100_000, 200, 5_000, 20_000, args.latency, reader)
    plan = replace(plan, postgresql=None if args.no_postgresql else args.postgresql)
    if args.feeds or args.items:
        feeds = args.feeds or plan.sizes[-1][0]
        items = args.items or plan.sizes[-1][1]
        small = tuple((f, items) for f, _ in plan.sizes[:-1] if f < feeds)
        plan = replace(plan, sizes=(*small, (feeds, items)))
    if args.search_articles:
        plan = replace(plan, search_articles=args.search_articles)
    if args.digest_articles:
        plan = replace(plan, digest_articles=args.digest_articles)
    return plan


def run(plan: Plan) -> Results:
    """Every measurement, in an order that keeps them apart: our phases first, the peak RSS
    read before reader runs (in its own process anyway), the farm stopped at the end."""
    results = Results()
    catalog = load_catalog()
    queries = search_queries(plan.queries)
    largest = max(plan.sizes, key=lambda size: size[0] * size[1])
    farm = FarmProcess(max(f for f, _ in plan.sizes), max(m for _, m in plan.sizes), plan.latency)
    with tempfile.TemporaryDirectory(prefix="aggregator-bench-") as temporary:
        folder = Path(temporary)
        try:
            runs: dict[tuple[int, int], IngestRun] = {}
            for feeds, items in plan.sizes:
                print(f"\n[ingest {feeds}x{items}]", flush=True)
                started = time.perf_counter()
                # A namespace per size: the update phase of one must not add items to the next.
                compared = (feeds, items) == plan.sizes[0]  # with reader: the median of a few
                ingest_run = run_ingest(
                    farm,
                    folder,
                    feeds,
                    items,
                    catalog,
                    namespace=f"ours{feeds}x{items}",
                    cold_runs=COLD_RUNS if compared else 1,
                )
                results.phase_done(f"ingest {feeds}x{items}", started)
                runs[(feeds, items)] = ingest_run
                note = f"{ingest_run.entries:,} entries in {ingest_run.cold_seconds:.1f} s"
                note += _spread(ingest_run.entries, ingest_run.colds)
                if ingest_run.errors:
                    note += f"; {len(ingest_run.errors)} errors, first: {ingest_run.errors[0]}"
                rate = ingest_run.entries / ingest_run.cold_seconds
                results.add(
                    Row(
                        f"cold ingest {feeds}x{items}",
                        rate,
                        "entries/s",
                        ">= 5,000",
                        rate >= 5000,
                        note,
                    )
                )
                here, workers = ingest_run.cold_cpu
                results.add(
                    Row(
                        f"cold ingest CPU {feeds}x{items}",
                        (here + workers) * 1000 / ingest_run.entries,
                        "ms/entry",
                        note=f"this process {here * 1000 / ingest_run.entries:.2f} + parsing "
                        f"workers {workers * 1000 / ingest_run.entries:.2f}; "
                        f"{(here + workers) / ingest_run.cold_seconds:.1f} cores busy",
                    )
                )
                per_feed = ingest_run.repoll_seconds * 1000 / feeds
                results.add(
                    Row(
                        f"all-304 re-poll {feeds}x{items}",
                        per_feed,
                        "ms/feed",
                        "<= 0.5",
                        per_feed <= 0.5,
                        f"{ingest_run.repoll_not_modified}/{feeds} answered 304; median of 3, "
                        f"{ingest_run.repoll_range[0] * 1000 / feeds:.2f}-"
                        f"{ingest_run.repoll_range[1] * 1000 / feeds:.2f}",
                    )
                )
                update_rate = ingest_run.update_new / ingest_run.update_seconds
                results.add(
                    Row(
                        f"update, 10% feeds +5 items {feeds}x{items}",
                        update_rate,
                        "entries/s",
                        note=f"{ingest_run.update_new} new in {ingest_run.update_seconds:.2f} s",
                    )
                )
                count = ingest_run.store.count_articles()
                size = store_bytes(ingest_run.path) * 1000 / max(count, 1) / MIB
                results.add(
                    Row(
                        f"store size per 1,000 articles {feeds}x{items}",
                        size,
                        "MiB",
                        note=f"{store_bytes(ingest_run.path) / MIB:.1f} MiB for "
                        f"{count:,} articles incl. -wal",
                    )
                )
                if (feeds, items) != largest:
                    # Its story caches go (it is searched again for the reader comparison,
                    # starting cold): the peak RSS is that of the store at 100,000 articles.
                    ingest_run.store.close()

            print(f"\n[search at {plan.search_articles:,} articles]", flush=True)
            started = time.perf_counter()
            big = runs[largest]
            have = big.store.count_articles()
            if have < plan.search_articles:
                per_feed = 50
                missing = -(-(plan.search_articles - have) // per_feed)
                bulk_fill(big.store, first_feed=30_000, feeds=missing, items=per_feed)
            have = big.store.count_articles()
            fill = time.perf_counter() - started
            latencies = time_search(big.store, queries, catalog)
            p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
            results.add(Row(f"search p50 at {have:,}", p50, "ms", note=f"{len(queries)} queries"))
            results.add(
                Row(
                    f"search p95 at {have:,}",
                    p95,
                    "ms",
                    "<= 10 at 100,000",
                    p95 <= 10,
                    f"max {max(latencies):.1f} ms" + _scaled(have, 100_000),
                )
            )
            big.store.optimize()
            optimized = time_search(big.store, queries, catalog)
            results.add(
                Row(
                    f"search p95 at {have:,}, after optimize",
                    percentile(optimized, 0.95),
                    "ms",
                    note="what `serve` housekeeping leaves",
                )
            )
            results.phase_done("search", started)
            results.timings["search store top-up"] = fill

            print(f"\n[digest, {plan.digest_articles:,} articles in one day]", flush=True)
            started = time.perf_counter()
            digest_store, feed_names = digest_day_store(folder, catalog, plan.digest_articles)
            day_count = digest_store.count_articles(
                ArticleFilter(
                    since=datetime.combine(EPOCH.date(), datetime.min.time(), UTC),
                    until=datetime.combine(
                        EPOCH.date() + timedelta(days=1), datetime.min.time(), UTC
                    ),
                )
            )
            built, rendered, stories = time_digest(digest_store, feed_names, catalog)
            results.add(
                Row(
                    f"digest build + HTML, {day_count:,} articles/day",
                    built + rendered,
                    "s",
                    "<= 1",
                    built + rendered <= 1,
                    f"build {built:.2f} s, render {rendered:.2f} s, {stories:,} stories"
                    + _scaled(day_count, 5_000),
                )
            )
            digest_store.close()
            results.phase_done("digest", started)

            print("\n[tagging]", flush=True)
            started = time.perf_counter()
            rate = time_tagging(catalog, plan.tag_items)
            results.add(
                Row(
                    "tagging, one core",
                    rate,
                    "items/s",
                    ">= 5,000",
                    rate >= 5000,
                    f"{plan.tag_items:,} items",
                )
            )
            results.phase_done("tagging", started)

            # Read when the store holds the search size: ingest, top-up and searches done, and
            # before the digest and tagging phases load stores and catalogs of their own.
            rss = results.peak_rss["search"]
            results.add(
                Row(
                    f"peak RSS at {have:,} articles",
                    rss,
                    "MiB",
                    "<= 250",
                    rss <= 250,
                    "bench process (all ingests, farm and parsing workers excluded)"
                    + _scaled(have, 100_000),
                )
            )

            feeds, items = plan.sizes[0]
            print(f"\n[where the time goes: {feeds}x{items}, one stage at a time]", flush=True)
            started = time.perf_counter()
            spent = time_stages(folder, catalog, feeds, items)
            count, total = feeds * items, sum(spent.values())
            for stage in STAGES:
                results.add(
                    Row(
                        f"stage: {stage}",
                        spent[stage] * 1000 / count,
                        "ms/entry",
                        note=f"{spent[stage] / total:.0%} of the CPU",
                    )
                )
            results.add(
                Row(
                    "stages together, one core",
                    total * 1000 / count,
                    "ms/entry",
                    note=f"{count / total:,.0f} entries/s on one core, HTTP left out",
                )
            )
            results.phase_done("stages", started)

            print("\n[PostgreSQL]", flush=True)
            if plan.postgresql is None:
                print("  skipped (--no-postgresql)")
            else:
                started = time.perf_counter()
                run_postgresql(plan, farm, folder, catalog, queries, results)
                results.phase_done("postgresql", started)

            print("\n[lemon24/reader]", flush=True)
            if not plan.reader:
                print("  skipped (--no-reader)")
            elif not reader_installed():
                print("  reader not installed")
            else:
                started = time.perf_counter()
                feeds, items = plan.sizes[0]
                theirs = run_reader(farm, folder, feeds, items, queries, runs=COLD_RUNS)
                ours = runs[(feeds, items)]
                ours_rate = ours.entries / ours.cold_seconds
                reader_seconds = statistics.median(theirs["ingest_runs"])
                reader_rate = theirs["entries"] / reader_seconds
                ratio = ours_rate / reader_rate
                results.add(
                    Row(
                        f"reader cold ingest {feeds}x{items}",
                        reader_rate,
                        "entries/s",
                        note=f"{theirs['entries']:,} entries in {reader_seconds:.1f} s"
                        + _spread(theirs["entries"], theirs["ingest_runs"]),
                    )
                )
                results.add(Row("cold ingest ours/reader", ratio, "x", ">= 4", ratio >= 4))
                reader_cpu = statistics.median(theirs["ingest_cpu_runs"]) * 1000 / theirs["entries"]
                ours_cpu = sum(ours.cold_cpu) * 1000 / ours.entries
                results.add(
                    Row(
                        f"reader cold ingest CPU {feeds}x{items}",
                        reader_cpu,
                        "ms/entry",
                        note="one process, 16 threads: parse, sanitise, write (no tags, "
                        "stories or search index)",
                    )
                )
                results.add(
                    Row(
                        "cold ingest CPU ours/reader",
                        ours_cpu / reader_cpu,
                        "x",
                        note=f"ours {ours_cpu:.2f} ms, reader {reader_cpu:.2f} ms an entry "
                        "(<1: ours cheaper)",
                    )
                )
                ours_search = time_search(ours.store, queries, catalog)
                reader_search = theirs["search_ms"]
                for label, fraction in (("p50", 0.5), ("p95", 0.95)):
                    mine = percentile(ours_search, fraction)
                    other = percentile(reader_search, fraction)
                    results.add(
                        Row(
                            f"search {label} ours/reader at {ours.entries:,}",
                            mine / other,
                            "x",
                            note=f"ours {mine:.2f} ms, reader {other:.2f} ms (<1: ours faster)",
                        )
                    )
                if theirs["search_errors"]:
                    print(f"  reader rejected {theirs['search_errors']} queries")
                results.phase_done("reader", started)
            for ingest_run in runs.values():
                ingest_run.store.close()
        finally:
            farm.close()
    return results


def print_table(results: Results) -> None:
    """The summary table again at the end, where a long run's reader will look."""
    header = f"{'metric':<44} {'value':>10} {'unit':<10} {'target':<18} {'':<5} note"
    print("\n" + header)
    print("-" * len(header))
    for row in results.rows:
        print(_format_row(row))
    failed = sum(1 for row in results.rows if row.passed is False)
    passed = sum(1 for row in results.rows if row.passed)
    print(
        f"\n{passed} passed, {failed} failed; phases: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results.timings.items())
    )
    print(
        "peak RSS after each phase: "
        + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in results.peak_rss.items())
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print the table and optionally write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100x20, search at 10,000, digest of 1,500"
    )
    parser.add_argument("--feeds", type=int, help="feeds of the largest ingest")
    parser.add_argument("--items", type=int, help="items per feed")
    parser.add_argument("--search-articles", type=int, help="articles in the search store")
    parser.add_argument("--digest-articles", type=int, help="articles on the digest's day")
    parser.add_argument("--latency", type=float, default=0.0, help="ms the farm adds per request")
    parser.add_argument("--no-reader", action="store_true", help="skip the reader comparison")
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        default=os.environ.get("AGGREGATOR_BENCH_PG", DEFAULT_PG),
        help="PostgreSQL server for the PostgreSQL phase (a fresh schema is made and dropped)",
    )
    parser.add_argument("--no-postgresql", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-')")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    print(f"plan: {plan}", flush=True)
    started = time.perf_counter()
    results = run(plan)
    print_table(results)
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        document = json.dumps(
            {
                "plan": plan.__dict__,
                "rows": [row.__dict__ for row in results.rows],
                "timings": results.timings,
                "peak_rss_mib": results.peak_rss,
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
        if args.json == "-":
            print(document)
        else:
            Path(args.json).write_text(document + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
