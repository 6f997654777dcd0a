"""backup and restore on closed data directories (the live cases are in tests/e2e)."""

from __future__ import annotations

import fcntl
import io
import os
from pathlib import Path

import pytest

from daemon.datadir.backup import Refused, backup, restore
from daemon.datadir.progress import Progress
from daemon.datadir.verify import verify
from daemon.errors import DataDirLocked
from daemon.storage import LOCK_FILE
from tests.daemon.test_verify import make_data_dir


def test_a_backup_is_a_data_directory_with_its_manifest(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data")
    stream = io.StringIO()
    report = backup(data, tmp_path / "backup", Progress(stream))
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["backup.json", "lmdb", "secret"]
    assert (tmp_path / "backup" / "secret").read_bytes() == (data / "secret").read_bytes()
    assert report.commit_seq == verify(data, Progress(None)).commit_seq and report.objects == 6
    assert report.bytes <= report.source_bytes
    assert stream.getvalue().startswith("backup: ")
    assert verify(tmp_path / "backup", Progress(None)).ok
    assert not list(tmp_path.glob(".backup.partial-*"))
    assert (tmp_path / "backup").stat().st_mode & 0o077 == 0


def test_a_backup_never_overwrites(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("mine")
    with pytest.raises(Refused, match="already exists"):
        backup(data, tmp_path / "taken", Progress(None))
    (tmp_path / "empty").mkdir()
    assert backup(data, tmp_path / "empty", Progress(None)).objects == 6


def test_restore_replaces_only_with_force_and_only_when_unlocked(tmp_path: Path) -> None:
    backup(make_data_dir(tmp_path / "one", objects=1, secret=bytes(range(1, 33))), tmp_path / "backup",
           Progress(None))
    target = make_data_dir(tmp_path / "two", objects=3)
    with pytest.raises(Refused, match="--force"):
        restore(tmp_path / "backup", target, Progress(None))
    fd = os.open(target / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DataDirLocked, match="in use"):
            restore(tmp_path / "backup", target, Progress(None), force=True)
    finally:
        os.close(fd)
    report = restore(tmp_path / "backup", target, Progress(None), force=True)
    assert report.replaced and report.objects == 2
    assert verify(target, Progress(None)).objects == 2
    assert (target / "secret").read_bytes() == bytes(range(1, 33))
    assert sorted(p.name for p in target.iterdir()) == sorted([LOCK_FILE, "lmdb", "secret"])


def test_a_damaged_backup_is_not_restored(tmp_path: Path) -> None:
    backup(make_data_dir(tmp_path / "data", objects=1), tmp_path / "backup", Progress(None))
    (tmp_path / "backup" / "secret").write_bytes(bytes(32))
    with pytest.raises(Refused, match="problems"):
        restore(tmp_path / "backup", tmp_path / "fresh", Progress(None))
    assert not (tmp_path / "fresh" / "lmdb").exists()
