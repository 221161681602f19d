"""Loading config.toml: defaults, validation, and errors that name the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aggregator.config import (
    DEFAULT_INTERVAL,
    Config,
    find_config_path,
    load_config,
    resolve_db_url,
)
from aggregator.errors import ConfigError
from aggregator.records import FeedKind

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_loads_and_lists_the_real_feeds() -> None:
    config = load_config(REPO / "config.toml")
    names = {feed.name for feed in config.feeds}
    assert len(config.feeds) >= 15
    for wanted in ("sec-press-releases", "sec-litigation-releases", "cftc-enforcement-releases"):
        assert wanted in names
    for feed in config.feeds:
        assert feed.url.startswith(("https://", "http://"))
        assert "127.0.0.1" not in feed.url and "localhost" not in feed.url
        if feed.kind is FeedKind.REGULATOR:
            assert feed.agency
    urls = {feed.url for feed in config.feeds}
    assert "https://www.sec.gov/rss/litigation/litreleases.xml" not in urls  # dead since 2023


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.http.per_host == 2
    assert config.ingest.processes is None  # "auto"


def test_ingest_processes_auto_or_a_count(write_config: Callable[[str], Path]) -> None:
    assert load_config(write_config('[ingest]\nprocesses = "auto"\n')).ingest.processes is None
    assert load_config(write_config("[ingest]\nprocesses = 0\n")).ingest.processes == 0
    assert load_config(write_config("[ingest]\nprocesses = 3\n")).ingest.processes == 3


def test_interval_defaults_per_kind_and_durations(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[[feeds]]\nname = "a"\nurl = "https://a.test/rss"\nkind = "regulator"\nagency = "sec"\n'
        '[[feeds]]\nname = "b"\nurl = "https://b.test/rss"\ninterval = "2h"\n'
        '[[feeds]]\nname = "c"\nurl = "https://c.test/rss"\ninterval = 600\n'
    )
    a, b, c = load_config(path).feeds
    assert (a.interval, a.agency) == (DEFAULT_INTERVAL[FeedKind.REGULATOR], "SEC")
    assert (b.kind, b.interval, c.interval) == (FeedKind.NEWS, 7200, 600)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[http]\ntimout = 3\n", r"http\.timout: unknown key"),
        ("[htp]\n", r"htp: unknown key"),
        ('[http]\ntimeout = "fast"\n', r"http\.timeout: must be a number"),
        ("[http]\nper_host = 0\n", r"http\.per_host: must be at least 1"),
        ('[ingest]\nprocesses = "many"\n', r'ingest\.processes: must be "auto" or a whole'),
        ("[ingest]\nprocesses = -1\n", r"ingest\.processes: must be"),
        ("[ingest]\nproceses = 2\n", r"ingest\.proceses: unknown key"),
        (
            '[http]\nallow_private_networks = "yes"\n',
            r"allow_private_networks: must be true or false",
        ),
        ('[[feeds]]\nurl = "https://a.test"\n', r"feeds\[0\]\.name: is required"),
        (
            '[[feeds]]\nname = "a"\nurl = "ftp://a.test/x"\n',
            r"feeds\[0\] \(a\)\.url: must be an http",
        ),
        ('[[feeds]]\nname = "a"\nurl = "https://a.test"\nkind = "blog"\n', r"\(a\)\.kind: must be"),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.test"\nkind = "regulator"\n',
            r"\(a\)\.agency: is required",
        ),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.test"\ninterval = "soon"\n',
            r"\(a\)\.interval: not a duration",
        ),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.test"\ninterval = 5\n',
            r"\(a\)\.interval: must be at least 60",
        ),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.test"\n[[feeds]]\nname = "a"\nurl = "https://b.test"\n',
            r"is used by another feed",
        ),
        (
            '[[feeds]]\nname = "a"\nurl = "https://a.test"\nagnecy = "SEC"\n',
            r"\(a\)\.agnecy: unknown key",
        ),
        ("feeds = 3\n", r"feeds: must be an array"),
        ("[store\n", r"not valid TOML"),
    ],
    ids=[
        "typo-key",
        "typo-table",
        "wrong-type",
        "below-minimum",
        "processes-not-a-count",
        "negative-processes",
        "typo-in-ingest",
        "not-bool",
        "feed-without-name",
        "non-http-url",
        "bad-kind",
        "regulator-without-agency",
        "bad-interval",
        "tiny-interval",
        "duplicate-name",
        "typo-in-feed",
        "feeds-not-array",
        "broken-toml",
    ],
)
def test_bad_config_names_file_and_key(
    write_config: Callable[[str], Path], text: str, message: str
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_config_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config_path(None) is None
    (tmp_path / "config.toml").write_text("")
    assert find_config_path(None) == Path("config.toml")
    monkeypatch.setenv("AGGREGATOR_CONFIG", "/env/config.toml")
    assert find_config_path(None) == Path("/env/config.toml")
    assert find_config_path("/explicit.toml") == Path("/explicit.toml")


def test_db_url_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGGREGATOR_DB_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    config = Config()
    assert (
        resolve_db_url(None, config)
        == f"sqlite:///{tmp_path / 'data' / 'aggregator' / 'aggregator.sqlite'}"
    )
    assert resolve_db_url("/x/y.sqlite", config) == "sqlite:////x/y.sqlite"
    monkeypatch.setenv("AGGREGATOR_DB_URL", "sqlite:////env.sqlite")
    assert resolve_db_url(None, config) == "sqlite:////env.sqlite"
    assert resolve_db_url("sqlite:////cli.sqlite", config) == "sqlite:////cli.sqlite"
