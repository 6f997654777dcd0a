"""The health op, on real LMDB."""

from __future__ import annotations

from pathlib import Path

from daemon.ids import IdFactory
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, ok


def test_health_reports_storage_and_the_age_of_the_last_commit(runtime: Runtime) -> None:
    before = ok(call(runtime, "health"))
    assert before["status"] == "ok" and before["warnings"] == []
    assert before["storage_open"] is True and before["last_commit_age_ms"] is None
    ok(call(runtime, "storage.put", {"key": "hp", "value": 20}, {"class": "Agent", "name": "steve"}))
    after = ok(call(runtime, "health"))
    assert after["commit_seq"] == before["commit_seq"] + 1
    assert 0 <= after["last_commit_age_ms"] < 60_000
    assert after["objects_stored"] == 1 and after["objects_resident"] == 1
    assert after["requests"] >= 2 and after["map_used_bytes"] <= after["map_size_bytes"]


def test_health_warns_when_the_map_is_near_its_cap(tmp_path: Path) -> None:
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 16, max_map_size=24 << 10))
    store.open()
    try:
        report = ok(call(Runtime(store, IdFactory(SECRET), "test"), "health"))
    finally:
        store.close()
    assert report["status"] == "warning"
    assert "max_map_size_mb" in report["warnings"][0]
