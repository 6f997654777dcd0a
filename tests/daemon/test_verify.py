"""verify: a healthy directory passes; each kind of damage is reported, one line per record."""

from __future__ import annotations

import os
from pathlib import Path

import lmdb
import msgpack
import pytest

from daemon.cli import EXIT_BAD_DATA, main
from daemon.datadir.progress import Progress
from daemon.datadir.verify import NotADataDirectory, verify
from daemon.ids import IdFactory
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, ok, write_secret


def make_data_dir(path: Path, objects: int = 5, keys: int = 20, secret: bytes = SECRET) -> Path:
    """A closed data directory holding ``objects`` Agents of ``keys`` keys each, one long key too."""
    store = Store(path, StoreOptions(map_size=1 << 24))
    store.open()
    write_secret(path, secret)
    runtime = Runtime(store, IdFactory(secret), "test")
    for i in range(objects):
        target = {"class": "Agent", "name": f"steve-{i}"}
        ok(call(runtime, "storage.put", {"entries": {f"k{j}": {"n": j, "list": [1, 2.5, None]} for j in range(keys)}},
                target))
        ok(call(runtime, "storage.put", {"key": "L" * 1500, "value": "long"}, target))
    unique = {"class": "Agent", "id": runtime.ids.new_unique("Agent")}
    ok(call(runtime, "storage.put", {"key": "x", "value": 1}, unique))
    store.close()
    return path


def test_a_healthy_directory_verifies(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data")
    report = verify(data, Progress(None))
    assert report.ok, report.problems
    store = Store(data, StoreOptions())
    store.open()
    last_commit = store.commit_seq
    store.close()
    assert report.objects == 6 and report.records == 5 * 21 + 1 and report.commit_seq == last_commit > 0
    assert report.unchecked_dbs == []


def test_each_bad_record_is_reported_and_the_command_exits_65(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_data_dir(tmp_path / "data")
    agent = IdFactory(SECRET).from_name("Agent", "steve-1")
    with lmdb.open(str(data / "lmdb"), max_dbs=64) as env, env.begin(write=True) as txn:
        objects = env.open_db(b"o/" + agent.encode(), txn=txn)
        txn.put(b"kbad-value", b"\x01\xc1", db=objects)  # 0xc1 is never valid msgpack
        txn.put(b"ktrailing", b"\x01" + msgpack.packb(1) + b"\x00", db=objects)
        txn.put(b"knewer-format", b"\x09\x01", db=objects)
        registry = env.open_db(b"_objects", txn=txn)
        txn.put(b"Agent\x00" + os.urandom(32), msgpack.packb({"v": 1, "name": "ghost"}), db=registry)
        env.open_db(b"o/" + b"ab" * 32, txn=txn)  # a sub-database nobody registered
        env.open_db(b"_future", txn=txn)  # a system database this code does not know
    report = verify(data, Progress(None))
    problems = "\n".join(report.problems)
    assert len(report.problems) == 6, problems
    assert f"Agent/'steve-1' ({agent}) key b'bad-value'" in problems
    assert "key b'trailing'" in problems and "key b'newer-format'" in problems
    assert "upgrade Lodestone" in problems
    assert "not the one this deployment makes for the name 'ghost'" in problems
    assert "registered but its sub-database is missing" in problems
    assert "a sub-database with no registry entry" in problems
    assert report.unchecked_dbs == ["_future"]

    assert main(["verify", "--data-dir", str(data)]) == EXIT_BAD_DATA
    out, err = capsys.readouterr()
    assert out.splitlines() == report.problems
    assert "6 problems" in err


def test_a_wrong_secret_shows_up_as_foreign_ids(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data", objects=2)
    write_secret(data, bytes(32))
    report = verify(data, Progress(None))
    assert len(report.problems) == 3  # two named, one unique id


def test_a_directory_without_data_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(NotADataDirectory, match="holds no Lodestone data"):
        verify(tmp_path, Progress(None))


def test_an_alarm_or_idempotency_record_whose_time_changed_is_reported(tmp_path: Path) -> None:
    """Those records have no CRC: their indexes are what give a changed time away."""
    from daemon.model import AlarmRecord
    from daemon.storage import alarms

    data = make_data_dir(tmp_path / "data", objects=1)
    store = Store(data, StoreOptions(map_size=1 << 24))
    store.open()
    runtime = Runtime(store, IdFactory(SECRET), "test")
    ok(call(runtime, "alarm.set", {"at_ms": 9_000_000_000_000}, {"class": "Agent", "name": "steve-0"}))
    ok(call(runtime, "storage.put", {"key": "k", "value": 1}, {"class": "Agent", "name": "steve-0"}, idem="once"))
    store.close()
    assert verify(data, Progress(None)).ok
    agent = bytes.fromhex(IdFactory(SECRET).from_name("Agent", "steve-0"))
    with lmdb.open(str(data / "lmdb"), max_dbs=64) as env, env.begin(write=True) as txn:
        txn.put(agent, alarms.encode(AlarmRecord("Agent", "steve-0", 9_000_000_000_001, 9_000_000_000_000)),
                db=env.open_db(b"_alarms", txn=txn))
        idem = env.open_db(b"_idem", txn=txn)
        key = agent + b"once"
        txn.put(key, msgpack.packb([1, {}]), db=idem)
    problems = "\n".join(verify(data, Progress(None)).problems)
    assert f"_alarms {agent.hex()}: not in the due index at its time 9000000000001" in problems
    assert "_alarm_due" in problems and "no alarm of that object at that time" in problems
    assert f"_idem {(agent + b'once').hex()}: not in the expiry index" in problems
