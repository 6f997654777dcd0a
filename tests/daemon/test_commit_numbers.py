"""Commit numbers: LMDB's transaction ids plus a stored base, on real LMDB."""

from __future__ import annotations

from pathlib import Path

from daemon.datadir.backup import backup, restore
from daemon.datadir.progress import Progress
from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, ok

AGENT = {"class": "Agent", "name": "steve"}


def opened(path: Path) -> Store:
    store = Store(path, StoreOptions(map_size=1 << 24))
    store.open()
    return store


def put_commit(runtime: Runtime, value: int) -> int:
    """Put ``value`` in a cycle of its own; return the commit number its change event carries."""
    result = runtime.run_cycle([Request(1, "storage.put", AGENT, {"key": "k", "value": value}, None)])
    assert result.replies[0]["ok"], result.replies[0]
    (event,) = result.events
    return event.commit_seq


def test_each_commit_that_writes_takes_the_next_number_and_reads_take_none(store: Store) -> None:
    runtime = Runtime(store, IdFactory(SECRET), "test")
    first = put_commit(runtime, 1)
    ok(call(runtime, "storage.get", {"key": "k"}, AGENT))
    ok(call(runtime, "storage.get", {"key": "k"}, AGENT))
    assert put_commit(runtime, 2) == first + 1
    assert store.commit_seq == first + 1
    assert ok(call(runtime, "health"))["commit_seq"] == first + 1


def test_numbers_go_on_after_a_restart(tmp_path: Path) -> None:
    store = opened(tmp_path / "data")
    last = put_commit(Runtime(store, IdFactory(SECRET), "test"), 1)
    store.close()
    store = opened(tmp_path / "data")
    assert store.commit_seq == last
    assert put_commit(Runtime(store, IdFactory(SECRET), "test"), 2) == last + 1
    store.close()


def test_a_restored_backup_numbers_on_from_the_commit_it_copied(tmp_path: Path) -> None:
    """A compacted copy restarts LMDB's transaction ids; the backup keeps the numbering going."""
    store = opened(tmp_path / "data")
    runtime = Runtime(store, IdFactory(SECRET), "test")
    for value in range(5):
        last = put_commit(runtime, value)
    store.close()
    (tmp_path / "data" / "secret").write_bytes(SECRET)
    report = backup(tmp_path / "data", tmp_path / "backup", Progress(None))
    assert report.commit_seq == last
    restore(tmp_path / "backup", tmp_path / "restored", Progress(None))
    store = opened(tmp_path / "restored")
    assert store.commit_seq == last
    assert put_commit(Runtime(store, IdFactory(SECRET), "test"), 9) == last + 1
    store.close()
