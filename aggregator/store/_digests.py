"""The digest ledger: claim a (day, recipient) before sending, record how it ended."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from aggregator._dates import as_utc
from aggregator.records import Delivery
from aggregator.store.schema import digest_deliveries as ledger

# A claim older than this with no outcome belongs to a process that died before it reached
# the DATA command, so nothing can have been delivered: it may be taken over.
STALE_CLAIM = timedelta(minutes=10)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        day=row.day,
        recipient=row.recipient,
        status=row.status,
        message_id=row.message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        sent_at=as_utc(row.sent_at),
        updated=as_utc(row.updated),  # type: ignore[arg-type]
    )


def claim(
    connection: Connection,
    day: str,
    recipient: str,
    message_id: str,
    worker: str,
    now: datetime,
    force: bool,
) -> tuple[bool, Delivery]:
    """(True, row) when this worker may send now; (False, row) with the reason otherwise.

    Runs in a write transaction that holds the lock, so two processes cannot both claim.
    """
    key = (ledger.c.day == day) & (ledger.c.recipient == recipient)
    row = connection.execute(select(ledger).where(key)).first()
    if row is None:
        connection.execute(
            ledger.insert().values(
                day=day,
                recipient=recipient,
                status="claimed",
                message_id=message_id,
                attempts=1,
                claimed_by=worker,
                claimed_at=now,
                updated=now,
            )
        )
    else:
        stale = row.claimed_at is None or as_utc(row.claimed_at) < now - STALE_CLAIM  # type: ignore[operator]
        free = row.status == "failed" or (row.status == "claimed" and stale)
        if not (free or force):
            return False, _delivery(row)
        connection.execute(
            ledger.update()
            .where(key)
            .values(
                status="claimed",
                attempts=row.attempts + 1,
                claimed_by=worker,
                claimed_at=now,
                updated=now,
            )
        )
    return True, _delivery(connection.execute(select(ledger).where(key)).one())


def mark(
    connection: Connection,
    day: str,
    recipient: str,
    status: str,
    now: datetime,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "updated": now, "last_error": error}
    if status == "sent":
        values["sent_at"] = now
    connection.execute(
        ledger.update()
        .where((ledger.c.day == day) & (ledger.c.recipient == recipient))
        .values(**values)
    )


def deliveries(connection: Connection, day: str | None) -> list[Delivery]:
    query = select(ledger).order_by(ledger.c.day.desc(), ledger.c.recipient)
    if day is not None:
        query = query.where(ledger.c.day == day)
    return [_delivery(row) for row in connection.execute(query)]
