"""Alarms with a controllable clock: set, replace, delete, fire, retry, drop."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.ids import IdFactory
from daemon.model import ObjectRef, Request
from daemon.runtime import RetryPolicy, Runtime, RuntimeOptions
from daemon.runtime.classes import AlarmInfo, ObjectClass, Turn
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, error_code, ok


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Recorder(ObjectClass):
    name = "Recorder"

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        _, calls = turn.storage.get("calls")
        seen = {"now": turn.now_ms, "scheduled": alarm.scheduled_ms, "retry": alarm.retry_count,
                "is_retry": alarm.is_retry, "alarm_get": turn.storage.get_alarm()}
        turn.storage.put("calls", [*(calls or []), seen])
        _, plan = turn.storage.get("plan")
        action = (plan or {}).get(str(alarm.retry_count), "ok")
        if action == "rearm":
            turn.storage.set_alarm(turn.now_ms + 500)
        if action == "fail":
            turn.storage.put("partial", True)
            turn.storage.set_alarm(turn.now_ms + 7)
            raise RuntimeError("handler failed")
        if action == "delete-and-fail":
            turn.storage.delete_alarm()
            raise RuntimeError("handler gave up")


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000)


@pytest.fixture
def alarm_runtime(tmp_path: Path, clock: Clock) -> Iterator[Runtime]:
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 24))
    store.open()
    options = RuntimeOptions(alarm_retry=RetryPolicy(base_ms=1000, max_retries=3, jitter=0.0), alarm_batch=4)
    yield Runtime(store, IdFactory(SECRET), "test", options, {"Recorder": Recorder}, clock, random.Random(1))
    store.close()


def target(name: str, class_name: str = "Recorder") -> dict[str, str]:
    return {"class": class_name, "name": name}


def alarm_of(runtime: Runtime, name: str, class_name: str = "Recorder") -> Any:
    return ok(call(runtime, "alarm.get", {}, target(name, class_name)))["at_ms"]


def storage_get(runtime: Runtime, name: str, key: str) -> Any:
    return ok(call(runtime, "storage.get", {"key": key}, target(name))).get("value")


def test_set_replace_delete(alarm_runtime: Runtime) -> None:
    assert alarm_of(alarm_runtime, "a") is None
    ok(call(alarm_runtime, "alarm.set", {"at_ms": 2_000_000}, target("a")))
    assert alarm_of(alarm_runtime, "a") == 2_000_000
    ok(call(alarm_runtime, "alarm.set", {"at_ms": 3_000_000}, target("a")))
    assert alarm_of(alarm_runtime, "a") == 3_000_000
    listed = ok(call(alarm_runtime, "alarms.list", {}))["alarms"]
    assert [(entry["name"], entry["at_ms"]) for entry in listed] == [("a", 3_000_000)]
    ok(call(alarm_runtime, "alarm.delete", {}, target("a")))
    assert alarm_of(alarm_runtime, "a") is None
    assert ok(call(alarm_runtime, "alarms.list", {}))["alarms"] == []


@pytest.mark.parametrize("bad", [0, -5, "soon", 1.5, True, None])
def test_bad_alarm_times_are_refused(alarm_runtime: Runtime, bad: Any) -> None:
    reply = call(alarm_runtime, "alarm.set", {"at_ms": bad}, target("a"))
    assert error_code(reply) == "BAD_REQUEST" and "epoch milliseconds" in reply["error"]["message"]
    assert alarm_of(alarm_runtime, "a") is None


def test_delete_all_clears_the_alarm(alarm_runtime: Runtime) -> None:
    ok(call(alarm_runtime, "alarm.set", {"at_ms": 2_000_000}, target("a")))
    ok(call(alarm_runtime, "storage.delete_all", {}, target("a")))
    assert alarm_of(alarm_runtime, "a") is None


def test_plain_objects_get_notices_in_due_order(alarm_runtime: Runtime, clock: Clock) -> None:
    for name, at in (("late", 1_000_300), ("first", 1_000_100), ("second", 1_000_200)):
        ok(call(alarm_runtime, "alarm.set", {"at_ms": at}, target(name, "Plain")))
    clock.now = 1_000_250
    result = alarm_runtime.run_alarms()
    topics = [topic.decode().split(".")[0] for topic, _ in result.notices]
    bodies = [body for _, body in result.notices]
    assert topics == ["alarm", "alarm"]
    assert [(body["name"], body["scheduled_ms"]) for body in bodies] == [("first", 1_000_100), ("second", 1_000_200)]
    assert result.notices[0][0].decode() == f"alarm.Plain.{alarm_runtime.ids.from_name('Plain', 'first')}"
    assert alarm_of(alarm_runtime, "first", "Plain") is None
    assert alarm_of(alarm_runtime, "late", "Plain") == 1_000_300
    assert alarm_runtime.run_alarms().notices == []
    clock.now = 1_000_300
    assert len(alarm_runtime.run_alarms().notices) == 1


def test_a_time_in_the_past_fires_at_the_next_run(alarm_runtime: Runtime) -> None:
    ok(call(alarm_runtime, "alarm.set", {"at_ms": 5}, target("old", "Plain")))
    assert len(alarm_runtime.run_alarms().notices) == 1


def test_more_due_than_a_batch_is_reported(alarm_runtime: Runtime, clock: Clock) -> None:
    for i in range(6):
        ok(call(alarm_runtime, "alarm.set", {"at_ms": clock.now}, target(f"o{i}", "Plain")))
    first = alarm_runtime.run_alarms()
    assert len(first.notices) == 4 and first.more_due
    second = alarm_runtime.run_alarms()
    assert len(second.notices) == 2 and not second.more_due


def test_handler_success_clears_the_alarm_with_its_writes(alarm_runtime: Runtime, clock: Clock) -> None:
    ok(call(alarm_runtime, "alarm.set", {"at_ms": clock.now + 10}, target("h")))
    clock.now += 10
    alarm_runtime.run_alarms()
    calls = storage_get(alarm_runtime, "h", "calls")
    assert calls == [{"now": clock.now, "scheduled": clock.now, "retry": 0, "is_retry": False, "alarm_get": None}]
    assert alarm_of(alarm_runtime, "h") is None
    assert alarm_runtime.run_alarms().events == []


def test_handler_that_sets_a_new_alarm_keeps_it(alarm_runtime: Runtime, clock: Clock) -> None:
    ok(call(alarm_runtime, "storage.put", {"key": "plan", "value": {"0": "rearm"}}, target("h")))
    ok(call(alarm_runtime, "alarm.set", {"at_ms": clock.now}, target("h")))
    alarm_runtime.run_alarms()
    assert alarm_of(alarm_runtime, "h") == clock.now + 500


def test_failures_retry_with_backoff_then_drop(alarm_runtime: Runtime, clock: Clock) -> None:
    plan = {str(retry): "fail" for retry in range(4)}
    ok(call(alarm_runtime, "storage.put", {"key": "plan", "value": plan}, target("f")))
    scheduled = clock.now
    ok(call(alarm_runtime, "alarm.set", {"at_ms": scheduled}, target("f")))
    waits = []
    for _ in range(3):
        alarm_runtime.run_alarms()
        due = alarm_of(alarm_runtime, "f")
        waits.append(due - clock.now)
        assert storage_get(alarm_runtime, "f", "partial") is None  # a failed turn leaves no trace
        clock.now = due
    assert waits == [1000, 2000, 4000]
    result = alarm_runtime.run_alarms()
    assert alarm_of(alarm_runtime, "f") is None
    [(topic, body)] = result.notices
    assert topic.decode().startswith("alarm_dropped.Recorder.")
    assert body["retries"] == 3 and "handler failed" in body["error"]
    assert alarm_runtime.counters["alarms.retried"] == 3 and alarm_runtime.counters["alarms.dropped"] == 1


def test_retries_tell_the_handler_retry_count_and_scheduled_time(alarm_runtime: Runtime, clock: Clock) -> None:
    ok(call(alarm_runtime, "storage.put", {"key": "plan", "value": {"0": "fail"}}, target("r")))
    scheduled = clock.now
    ok(call(alarm_runtime, "alarm.set", {"at_ms": scheduled}, target("r")))
    alarm_runtime.run_alarms()
    clock.now = alarm_of(alarm_runtime, "r")
    alarm_runtime.run_alarms()
    [seen] = storage_get(alarm_runtime, "r", "calls")  # the failed call's record was rolled back
    assert seen == {"now": clock.now, "scheduled": scheduled, "retry": 1, "is_retry": True, "alarm_get": None}


def test_delete_inside_a_failing_handler_stops_retries(alarm_runtime: Runtime, clock: Clock) -> None:
    ok(call(alarm_runtime, "storage.put", {"key": "plan", "value": {"0": "delete-and-fail"}}, target("d")))
    ok(call(alarm_runtime, "alarm.set", {"at_ms": clock.now}, target("d")))
    alarm_runtime.run_alarms()
    assert alarm_of(alarm_runtime, "d") is None
    assert alarm_runtime.counters["alarms.stopped"] == 1


def test_set_inside_a_failing_turn_leaves_no_alarm(alarm_runtime: Runtime) -> None:
    ref = ObjectRef("Recorder", alarm_runtime.ids.from_name("Recorder", "x"), "x")
    cycle = alarm_runtime.store.begin()
    storage = ObjectStorage(cycle, ref)
    storage.set_alarm(5_000_000)
    assert storage.get_alarm() == 5_000_000
    cycle.commit()  # the turn "failed": its change set was never applied
    assert alarm_of(alarm_runtime, "x") is None
    reply = alarm_runtime.run_cycle([
        Request(1, "alarm.set", target("x"), {"at_ms": 5_000_000}, None),
        Request(2, "alarm.set", target("y"), {"at_ms": "bad"}, None),
    ]).replies
    assert [r["ok"] for r in reply] == [True, False]
    assert alarm_of(alarm_runtime, "x") == 5_000_000 and alarm_of(alarm_runtime, "y") is None
