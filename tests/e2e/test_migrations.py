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
from tests.conftest import REPO, SECRET, DaemonProcess, write_secret

CONFIG = '[classes]\nmodules = ["tests.support.record_classes"]\n'
OBJECTS = 10_000


def lodestone(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "daemon", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def seed_v1_agents(data_dir: Path) -> IdFactory:
    data_dir.mkdir()
    write_secret(data_dir)
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
    write_secret(data_dir)
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


def serve_once(config: Path, data_dir: Path) -> tuple[int, str]:
    """Run ``lodestone serve`` expecting it to refuse; if it starts serving instead, it is killed (exit -9)."""
    refused = lodestone("serve", "--config", str(config), "--data-dir", str(data_dir),
                        "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*")
    assert refused.stdout is not None
    if "serving" in refused.stdout.readline():
        refused.kill()
    _, err = refused.communicate(timeout=60)
    return refused.returncode, err


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def test_verify_backup_and_restore_after_a_class_rename(tmp_path: Path) -> None:
    """Ids of a renamed class come from its first name: verify must check them there, or every
    backup of a deployment that ever renamed a class fails verification and cannot be restored."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_secret(data_dir)
    config = tmp_path / "lodestone.toml"
    config.write_text('[[migrations]]\ntag = "v1"\nnew_classes = ["SteveAgent"]\n')
    proc = DaemonProcess(data_dir, extra_args=["--config", str(config)]).start()
    from bridge import Client

    with Client(proc.rpc) as client:
        client.object("SteveAgent", "steve-1").put("hp", 9)
    assert proc.stop() == 0
    config.write_text(config.read_text() + '[[migrations]]\ntag = "v2"\n'
                      'renamed_classes = [{ from = "SteveAgent", to = "Agent" }]\n')
    proc.start()
    with Client(proc.rpc) as client:
        client.object("Agent", "steve-2").put("hp", 12)
    assert proc.stop() == 0

    checked = run("verify", "--data-dir", str(data_dir))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert run("backup", str(tmp_path / "backup"), "--data-dir", str(data_dir)).returncode == 0
    restored = run("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    proc = DaemonProcess(tmp_path / "restored", extra_args=["--config", str(config)]).start()
    try:
        with Client(proc.rpc) as client:
            assert [client.object("Agent", f"steve-{i}").get("hp") for i in (1, 2)] == [9, 12]
    finally:
        proc.kill()


def test_migrations_that_would_mix_objects_up_exit_78_and_say_what_to_do(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_secret(data_dir)
    config = tmp_path / "lodestone.toml"
    rename = ('[[migrations]]\ntag = "v1"\nnew_classes = ["SteveAgent"]\n'
              '[[migrations]]\ntag = "v2"\nrenamed_classes = [{ from = "SteveAgent", to = "Agent" }]\n')
    config.write_text(rename)
    proc = DaemonProcess(data_dir, extra_args=["--config", str(config)]).start()
    from bridge import Client

    with Client(proc.rpc) as client:
        client.object("Agent", "steve-1").put("hp", 9)
        client.object("Chest", "spawn").put("slots", 3)
        client.object("Barrel", "cellar").put("slots", 4)
    assert proc.stop() == 0

    config.write_text(rename + '[[migrations]]\ntag = "v3"\nnew_classes = ["SteveAgent"]\n')
    code, err = serve_once(config, data_dir)
    assert code == 78, err
    assert "'Agent' (once named 'SteveAgent')" in err and "would share objects" in err
    assert "Give the new class another name" in err

    config.write_text(rename + '[[migrations]]\ntag = "v3"\nrenamed_classes = [{ from = "Barrel", to = "Chest" }]\n')
    code, err = serve_once(config, data_dir)
    assert code == 78, err
    assert "'Chest' already holds 1 object, which would be orphaned" in err and "deleted_classes" in err

    config.write_text(rename)
    proc.start()
    try:
        with Client(proc.rpc) as client:
            assert client.object("Agent", "steve-1").get("hp") == 9
            assert client.object("Chest", "spawn").get("slots") == 3
            assert client.object("Barrel", "cellar").get("slots") == 4
    finally:
        proc.kill()
