"""Several `serve` workers on one PostgreSQL store: each feed fetched once per interval, each
digest sent once, a killed worker's feeds taken over."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import FeedServer, SmtpSink

pytestmark = pytest.mark.slow

FEEDS = 200
INTERVAL = 60  # the shortest interval a feed may have


def rss(n: int, day: str) -> str:
    items = "".join(
        f"<item><title>Regulator fines firm {n}-{i}</title><guid>f{n}-{i}</guid>"
        f"<pubDate>{day} 10:0{i}:00 GMT</pubDate><description>Penalty {n}-{i}.</description></item>"
        for i in range(3)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{n}</title>{items}</channel></rss>'


def test_three_workers_share_one_store(
    feed_server: FeedServer, smtp_sink: SmtpSink, write_config: Callable[[str], Path], pg_url: str
) -> None:
    yesterday = time.strftime("%a, %d %b %Y", time.gmtime(time.time() - 86400))
    parts = []
    for n in range(FEEDS):
        url = feed_server.add(f"/f{n}.xml", rss(n, yesterday), etag=f'"v{n}"', delay=0.05)
        parts.append(
            f'[[feeds]]\nname = "f{n}"\nurl = "{url}"\nkind = "regulator"\nagency = "SEC"\ninterval = {INTERVAL}\n'
        )
    config = write_config(
        "".join(parts)
        + "[http]\nper_host = 4\nconcurrency = 4\n"
        + '[digest]\ntime = "00:00"\nrecipients = ["a@example.test", "b@example.test"]\nsender = "d@example.test"\n'
        + f'[digest.smtp]\nhost = "127.0.0.1"\nport = {smtp_sink.port}\nsecurity = "none"\n'
    )
    command = [
        sys.executable,
        "-m",
        "aggregator",
        "--config",
        str(config),
        "--db",
        pg_url,
        "serve",
        "--tick",
        "5",
    ]
    workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    started = time.monotonic()
    time.sleep(20)
    workers[0].kill()  # mid-run, without a chance to clean up
    workers[0].communicate(timeout=30)
    time.sleep(max(0.0, INTERVAL + 25 - (time.monotonic() - started)))
    for worker in workers[1:]:
        worker.send_signal(signal.SIGTERM)
    for worker in workers[1:]:
        worker.communicate(timeout=30)
        assert worker.returncode == 0
    requests = Counter(r.path for r in feed_server.requests)
    # Every feed was fetched once in the first interval and once in the second, never twice at
    # the same time: at most 2 requests each, and nearly all got their second look.
    assert max(requests.values()) <= 2, requests
    assert len(requests) == FEEDS
    assert sum(1 for count in requests.values() if count == 2) >= FEEDS * 0.9
    engine = create_engine(pg_url)
    with engine.connect() as connection:
        articles = connection.execute(text("SELECT count(*) FROM articles")).scalar_one()
        duplicates = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT feed_id, key FROM articles GROUP BY 1, 2 HAVING count(*) > 1) d"
            )
        ).scalar_one()
        leases = connection.execute(
            text("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL")
        ).scalar_one()
    engine.dispose()
    assert articles == FEEDS * 3 and duplicates == 0 and leases == 0
    recipients = sorted(to for _, tos, _ in smtp_sink.messages for to in tos)
    assert recipients == ["a@example.test", "b@example.test"]  # one digest each, not three
