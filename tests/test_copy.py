"""`db copy`: a store moves from SQLite to PostgreSQL and back intact."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import FeedServer

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>SEC</title>
<item><title>SEC Charges Binance and Changpeng Zhao</title><guid>a</guid><link>https://sec.test/a</link>
<pubDate>Mon, 05 Jun 2023 12:00:00 GMT</pubDate><description>The Commission filed 13 charges.</description></item>
<item><title>Trader Agrees to Pay $2 Million</title><guid>b</guid><link>https://sec.test/b</link>
<pubDate>Tue, 06 Jun 2023 12:00:00 GMT</pubDate><description>A civil penalty.</description></item>
</channel></rss>"""


def test_copy_sqlite_to_postgresql_and_back(
    run: Callable[..., Result],
    feed_server: FeedServer,
    write_config: Callable[[str], Path],
    pg_url: str,
    tmp_path: Path,
) -> None:
    url = feed_server.add("/sec.xml", RSS)
    config = write_config(
        f'[[feeds]]\nname = "sec"\nurl = "{url}"\nkind = "regulator"\nagency = "SEC"\n'
    )
    assert run("fetch", config=config).exit_code == 0
    before = run("export", config=config).stdout
    copied = run("db", "copy", "--to", pg_url, config=config)
    assert copied.exit_code == 0, copied.output
    assert "2 articles" in copied.stdout
    assert run("export", config=config, db=pg_url).stdout == before
    hits = json.loads(run("search", "binance", "--json", config=config, db=pg_url).stdout)
    assert [hit["title"] for hit in hits] == ["SEC Charges Binance and Changpeng Zhao"]
    assert run("db", "copy", "--to", pg_url, config=config).exit_code == 1  # target not empty
    back = f"sqlite:///{tmp_path / 'back.sqlite'}"
    assert run("db", "copy", "--from", pg_url, config=config, db=back).exit_code == 0
    assert run("export", config=config, db=back).stdout == before
    # New rows after a copy get fresh ids (sequences moved past the copied ones).
    feed_server.add(
        "/sec.xml",
        RSS.replace("</channel>", "<item><title>Third</title><guid>c</guid></item></channel>"),
    )
    assert run("fetch", "--all", config=config, db=pg_url).exit_code == 0
    assert len(run("export", config=config, db=pg_url).stdout.splitlines()) == 3


def test_copy_needs_one_direction(run: Callable[..., Result]) -> None:
    result = run("db", "copy")
    assert result.exit_code == 2 and "exactly one of --to URL or --from URL" in result.stderr
