"""A cycle whose every request reads runs on a read transaction: it never waits for the writer lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import CycleResult, Runtime
from daemon.runtime.classes import ObjectClass, Turn, op
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, as_sent

CHEST = {"class": "Chest", "name": "c"}
SNEAK = {"class": "Sneak", "name": "s"}


class Sneak(ObjectClass):
    """A class op declared as reading that writes after all."""

    name = "Sneak"

    @op(writes=False)
    def look(self, turn: Turn, args: dict[str, Any]) -> Any:
        turn.storage.put("looked", True)
        return "looked"

    @op(writes=False)
    def count(self, turn: Turn, args: dict[str, Any]) -> Any:
        return turn.storage.get("looked")[1]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 24))
    store.open()
    yield Runtime(store, IdFactory(SECRET), "test", classes={"Sneak": Sneak})
    store.close()


def run(runtime: Runtime, *requests: tuple[str, Any, dict[str, Any]]) -> list[dict[str, Any]]:
    cycle = runtime.run_cycle([Request(i, op, target, args, None) for i, (op, target, args) in enumerate(requests)])
    return [as_sent(reply) for reply in cycle.replies]


def while_another_writes(runtime: Runtime, action: Callable[[], CycleResult]) -> CycleResult | None:
    """Run ``action`` while another thread holds LMDB's writer lock; None if it waited for the lock (2 s)."""
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with runtime.store.env.begin(write=True):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait(5)
    done: list[CycleResult] = []
    runner = threading.Thread(target=lambda: done.append(action()), daemon=True)
    runner.start()
    runner.join(2)
    finished_while_held = not runner.is_alive()
    release.set()
    thread.join(5)
    runner.join(5)
    assert done, "the cycle did not finish"
    return done[0] if finished_while_held else None


def test_a_cycle_of_reads_does_not_take_the_writer_lock(runtime: Runtime) -> None:
    run(runtime, ("storage.put", CHEST, {"key": "k", "value": 1}))
    reads = [Request(1, "storage.get", CHEST, {"key": "k"}, None), Request(2, "storage.list", CHEST, {}, None),
             Request(3, "alarm.get", CHEST, {}, None), Request(4, "ping", None, {}, None)]
    result = while_another_writes(runtime, lambda: runtime.run_cycle(reads))
    assert result is not None, "the read cycle waited for the writer lock"
    assert as_sent(result.replies[0])["result"] == {"found": True, "value": 1}
    assert result.events == []


def test_a_cycle_with_a_write_takes_the_writer_lock(runtime: Runtime) -> None:
    run(runtime, ("storage.put", CHEST, {"key": "k", "value": 1}))
    mixed = [Request(1, "storage.get", CHEST, {"key": "k"}, None), Request(2, "storage.put", CHEST,
                                                                          {"key": "k", "value": 2}, None)]
    assert while_another_writes(runtime, lambda: runtime.run_cycle(mixed)) is None


def test_a_read_op_that_writes_runs_again_on_a_write_transaction_and_keeps_its_write(runtime: Runtime) -> None:
    run(runtime, ("storage.put", SNEAK, {"key": "warm", "value": 1}))  # its handle is open
    assert run(runtime, ("Sneak.look", SNEAK, {}), ("storage.get", SNEAK, {"key": "looked"}))[0]["result"] == "looked"
    assert run(runtime, ("Sneak.count", SNEAK, {}))[0]["result"] is True


def test_the_first_read_of_an_object_opens_its_handle_in_a_write_cycle(runtime: Runtime) -> None:
    run(runtime, ("storage.put", CHEST, {"key": "k", "value": 1}))
    runtime.store.ensure_capacity(10**6)  # reopened: no object handle is open any more
    assert runtime.store.handles == {}
    assert run(runtime, ("storage.get", CHEST, {"key": "k"}))[0]["result"] == {"found": True, "value": 1}
    assert set(runtime.store.handles) == {runtime.resolve(CHEST).id}
    # ... and later reads of it use that handle in read cycles
    result = while_another_writes(runtime, lambda: runtime.run_cycle([Request(1, "storage.get", CHEST,
                                                                             {"key": "k"}, None)]))
    assert result is not None and as_sent(result.replies[0])["result"] == {"found": True, "value": 1}


def test_reading_an_object_never_written_needs_no_write(runtime: Runtime) -> None:
    result = while_another_writes(runtime, lambda: runtime.run_cycle([Request(1, "storage.get", CHEST,
                                                                             {"key": "k"}, None)]))
    assert result is not None and as_sent(result.replies[0])["result"] == {"found": False}
