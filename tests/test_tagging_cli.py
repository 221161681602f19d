"""Tagging through the pipeline and the command line: tag, retag, timeline, filters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from aggregator.store import open_store
from tests.conftest import FeedServer


@pytest.fixture
def db_url(db_url_on_both: str) -> str:
    """These commands run on SQLite and on PostgreSQL."""
    return db_url_on_both


REGULATOR = """<?xml version="1.0"?><rss version="2.0"><channel><title>SEC</title>
<item><title>SEC Charges Binance Entities and Founder Changpeng Zhao</title><guid>sec-1</guid>
<link>https://sec.test/1</link><pubDate>Mon, 05 Jun 2023 12:00:00 GMT</pubDate>
<description>The Commission filed 13 charges. Litigation Release No. 25800.</description></item>
<item><title>Trader Agrees to Pay $2 Million to Settle Charges</title><guid>sec-2</guid>
<link>https://sec.test/2</link><pubDate>Tue, 06 Jun 2023 12:00:00 GMT</pubDate>
<description>The order imposes a civil penalty.</description></item>
</channel></rss>"""

NEWS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>CZ pleads guilty, Binance to pay $4.3 billion</title><guid>n-1</guid>
<link>https://wire.test/1</link><pubDate>Tue, 21 Nov 2023 18:00:00 GMT</pubDate>
<description>The DOJ said Binance agreed to forfeit and pay penalties.</description></item>
<item><title>Bitcoin rallies to a record</title><guid>n-2</guid>
<link>https://wire.test/2</link><pubDate>Wed, 22 Nov 2023 18:00:00 GMT</pubDate>
<description>Traders cheered.</description></item>
</channel></rss>"""


@pytest.fixture
def config(feed_server: FeedServer, write_config: Callable[[str], Path]) -> Path:
    sec = feed_server.add("/sec.xml", REGULATOR)
    wire = feed_server.add("/wire.xml", NEWS)
    return write_config(
        f'[[feeds]]\nname = "sec"\nurl = "{sec}"\nkind = "regulator"\nagency = "SEC"\n'
        f'[[feeds]]\nname = "wire"\nurl = "{wire}"\n'
        '[watchlist]\nentities = ["CZ"]\n'
    )


def test_articles_are_tagged_at_ingest(run: Callable[..., Result], config: Path) -> None:
    assert run("fetch", config=config).exit_code == 0
    articles = {
        a["title"]: a for a in map(json.loads, run("export", config=config).stdout.splitlines())
    }
    charged = articles["SEC Charges Binance Entities and Founder Changpeng Zhao"]
    assert charged["agencies"] == ["SEC"]
    assert set(charged["entities"]) == {"Binance", "Changpeng Zhao"}
    assert charged["action"] == "charges"
    assert charged["case_numbers"] == ["LR-25800"]
    plea = articles["CZ pleads guilty, Binance to pay $4.3 billion"]
    assert plea["action"] == "sentencing"
    assert plea["penalty_usd"] == 4.3e9
    assert "DOJ" in plea["agencies"]
    assert articles["Bitcoin rallies to a record"]["action"] is None


def test_filters_and_alias_search(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)

    def titles(*args: str) -> list[str]:
        if args[0] == "export":
            result = run(*args, config=config)
            items = [json.loads(line) for line in result.stdout.splitlines()]
        else:
            result = run(*args, "--json", config=config)
            items = json.loads(result.stdout)
        assert result.exit_code == 0, result.output
        return sorted(item["title"] for item in items)

    assert titles("search", "binance", "--agency", "SEC") == [
        "SEC Charges Binance Entities and Founder Changpeng Zhao"
    ]
    assert titles("search", "binance", "--action", "sentencing") == [
        "CZ pleads guilty, Binance to pay $4.3 billion"
    ]
    # "Changpeng Zhao" finds the article that only says "CZ", and the other way round.
    assert len(titles("search", '"Changpeng Zhao"')) == 2
    assert len(titles("search", "cz")) == 2
    assert len(titles("export", "--watchlist")) == 2
    assert titles("timeline", "Changpeng Zhao") == titles("timeline", "cz")
    timeline = json.loads(run("timeline", "binance", "--json", config=config).stdout)
    assert [t["published"][:10] for t in timeline] == ["2023-06-05", "2023-11-21"]
    bad = run("search", "x", "--agency", "NOPE", config=config)
    assert bad.exit_code == 2 and "unknown agency code 'NOPE'" in bad.stderr
    unknown = run("timeline", "Nobody Inc", config=config)
    assert unknown.exit_code == 2 and "no entity named 'Nobody Inc'" in unknown.stderr


def test_tag_command(run: Callable[..., Result]) -> None:
    lines = "\n".join(
        [
            json.dumps(
                {"title": "SEC charges Gemini", "summary": "Winklevoss exchange sued.", "id": 7}
            ),
            "not json",
            json.dumps(
                {
                    "title": "Company settles",
                    "summary": "The Commission fined it $1M.",
                    "agency": "CFTC",
                }
            ),
            json.dumps(["a list"]),
        ]
    )
    result = run("tag", input=lines)
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0]["id"] == 7 and out[0]["agencies"] == ["SEC"] and out[0]["entities"] == ["Gemini"]
    assert out[1]["agencies"] == ["CFTC"] and out[1]["penalty_usd"] == 1e6
    for key in (
        "agencies",
        "mentioned_agencies",
        "entities",
        "action",
        "penalty_usd",
        "case_numbers",
    ):
        assert key in out[0]
    assert "stdin line 2: not JSON" in result.stderr
    assert "stdin line 4: expected an object" in result.stderr


def test_retag_after_the_catalog_changes(
    run: Callable[..., Result], config: Path, db_url: str, write_config: Callable[[str], Path]
) -> None:
    run("fetch", config=config)
    text = config.read_text() + '\n[[entities]]\nname = "Bitcoin Network"\naliases = ["Bitcoin"]\n'
    changed = write_config(text)
    assert run("export", "--entity", "Bitcoin Network", config=changed).stdout == ""
    result = run("retag", config=changed)
    assert result.stdout.strip() == "4 articles re-tagged"
    assert (
        len(run("export", "--entity", "Bitcoin Network", config=changed).stdout.splitlines()) == 1
    )
    assert run("retag", config=changed).stdout.strip() == "0 articles re-tagged"
    assert run("retag", "--all", config=changed).stdout.strip() == "4 articles re-tagged"


def test_upgrade_from_0001_keeps_articles_searchable(
    tmp_path: Path, run: Callable[..., Result]
) -> None:
    from alembic import command

    from aggregator.store import migrate

    db = tmp_path / "old.sqlite"
    url = f"sqlite:///{db}"
    store = open_store(url, migrate_schema=False)
    with store._engine.connect() as connection, connection.begin():  # type: ignore[attr-defined]
        command.upgrade(migrate._alembic_config(connection), "0001")
    store.close()
    raw = sqlite3.connect(db)
    raw.execute(
        "INSERT INTO feeds (name, url, kind, interval, created, consecutive_failures) VALUES ('old', 'https://o.test', 'news', 900, '2026-01-01', 0)"
    )
    raw.execute(
        "INSERT INTO articles (feed_id, key, title, summary_html, summary_text, categories, published, "
        "published_estimated, first_seen, updated, content_hash) VALUES (1, 'guid:1', "
        "'Binance settles with regulators', '', 'old text', '[]', '2025-01-01', 0, '2025-01-01', '2025-01-01', 'h')"
    )
    raw.commit()
    raw.close()
    assert json.loads(run("search", "binance", "--json", db=url).stdout)[0]["entities"] == []
    assert run("retag", db=url).stdout.strip() == "1 article re-tagged"
    hit = json.loads(run("search", "binance", "--json", db=url).stdout)[0]
    assert hit["entities"] == ["Binance"] and hit["action"] == "settlement"
