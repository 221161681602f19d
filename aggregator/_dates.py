"""Timezone-aware UTC helpers and user-facing date/duration parsing. Contains no business logic."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    """The clock seam: the current time, aware UTC, to the microsecond."""
    return datetime.now(UTC)


def from_struct_time(value: time.struct_time | None) -> datetime | None:
    """feedparser's UTC ``struct_time`` → aware datetime, or None when it is out of range."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, OverflowError, TypeError):
        return None


def parse_duration(text: str) -> int:
    """``"90"`` (seconds), ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"`` → seconds. Raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90, 15m, 24h, 7d)")
    number, unit = match.groups()
    return int(number) * _UNIT_SECONDS[(unit or "s").lower()]


def parse_moment(text: str, now: datetime) -> datetime:
    """A point in time from the command line: an ISO date or datetime, or ``7d``/``24h`` ago.

    A date or datetime without a zone is taken as UTC. Raises ValueError with a usable message.
    """
    text = text.strip()
    if re.fullmatch(r"\d+\s*[smhdw]", text, re.IGNORECASE):
        return now - timedelta(seconds=parse_duration(text))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a date: {text!r} (use YYYY-MM-DD, an ISO datetime, or 7d / 24h ago)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, to the second."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def as_utc(value: datetime | None) -> datetime | None:
    """Databases may hand back naive datetimes; they are stored as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
