"""Lodestone operations benchmark: backup, verify and restore time and size by object count.

For each object count: a fresh data directory is filled in-process (every object gets KEYS keys
of ~VALUE bytes, written in cycles of 500 requests), then `lodestone backup`, `verify` (of the
backup) and `restore` run as the operator runs them, each as its own process, and the table
shows wall time, sizes (the source's pages in use, the compacted backup) and throughput.
A copy "under load" runs the backup once more while a daemon on the directory takes writes
from one pipelined client, and reports how many writes were acknowledged during it.

Usage: python bench/backup.py [--objects 1000,10000] [--keys 10] [--value 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bridge import Client  # noqa: E402
from daemon.ids import IdFactory, load_or_create_secret  # noqa: E402
from daemon.model import Request  # noqa: E402
from daemon.runtime import Runtime  # noqa: E402
from daemon.storage import Store, StoreOptions  # noqa: E402

BATCH = 500


def fill(data_dir: Path, objects: int, keys: int, value_bytes: int) -> float:
    """Write ``objects`` Agents of ``keys`` keys; return the seconds it took."""
    started = time.perf_counter()
    store = Store(data_dir, StoreOptions(map_size=1 << 30))
    store.open()
    runtime = Runtime(store, IdFactory(load_or_create_secret(data_dir)), "bench")
    value = {"pad": "x" * value_bytes}
    requests = [
        Request(i, "storage.put", {"class": "Agent", "name": f"steve-{i}"},
                {"entries": {f"k{j}": value for j in range(keys)}}, None)
        for i in range(objects)
    ]
    for start in range(0, objects, BATCH):
        replies = runtime.run_cycle(requests[start:start + BATCH]).replies
        assert all(reply["ok"] for reply in replies), replies[0]
    store.close()
    return time.perf_counter() - started


def lodestone(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - started, done


def under_load(data_dir: Path, dest: Path) -> tuple[float, int]:
    """Backup seconds and writes acknowledged meanwhile, with a daemon serving one writer."""
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon", "serve", "--data-dir", str(data_dir), "--rpc", "tcp://127.0.0.1:*",
         "--pub", "tcp://127.0.0.1:*"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert daemon.stdout is not None
    line = daemon.stdout.readline()
    rpc = dict(part.split("=", 1) for part in line.split() if "=" in part)["rpc"]
    acknowledged = 0
    stop = threading.Event()

    def write() -> None:
        nonlocal acknowledged
        with Client(rpc) as client:
            agent = client.object("Agent", "load")
            while not stop.is_set():
                agent.put(f"k{acknowledged}", acknowledged)
                acknowledged += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        before = acknowledged
        seconds, _ = lodestone("backup", str(dest), "--data-dir", str(data_dir))
        during = acknowledged - before
    finally:
        stop.set()
        writer.join()
        daemon.terminate()
        daemon.wait(30)
    return seconds, during


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="1000,10000")
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--value", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.keys} keys of ~{args.value} bytes per object; times are wall seconds of the whole command\n")
    print("| objects | fill s | in use MiB | backup MiB | backup s | verify s | restore s | backup under load s "
          "| writes acked during it |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for objects in (int(n) for n in args.objects.split(",")):
        with tempfile.TemporaryDirectory(prefix="lodestone-bench-") as tmp:
            root = Path(tmp)
            filled = fill(root / "data", objects, args.keys, args.value)
            backup_s, made = lodestone("backup", str(root / "backup"), "--data-dir", str(root / "data"))
            report = json.loads(made.stdout)
            verify_s, _ = lodestone("verify", "--data-dir", str(root / "backup"))
            restore_s, _ = lodestone("restore", str(root / "backup"), "--data-dir", str(root / "restored"))
            load_s, during = under_load(root / "data", root / "backup-live")
            print(f"| {objects:,} | {filled:.1f} | {report['source_bytes'] / 2**20:.1f} | "
                  f"{report['bytes'] / 2**20:.1f} | {backup_s:.2f} | {verify_s:.2f} | {restore_s:.2f} | "
                  f"{load_s:.2f} | {during:,} |", flush=True)


if __name__ == "__main__":
    main()
