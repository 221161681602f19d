"""Alembic, driven in code: the store is migrated on first use, by one process at a time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

import aggregator.migrations
from aggregator import __version__
from aggregator.errors import SchemaError
from aggregator.store._engine import display_url, write_transaction

SCRIPT_LOCATION = Path(aggregator.migrations.__file__).parent
_PG_LOCK_KEY = 0x61676772  # "aggr": pg_advisory_xact_lock key for migrations


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "migrations/ holds no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _check_known(revision: str | None, url: str) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(_alembic_config()).get_revision(revision)
    except CommandError:
        raise SchemaError(
            f"{display_url(url)}: the store is at schema revision {revision!r}, which this "
            f"aggregator ({__version__}) does not know; it was written by a newer version. "
            "Upgrade aggregator (pip install -U aggregator) or use another --db."
        ) from None


def is_current(engine: Engine, url: str) -> bool:
    """True when the store is at the head revision; raises SchemaError when it is newer."""
    with engine.connect() as connection:
        revision = current_revision(connection)
    _check_known(revision, url)
    return revision == head_revision()


def upgrade(engine: Engine, url: str) -> tuple[str | None, str]:
    """Bring the store to the head revision; returns (before, after).

    The check and the upgrade happen under one lock (SQLite's write lock, or a PostgreSQL
    advisory lock), so when several processes start at once only the first one migrates.
    """
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = current_revision(connection)
        _check_known(before, url)
        head = head_revision()
        if before != head:
            command.upgrade(_alembic_config(connection), "head")
    return before, head


def ensure_current(engine: Engine, url: str) -> None:
    if not is_current(engine, url):
        upgrade(engine, url)
