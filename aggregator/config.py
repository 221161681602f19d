"""Load ``config.toml`` into frozen settings. Every default lives here, once.

Errors name the file and the key (``config.toml: feeds[3].url: ...``) and exit with code 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import tomlkit

from aggregator import __version__
from aggregator._dates import parse_duration
from aggregator._urls import absolute_http_url
from aggregator.catalog import ENTITY_TYPES, UserEntity
from aggregator.errors import ConfigError
from aggregator.records import FeedKind, FeedSource

APP_NAME = "aggregator"
CONFIG_ENV = "AGGREGATOR_CONFIG"
DB_URL_ENV = "AGGREGATOR_DB_URL"

DEFAULT_USER_AGENT = (
    f"aggregator/{__version__} (regulatory news aggregator; "
    "set [http] user_agent to name yourself and a contact e-mail)"
)
DEFAULT_TIMEOUT = 30.0  # seconds: the whole of one feed's download, connect to last byte
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # decompressed body
DEFAULT_CONCURRENCY = 8
DEFAULT_PER_HOST = 2
DEFAULT_INTERVAL = {FeedKind.REGULATOR: 1800, FeedKind.NEWS: 900}  # seconds


# Every key the code reads, by table; anything else in a config file is an error.
TABLES: dict[str, tuple[str, ...]] = {
    "store": ("url",),
    "http": (
        "user_agent",
        "timeout",
        "max_bytes",
        "concurrency",
        "per_host",
        "allow_private_networks",
    ),
    "ingest": ("processes",),
    "feeds": ("name", "url", "kind", "agency", "interval"),
    "entities": ("name", "aliases", "type"),
    "watchlist": ("entities",),
    "digest": ("timezone", "time", "recipients", "sender", "subject", "silent_after"),
    "digest.smtp": ("host", "port", "security", "username", "password_env", "timeout"),
}
SMTP_SECURITY = ("starttls", "ssl", "none")
DEFAULT_SMTP_PORT = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_SUBJECT = "Enforcement digest for {date}: {count} items"
DEFAULT_SILENT_AFTER = 7 * 86400  # a regulator feed with nothing new for this long is flagged


@dataclass(frozen=True, slots=True)
class HttpConfig:
    user_agent: str = DEFAULT_USER_AGENT
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    concurrency: int = DEFAULT_CONCURRENCY
    per_host: int = DEFAULT_PER_HOST
    allow_private_networks: bool = False


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str | None = None
    password_env: str | None = None  # the name of the variable holding the password
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class DigestConfig:
    timezone: str = "UTC"
    time: str = "07:00"  # when `serve` sends it, in `timezone`
    recipients: tuple[str, ...] = ()
    sender: str = "aggregator@localhost"
    subject: str = DEFAULT_SUBJECT
    silent_after: int = DEFAULT_SILENT_AFTER  # seconds
    smtp: SmtpConfig = field(default_factory=SmtpConfig)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    processes: int | None = None  # worker processes that parse and tag; None: "auto"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # None: no file was found, defaults only
    store: StoreConfig = field(default_factory=StoreConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    feeds: tuple[FeedSource, ...] = ()
    entities: tuple[UserEntity, ...] = ()  # added to the built-in entity catalog
    watchlist: tuple[str, ...] = ()  # entity names the user follows
    digest: DigestConfig = field(default_factory=DigestConfig)

    def feed(self, name: str) -> FeedSource:
        for source in self.feeds:
            if source.name == name:
                return source
        known = ", ".join(source.name for source in self.feeds) or "none configured"
        raise ConfigError(f"no feed named {name!r} (known: {known})", key="--feed")


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_db_url() -> str:
    return "sqlite:///" + str(Path(platformdirs.user_data_dir(APP_NAME)) / "aggregator.sqlite")


def find_config_path(explicit: str | None) -> Path | None:
    """``--config``, else ``$AGGREGATOR_CONFIG``, else ``./config.toml``, else the user config
    dir; None when none of them exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in (Path("config.toml"), default_config_path()):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None) -> Config:
    """Read and check a config file; ``None`` gives the defaults with no feeds."""
    if path is None:
        return Config()
    name = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path=name) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=name) from exc
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    reader = _Reader(str(path) if path else "config")
    reader.only_keys(data, "", {name.split(".")[0] for name in TABLES})
    store = reader.table(data, "store")
    reader.only_keys(store, "store", set(TABLES["store"]))
    http = reader.table(data, "http")
    reader.only_keys(http, "http", set(TABLES["http"]))
    http_config = HttpConfig(
        user_agent=reader.string(http, "http.user_agent", DEFAULT_USER_AGENT),
        timeout=reader.number(http, "http.timeout", DEFAULT_TIMEOUT, minimum=1),
        max_bytes=int(reader.number(http, "http.max_bytes", DEFAULT_MAX_BYTES, minimum=1024)),
        concurrency=int(reader.number(http, "http.concurrency", DEFAULT_CONCURRENCY, minimum=1)),
        per_host=int(reader.number(http, "http.per_host", DEFAULT_PER_HOST, minimum=1)),
        allow_private_networks=reader.boolean(http, "http.allow_private_networks", False),
    )
    ingest = reader.table(data, "ingest")
    reader.only_keys(ingest, "ingest", set(TABLES["ingest"]))
    store_url = reader.string(store, "store.url", None) if "url" in store else None
    watchlist = reader.table(data, "watchlist")
    reader.only_keys(watchlist, "watchlist", set(TABLES["watchlist"]))
    return Config(
        path=path,
        store=StoreConfig(url=store_url or None),
        http=http_config,
        ingest=IngestConfig(processes=reader.processes(ingest, "ingest.processes")),
        feeds=reader.feeds(data.get("feeds", [])),
        entities=reader.entities(data.get("entities", [])),
        watchlist=reader.strings(watchlist, "watchlist.entities"),
        digest=reader.digest(reader.table(data, "digest")),
    )


class _Reader:
    """Typed access to the TOML tree; every complaint names the file and the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=key)

    def only_keys(self, table: dict[str, Any], where: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{where}.{key}" if where else key
                known = ", ".join(sorted(allowed))
                raise self.fail(full, f"unknown key (known here: {known})")

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table, e.g. [" + key + "]")
        return value

    def string(self, table: dict[str, Any], key: str, default: str | None) -> Any:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {value!r}")
        return value

    def number(self, table: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, not {value!r}")
        return value

    def processes(self, table: dict[str, Any], key: str) -> int | None:
        """A process count, or "auto" (None)."""
        value = table.get(key.rsplit(".", 1)[-1], "auto")
        if value == "auto":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
            raise self.fail(key, f'must be "auto" or a whole number from 0 to 64, not {value!r}')
        return value

    def boolean(self, table: dict[str, Any], key: str, default: bool) -> bool:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def feeds(self, value: Any) -> tuple[FeedSource, ...]:
        if not isinstance(value, list):
            raise self.fail("feeds", "must be an array of tables: [[feeds]]")
        sources: list[FeedSource] = []
        names: set[str] = set()
        for index, item in enumerate(value):
            where = f"feeds[{index}]"
            if not isinstance(item, dict):
                raise self.fail(where, "must be a table: [[feeds]]")
            name = self.string(item, f"{where}.name", None)
            if name and name.strip():
                where = f"feeds[{index}] ({name.strip()})"
            self.only_keys(item, where, set(TABLES["feeds"]))
            if not name or not name.strip():
                raise self.fail(f"{where}.name", "is required")
            name = name.strip()
            if name in names:
                raise self.fail(f"{where}.name", "is used by another feed")
            names.add(name)
            url = self.string(item, f"{where}.url", None)
            if not url or absolute_http_url(url) is None:
                raise self.fail(f"{where}.url", f"must be an http(s) URL, not {url!r}")
            kind_text = self.string(item, f"{where}.kind", "news")
            try:
                kind = FeedKind(kind_text)
            except ValueError:
                raise self.fail(
                    f"{where}.kind", f"must be 'regulator' or 'news', not {kind_text!r}"
                ) from None
            agency = self.string(item, f"{where}.agency", None)
            if kind is FeedKind.REGULATOR and not agency:
                raise self.fail(f"{where}.agency", "is required for a regulator feed")
            sources.append(
                FeedSource(
                    name=name,
                    url=url.strip(),
                    kind=kind,
                    agency=agency.strip().upper() if agency else None,
                    interval=self.interval(item, f"{where}.interval", kind),
                )
            )
        return tuple(sources)

    def digest(self, table: dict[str, Any]) -> DigestConfig:
        self.only_keys(table, "digest", {*TABLES["digest"], "smtp"})
        zone = self.string(table, "digest.timezone", "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                "digest.timezone", f"unknown time zone {zone!r} (e.g. America/New_York)"
            ) from None
        when = self.string(table, "digest.time", "07:00")
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", when):
            raise self.fail("digest.time", f"must be HH:MM, not {when!r}")
        recipients = self.strings(table, "digest.recipients")
        for address in recipients:
            check_address(address, self.fail, "digest.recipients")
        sender = self.string(table, "digest.sender", "aggregator@localhost")
        check_address(sender, self.fail, "digest.sender")
        subject = self.string(table, "digest.subject", DEFAULT_SUBJECT)
        try:
            subject.format(date="2026-01-01", count=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise self.fail(
                "digest.subject", f"only {{date}} and {{count}} may be used ({exc})"
            ) from None
        silent = table.get("silent_after", DEFAULT_SILENT_AFTER)
        try:
            silent_after = (
                silent
                if isinstance(silent, int) and not isinstance(silent, bool)
                else parse_duration(str(silent))
            )
        except ValueError as exc:
            raise self.fail("digest.silent_after", str(exc)) from None
        smtp = self.table(table, "smtp")
        self.only_keys(smtp, "digest.smtp", set(TABLES["digest.smtp"]))
        security = self.string(smtp, "digest.smtp.security", "starttls")
        if security not in SMTP_SECURITY:
            raise self.fail(
                "digest.smtp.security", f"must be starttls, ssl or none, not {security!r}"
            )
        port = smtp.get("port", DEFAULT_SMTP_PORT[security])
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.fail("digest.smtp.port", f"must be a port number, not {port!r}")
        return DigestConfig(
            timezone=zone,
            time=when,
            recipients=recipients,
            sender=sender,
            subject=subject,
            silent_after=int(silent_after),
            smtp=SmtpConfig(
                host=self.string(smtp, "digest.smtp.host", "localhost"),
                port=port,
                security=security,
                username=self.string(smtp, "digest.smtp.username", None) or None,
                password_env=self.string(smtp, "digest.smtp.password_env", None) or None,
                timeout=self.number(smtp, "digest.smtp.timeout", 30.0, minimum=1),
            ),
        )

    def strings(self, table: dict[str, Any], key: str) -> tuple[str, ...]:
        value = table.get(key.rsplit(".", 1)[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, not {value!r}")
        return tuple(dict.fromkeys(v.strip() for v in value))

    def entities(self, value: Any) -> tuple[UserEntity, ...]:
        if not isinstance(value, list):
            raise self.fail("entities", "must be an array of tables: [[entities]]")
        found: list[UserEntity] = []
        for index, item in enumerate(value):
            where = f"entities[{index}]"
            if not isinstance(item, dict):
                raise self.fail(where, "must be a table: [[entities]]")
            name = self.string(item, f"{where}.name", None)
            if name and name.strip():
                where = f"entities[{index}] ({name.strip()})"
            self.only_keys(item, where, set(TABLES["entities"]))
            if not name or not name.strip():
                raise self.fail(f"{where}.name", "is required")
            kind = self.string(item, f"{where}.type", "other")
            if kind not in ENTITY_TYPES:
                known = ", ".join(sorted(ENTITY_TYPES))
                raise self.fail(f"{where}.type", f"must be one of {known}, not {kind!r}")
            found.append(
                UserEntity(
                    name=name.strip(), aliases=self.strings(item, f"{where}.aliases"), type=kind
                )
            )
        return tuple(found)

    def interval(self, item: dict[str, Any], key: str, kind: FeedKind) -> int:
        value = item.get("interval")
        if value is None:
            return DEFAULT_INTERVAL[kind]
        if isinstance(value, bool):
            raise self.fail(key, f"must be seconds or a duration like '30m', not {value!r}")
        try:
            seconds = int(value) if isinstance(value, int) else parse_duration(str(value))
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None
        if seconds < 60:
            raise self.fail(key, f"must be at least 60 seconds, not {value!r}")
        return seconds


def check_address(address: str, fail: Any, key: str) -> None:
    """An e-mail address fit for a header: one addr-spec, no display tricks, no line breaks."""
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        raise fail(key, f"not an e-mail address: {address!r}") from None
    if not parsed.username or not parsed.domain or any(c in address for c in "\r\n\t <>,;"):
        raise fail(key, f"not an e-mail address: {address!r}")


def resolve_db_url(explicit: str | None, config: Config) -> str:
    """``--db``, else ``$AGGREGATOR_DB_URL``, else ``[store] url``, else the user data dir.

    A bare path is taken as a SQLite file.
    """
    url = explicit or os.environ.get(DB_URL_ENV) or config.store.url or default_db_url()
    if "://" not in url:
        url = "sqlite:///" + str(Path(url).expanduser())
    return url


# -- writing the config file (init, feeds add/remove/import-opml) --------------------------------

STARTER = Path(__file__).parent / "templates" / "config.toml"


def write_starter_config(path: Path, *, force: bool = False) -> None:
    """The commented default config.toml, written to ``path`` (never over a file unless
    ``force``)."""
    if path.exists() and not force:
        raise ConfigError("already exists; use --force to overwrite it", path=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, STARTER.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", path=str(path)) from exc


def add_feeds(path: Path, sources: Sequence[FeedSource]) -> list[FeedSource]:
    """Append [[feeds]] tables to the config file, keeping its comments; feeds whose name or
    url is already there are skipped. Returns the ones added."""
    document = _load_document(path)
    existing = document.get("feeds") or tomlkit.aot()
    names = {str(table.get("name")) for table in existing}
    urls = {str(table.get("url")) for table in existing}
    added = []
    for source in sources:
        if source.name in names or source.url in urls:
            continue
        table = tomlkit.table()
        table.add("name", source.name)
        table.add("url", source.url)
        table.add("kind", source.kind.value)
        if source.agency:
            table.add("agency", source.agency)
        existing.append(table)
        names.add(source.name)
        urls.add(source.url)
        added.append(source)
    if added:
        document["feeds"] = existing
        parse_config(tomllib.loads(tomlkit.dumps(document)), path)  # still a valid config
        _write_atomically(path, tomlkit.dumps(document))
    return added


def remove_feed(path: Path, name: str) -> None:
    """Remove the [[feeds]] table named ``name`` from the config file."""
    document = _load_document(path)
    tables = document.get("feeds") or []
    for index, table in enumerate(tables):
        if str(table.get("name")) == name:
            del tables[index]
            _write_atomically(path, tomlkit.dumps(document))
            return
    raise ConfigError(f"no feed named {name!r}", path=str(path), key="feeds")


def _load_document(path: Path) -> Any:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            "config file not found (create one with: aggregator init)", path=str(path)
        ) from None
    except (OSError, tomlkit.exceptions.TOMLKitError) as exc:
        raise ConfigError(f"cannot edit: {exc}", path=str(path)) from exc


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
