"""Run lemon24/reader against the farm, for the comparison in ``benchmarks.bench``.

    python -m benchmarks.reader_run DB URLS_FILE QUERIES_FILE [--no-search]

Prints one JSON object: ingest seconds (wall and CPU) and entries, search indexing seconds,
and the search latencies of each query (none with ``--no-search``: an ingest-only run). It
runs in a process of its own so that reader's memory and imports do not inflate the
aggregator's peak RSS, and times only the work, not the process start.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from pathlib import Path

_NEGATED = re.compile(r'(^|\s)-(?=["\w])')


def to_fts5(query: str) -> str:
    """Our query language → FTS5, which reader passes through: ``-x`` becomes ``NOT x``
    (FTS5 has no unary minus); phrases, OR and prefixes are spelled the same."""
    return _NEGATED.sub(r"\1NOT ", query)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    db, urls_file, queries_file = args[:3]
    search = "--no-search" not in args[3:]
    from reader import make_reader  # imported here: the benchmark runs without it

    urls = Path(urls_file).read_text().split()
    queries = json.loads(Path(queries_file).read_text())
    reader = make_reader(db)
    for url in urls:
        reader.add_feed(url)
    cpu = time.process_time()
    started = time.perf_counter()
    reader.update_feeds(workers=16)
    ingest = time.perf_counter() - started
    ingest_cpu = time.process_time() - cpu  # all of its threads
    entries = reader.get_entry_counts().total
    if not search:
        reader.close()
        json.dump(
            {"ingest_seconds": ingest, "ingest_cpu_seconds": ingest_cpu, "entries": entries},
            sys.stdout,
        )
        return 0
    reader.enable_search()
    started = time.perf_counter()
    reader.update_search()
    indexing = time.perf_counter() - started
    for query in queries[:10]:  # warm the page cache, as for ours
        with contextlib.suppress(Exception):  # a query FTS5 rejects is counted below
            list(reader.search_entries(to_fts5(query), limit=20))
    latencies: list[float] = []
    errors = 0
    for query in queries:
        started = time.perf_counter()
        try:
            list(reader.search_entries(to_fts5(query), limit=20))
        except Exception:  # reader raises its own SearchError for syntax FTS5 rejects
            errors += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    reader.close()
    json.dump(
        {
            "ingest_seconds": ingest,
            "ingest_cpu_seconds": ingest_cpu,
            "entries": entries,
            "index_seconds": indexing,
            "search_ms": latencies,
            "search_errors": errors,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
