"""Everyday completeness: init, feeds add/remove, OPML in and out, the Atom feed of a search."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from click.testing import Result

from aggregator.config import STARTER, load_config
from tests.conftest import FeedServer


@pytest.fixture
def db_url(db_url_on_both: str) -> str:
    """These commands run on SQLite and on PostgreSQL."""
    return db_url_on_both


REPO = Path(__file__).resolve().parents[1]

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Enforcement Wire</title>
<item><title>SEC charges Binance &amp; CZ</title><guid>w1</guid><link>https://wire.test/1</link>
<pubDate>Mon, 05 Jun 2023 12:00:00 GMT</pubDate><description>Thirteen charges; a $4.3 billion penalty.</description></item>
<item><title>Bitcoin rallies</title><guid>w2</guid><link>https://wire.test/2</link>
<pubDate>Tue, 06 Jun 2023 12:00:00 GMT</pubDate><description>Traders cheered.</description></item>
</channel></rss>"""

# The shape other readers export (Feedly/Inoreader style: nested folders, text/title, htmlUrl).
OTHER_READER = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE opml [<!ENTITY boom "boomboomboom">]>
<opml version="1.0"><head><title>Subscriptions &amp; more</title></head><body>
<outline text="Regulators" title="Regulators">
  <outline type="rss" text="SEC Press" title="SEC Press" xmlUrl="https://www.sec.gov/news/pressreleases.rss" htmlUrl="https://www.sec.gov"/>
</outline>
<outline text="Crypto" title="Crypto"><outline text="Crypto">
  <outline type="rss" text="The Block" xmlUrl="https://www.theblock.co/rss.xml"/>
  <outline type="rss" text="Broken" xmlUrl="javascript:alert(1)"/>
</outline></outline>
</body></opml>"""


def test_starter_config_is_the_documented_default() -> None:
    assert STARTER.read_text() == (REPO / "config.toml").read_text()


def test_init_writes_config_and_store(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "config.toml").read_text() == STARTER.read_text()
    again = run("init")
    assert again.exit_code == 2 and "already exists; use --force" in again.stderr
    assert run("init", "--force").exit_code == 0


def test_feeds_add_checks_the_url_and_remove(
    run: Callable[..., Result], feed_server: FeedServer, write_config: Callable[[str], Path]
) -> None:
    config = write_config("# my feeds\n")
    good = feed_server.add("/wire.xml", RSS)
    page = feed_server.add("/page.html", "<html><body>hi</body></html>", content_type="text/html")
    added = run("feeds", "add", good, config=config)
    assert added.exit_code == 0, added.output
    assert "added feed 'enforcement-wire'" in added.stdout
    refused = run("feeds", "add", page, "--name", "page", config=config)
    assert refused.exit_code == 1 and "not a feed: an HTML page" in refused.stderr
    assert run("feeds", "add", good, config=config).exit_code == 2  # already there
    assert (
        run("feeds", "add", good, "--name", "x", "--kind", "regulator", config=config).exit_code
        == 2
    )
    text = config.read_text()
    assert text.startswith("# my feeds")  # comments kept
    assert [f.name for f in load_config(config).feeds] == ["enforcement-wire"]
    assert run("feeds", "remove", "enforcement-wire", config=config).exit_code == 0
    assert load_config(config).feeds == ()
    assert run("feeds", "remove", "nope", config=config).exit_code == 2


def test_opml_round_trip_with_another_readers_export(
    run: Callable[..., Result], write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config(
        '[[feeds]]\nname = "cftc"\nurl = "https://www.cftc.gov/RSS/RSSENF/rssenf.xml"\nkind = "regulator"\nagency = "CFTC"\n'
    )
    opml = tmp_path / "subscriptions.opml"
    opml.write_text(OTHER_READER)
    imported = run("feeds", "import-opml", str(opml), config=config)
    assert imported.exit_code == 0, imported.output
    assert "2 feeds added" in imported.stdout
    names = {f.name: f for f in load_config(config).feeds}
    assert set(names) == {"cftc", "SEC Press", "The Block"}
    exported = run("feeds", "export-opml", config=config).stdout_bytes
    assert b'aggregatorAgency="CFTC"' in exported
    # Our own export imports back into an empty config with kind and agency intact.
    back = tmp_path / "back.toml"
    back.write_text("")
    (tmp_path / "ours.opml").write_bytes(exported)
    assert run("feeds", "import-opml", str(tmp_path / "ours.opml"), config=back).exit_code == 0
    restored = {f.name: f for f in load_config(back).feeds}
    assert restored["cftc"].agency == "CFTC" and restored["cftc"].kind.value == "regulator"
    assert set(restored) == set(names)
    bad = tmp_path / "bad.opml"
    bad.write_text("<html>nope</html>")
    result = run("feeds", "import-opml", str(bad), config=back)
    assert result.exit_code == 1 and "not OPML" in result.stderr


def test_atom_feed_of_a_search_is_valid_and_readable(
    run: Callable[..., Result],
    feed_server: FeedServer,
    write_config: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    url = feed_server.add("/wire.xml", RSS)
    config = write_config(
        f'[[feeds]]\nname = "wire"\nurl = "{url}"\n[watchlist]\nentities = ["Binance"]\n'
    )
    run("fetch", config=config)
    out = tmp_path / "binance.xml"
    result = run("feed", "--agency", "SEC", "--watchlist", "-o", str(out), config=config)
    assert result.exit_code == 0, result.output
    parsed = feedparser.parse(io.BytesIO(out.read_bytes()))
    assert parsed.version == "atom10" and not parsed.bozo
    assert [e.title for e in parsed.entries] == ["SEC charges Binance & CZ"]
    entry = parsed.entries[0]
    assert entry.link == "https://wire.test/1" and entry.id and entry.updated_parsed
    assert {t.term for t in entry.tags} >= {"SEC", "Binance"}
    assert parsed.feed.title and parsed.feed.id and parsed.feed.updated_parsed
    queried = run("feed", "--query", "bitcoin", config=config).stdout_bytes
    assert [e.title for e in feedparser.parse(io.BytesIO(queried)).entries] == ["Bitcoin rallies"]
    listing = json.loads(run("search", "binance", "--json", config=config).stdout)
    assert listing[0]["entities"]
