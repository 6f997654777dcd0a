"""Held notices: plain objects' alarms overdue at start wait for a subscriber, or for the grace period."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.ids import IdFactory
from daemon.runtime import RetryPolicy, Runtime, RuntimeOptions
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, ok
from tests.daemon.test_alarms import Clock, Recorder, alarm_of, target

GRACE_MS = 60_000


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "data", StoreOptions(map_size=1 << 24))
    opened.open()
    yield opened
    opened.close()


def restarted(store: Store, clock: Clock) -> Runtime:
    """A runtime over ``store`` as a daemon start makes one: a small batch, so holding pages."""
    options = RuntimeOptions(alarm_retry=RetryPolicy(base_ms=1000, max_retries=3, jitter=0.0), alarm_batch=4)
    return Runtime(store, IdFactory(SECRET), "test", options, {"Recorder": Recorder}, clock, random.Random(1))


def set_alarms(runtime: Runtime, at_ms: int) -> None:
    for index in range(10):
        ok(call(runtime, "alarm.set", {"at_ms": at_ms}, target(f"h{index}", "Horse")))
    for index in range(3):
        ok(call(runtime, "alarm.set", {"at_ms": at_ms + index}, target(f"m{index}", "Mule")))
    ok(call(runtime, "alarm.set", {"at_ms": at_ms}, target("r", "Recorder")))


def notices(runtime: Runtime) -> list[tuple[bytes, dict[str, Any]]]:
    """Every notice the alarms due now publish, over as many cycles as they take (a batch is 4)."""
    published: list[tuple[bytes, dict[str, Any]]] = []
    for _ in range(100):
        result = runtime.run_alarms()
        published.extend(result.notices)
        if not result.more_due:
            return published
    raise AssertionError("alarms kept coming due")


def test_overdue_plain_alarms_wait_for_a_matching_subscriber(store: Store, clock: Clock) -> None:
    set_alarms(restarted(store, clock), 1_000_500)
    clock.now = 2_000_000  # the daemon was down while they came due
    runtime = restarted(store, clock)
    assert runtime.hold_overdue_notices(GRACE_MS) == 13
    assert alarm_of(runtime, "h3", "Horse") == 2_000_000 + GRACE_MS
    assert notices(runtime) == []  # the handler's alarm fired; no notice went out to nobody
    assert alarm_of(runtime, "r") is None
    assert runtime.release_held(b"change.") == 0
    assert runtime.release_held(b"alarm.Mule.") == 3
    clock.now += 1
    mules = notices(runtime)
    assert len(mules) == 3 and all(topic.startswith(b"alarm.Mule.") for topic, _ in mules)
    assert runtime.release_held(b"alarm.Mule.") == 0
    assert notices(runtime) == []
    clock.now = 2_000_000 + GRACE_MS  # the grace period is over: the rest fire whoever listens
    horses = notices(runtime)
    assert len(horses) == 10 and {body["scheduled_ms"] for _, body in horses} == {1_000_500}
    assert ok(call(runtime, "alarms.list"))["alarms"] == []
    assert runtime.counters["alarms.held"] == 13 and runtime.counters["alarms.released"] == 3


def test_a_subscription_to_everything_releases_everything_and_later_alarms_are_not_held(
    store: Store, clock: Clock
) -> None:
    set_alarms(restarted(store, clock), 1_000_500)
    clock.now = 2_000_000
    runtime = restarted(store, clock)
    runtime.hold_overdue_notices(GRACE_MS)
    ok(call(runtime, "alarm.set", {"at_ms": 2_000_100}, target("late", "Horse")))  # set after the start
    assert runtime.release_held(b"") == 13
    clock.now = 2_000_100
    assert len(notices(runtime)) == 14


def test_held_alarms_stay_stored_across_a_restart(store: Store, clock: Clock) -> None:
    set_alarms(restarted(store, clock), 1_000_500)
    clock.now = 2_000_000
    restarted(store, clock).hold_overdue_notices(GRACE_MS)
    clock.now = 2_000_000 + GRACE_MS + 5  # restarted after the first grace period, before anything fired
    runtime = restarted(store, clock)
    assert runtime.hold_overdue_notices(GRACE_MS) == 13
    assert runtime.release_held(b"alarm.Horse.") == 10


def test_a_grace_period_of_zero_holds_nothing(store: Store, clock: Clock) -> None:
    set_alarms(restarted(store, clock), 1_000_500)
    clock.now = 2_000_000
    runtime = restarted(store, clock)
    assert runtime.hold_overdue_notices(0) == 0
    assert len(notices(runtime)) == 13
