"""The command-line contract: exit codes, one-line errors, --json, output on and off a TTY."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from aggregator.store.migrate import head_revision
from tests.conftest import FeedServer, feeds_config


@pytest.fixture
def db_url(db_url_on_both: str) -> str:
    """These commands run on SQLite and on PostgreSQL."""
    return db_url_on_both


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Enforcement wire</title><link>https://wire.test/</link>
<item><title>Regulator fines Acme Exchange $4 million</title>
<link>https://wire.test/acme?utm_source=rss</link><guid>acme-1</guid>
<pubDate>Mon, 23 Nov 2026 14:00:00 -0500</pubDate>
<description>&lt;p&gt;The exchange agreed to pay a &lt;b&gt;civil penalty&lt;/b&gt;.&lt;/p&gt;</description></item>
<item><title>=HYPERLINK("http://evil.test","click")</title><link>https://wire.test/formula</link>
<pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate><description>Formula title.</description></item>
</channel></rss>"""


@pytest.fixture
def config(feed_server: FeedServer, write_config: Callable[[str], Path]) -> Path:
    good = feed_server.add("/wire.xml", RSS, etag='"w1"')
    broken = feed_server.add(
        "/gone.xml", "<html><body>Gone</body></html>", status=410, content_type="text/html"
    )
    page = feed_server.add(
        "/page.xml",
        "<!DOCTYPE html><html><body>Access denied</body></html>",
        content_type="text/html",
    )
    return write_config(feeds_config({"wire": good, "gone": broken, "page": page}))


def test_fetch_reports_each_feed_and_exits_zero(run: Callable[..., Result], config: Path) -> None:
    result = run("fetch", "--json", config=config)
    assert result.exit_code == 0
    outcomes = {o["feed"]: o for o in json.loads(result.stdout)}
    assert outcomes["wire"]["status"] == "ok" and outcomes["wire"]["new"] == 2
    assert outcomes["gone"]["error"] == "HTTP 410 Gone (the feed was removed)"
    assert outcomes["page"]["error"] == "not a feed: an HTML page"


def test_fetch_not_on_a_tty_prints_only_failures(run: Callable[..., Result], config: Path) -> None:
    result = run("fetch", config=config)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        "error: gone: HTTP 410 Gone (the feed was removed)",
        "error: page: not a feed: an HTML page",
    ]
    assert run("-q", "fetch", "--all", config=config).stderr == ""


def test_fetch_strict_exits_one(run: Callable[..., Result], config: Path) -> None:
    result = run("fetch", "--strict", config=config)
    assert result.exit_code == 1
    assert "2 of 3 feeds failed" in result.stderr


def test_fetch_only_what_is_due(
    run: Callable[..., Result], config: Path, feed_server: FeedServer
) -> None:
    run("fetch", config=config)
    before = len(feed_server.requests)
    second = run("fetch", "--json", config=config)
    assert json.loads(second.stdout) == []
    assert len(feed_server.requests) == before
    third = run("fetch", "--feed", "wire", "--json", config=config)
    assert [o["status"] for o in json.loads(third.stdout)] == ["not_modified"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fetch", "--feed", "nope"], 2, "--feed: no feed named 'nope' (known: wire, gone, page)"),
        (["search", "   "], 2, "the search query is empty"),
        (["search", "x", "--since", "yesterday"], 2, "--since: not a date: 'yesterday'"),
        (["show", "999"], 1, "no article with id 999"),
        (["import", "/no/such/file.xml"], 1, "/no/such/file.xml: no such file or folder"),
        (["search", "x", "--limit", "0"], 2, "Invalid value for '--limit'"),
        (["search", "x", "--limti", "3"], 2, "no such option: --limti (did you mean --limit?)"),
    ],
    ids=[
        "unknown-feed",
        "empty-query",
        "bad-date",
        "missing-article",
        "missing-file",
        "bad-limit",
        "mistyped-search-option",
    ],
)
def test_errors_are_one_line_with_exit_code(
    run: Callable[..., Result], config: Path, args: list[str], code: int, message: str
) -> None:
    result = run(*args, config=config)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_is_exit_two(
    run: Callable[..., Result], write_config: Callable[[str], Path]
) -> None:
    path = write_config("[http]\ntimeout = -1\n")
    result = run("fetch", config=path)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {path}: http.timeout: must be at least 1, not -1"


def test_no_feeds_configured(run: Callable[..., Result]) -> None:
    result = run("fetch")
    assert result.exit_code == 2
    assert "no [[feeds]] configured" in result.stderr


def test_search_show_export(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)
    hits = json.loads(run("search", "penalty", "--json", config=config).stdout)
    assert len(hits) == 1
    hit = hits[0]
    for key in (
        "id",
        "title",
        "url",
        "source",
        "published",
        "agencies",
        "entities",
        "action",
        "penalty_usd",
        "story_id",
        "snippet",
        "score",
    ):
        assert key in hit
    assert hit["url"] == "https://wire.test/acme"
    assert hit["published"] == "2026-11-23T19:00:00Z"
    assert "**penalty**" in hit["snippet"]

    # Unknown options are query words ("-x" excludes); a quoted "--word" is searched for.
    assert run("search", "penalty", "-bitcoin", "--json", config=config).stdout.count('"id"') == 1
    assert run("search", '"--penalty"', "--json", config=config).exit_code == 0

    plain = run("search", "penalty", config=config).stdout
    assert "Regulator fines Acme Exchange $4 million" in plain
    assert "\x1b[" not in plain and "\x02" not in plain

    shown = json.loads(run("show", str(hit["id"]), "--json", config=config).stdout)
    assert shown[0]["summary_text"] == "The exchange agreed to pay a civil penalty."
    assert "Acme" in run("show", str(hit["id"]), config=config).stdout

    lines = run("export", config=config).stdout.splitlines()
    assert [json.loads(line)["source"] for line in lines] == ["wire", "wire"]
    rows = list(csv.DictReader(io.StringIO(run("export", "--format", "csv", config=config).stdout)))
    assert {row["title"] for row in rows} == {
        "Regulator fines Acme Exchange $4 million",
        '\'=HYPERLINK("http://evil.test","click")',
    }
    assert run("export", "--since", "2026-11-23", config=config).stdout.count("\n") == 1


def test_feeds_list_shows_errors(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)
    feeds = {f["name"]: f for f in json.loads(run("feeds", "list", "--json", config=config).stdout)}
    assert feeds["wire"]["articles"] == 2 and feeds["wire"]["last_status"] == "ok"
    assert feeds["gone"]["consecutive_failures"] == 1
    assert feeds["gone"]["last_error"].startswith("HTTP 410")


def test_db_current_and_upgrade(run: Callable[..., Result], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    assert "empty" in run("db", "current", db=db).stdout
    head = head_revision()
    assert f"upgraded from empty to {head}" in run("db", "upgrade", db=db).stdout
    assert f"{head} (head)" in run("db", "current", db=db).stdout
    assert f"already at revision {head}" in run("db", "upgrade", db=db).stdout


def test_import_mixed_documents(run: Callable[..., Result], tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "wire.xml").write_text(RSS)
    (folder / "broken.xml").write_text("<html><body>nope</body></html>")
    (folder / "notes.txt").write_text("ignored: not a feed suffix")
    result = run("import", str(folder), "--json")
    assert result.exit_code == 0
    outcomes = sorted(json.loads(result.stdout), key=lambda o: o["url"])
    assert [(Path(o["url"]).name, o["status"], o["new"]) for o in outcomes] == [
        ("broken.xml", "error", 0),
        ("wire.xml", "ok", 2),
    ]
    assert outcomes[1]["feed"] == "import:Enforcement wire"
    assert run("import", str(folder / "broken.xml")).exit_code == 1
    assert run("import", str(folder), "--strict").exit_code == 1


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    # `aggregator export | head -1`: the pipe closes before the command is done writing.
    script = [sys.executable, "-m", "aggregator", "--db", str(tmp_path / "s.sqlite")]
    process = subprocess.Popen(
        [*script, "export", "--format", "csv"],  # a header line even from an empty store
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the interpreter has even started: every write fails
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert stderr == ""


def test_console_script_errors_without_traceback(tmp_path: Path) -> None:
    script = [sys.executable, "-m", "aggregator", "--db", str(tmp_path / "s.sqlite")]
    version = subprocess.run([*script, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("aggregator, version ")
    failed = subprocess.run([*script, "show", "5"], capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stderr == "Error: no article with id 5\n"
    verbose = subprocess.run(
        [*script, "-v", "show", "5"], capture_output=True, text=True, cwd=tmp_path
    )
    assert "Traceback" in verbose.stderr
