"""The alarm clock on a real APScheduler: one timer, at the earliest due time it was told of."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from daemon.server.alarm_clock import AlarmScheduler


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def woken() -> threading.Event:
    return threading.Event()


@pytest.fixture
def scheduler(woken: threading.Event) -> Iterator[AlarmScheduler]:
    clock = AlarmScheduler(woken.set, now_ms, horizon_ms=60_000)
    clock.start()
    yield clock
    clock.shutdown()


def test_a_due_time_wakes_the_loop_once_due(scheduler: AlarmScheduler, woken: threading.Event) -> None:
    at = now_ms() + 150
    assert scheduler.arm([at])
    assert woken.wait(5)
    assert now_ms() >= at
    assert scheduler.take() == (True, False)
    assert scheduler.take() == (False, False)
    assert scheduler.next_ms is None


def test_a_past_time_fires_at_once(scheduler: AlarmScheduler, woken: threading.Event) -> None:
    scheduler.arm([now_ms() - 60_000])
    assert woken.wait(5)
    assert scheduler.take()[0]


def test_only_an_earlier_time_moves_the_timer(scheduler: AlarmScheduler) -> None:
    soon = now_ms() + 30_000
    assert scheduler.arm([soon + 5, soon, soon + 9])
    assert scheduler.next_ms == soon
    assert not scheduler.arm([soon + 1, soon + 2])
    assert scheduler.arm([soon - 10])
    assert scheduler.next_ms == soon - 10


def test_times_past_the_horizon_wait_for_a_reload(scheduler: AlarmScheduler) -> None:
    assert not scheduler.arm([now_ms() + 3_600_000])
    assert scheduler.next_ms is None


def test_request_due_wakes_without_a_timer(scheduler: AlarmScheduler, woken: threading.Event) -> None:
    scheduler.request_due()
    assert woken.is_set() and scheduler.take() == (True, False)


def test_the_horizon_job_asks_for_a_reload(woken: threading.Event) -> None:
    clock = AlarmScheduler(woken.set, now_ms, horizon_ms=200)
    clock.start()
    try:
        assert woken.wait(5)
        assert clock.take() == (False, True)
    finally:
        clock.shutdown()
