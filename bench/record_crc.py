"""What the CRC of each object record costs: puts and reads with it and without it, in one process.

Object records carry a CRC-32 of their key and value (daemon/storage/keyspace.py),
made on every put and checked on every read. This runs the same requests with
the CRC and with the record format from before it (format 1: no CRC), taking
turns round by round so that the machine's drift falls on both alike, and
prints the median per request: a put's turn (the turn and the apply into the
cycle's transaction, no commit), a read's turn, and a whole cycle of 64 puts
with its commit and fsync.

Usage: python bench/record_crc.py [--sizes 100,1000,10000,100000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions, keyspace

WITH_CRC = keyspace.pack_record
REQUESTS = 256


def without_crc(key: bytes, packed: bytes) -> bytes:
    """A record as it was stored before the CRC (formats 1 and 2), which reads still accept unchecked."""
    if len(key) <= keyspace.SHORT_KEY_BYTES:
        return b"\x01" + packed
    return b"\x02" + len(key).to_bytes(2, "big") + key + packed


def measure(runtime: Runtime, size: int, rounds: int) -> dict[tuple[str, str], float]:
    """Median seconds per request (per cycle for "cycle"), by (what, "crc" or "none")."""
    value = "x" * size
    puts = [Request(i, "storage.put", {"class": "Chest", "name": f"c{i % 64}"}, {"key": f"k{i}", "value": value}, None)
            for i in range(REQUESTS)]
    gets = [Request(i, "storage.get", {"class": "Chest", "name": f"c{i % 64}"}, {"key": f"k{i}"}, None)
            for i in range(REQUESTS)]
    samples: dict[tuple[str, str], list[float]] = {}
    for turn in range(rounds):
        modes = [("crc", WITH_CRC), ("none", without_crc)]
        for mode, pack in modes if turn % 2 else reversed(modes):
            keyspace.pack_record = pack  # type: ignore[assignment]
            for what, requests in (("put", puts), ("get", gets)):
                cycle = runtime.cycle(requests)
                started = time.perf_counter()
                cycle.run_turns()
                samples.setdefault((what, mode), []).append((time.perf_counter() - started) / REQUESTS)
                cycle.commit()
            started = time.perf_counter()
            runtime.run_cycle(puts[:64])
            samples.setdefault(("cycle", mode), []).append(time.perf_counter() - started)
    keyspace.pack_record = WITH_CRC
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000", help="value sizes in bytes, comma-separated")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "data", StoreOptions(map_size=1 << 32))
        store.open()
        try:
            runtime = Runtime(store, IdFactory(bytes(32)), "bench")
            print("| value | put turn (us): no CRC | CRC | get turn (us): no CRC | CRC "
                  "| 64-put cycle with fsync (ms): no CRC | CRC |")
            print("|---|---|---|---|---|---|---|")
            for size in (int(part) for part in args.sizes.split(",")):
                m = measure(runtime, size, args.rounds)
                print(f"| {size:,} B | {m['put', 'none'] * 1e6:.2f} | {m['put', 'crc'] * 1e6:.2f} "
                      f"| {m['get', 'none'] * 1e6:.2f} | {m['get', 'crc'] * 1e6:.2f} "
                      f"| {m['cycle', 'none'] * 1e3:.3f} | {m['cycle', 'crc'] * 1e3:.3f} |", flush=True)
        finally:
            store.close()


if __name__ == "__main__":
    main()
