"""What one cycle's requests see of each other, and what a full map takes from them."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, as_sent, call, error_code, ok


def test_lists_in_a_cycle_see_the_writes_made_earlier_in_it(runtime: Runtime) -> None:
    """docs/protocol.md: a cycle's requests run in order, each seeing the ones before it."""
    puts = [Request(i, "storage.put", {"class": "Chest", "name": f"chest-{i}"}, {"key": "k", "value": i}, None)
            for i in range(200)]
    alarms = [Request(200 + i, "alarm.set", {"class": "Chest", "name": f"chest-{i}"}, {"at_ms": 9_000_000_000_000 + i},
                      None) for i in range(200)]
    lists = [Request(400, "objects.list", None, {"class": "Chest"}, None),
             Request(401, "alarms.list", None, {}, None)]
    result = runtime.run_cycle([*puts, *alarms, *lists])
    assert len(result.replies) == 402
    objects, alarms_listed = (ok(as_sent(reply)) for reply in result.replies[-2:])
    assert sorted(entry["name"] for entry in objects["objects"]) == sorted(f"chest-{i}" for i in range(200))
    assert [entry["at_ms"] for entry in alarms_listed["alarms"]] == [9_000_000_000_000 + i for i in range(200)]


def test_a_full_map_fails_only_the_write_that_does_not_fit(tmp_path: Path) -> None:
    """The map cannot grow (max_map_size): the one write too big for it is UNAVAILABLE; the
    reads of the cycle, and its writes that fit, run as if it had not been sent."""
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 20, max_map_size=1 << 20))
    store.open()
    try:
        runtime = Runtime(store, IdFactory(SECRET), "test")
        ok(call(runtime, "storage.put", {"key": "k", "value": "before"}, {"class": "Chest", "name": "old"}))
        requests = [
            Request(0, "storage.put", {"class": "Chest", "name": "small"}, {"key": "k", "value": "fits"}, None),
            Request(1, "storage.put", {"class": "Chest", "name": "huge"}, {"key": "k", "value": "x" * 1_500_000},
                    None),
            Request(2, "storage.get", {"class": "Chest", "name": "small"}, {"key": "k"}, None),
            Request(3, "storage.put", {"class": "Chest", "name": "later"}, {"key": "k", "value": "fits too"}, None),
            Request(4, "storage.get", {"class": "Chest", "name": "old"}, {"key": "k"}, None),
            Request(5, "objects.list", None, {"class": "Chest"}, None),
        ]
        replies = [as_sent(reply) for reply in runtime.run_cycle(requests).replies]
        assert error_code(replies[1]) == "UNAVAILABLE" and "map is full" in replies[1]["error"]["message"]
        assert [ok(replies[i]) for i in (0, 2, 3, 4)] == [
            {}, {"found": True, "value": "fits"}, {}, {"found": True, "value": "before"}]
        assert sorted(entry["name"] for entry in ok(replies[5])["objects"]) == ["later", "old", "small"]
        committed = [ok(call(runtime, "storage.get", {"key": "k"}, {"class": "Chest", "name": name}))
                     for name in ("later", "huge")]
        assert committed == [{"found": True, "value": "fits too"}, {"found": False}]
    finally:
        store.close()


def grown_by(work: Callable[[], None]) -> int:
    """Bytes still allocated after ``work`` that were not before it."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_naming_many_classes_does_not_grow_memory_without_bound() -> None:
    """Each class name a client sends gets a derived key: the keys kept must stay bounded."""
    ids = IdFactory(SECRET)

    def name_classes(start: int, count: int) -> None:
        for i in range(start, start + count):
            ids.from_name(f"Class{i}", "steve")

    name_classes(0, 10_000)  # past the cache's limit
    grown = grown_by(lambda: name_classes(10_000, 40_000))
    assert grown < 2 << 20, f"40,000 more class names kept {grown / 1e6:.1f} MB"


def test_naming_many_objects_does_not_grow_memory_without_bound(runtime: Runtime) -> None:
    """Targets named by class and name are cached as checked refs; names are up to 2 KiB, so the
    cache is bounded in bytes as well as in entries."""

    def name_objects(start: int, count: int) -> None:
        for i in range(start, start + count):
            runtime.resolve({"class": "Chest", "name": f"{i:08d}" + "n" * 2000})

    name_objects(0, 10_000)  # past the cache's limit
    grown = grown_by(lambda: name_objects(10_000, 24_000))
    assert grown < 24 << 20, f"24,000 more object names of 2 KB kept {grown / 1e6:.1f} MB"
