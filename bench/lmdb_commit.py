"""What an agent's durable write costs in LMDB alone, split into user and kernel CPU, by cycle size.

The stack's floor (bench/floor.py) keeps one sub-database per agent, as Lodestone does, and
commits each cycle with fsync. This takes Python, ZeroMQ and the rest of the floor away and
runs only the storage part of ``Agent.move`` in one process: read the agent's ~300-byte msgpack
state, decode it, update the position, encode it, put it back, and commit the cycle (or abort
it, to see what the commit adds). It prints, per write, the thread's user and kernel (system)
CPU time from ``getrusage``, medians and ranges over ``--rounds``. The kernel's share is the
page cache copies and the write-back of the pages each commit dirties: at least one 4 KiB leaf
page per agent written, plus the main database's pages that record the sub-databases.

Usage: python bench/lmdb_commit.py [--agents 1000] [--cycles 32,256] [--rounds 5] [--repeat 200]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import lmdb
import msgpack

if __package__ in (None, ""):  # run as a script: the repository's root makes bench a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.systems import agent_state


def populate(env: lmdb.Environment, agents: int) -> list[Any]:
    """One sub-database per agent, each holding its state record; the handles, by agent."""
    rng = random.Random(agents)
    handles = []
    with env.begin(write=True) as txn:
        for i in range(agents):
            db = env.open_db(f"Agent:steve-{i}".encode(), txn=txn)
            txn.put(b"state", msgpack.packb(agent_state(i, rng)), db=db)
            handles.append(db)
    return handles


def run(env: lmdb.Environment, handles: list[Any], cycle: int, repeat: int, commit: bool) -> tuple[float, float]:
    """User and kernel CPU seconds per write over ``repeat`` cycles of ``cycle`` writes each."""
    rng = random.Random(cycle)
    before = resource.getrusage(resource.RUSAGE_THREAD)
    for n in range(repeat):
        txn = env.begin(write=True)
        for db in rng.choices(handles, k=cycle):
            state = msgpack.unpackb(txn.get(b"state", db=db))
            state["position"] = {"x": float(n), "y": 64.0, "z": float(-n)}
            state["lastSeen"] = n
            txn.put(b"state", msgpack.packb(state), db=db)
        if commit:
            txn.commit()
        else:
            txn.abort()
    after = resource.getrusage(resource.RUSAGE_THREAD)
    writes = cycle * repeat
    return (after.ru_utime - before.ru_utime) / writes, (after.ru_stime - before.ru_stime) / writes


def cell(values: list[float]) -> str:
    us = [v * 1e6 for v in values]
    return f"{statistics.median(us):.1f} ({min(us):.1f}-{max(us):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--cycles", default="32,256", help="writes per cycle (comma-separated)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=200, help="cycles per round")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lodestone-lmdb-") as tmp:
        env = lmdb.open(tmp, map_size=1 << 32, max_dbs=args.agents + 16)
        handles = populate(env, args.agents)
        print(f"{args.agents:,} agents, one sub-database each; "
              f"CPU us per write, median (range) of {args.rounds} rounds")
        print()
        print("| writes per cycle | abort: user | abort: kernel | commit+fsync: user | commit+fsync: kernel |")
        print("|---|---|---|---|---|")
        for cycle in (int(c) for c in args.cycles.split(",")):
            samples: dict[tuple[bool, int], list[float]] = {}
            for _ in range(args.rounds):  # the two modes take turns, so drift falls on both
                for commit in (False, True):
                    user, kernel = run(env, handles, cycle, args.repeat, commit)
                    samples.setdefault((commit, 0), []).append(user)
                    samples.setdefault((commit, 1), []).append(kernel)
            row = " | ".join(cell(samples[(c, k)]) for c in (False, True) for k in (0, 1))
            print(f"| {cycle} | {row} |")
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
