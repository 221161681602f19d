"""`aggregator serve`: APScheduler wiring only. The store decides what is due; this module says
"look now" on a short tick, sends the digest each morning, and keeps house.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aggregator._dates import utcnow
from aggregator.catalog import Catalog
from aggregator.config import Config
from aggregator.digest import default_day
from aggregator.fetch import Fetcher
from aggregator.mail import send_digest
from aggregator.store import Store
from aggregator.update import Updater

log = logging.getLogger(__name__)

TICK_SECONDS = 60  # how often the store is asked which feeds are due
HOUSEKEEPING_HOURS = 24
SHUTDOWN_GRACE = 10.0  # seconds a running job gets to finish its write after a signal


@dataclass
class Service:
    """The long-running process: fetch what is due, send the digest, keep house."""

    config: Config
    store: Store
    catalog: Catalog
    tick: int = TICK_SECONDS
    clock: Callable[[], datetime] = utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    _running: int = 0  # jobs under way; a signal waits for them (see run)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @contextmanager
    def _job(self) -> Iterator[None]:
        """Counts a job as running, so that a signal lets it finish its write: the digest's
        above all, whose ledger must say "sent" once the server took the message."""
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def fetch_due(self) -> None:
        if self.stop.is_set():
            return
        with self._job():
            self._fetch_due()

    def _fetch_due(self) -> None:
        try:
            with Fetcher(self.config.http) as fetcher:
                updater = Updater(
                    self.store,
                    fetcher,
                    self.catalog,
                    clock=self.clock,
                    stop=self.stop,
                    processes=self.config.ingest.processes,
                )
                updater.update(self.config.feeds, workers=self.config.http.concurrency)
        except Exception:
            log.exception("fetch tick failed")

    def send_digest(self, day: date | None = None) -> None:
        if self.stop.is_set() or not self.config.digest.recipients:
            return
        day = day or default_day(self.clock(), self.config.digest.timezone)
        try:
            with self._job():
                outcomes = send_digest(
                    self.store, self.config, self.catalog, day=day, now=self.clock
                )
        except Exception:
            log.exception("digest day=%s failed", day)
            return
        for outcome in outcomes:
            log.info(
                "digest day=%s recipient=%s status=%s detail=%r",
                day,
                outcome.recipient,
                outcome.status,
                outcome.detail,
            )

    def start_up(self) -> None:
        """Fetch what is due at once, then send a digest missed while the service was down, so
        that it reports what arrived meanwhile."""
        self.fetch_due()
        self.catch_up()

    def catch_up(self) -> None:
        """A digest missed while the service was down is sent when it comes back that day."""
        settings = self.config.digest
        zone = ZoneInfo(settings.timezone)
        local = self.clock().astimezone(zone)
        hour, minute = (int(part) for part in settings.time.split(":"))
        if local.time() >= time(hour, minute):
            self.send_digest(local.date() - timedelta(days=1))

    def housekeeping(self) -> None:
        try:
            with self._job():
                self.store.optimize()
        except Exception:
            log.exception("housekeeping failed")

    def run(self) -> None:
        """Block until SIGTERM or SIGINT; then stop taking work, let the running write end."""
        settings = self.config.digest
        hour, minute = (int(part) for part in settings.time.split(":"))
        scheduler = BlockingScheduler(timezone="UTC")
        scheduler.add_job(
            self.fetch_due,
            IntervalTrigger(seconds=self.tick),
            max_instances=1,
            coalesce=True,
            id="fetch",
        )
        scheduler.add_job(
            self.send_digest,
            CronTrigger(hour=hour, minute=minute, timezone=settings.timezone),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
            id="digest",
        )
        scheduler.add_job(
            self.housekeeping,
            IntervalTrigger(hours=HOUSEKEEPING_HOURS),
            max_instances=1,
            coalesce=True,
            id="housekeeping",
        )
        scheduler.add_job(self.start_up, next_run_time=datetime.now(ZoneInfo("UTC")), id="start-up")

        def on_signal(number: int, _frame: FrameType | None) -> None:
            log.info("stopping signal=%s", signal.Signals(number).name)
            self.stop.set()
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log.info(
            "serving feeds=%d tick=%ss digest=%s %s", len(self.config.feeds), self.tick,
            settings.time, settings.timezone,
        )  # fmt: skip
        scheduler.start()
        # Back from a signal: a fetch in progress stops after the feed it is writing, a digest
        # after the recipient it is sending to.
        with self._changed:
            finished = self._changed.wait_for(lambda: self._running == 0, SHUTDOWN_GRACE)
        if not finished:
            log.warning("a job was still running after %ss; exiting anyway", SHUTDOWN_GRACE)
        log.info("stopped")
