"""Schema and class migrations with real processes: SIGKILL mid-migration, refusals at start."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import msgpack

from daemon.ids import IdFactory
from daemon.model import ObjectRef
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import Store, StoreOptions
from daemon.storage.meta import META_DB
from schemas.agent import AGENT_STATE
from tests.conftest import REPO, SECRET, DaemonProcess

CONFIG = '[classes]\nmodules = ["tests.support.record_classes"]\n'
OBJECTS = 10_000


def lodestone(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "daemon", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def seed_v1_agents(data_dir: Path) -> IdFactory:
    data_dir.mkdir()
    (data_dir / "secret").write_bytes(SECRET)
    ids = IdFactory(SECRET)
    store = Store(data_dir, StoreOptions())
    store.open()
    try:
        for start in range(0, OBJECTS, 1000):
            cycle = store.begin(1000)
            for i in range(start, start + 1000):
                name = f"steve-{i}"
                storage = ObjectStorage(cycle, ObjectRef("Steve", ids.from_name("Steve", name), name))
                storage.put("state", {"_type": "AgentState", "_v": 1, "health": i % 20,
                                      "position": {"x": i, "y": 64, "z": -i}})
                cycle.apply(storage.changes)
            cycle.commit()
    finally:
        store.close()
    return ids


def versions(data_dir: Path, ids: IdFactory) -> dict[str, list[int]]:
    """Per version, the health of the objects at it (health is i % 20, so it shows nothing was lost)."""
    store = Store(data_dir, StoreOptions())
    store.open()
    found: dict[str, list[int]] = {}
    try:
        cycle = store.begin(OBJECTS)
        for i in range(OBJECTS):
            name = f"steve-{i}"
            packed = ObjectStorage(cycle, ObjectRef("Steve", ids.from_name("Steve", name), name)).get_packed("state")
            assert packed is not None, name
            record = msgpack.unpackb(packed)
            assert record["health"] == i % 20 and record["position"]["x"] == i, name
            found.setdefault(f"v{record['_v']}", []).append(i)
        cycle.abort()
    finally:
        store.close()
    return found


def test_eager_migration_killed_halfway_then_rerun_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ids = seed_v1_agents(data_dir)
    config = tmp_path / "lodestone.toml"
    config.write_text(CONFIG)

    dry = lodestone("migrate", "--config", str(config), "--data-dir", str(data_dir), "--dry-run")
    out, _ = dry.communicate(timeout=120)
    assert dry.returncode == 0 and "AgentState v1: 10000" in out

    first = lodestone("migrate", "--config", str(config), "--data-dir", str(data_dir), "--no-backup")
    assert first.stderr is not None
    line = first.stderr.readline()  # progress comes after a second of work
    assert "objects" in line, line
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    halfway = versions(data_dir, ids)
    current = f"v{AGENT_STATE.current}"
    assert set(halfway) == {"v1", current}, {version: len(names) for version, names in halfway.items()}

    second = lodestone("migrate", "--config", str(config), "--data-dir", str(data_dir))
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert f"upgraded {len(halfway['v1'])} records" in out
    assert "backed up to" in err
    done = versions(data_dir, ids)
    assert list(done) == [current] and len(done[current]) == OBJECTS


def test_a_daemon_refuses_records_newer_than_it_knows(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store(data_dir, StoreOptions())
    store.open()
    with store.env.begin(write=True) as txn:
        txn.put(b"record_versions", msgpack.packb({AGENT_STATE.name: AGENT_STATE.current + 1}),
                db=store.system[META_DB])
    store.close()
    config = tmp_path / "lodestone.toml"
    config.write_text(CONFIG)
    proc = lodestone("serve", "--config", str(config), "--data-dir", str(data_dir),
                     "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 65
    assert f"AgentState records of version {AGENT_STATE.current + 1}" in err and "Upgrade Lodestone" in err


def test_class_migrations_apply_at_start_and_a_reordered_list_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret").write_bytes(SECRET)
    steps = ['[[migrations]]\ntag = "v1"\nnew_classes = ["SteveAgent"]\n',
             '[[migrations]]\ntag = "v2"\nrenamed_classes = [{ from = "SteveAgent", to = "Agent" }]\n']
    config = tmp_path / "lodestone.toml"
    config.write_text(steps[0])
    proc = DaemonProcess(data_dir, extra_args=["--config", str(config)]).start()
    from bridge import Client, NotFound

    with Client(proc.rpc) as client:
        client.object("SteveAgent", "steve-1").put("hp", 9)
        old_id = client.id_from_name("SteveAgent", "steve-1")
    assert proc.stop() == 0
    config.write_text(steps[0] + steps[1])
    proc.start()
    with Client(proc.rpc) as client:
        assert client.id_from_name("Agent", "steve-1") == old_id
        assert client.object("Agent", "steve-1").get("hp") == 9
        try:
            client.object("SteveAgent", "steve-1").get("hp")
            raise AssertionError("the old class name should be retired")
        except NotFound as exc:
            assert "renamed to 'Agent'" in str(exc)
    assert proc.stop() == 0
    config.write_text(steps[1] + steps[0])
    refused = lodestone("serve", "--config", str(config), "--data-dir", str(data_dir),
                        "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 78 and "never skipped or reordered" in err
