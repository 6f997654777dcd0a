"""Migration benchmark: the eager ``migrate`` rate, and what lazy migration adds to a read.

1. Eager: N objects (100,000 by default) each holding a v1 AgentState record
   are upgraded by ``daemon.record_migration.migrate`` (one transaction and
   one fsync per object, as ``lodestone migrate`` does); prints objects/s.
2. Lazy: ``get_record`` of a v1 record (migrated in memory on the way out)
   against ``get_record`` of a current one, each in its own cycle; prints
   p50/p99 of both.

Usage: python bench/migration.py [--objects 100000] [--reads 5000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from daemon.datadir.progress import Progress
from daemon.datadir.record_migration import migrate
from daemon.ids import IdFactory
from daemon.model import ObjectRef
from daemon.runtime.classes import ObjectClass
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import Store, StoreOptions
from schemas.agent import AGENT_STATE

V1 = {"health": 17, "position": {"x": 100.5, "y": 64.0, "z": -200.25}}


class Steve(ObjectClass):
    name = "Steve"
    records = {"state": AGENT_STATE}  # noqa: RUF012 - a benchmark's own class


def refs(prefix: str, count: int) -> list[ObjectRef]:
    ids = IdFactory(bytes(32))
    return [ObjectRef("Steve", ids.from_name("Steve", f"{prefix}{i}"), f"{prefix}{i}") for i in range(count)]


def write_states(store: Store, objects: list[ObjectRef], version: int) -> None:
    """Store a ``version`` AgentState record under ``state`` for every object, 1,000 per commit."""
    encoded = AGENT_STATE.encode(AGENT_STATE.upgrade(dict(V1), 1), version) if version > 1 else None
    for start in range(0, len(objects), 1000):
        cycle = store.begin(1000)
        for ref in objects[start:start + 1000]:
            storage = ObjectStorage(cycle, ref)
            storage.put("state", {"_type": "AgentState", "_v": 1, **V1})
            if encoded is not None:
                storage.changes.entries[b"state"].packed = encoded
            cycle.apply(storage.changes)
        cycle.commit()


def read_latencies(store: Store, objects: list[ObjectRef]) -> list[float]:
    samples = []
    for ref in objects:
        started = time.perf_counter()
        cycle = store.begin()
        ObjectStorage(cycle, ref).get_record("state", AGENT_STATE)
        cycle.commit()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def pct(samples: list[float], q: float) -> float:
    return sorted(samples)[int(q * (len(samples) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=5_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lodestone-migration-"))
    try:
        store = Store(root / "data", StoreOptions(map_size=1 << 33))
        store.open()
        started = time.perf_counter()
        write_states(store, refs("s", args.objects), 1)
        print(f"wrote {args.objects:,} v1 records in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        report = migrate(store, {"Steve": Steve}, dry_run=False, progress=Progress(None))
        eager_s = time.perf_counter() - started
        print("\n| objects | upgraded | seconds | objects/s |\n|---|---|---|---|")
        print(f"| {report.objects:,} | {report.upgraded:,} | {eager_s:.1f} | {report.objects / eager_s:,.0f} |")

        old, new = refs("old", args.reads), refs("new", args.reads)
        write_states(store, old, 1)
        write_states(store, new, AGENT_STATE.current)
        read_latencies(store, old[:200] + new[:200])  # warm the handles and caches
        lazy, plain = read_latencies(store, old), read_latencies(store, new)
        print(f"\n| read (one cycle each, {args.reads:,} objects) | p50 (us) | p99 (us) | mean (us) |")
        print("|---|---|---|---|")
        for label, samples in ((f"v1 record, migrated to v{AGENT_STATE.current} on read", lazy),
                               (f"v{AGENT_STATE.current} record, no migration", plain)):
            print(f"| {label} | {pct(samples, 0.5):.0f} | {pct(samples, 0.99):.0f} | {statistics.mean(samples):.0f} |")
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
