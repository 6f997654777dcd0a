"""The alarm clock: APScheduler 3.11 wakes the server loop when alarms come due.

LMDB holds every alarm (see :mod:`daemon.alarms`); this module only holds
timers. It keeps one APScheduler date job per distinct due time within the
*horizon* (the next minute by default, at most ``max_armed`` jobs), plus an
interval job that asks the loop to load the next stretch of due times. So the
number of stored alarms bounds neither memory nor start-up.

Policy, chosen on purpose: ``misfire_grace_time=None`` (a job that runs late
still runs, however late: APScheduler's default of 1 s would silently drop
it) and ``coalesce=True`` (one wake-up stands for any number of missed runs).
Both are safe because a wake-up only makes the loop fire whatever LMDB says
is due: a job that finds nothing due does nothing, and a due alarm whose job
was lost is still found by the next wake-up or horizon load.

Jobs run on APScheduler's thread; they only set a flag and call ``wake``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class AlarmScheduler:
    """Timers for due alarms; thread-safe between the server loop and APScheduler."""

    def __init__(
        self,
        wake: Callable[[], None],
        clock: Callable[[], int],
        horizon_ms: int = 60_000,
        max_armed: int = 10_000,
    ) -> None:
        self._wake = wake
        self._clock = clock
        self.horizon_ms = horizon_ms
        self.max_armed = max_armed
        self._lock = threading.Lock()
        self._armed: set[int] = set()
        self._due = False
        self._reload = False
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        """Start APScheduler's thread and the periodic horizon job."""
        logging.getLogger("apscheduler").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
        self._scheduler.add_job(
            self._on_horizon, "interval", seconds=max(self.horizon_ms / 2000, 0.1), id="horizon"
        )
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop APScheduler; jobs not yet run are dropped (LMDB still has the alarms)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def arm(self, times: Iterable[int]) -> int:
        """Add a job for each due time within the horizon not armed yet; return how many."""
        limit = self._clock() + self.horizon_ms
        added = 0
        for at_ms in times:
            if at_ms > limit:
                continue
            with self._lock:
                if at_ms in self._armed or len(self._armed) >= self.max_armed:
                    continue
                self._armed.add(at_ms)
            # One millisecond late, so the loop's clock reads at or past the due time.
            run_date = datetime.fromtimestamp((at_ms + 1) / 1000, tz=UTC)
            self._scheduler.add_job(self._on_due, "date", run_date=run_date, args=(at_ms,), id=f"due:{at_ms}")
            added += 1
        return added

    def request_due(self) -> None:
        """Have the loop fire due alarms at its next turn (no timer needed)."""
        with self._lock:
            self._due = True
        self._wake()

    def take(self) -> tuple[bool, bool]:
        """``(due, reload)``: whether alarms came due and whether to load the horizon; clears both."""
        with self._lock:
            due, reload = self._due, self._reload
            self._due = self._reload = False
        return due, reload

    @property
    def armed(self) -> int:
        """How many due times have a job now."""
        with self._lock:
            return len(self._armed)

    def _on_due(self, at_ms: int) -> None:
        with self._lock:
            self._armed.discard(at_ms)
            self._due = True
        self._wake()

    def _on_horizon(self) -> None:
        with self._lock:
            self._reload = True
        self._wake()
