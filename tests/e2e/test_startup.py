"""Start-up errors: each gets its own exit code and a sentence, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from bridge import Client
from daemon.cli import EXIT_BAD_DATA, EXIT_CONFIG, EXIT_LOCKED, EXIT_SYSTEM
from daemon.storage import LOCK_FILE
from tests.conftest import REPO, DaemonProcess, running_daemon, write_secret


def serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``lodestone serve`` expecting it to refuse; if it starts serving instead, it is killed (exit -9)."""
    command = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(data_dir),
               "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*", *args]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the "serving" line, or nothing when it exits first
    if "serving" in line:
        proc.kill()
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(command, proc.returncode, line + out, err)


def lodestone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_damaged_secret_exits_65_with_a_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_secret(data, b"too short")
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA
    assert "secret" in done.stderr and "damaged" in done.stderr and "Traceback" not in done.stderr


def test_an_address_in_use_exits_71_so_systemd_retries(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_secret(data)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(data, "--rpc", f"tcp://127.0.0.1:{port}")
    assert done.returncode == EXIT_SYSTEM != EXIT_CONFIG
    assert "cannot bind" in done.stderr and "Traceback" not in done.stderr


def test_class_migrations_recorded_by_a_newer_lodestone_exit_65(tmp_path: Path) -> None:
    import lmdb
    import msgpack

    from daemon.storage import Store, StoreOptions
    from daemon.storage.meta import CLASS_MIGRATIONS, META_DB

    data = tmp_path / "data"
    store = Store(data, StoreOptions())
    store.open()
    store.close()
    write_secret(data)
    with lmdb.open(str(data / "lmdb"), max_dbs=16) as env, env.begin(write=True) as txn:
        record = {"v": 99, "applied": [], "namespaces": {}, "retired": {}}
        txn.put(CLASS_MIGRATIONS, msgpack.packb(record), db=env.open_db(META_DB, txn=txn))
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA
    assert "newer Lodestone" in done.stderr and "Traceback" not in done.stderr


def stopped_daemon_with_data(tmp_path: Path) -> Path:
    """A data directory a real daemon wrote an object to, then stopped cleanly."""
    proc = next(running_daemon(tmp_path))
    with Client(proc.rpc) as client:
        client.object("Chest", "spawn").put("slots", {"0": "oak_log"})
    assert proc.stop() == 0
    return proc.data_dir


def test_a_deleted_lock_file_does_not_let_a_second_daemon_in(tmp_path: Path) -> None:
    proc = next(running_daemon(tmp_path))
    try:
        (proc.data_dir / LOCK_FILE).unlink()
        second = serve(proc.data_dir)
        assert second.returncode == EXIT_LOCKED, second.stderr
        assert "in use by another Lodestone process" in second.stderr and "Traceback" not in second.stderr
        backup = tmp_path / "backup"
        assert lodestone("backup", str(backup), "--data-dir", str(proc.data_dir)).returncode == 0
        restore = lodestone("restore", str(backup), "--data-dir", str(proc.data_dir), "--force")
        assert restore.returncode == EXIT_LOCKED, restore.stderr
        with Client(proc.rpc) as client:
            assert client.ping()["version"]
    finally:
        proc.kill()


def test_a_missing_secret_with_objects_stored_exits_65_naming_the_file_and_the_backup(tmp_path: Path) -> None:
    data = stopped_daemon_with_data(tmp_path)
    backups = data / "backups"
    backups.mkdir()
    made = lodestone("backup", str(backups / "nightly"), "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    (data / "secret").unlink()
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA, done.stderr
    assert f"the deployment secret {data / 'secret'} is missing" in done.stderr
    assert f"Copy {backups / 'nightly' / 'secret'} to {data / 'secret'}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (data / "secret").exists(), "no new secret may be made for data that has objects"
    shutil.copy(backups / "nightly" / "secret", data / "secret")
    proc = DaemonProcess(data).start()
    try:
        with Client(proc.rpc) as client:
            assert client.object("Chest", "spawn").get("slots") == {"0": "oak_log"}
    finally:
        proc.kill()


def test_another_secret_for_the_same_data_exits_65(tmp_path: Path) -> None:
    data = stopped_daemon_with_data(tmp_path)
    write_secret(data, bytes(range(100, 132)))
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA, done.stderr
    assert "is not the one this data was written with" in done.stderr and "lodestone backup DEST" in done.stderr


def test_a_secret_others_may_read_exits_78_naming_chmod(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_secret(data)
    (data / "secret").chmod(0o640)
    done = serve(data)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert f"chmod 600 {data / 'secret'}" in done.stderr and "Traceback" not in done.stderr


def test_a_truncated_data_file_exits_65_without_a_signal(tmp_path: Path) -> None:
    data = stopped_daemon_with_data(tmp_path)
    data_file = data / "lmdb" / "data.mdb"
    os.truncate(data_file, data_file.stat().st_size - 4096)
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA, (done.returncode, done.stderr)
    assert f"the data file {data_file} is damaged" in done.stderr and "cut short" in done.stderr
    assert "Traceback" not in done.stderr
