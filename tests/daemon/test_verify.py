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
from tests.conftest import SECRET, call, ok


def make_data_dir(path: Path, objects: int = 5, keys: int = 20, secret: bytes = SECRET) -> Path:
    """A closed data directory holding ``objects`` Agents of ``keys`` keys each, one long key too."""
    store = Store(path, StoreOptions(map_size=1 << 24))
    store.open()
    (path / "secret").write_bytes(secret)
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
    (data / "secret").write_bytes(bytes(32))
    report = verify(data, Progress(None))
    assert len(report.problems) == 3  # two named, one unique id


def test_a_directory_without_data_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(NotADataDirectory, match="holds no Lodestone data"):
        verify(tmp_path, Progress(None))
