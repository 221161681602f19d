"""Unattended operation: leases, 410, status, `serve` and crash safety with real processes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import FeedServer, SmtpSink, StallingSmtpServer

pytestmark = pytest.mark.slow


def rss(prefix: str, count: int, day: str = "03 Mar 2026") -> str:
    items = "".join(
        f"<item><title>{prefix} enforcement item {i}</title><guid>{prefix}-{i}</guid>"
        f"<link>https://{prefix}.test/{i}</link><pubDate>Tue, {day} {10 + i % 10}:00:00 GMT</pubDate>"
        f"<description>The regulator fined firm {prefix}{i} a civil penalty of ${i + 1},000.</description></item>"
        for i in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{prefix}</title>{items}</channel></rss>'


def command(config: Path, db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator", "--config", str(config), "--db", db, *args]


def test_410_disables_the_feed_and_status_reports_it(
    run: Callable[..., Result], feed_server: FeedServer, write_config: Callable[[str], Path]
) -> None:
    ok = feed_server.add("/ok.xml", rss("ok", 2))
    gone = feed_server.add("/gone.xml", "gone", status=410, content_type="text/plain")
    config = write_config(
        f'[[feeds]]\nname = "ok"\nurl = "{ok}"\n[[feeds]]\nname = "gone"\nurl = "{gone}"\n'
    )
    run("fetch", config=config)
    run("fetch", "--all", config=config)
    assert len(feed_server.requests_to("/gone.xml")) == 1  # disabled after the 410
    run("fetch", "--feed", "gone", config=config)
    assert len(feed_server.requests_to("/gone.xml")) == 2  # named explicitly: tried again
    report = run("status", "--json", "--check", config=config)
    assert report.exit_code == 1
    data = json.loads(report.stdout)
    gone_feed = next(f for f in data["feeds"] if f["name"] == "gone")
    assert gone_feed["disabled"].startswith("HTTP 410 Gone")
    assert any("gone: disabled" in problem for problem in data["problems"])
    assert (
        run(
            "status", "--check", config=write_config(f'[[feeds]]\nname = "ok"\nurl = "{ok}"\n')
        ).exit_code
        == 0
    )


def test_status_counts_failures_in_words(
    run: Callable[..., Result], feed_server: FeedServer, write_config: Callable[[str], Path]
) -> None:
    broken = feed_server.add("/broken.xml", "down", status=500, content_type="text/plain")
    config = write_config(f'[[feeds]]\nname = "broken"\nurl = "{broken}"\n')
    run("fetch", config=config)
    problems = json.loads(run("status", "--json", config=config).stdout)["problems"]
    assert problems == ["feed broken: 1 failure; last: HTTP 500 Internal Server Error"]
    run("fetch", "--all", config=config)
    problems = json.loads(run("status", "--json", config=config).stdout)["problems"]
    assert problems[0].startswith("feed broken: 2 failures; last: HTTP 500")


def test_two_fetch_processes_never_fetch_a_feed_twice(
    feed_server: FeedServer, write_config: Callable[[str], Path], db_url: str
) -> None:
    names = [f"f{i}" for i in range(8)]
    urls = {name: feed_server.add(f"/{name}.xml", rss(name, 5), delay=0.5) for name in names}
    config = write_config(
        "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in urls.items())
        + "[http]\nper_host = 8\n"
    )
    first = subprocess.Popen(command(config, db_url, "fetch"), stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command(config, db_url, "fetch"), stderr=subprocess.PIPE, text=True)
    errors = first.communicate(timeout=60)[1] + second.communicate(timeout=60)[1]
    assert first.returncode == second.returncode == 0, errors
    assert "locked" not in errors
    assert [len(feed_server.requests_to(f"/{n}.xml")) for n in names] == [1] * 8
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as connection:
        assert connection.execute("SELECT count(*) FROM articles").fetchone()[0] == 40


def test_serve_fetches_sends_the_missed_digest_once_and_stops_on_sigterm(
    feed_server: FeedServer,
    smtp_sink: SmtpSink,
    write_config: Callable[[str], Path],
    db_url: str,
    tmp_path: Path,
) -> None:
    yesterday = time.strftime("%d %b %Y", time.gmtime(time.time() - 86400))
    url = feed_server.add("/sec.xml", rss("sec", 3, day=yesterday))
    config = write_config(
        f'[[feeds]]\nname = "sec"\nurl = "{url}"\nkind = "regulator"\nagency = "SEC"\n'
        '[digest]\ntime = "00:00"\nrecipients = ["ops@example.test"]\nsender = "d@example.test"\n'
        f'[digest.smtp]\nhost = "127.0.0.1"\nport = {smtp_sink.port}\nsecurity = "none"\n'
    )
    process = subprocess.Popen(
        command(config, db_url, "serve", "--log-format", "json"), stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not smtp_sink.messages:
        time.sleep(0.2)
    assert smtp_sink.messages, "the missed digest was not sent"
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert time.monotonic() - stopped < 8
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    updates = [line for line in lines if line["message"].startswith("updated feed=")]
    assert updates and updates[0]["feed"] == "sec" and updates[0]["status"] == "ok", stderr
    assert any(line["message"].startswith("stopping") for line in lines)
    # The same digest from cron afterwards: already sent.
    again = subprocess.run(
        command(config, db_url, "digest", "--send"), capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "already sent" in again.stdout
    assert len(smtp_sink.messages) == 1


def test_sigkill_during_fetch_leaves_the_store_consistent(
    feed_server: FeedServer, write_config: Callable[[str], Path], db_url: str
) -> None:
    random.seed(int(os.environ.get("AGGREGATOR_TEST_SEED", "7")))
    names = [f"k{i}" for i in range(12)]
    urls = {name: feed_server.add(f"/{name}.xml", rss(name, 40), delay=0.05) for name in names}
    config = write_config(
        "".join(f'[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in urls.items())
    )
    path = db_url.removeprefix("sqlite:///")
    kills = 0
    for _ in range(22):
        process = subprocess.Popen(
            command(config, db_url, "fetch", "--all"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(random.uniform(0.3, 2.5))
        if process.poll() is None:
            process.kill()
            kills += 1
        process.wait(timeout=30)
        with sqlite3.connect(path) as connection:
            if connection.execute(
                "SELECT name FROM sqlite_master WHERE name='articles'"
            ).fetchone():
                assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert (
                    connection.execute(
                        "SELECT count(*) FROM articles WHERE story_id IS NULL OR tag_version IS NULL"
                    ).fetchone()[0]
                    == 0
                )
    assert kills >= 10
    final = subprocess.run(
        command(config, db_url, "fetch", "--all"), capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT count(*) FROM articles").fetchone()[0] == 12 * 40
        assert (
            connection.execute(
                "SELECT count(*) FROM (SELECT feed_id, key FROM articles GROUP BY 1, 2 HAVING count(*) > 1)"
            ).fetchone()[0]
            == 0
        )
        assert (
            connection.execute("SELECT count(*) FROM articles WHERE story_id IS NULL").fetchone()[0]
            == 0
        )
        assert (
            connection.execute(
                "SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL"
            ).fetchone()[0]
            == 0
        )


def test_serve_killed_during_a_digest_send_never_sends_it_again(
    feed_server: FeedServer,
    smtp_sink: SmtpSink,
    stalling_smtp: StallingSmtpServer,
    write_config: Callable[[str], Path],
    db_url: str,
) -> None:
    url = feed_server.add("/sec.xml", rss("sec", 2))
    base = (
        f'[[feeds]]\nname = "sec"\nurl = "{url}"\nkind = "regulator"\nagency = "SEC"\n'
        '[digest]\ntime = "00:00"\nrecipients = ["ops@example.test"]\nsender = "d@example.test"\n'
        '[digest.smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n'
    )
    stalling = write_config(base + f"port = {stalling_smtp.port}\n")
    process = subprocess.Popen(
        command(stalling, db_url, "serve"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not stalling_smtp.data_started:
        time.sleep(0.1)
    assert stalling_smtp.data_started == 1
    process.kill()  # in the middle of DATA
    process.wait(timeout=10)
    working = stalling.with_name("working.toml")
    working.write_text(base + f"port = {smtp_sink.port}\n")
    again = subprocess.run(
        command(working, db_url, "digest", "--send", "--json"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    outcomes = json.loads(again.stdout)
    assert [o["status"] for o in outcomes] == ["skipped"]
    assert smtp_sink.messages == []  # not sent a second time ...
    forced = subprocess.run(
        command(working, db_url, "digest", "--send", "--force"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert forced.returncode == 0 and len(smtp_sink.messages) == 1  # ... unless asked
    status = subprocess.run(
        command(working, db_url, "status", "--json"), capture_output=True, text=True, timeout=60
    )
    assert json.loads(status.stdout)["digests"][0]["status"] == "sent"


def test_two_processes_opening_a_new_store_at_once_both_succeed(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    # Switching a new file to WAL does not wait on the busy timeout: this failed one run in
    # three with "database is locked" before the switch was retried.
    config = write_config('[[feeds]]\nname = "a"\nurl = "http://127.0.0.1:9/a.xml"\n')
    for attempt in range(8):
        db_url = f"sqlite:///{tmp_path / f'new-{attempt}.sqlite'}"
        both = [
            subprocess.Popen(
                command(config, db_url, "feeds", "list"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        errors = "".join(process.communicate(timeout=60)[1] for process in both)
        assert [process.returncode for process in both] == [0, 0], errors
