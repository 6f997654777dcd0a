"""How the one-sub-database-per-object layout scales with the number of objects.

For each object count: create the objects (one 300-byte state each, 1,000 per
commit, as the server's cycles would), then measure on real LMDB files: the data file's size per object;
opening the store (start-up) with that many objects stored; touching every
object once (opening its sub-database handle); an empty write transaction
(the fixed cost every cycle pays, which grows with max_dbs); and a cycle of
64 puts to random objects with its fsync (group commit). Prints a table.

Usage: python bench/capacity.py [--objects 1000,10000,50000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from daemon.ids import IdFactory
from daemon.model import ObjectRef
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import Store, StoreOptions

STATE = {"name": "steve", "health": 20, "position": {"x": 1.5, "y": 64.0, "z": -3.0}, "pad": "x" * 220}


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``action`` over ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def refs(count: int) -> list[ObjectRef]:
    ids = IdFactory(bytes(32))
    return [ObjectRef("Agent", ids.from_name("Agent", f"steve-{i}"), f"steve-{i}") for i in range(count)]


def populate(store: Store, objects: list[ObjectRef]) -> None:
    for start in range(0, len(objects), 1000):
        cycle = store.begin(1000)
        for ref in objects[start:start + 1000]:
            storage = ObjectStorage(cycle, ref)
            storage.put("state", STATE)
            cycle.apply(storage.changes)
        cycle.commit()


def measure(count: int, root: Path) -> dict[str, float]:
    objects = refs(count)
    path = root / f"n{count}"
    store = Store(path, StoreOptions(map_size=1 << 32))
    store.open()
    started = time.perf_counter()
    populate(store, objects)
    create_s = time.perf_counter() - started
    store.close()

    started = time.perf_counter()
    store = Store(path, StoreOptions(map_size=1 << 32))
    store.open()
    open_s = time.perf_counter() - started

    def touch_all() -> None:
        for start in range(0, count, 1000):
            cycle = store.begin(1000)
            for ref in objects[start:start + 1000]:
                ObjectStorage(cycle, ref).get("state")
            cycle.commit()

    started = time.perf_counter()
    touch_all()
    touch_s = time.perf_counter() - started

    def empty_cycle() -> None:
        store.begin().commit()

    rng = random.Random(1)

    def put_cycle() -> None:
        cycle = store.begin(64)
        for ref in rng.sample(objects, 64):
            storage = ObjectStorage(cycle, ref)
            storage.put("state", STATE)
            cycle.apply(storage.changes)
        cycle.commit()

    result = {
        "create_s": create_s,
        "bytes_per_object": (path / "lmdb" / "data.mdb").stat().st_size / count,
        "open_s": open_s,
        "touch_all_s": touch_s,
        "max_dbs": store.stats()["max_dbs"],
        "empty_cycle_us": timed(empty_cycle, 300) * 1e6,
        "put64_cycle_ms": timed(put_cycle, 50) * 1e3,
    }
    store.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="1000,10000,50000")
    args = parser.parse_args()
    counts = [int(n) for n in args.objects.split(",")]
    root = Path(tempfile.mkdtemp(prefix="lodestone-capacity-"))
    try:
        print("| objects | create (s) | data file per object | open (s) | first touch of all (s) | max_dbs "
              "| empty cycle (us, median) | 64-put cycle with fsync (ms, median) |")
        print("|---|---|---|---|---|---|---|---|")
        for count in counts:
            r = measure(count, root)
            print(f"| {count:,} | {r['create_s']:.2f} | {r['bytes_per_object']:,.0f} B | {r['open_s']:.3f} "
                  f"| {r['touch_all_s']:.2f} | {r['max_dbs']:,.0f} | {r['empty_cycle_us']:.0f} "
                  f"| {r['put64_cycle_ms']:.2f} |", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
