"""The exception tree of aggregator.

Every error a user can meet is an :class:`AggregatorError` whose ``str()`` is one complete
line naming the feed, file, key or option at fault::

    AggregatorError
    ├── ConfigError (path, key)          bad or missing configuration; exit code 2
    ├── UsageError                       a bad command-line value; exit code 2
    ├── FeedError (url)                  one feed failed; stored on the feed, never fatal to a run
    │   ├── FetchError                   network, HTTP status, size or time limits
    │   └── ParseError                   the document is not a feed
    ├── DocumentError (path)             a saved document could not be read
    ├── MailError                        the digest cannot be sent as configured; exit code 2
    └── StoreError                       the database failed
        ├── NotFoundError                no such article or feed
        └── SchemaError                  the store's schema is not one this code can use

Third-party exceptions (httpx, feedparser, SQLAlchemy) are translated into these at the one place
where they occur, with the cause chained.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class AggregatorError(Exception):
    """Root of every error aggregator raises on purpose."""

    exit_code = 1


class ConfigError(AggregatorError):
    """The configuration file or a value in it is wrong."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ""
        if path and key:
            where = f"{path}: {key}: "
        elif path:
            where = f"{path}: "
        elif key:
            where = f"{key}: "
        super().__init__(f"{where}{message}")


class UsageError(AggregatorError):
    """A command-line value is wrong (an empty query, a bad date ...)."""

    exit_code = 2


class FeedError(AggregatorError):
    """One feed could not be updated. ``reason`` is the short one-line cause."""

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = None,
    ) -> None:
        self.url = url
        # Reasons may quote what a server sent: no control characters or terminal escapes.
        self.reason = " ".join(_UNPRINTABLE.sub(" ", reason).split())[:500]
        self.retry_after = retry_after
        self.http_status = http_status
        super().__init__(f"{url}: {reason}")


class FetchError(FeedError):
    """The feed could not be downloaded."""


class ParseError(FeedError):
    """The downloaded document is not a usable feed."""


class DocumentError(AggregatorError):
    """A saved feed document given to ``import`` could not be read."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class MailError(AggregatorError):
    """The digest cannot be sent as configured (a missing password, ...)."""

    exit_code = 2


class StoreError(AggregatorError):
    """The database failed."""


class NotFoundError(StoreError):
    """The article or feed asked for does not exist."""


class SchemaError(StoreError):
    """The store's schema is missing, too old to be upgraded here, or newer than this code."""
