"""Copy a whole store to another database (SQLite <-> PostgreSQL), ids kept, counts checked."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, func, select, text

from aggregator.errors import StoreError
from aggregator.store.schema import article_tags, articles, digest_deliveries, feeds, stories

# Parents before children, so that references hold at every moment.
TABLES = (feeds, stories, articles, article_tags, digest_deliveries)
BATCH = 2000


def copy_tables(
    source: Connection, target: Connection, on_rows: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of TABLES; the target must be empty. Returns rows per table."""
    for table in TABLES:
        if target.execute(select(func.count()).select_from(table)).scalar_one():
            raise StoreError(f"the target store is not empty (table {table.name} has rows)")
    copied: dict[str, int] = {}
    for table in TABLES:
        columns = [column.name for column in table.columns]
        result = source.execution_options(yield_per=BATCH).execute(select(table))
        total = 0
        try:
            for rows in result.partitions(BATCH):
                target.execute(
                    table.insert(), [dict(zip(columns, row, strict=True)) for row in rows]
                )
                total += len(rows)
                if on_rows is not None:
                    on_rows(table.name, len(rows))
        finally:
            result.close()
        copied[table.name] = total
    if target.dialect.name == "postgresql":
        # Explicit ids were inserted: move each sequence past them.
        for table in (feeds, stories, articles, digest_deliveries):
            target.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                )
            )
    for table in TABLES:
        found = target.execute(select(func.count()).select_from(table)).scalar_one()
        if found != copied[table.name]:
            raise StoreError(
                f"copy check failed: {table.name} has {found} rows, {copied[table.name]} copied"
            )
    return copied
