"""Lazy migration on read, write-back on the next write, and the eager ``migrate`` pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.datadir.progress import Progress
from daemon.datadir.record_migration import migrate
from daemon.errors import BadData
from daemon.model import ObjectRef
from daemon.runtime import Runtime
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import Store
from schemas.agent import AGENT_STATE
from tests.conftest import call, ok
from tests.support.record_classes import Steve

FIXTURES = Path(__file__).resolve().parents[2] / "schemas" / "fixtures" / "AgentState"
V1 = {"health": 17, "position": {"x": 1, "y": 2, "z": 3}}


def store_raw(runtime: Runtime, name: str, packed: bytes) -> None:
    """Store already-encoded bytes under ``state``, as an older Lodestone would have."""
    ref = ObjectRef("Steve", runtime.ids.from_name("Steve", name), name)
    cycle = runtime.store.begin()
    storage = ObjectStorage(cycle, ref)
    storage.put_record("state", AGENT_STATE, AGENT_STATE.decode(packed))
    change = storage.changes.entries[b"state"]
    change.packed = packed
    cycle.apply(storage.changes)
    cycle.commit()


def state_version(runtime: Runtime, name: str) -> int:
    reply = ok(call(runtime, "storage.get", {"key": "state"}, {"class": "Steve", "name": name}))
    return int(reply["value"]["_v"])


def test_a_read_migrates_and_the_next_write_stores_the_current_version(runtime: Runtime) -> None:
    store_raw(runtime, "old", AGENT_STATE.encode(V1, 1))
    assert state_version(runtime, "old") == 1
    ref = ObjectRef("Steve", runtime.ids.from_name("Steve", "old"), "old")
    cycle = runtime.store.begin()
    storage = ObjectStorage(cycle, ref)
    state = storage.get_record("state", AGENT_STATE)
    assert state is not None and state["inventory"] == [] and state["maxHealth"] == 20
    state["health"] = 16
    storage.put_record("state", AGENT_STATE, state)
    cycle.apply(storage.changes)
    cycle.commit()
    assert state_version(runtime, "old") == AGENT_STATE.current


def test_eager_migration_upgrades_every_object_and_dry_run_only_counts(runtime: Runtime) -> None:
    for i, version in enumerate([1, 2, 3, 1, 2]):
        store_raw(runtime, f"s{i}", (FIXTURES / f"v{version}.msgpack").read_bytes())
    ok(call(runtime, "storage.put", {"key": "other", "value": 1}, {"class": "Steve", "name": "no-state"}))
    dry = migrate(runtime.store, {"Steve": Steve}, dry_run=True, progress=Progress(None))
    assert dict(dry.found) == {("AgentState", 1): 2, ("AgentState", 2): 2, ("AgentState", 3): 1}
    assert dry.upgraded == 0 and state_version(runtime, "s0") == 1
    report = migrate(runtime.store, {"Steve": Steve}, dry_run=False, progress=Progress(None))
    assert report.upgraded == 5 and report.objects == 6
    assert {state_version(runtime, f"s{i}") for i in range(5)} == {AGENT_STATE.current}
    again = migrate(runtime.store, {"Steve": Steve}, dry_run=False, progress=Progress(None))
    assert again.upgraded == 0 and dict(again.found) == {("AgentState", AGENT_STATE.current): 5}


def test_a_record_newer_than_the_code_stops_the_migration_with_its_name(runtime: Runtime, store: Store) -> None:
    ok(call(runtime, "storage.put", {"key": "state", "value": {"_type": "AgentState", "_v": 9}},
            {"class": "Steve", "name": "future"}))
    with pytest.raises(BadData, match=r"Steve future, key 'state'.*version 9 is newer"):
        migrate(store, {"Steve": Steve}, dry_run=False, progress=Progress(None))
