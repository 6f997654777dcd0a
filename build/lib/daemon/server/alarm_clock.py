"""The alarm clock: APScheduler 3.11 wakes the server loop when the next alarm comes due.

LMDB holds every alarm (see :mod:`daemon.storage.alarms`); this module holds one
timer: an APScheduler job whose next run time is the earliest due time the
loop has told it about, moved earlier when an earlier alarm is set and moved
on by the loop after each firing cycle. The job is created once and only
ever rescheduled (``modify_job``), never replaced or removed: replacing a
date job while APScheduler's thread was finishing it made that thread fail
with ``JobLookupError`` and stop. A periodic *horizon* job wakes the loop to look at
LMDB again, as a safety net. So neither the number of stored alarms nor the
number due at once bounds memory, start-up or the scheduler's work.

Policy, chosen on purpose: ``misfire_grace_time=None`` (a job that runs late
still runs, however late: APScheduler's default of 1 s would silently drop
it) and ``coalesce=True`` (one wake-up stands for any number of missed runs).
Both are safe because a wake-up only makes the loop fire whatever LMDB says
is due: a wake-up that finds nothing due does nothing, and an alarm whose
wake-up was lost is found by the next one.

Jobs run on APScheduler's threads; they only set a flag and call ``wake``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

_NEXT_JOB = "next-alarm"


class DueTimes(Protocol):
    """Where the clock reads the stored due times (the runtime, over a read transaction)."""

    def clock(self) -> int: ...

    def alarm_due_times(self, after_ms: int, until_ms: int, limit: int) -> list[int]: ...


class AlarmScheduler:
    """One timer for the next due alarm; thread-safe between the server loop and APScheduler."""

    def __init__(self, wake: Callable[[], None], clock: Callable[[], int], horizon_ms: int = 60_000) -> None:
        self._wake = wake
        self._clock = clock
        self.horizon_ms = horizon_ms
        self._lock = threading.Lock()
        self._next: int | None = None
        self._due = False
        self._reload = False
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 8},
        )

    def start(self) -> None:
        """Start APScheduler's thread, the (paused) next-alarm job and the periodic horizon job."""
        logging.getLogger("apscheduler").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
        self._scheduler.add_job(
            self._on_horizon, "interval", seconds=max(self.horizon_ms / 2000, 0.1), id="horizon"
        )
        # Its interval never matters: every run time it gets is set by arm().
        self._scheduler.add_job(self._on_due, "interval", days=365, id=_NEXT_JOB, next_run_time=None)
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop APScheduler; a pending wake-up is dropped (LMDB still has the alarms)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def arm(self, times: Iterable[int]) -> bool:
        """Make sure the loop wakes by the earliest of ``times`` within the horizon; True if the timer moved."""
        limit = self._clock() + self.horizon_ms
        earliest = min((at_ms for at_ms in times if at_ms <= limit), default=None)
        if earliest is None:
            return False
        with self._lock:
            if self._next is not None and self._next <= earliest:
                return False
            self._next = earliest
        # One millisecond late, so the loop's clock reads at or past the due time.
        run_date = datetime.fromtimestamp((earliest + 1) / 1000, tz=UTC)
        self._scheduler.modify_job(_NEXT_JOB, next_run_time=run_date)
        return True

    def request_due(self) -> None:
        """Have the loop fire due alarms at its next turn (no timer needed)."""
        with self._lock:
            self._due = True
        self._wake()

    def take(self) -> tuple[bool, bool]:
        """``(due, reload)``: whether alarms came due and whether to look at LMDB again; clears both."""
        with self._lock:
            due, reload = self._due, self._reload
            self._due = self._reload = False
        return due, reload

    @property
    def next_ms(self) -> int | None:
        """The due time the timer is set for, if any."""
        with self._lock:
            return self._next

    def _on_due(self) -> None:
        with self._lock:
            self._next = None
            self._due = True
        self._wake()

    def _on_horizon(self) -> None:
        with self._lock:
            self._reload = True
        self._wake()

    # the arming policy, run by the server loop between cycles -----------------
    def arm_from(self, stored: DueTimes) -> None:
        """Load the horizon from storage; fire at once if any alarm is already due."""
        now = stored.clock()
        if stored.alarm_due_times(-1, now, 1):
            self.request_due()
        self.arm(stored.alarm_due_times(now, now + self.horizon_ms, 1))

    def after_cycle(self, stored: DueTimes, set_times: Iterable[int], fired: bool, more_due: bool) -> None:
        """Re-arm after a cycle that set alarms at ``set_times`` and, if ``fired``, delivered due ones."""
        self.arm(set_times)
        if not fired:
            return
        now = stored.clock()
        self.arm(stored.alarm_due_times(now, now + self.horizon_ms, 1))
        if more_due or stored.alarm_due_times(-1, now, 1):
            self.request_due()
