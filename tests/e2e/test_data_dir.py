"""The data directory around a running daemon: killed backups, file modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import Client
from tests.conftest import REPO, DaemonProcess, running_daemon, wait_for

# A backup that stops inside its read transaction, after it made its staging directory, so
# that a test can kill it there: what `lodestone backup` is when SIGKILL finds it copying.
STALLED_BACKUP = """
import sys
from pathlib import Path
from daemon.datadir.backup import backup
from daemon.datadir.progress import Progress

class Stall(Progress):
    def start(self, what, total, unit):
        print("copying", flush=True)
        sys.stdin.read()

backup(Path(sys.argv[1]), Path(sys.argv[2]), Stall(None))
"""


def stalled_backup(data_dir: Path, dest: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", STALLED_BACKUP, str(data_dir), str(dest)], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == "copying\n"
    return proc


def lodestone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path)


def test_a_killed_backup_leaves_no_reader_that_pins_pages(daemon: DaemonProcess, tmp_path: Path) -> None:
    """A reader slot left by a dead process keeps every page it could see: overwrites then only
    grow the file. The daemon clears it within seconds, and health says so."""
    blob = "x" * 100_000
    with Client(daemon.rpc) as client:
        chest = client.object("Chest", "overwritten")
        chest.put("blob", blob)
        backup = stalled_backup(daemon.data_dir, tmp_path / "backups" / "b1")
        assert client.health()["readers"] == 1
        backup.kill()
        backup.wait(10)
        health = wait_for(lambda: (report := client.health())["stale_readers_cleared"] >= 1 and report, timeout=20)
        assert health["readers"] == 0
        used = health["map_used_bytes"]
        for i in range(100):
            chest.put("blob", f"{i}{blob}")
        grown = client.health()["map_used_bytes"] - used
    assert grown < 2 << 20, f"the data file grew by {grown} bytes for 100 overwrites of one 100 KB value"


def test_a_killed_backup_leaves_no_staging_directory_after_the_next_backup_or_start(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    with Client(daemon.rpc) as client:
        client.object("Chest", "c").put("k", 1)
    elsewhere = tmp_path / "elsewhere"
    first = stalled_backup(daemon.data_dir, elsewhere / "monday")
    first.kill()
    first.wait(10)
    assert [path.name for path in elsewhere.iterdir()] == [f".monday.partial-{first.pid}"]
    made = lodestone("backup", str(elsewhere / "tuesday"), "--data-dir", str(daemon.data_dir))
    assert made.returncode == 0, made.stderr
    assert [path.name for path in elsewhere.iterdir()] == ["tuesday"]

    backups = daemon.data_dir / "backups"
    second = stalled_backup(daemon.data_dir, backups / "before-x")
    second.kill()
    second.wait(10)
    assert daemon.stop() == 0
    assert [path.name for path in backups.iterdir()] == [f".before-x.partial-{second.pid}"]
    daemon.start()
    assert list(backups.iterdir()) == []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_and_backups_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        data = tmp_path / "data"
        proc = DaemonProcess(data).start()  # makes the directory and the secret itself
        try:
            with Client(proc.rpc) as client:
                client.object("Chest", "c").put("k", 1)
            assert lodestone("backup", str(tmp_path / "backup"), "--data-dir", str(data)).returncode == 0
        finally:
            proc.kill()
        restored = tmp_path / "restored"
        assert lodestone("restore", str(tmp_path / "backup"), "--data-dir", str(restored)).returncode == 0
    finally:
        os.umask(previous)
    for root in (data, tmp_path / "backup", restored):
        wrong = {f"{path.relative_to(tmp_path)}": oct(mode(path)) for path in [root, *root.rglob("*")]
                 if mode(path) != (0o700 if path.is_dir() else 0o600)}
        assert wrong == {}
    assert {"data/lmdb/data.mdb", "data/lmdb/lock.mdb", "data/lodestone.lock", "data/secret"} <= set(
        str(path.relative_to(tmp_path)) for path in data.rglob("*")
    )


def test_files_made_before_are_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = DaemonProcess(data).start()
    proc.stop()
    (data / "lmdb" / "data.mdb").chmod(0o644)
    (data / "lmdb").chmod(0o755)
    proc.start()
    proc.stop()
    assert mode(data / "lmdb" / "data.mdb") == 0o600 and mode(data / "lmdb") == 0o700
