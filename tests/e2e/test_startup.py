"""Start-up errors: each gets its own exit code and a sentence, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from daemon.cli import EXIT_BAD_DATA, EXIT_CONFIG, EXIT_LOCKED, EXIT_SYSTEM
from tests.conftest import REPO, SECRET


def serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(data_dir),
               "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def test_a_damaged_secret_exits_65_with_a_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret").write_bytes(b"too short")
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA
    assert "secret" in done.stderr and "damaged" in done.stderr and "Traceback" not in done.stderr


def test_an_address_in_use_exits_71_so_systemd_retries(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret").write_bytes(SECRET)
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
    (data / "secret").write_bytes(SECRET)
    with lmdb.open(str(data / "lmdb"), max_dbs=16) as env, env.begin(write=True) as txn:
        record = {"v": 99, "applied": [], "namespaces": {}, "retired": {}}
        txn.put(CLASS_MIGRATIONS, msgpack.packb(record), db=env.open_db(META_DB, txn=txn))
    done = serve(data)
    assert done.returncode == EXIT_BAD_DATA
    assert "newer Lodestone" in done.stderr and "Traceback" not in done.stderr


def test_exit_codes_differ_for_each_kind_of_failure() -> None:
    assert len({EXIT_BAD_DATA, EXIT_CONFIG, EXIT_LOCKED, EXIT_SYSTEM}) == 4
