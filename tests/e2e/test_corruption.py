"""A damaged data file: verify reports it and never crashes; the daemon refuses it with a sentence.

Truncations at many lengths and flipped bits at many offsets of a real data
file. Each case is checked in one worker process, so that a crash (a
traceback, or a signal such as SIGBUS) fails the test instead of passing
unseen; the worker also reads every database back, so the test knows which
flips changed what LMDB returns: every one of those must be reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bridge import Client, LodestoneError
from daemon.cli import EXIT_BAD_DATA
from tests.conftest import REPO, DaemonProcess, running_daemon

WORKER = """
import hashlib, json, sys
from pathlib import Path
import lmdb
from daemon.datadir.progress import Progress
from daemon.datadir.verify import verify
from daemon.errors import DataDamaged
from daemon.storage import Store, StoreOptions
from daemon.storage.isolated import run_isolated

def contents(lmdb_dir):
    # What LMDB returns for every key of every database, as one digest, read in a child: LMDB may abort.
    def read(emit):
        digest = hashlib.sha256()
        with lmdb.open(str(lmdb_dir), readonly=True, lock=False, max_dbs=64) as env, env.begin() as txn:
            for name in [bytes(key) for key, _ in txn.cursor()]:
                for key, value in txn.cursor(env.open_db(name, txn=txn, create=False)):
                    digest.update(name + len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
        emit(digest.hexdigest())
    lines = []
    died = run_isolated(read, lines.append)
    return f"died: {died.name}" if died is not None else " ".join(lines)

for case in map(Path, sys.argv[1:]):
    report = verify(case, Progress(None))
    store = Store(case, StoreOptions(map_size=1 << 24))
    try:
        store.open()
        opened = "opened"
    except DataDamaged as exc:
        opened = "refused: " + str(exc)
    finally:
        store.close()
    changed = "truncated" if case.name.startswith("cut") else contents(case / "lmdb")
    print(json.dumps({"case": case.name, "problems": report.problems, "open": opened, "contents": changed}),
          flush=True)
"""


def seeded(tmp_path: Path) -> Path:
    """A data directory a real daemon wrote: 20 objects of 20 keys, small and large values, then stopped.

    Written without idempotency keys, whose random bytes would move records between runs: the
    offsets flipped below then land on the same kind of byte every time.
    """
    proc = next(running_daemon(tmp_path))
    with Client(proc.rpc, retries=0) as client:
        for i in range(20):
            client.object("Chest", f"chest-{i}").put_many({f"slot-{j}": {"item": f"log-{i}-{j}"} for j in range(20)})
        client.object("Chest", "big").put("blob", "b" * 20_000)
    assert proc.stop() == 0
    return proc.data_dir


def damaged_copies(base: Path, into: Path) -> list[Path]:
    data = (base / "lmdb" / "data.mdb").read_bytes()
    cases: list[tuple[str, bytes]] = []
    for length in sorted({0, 100, 4096, 4097, 8191, 8192, *range(12_288, len(data), len(data) // 12), len(data) - 1}):
        cases.append((f"cut-{length}", data[:length]))
    step = len(data) // 90
    page_flags = range(2 * 4096 + 10, len(data), 4096)  # each page's type: LMDB finds those damaged itself
    for offset in sorted({*range(7, len(data), step), *page_flags}):
        flipped = bytearray(data)
        flipped[offset] ^= 0x03 if offset in page_flags else 1 << (offset % 8)  # branch <-> leaf
        cases.append((f"flip-{offset}", bytes(flipped)))
    copies = []
    for name, content in cases:
        copy = into / name
        shutil.copytree(base, copy)
        (copy / "lmdb" / "data.mdb").write_bytes(content)
        copies.append(copy)
    return copies


def test_verify_never_crashes_and_catches_every_change_and_start_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "seed").mkdir()
    base = seeded(tmp_path / "seed")
    copies = damaged_copies(base, tmp_path / "cases")
    worker = subprocess.run([sys.executable, "-c", WORKER, str(base), *map(str, copies)], cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False)
    assert worker.returncode == 0, f"the worker crashed (exit {worker.returncode}):\n{worker.stderr[-3000:]}"
    results: list[dict[str, Any]] = [json.loads(line) for line in worker.stdout.splitlines()]
    assert len(results) == len(copies) + 1
    healthy, *damaged = results
    assert healthy["problems"] == [] and healthy["open"] == "opened"
    changed = 0
    for result in damaged:
        if result["case"].startswith("cut"):
            assert result["problems"], result
            assert result["open"].startswith("refused: the data file") and "data.mdb" in result["open"], result
        elif result["contents"] != healthy["contents"]:
            changed += 1
            assert result["problems"], f"a flip that changed what LMDB returns went unreported: {result}"
        assert result["open"] == "opened" or result["open"].startswith("refused: "), result
    assert changed >= 10, "the flips should reach stored records, not only free space"
    problems = [problem for result in damaged for problem in result["problems"]]
    assert any("checksum" in problem for problem in problems), "some flips should land in values"
    assert any("cannot be read to the end" in problem for problem in problems), "some should break LMDB's pages"
    assert any("own consistency checks (SIGABRT)" in problem for problem in problems), "and some make LMDB abort"


def lodestone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_flipped_byte_in_a_value_is_found_by_verify_and_refused_by_reads(tmp_path: Path) -> None:
    """A flip inside a value that still decodes (a letter of a string) is caught by the record's CRC."""
    data = seeded(tmp_path)
    data_file = data / "lmdb" / "data.mdb"
    content = bytearray(data_file.read_bytes())
    at = content.index(b"log-7-3")
    content[at] = ord("f")  # "fog-7-3": still a valid msgpack string
    data_file.write_bytes(bytes(content))
    checked = lodestone("verify", "--data-dir", str(data))
    assert checked.returncode == EXIT_BAD_DATA, checked.stdout + checked.stderr
    assert "key b'slot-3'" in checked.stdout and "checksum" in checked.stdout
    proc = DaemonProcess(data).start()
    try:
        with Client(proc.rpc) as client:
            chest = client.object("Chest", "chest-7")
            try:
                chest.get("slot-3")
                raise AssertionError("a damaged record must not be returned")
            except LodestoneError as exc:
                assert "damaged" in str(exc)
            assert chest.get("slot-4") == {"item": "log-7-4"}
    finally:
        proc.kill()


def test_verify_and_backup_of_a_truncated_file_exit_65_with_a_sentence(tmp_path: Path) -> None:
    data = seeded(tmp_path)
    data_file = data / "lmdb" / "data.mdb"
    os.truncate(data_file, data_file.stat().st_size // 2)
    checked = lodestone("verify", "--data-dir", str(data))
    assert checked.returncode == EXIT_BAD_DATA and "cut short" in checked.stdout, checked.stdout + checked.stderr
    made = lodestone("backup", str(tmp_path / "backup"), "--data-dir", str(data))
    assert made.returncode == EXIT_BAD_DATA and "cut short" in made.stderr, made.stderr
    for done in (checked, made):
        assert "Traceback" not in done.stderr


def test_a_damaged_page_that_start_up_reads_is_refused_not_aborted_on(tmp_path: Path) -> None:
    """The due-alarm index's page claims to be a branch: LMDB aborts (SIGABRT) on reading it, which
    start-up does to arm alarms; the daemon probes those pages in a child first and refuses with 65."""
    proc = next(running_daemon(tmp_path))
    at_ms = 9_000_000_000_000
    with Client(proc.rpc) as client:
        client.object("Chest", "timed").put("k", 1)
        client.call("alarm.set", {"class": "Chest", "name": "timed"}, {"at_ms": at_ms})
        object_id = bytes.fromhex(client.id_from_name("Chest", "timed"))
    assert proc.stop() == 0
    data_file = proc.data_dir / "lmdb" / "data.mdb"
    content = bytearray(data_file.read_bytes())
    page = content.index(at_ms.to_bytes(8, "big") + object_id) // 4096
    content[page * 4096 + 10] ^= 0x03  # the page's flags: leaf -> branch
    data_file.write_bytes(bytes(content))
    done = subprocess.run([sys.executable, "-m", "daemon", "serve", "--data-dir", str(proc.data_dir),
                           "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == EXIT_BAD_DATA, (done.returncode, done.stderr[-2000:])
    assert f"cannot read the data in {proc.data_dir / 'lmdb'}" in done.stderr and "lodestone restore" in done.stderr
