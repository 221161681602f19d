"""Engine creation, SQLite pragmas, write transactions and the error boundary."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from aggregator.errors import AggregatorError, ConfigError, StoreError

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's write to finish
_WRITE = "aggregator_write"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout, and a parent
    directory if it has none yet."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}", key="--db") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False}
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
            if engine.dialect.name == "postgresql":
                _configure_postgresql(engine)
    except NoSuchModuleError as exc:
        raise ConfigError(f"unsupported database URL: {display_url(url)}", key="--db") from exc
    except ImportError as exc:
        raise ConfigError(
            f"the driver for {display_url(url)} is not installed ({exc.name})", key="--db"
        ) from exc
    except OSError as exc:
        raise StoreError(f"{display_url(url)}: cannot create the database: {exc}") from exc
    return engine


def _use_wal(cursor: Any) -> None:
    """Switch the file to write-ahead logging, once, waiting for other processes.

    Changing the journal mode does not wait on the busy timeout: two processes opening a new
    store at the same moment (two cron runs) made one fail at once with "database is locked".
    A file already in WAL mode is left alone, and the switch is retried for the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so that writes can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" when another process wrote in between; IMMEDIATE takes the write lock up front
        # and so waits for the busy timeout instead.
        if connection.get_execution_options().get(_WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Every statement planned for its own values: psycopg prepares a statement after five
        # runs, and PostgreSQL may then keep a generic plan chosen while the tables were
        # nearly empty (story lookups on a growing store went from 0.5 ms to 20 ms and more).
        cursor = dbapi_connection.cursor()
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.close()
        dbapi_connection.commit()


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement (SQLite) and commits at
    the end, or rolls back if anything raises."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            yield connection


@contextlib.contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection, connection.begin():
        yield connection


def display_url(url: str) -> str:
    """The URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@contextlib.contextmanager
def wrap_errors(url: str) -> Iterator[None]:
    """SQLAlchemy errors → :class:`StoreError` naming the database, with the cause chained."""
    try:
        yield
    except AggregatorError:
        raise
    except OperationalError as exc:
        message = " ".join(str(exc.orig).split()) if exc.orig is not None else str(exc)
        if "locked" in message or "busy" in message:
            message += " (another process kept the database busy; try again)"
        raise StoreError(f"{display_url(url)}: {message[:300]}") from exc
    except SQLAlchemyError as exc:
        message = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise StoreError(f"{display_url(url)}: {message[:300]}") from exc
