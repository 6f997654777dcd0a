"""A full disk: refused at start with a sentence, and while serving only the writes fail (never SIGBUS)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import Client, Unavailable
from daemon.cli import EXIT_SYSTEM
from tests.conftest import REPO, DaemonProcess, write_secret


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can be filled. Needs root; skipped otherwise, except under CI."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = f"cannot mount a small tmpfs to fill ({done.stderr.strip()}); this needs root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def free(disk: Path) -> int:
    stat = os.statvfs(disk)
    return stat.f_bavail * stat.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until about ``leave`` bytes are free; return the filler file."""
    filler = disk / "filler"
    with filler.open("ab") as out:
        out.write(b"\0" * max(free(disk) - leave, 0))
    return filler


def test_a_full_disk_at_start_exits_71_with_a_sentence_not_sigbus(small_disk: Path) -> None:
    data = small_disk / "data"
    data.mkdir()
    write_secret(data)
    fill(small_disk, 0)
    done = subprocess.run([sys.executable, "-m", "daemon", "serve", "--data-dir", str(data),
                           "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == EXIT_SYSTEM, (done.returncode, done.stderr)
    assert f"the disk holding {data} is full" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("map_size_mb", [1, 8], ids=["the map cannot grow", "a commit cannot be written"])
def test_when_the_disk_fills_only_writes_fail_and_they_succeed_again_once_space_is_freed(
    small_disk: Path, tmp_path: Path, map_size_mb: int
) -> None:
    data = small_disk / "data"
    data.mkdir()
    write_secret(data)
    config = tmp_path / "lodestone.toml"
    config.write_text(f"map_size_mb = {map_size_mb}\n")
    proc = DaemonProcess(data, extra_args=["--config", str(config)]).start()
    filler = fill(small_disk, 1536 << 10)
    try:
        with Client(proc.rpc, retries=0) as client:
            chest = client.object("Chest", "c")
            chest.put("first", "kept")
            refused = None
            for i in range(40):
                try:
                    chest.put(f"k{i}", "x" * 100_000)
                except Unavailable as exc:
                    refused = exc
                    break
            assert refused is not None, "the disk should have filled"
            assert "disk" in str(refused) and "full" in str(refused), refused
            assert chest.get("first") == "kept"
            assert client.health()["storage_open"]
            filler.unlink()
            chest.put("after", "y" * 100_000)
            assert chest.get("after") == "y" * 100_000
    finally:
        code = proc.stop()
    assert code == 0
