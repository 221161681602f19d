"""Alembic environment. aggregator runs migrations in code (``aggregator db upgrade``), handing
over a connection that already holds the migration lock; the plain ``alembic`` command works too,
with ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from aggregator.store.schema import metadata

config = context.config


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the store with: alembic -x url=sqlite:///path ...")
    engine = create_engine(url)
    with engine.connect() as conn:
        run_migrations(conn)
        conn.commit()
