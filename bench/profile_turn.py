"""Where a pipelined request's CPU goes, stage by stage, in one process (no sockets, no client).

A real Store in a temporary directory and the daemon's Runtime with the built-in classes run the
server loop's phases on pre-built batch frames, each phase timed on its own (thread CPU time, so a
busy neighbour does not count): parsing the frame, the turns, the commit (its CPU; the fsync
wait is wall time and shown apart), encoding the reply array, encoding the change stream's
messages for a subscriber to everything, and freeing the cycle's objects at its end (out of the
CPU's cache by then, which makes it dearer than it looks); the garbage collector is set as the
daemon sets it. Then the parts of one Agent.move turn, each timed alone in a loop: decoding the
state record, reading it from LMDB, encoding the record, and the whole turn.

Usage: python bench/profile_turn.py [--agents 1000] [--batch 256] [--rounds 40] [--ops move,put,get]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

if __package__ in (None, ""):  # run as a script: the repository's root makes bench a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import loop_rate
from bench.systems import agent_state
from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime
from daemon.runtime.classes import load_classes
from daemon.runtime.object_storage import ObjectStorage
from daemon.server.batches import Inbox, read_batch
from daemon.server.stream import change_body
from daemon.service.app import GC_THRESHOLDS
from daemon.storage import Store, StoreOptions
from schemas.agent import AGENT_STATE
from schemas.wire import encode, request

STAGES = ("parse", "turns", "commit CPU", "replies", "publish", "free")
now_cpu = time.thread_time_ns


def frame(op: str, picks: list[int], rng: random.Random, first_id: int) -> bytes:
    """A batch frame of ``op`` on the agents ``picks``."""
    elements = []
    for offset, a in enumerate(picks):
        target = {"class": "Agent", "name": f"steve-{a}"}
        if op == "move":
            args: dict[str, Any] = {"x": rng.uniform(-500, 500), "y": 64.0, "z": rng.uniform(-500, 500)}
            elements.append(request(first_id + offset, "Agent.move", target, args))
        elif op == "put":
            args = {"key": "blob", "value": agent_state(a, rng)}
            elements.append(request(first_id + offset, "storage.put", target, args))
        else:
            elements.append(request(first_id + offset, "storage.get", target, {"key": "blob"}))
    head: bytes = msgpack.Packer().pack_array_header(len(elements))
    return head + b"".join(encode(element) for element in elements)


def run_round(runtime: Runtime, body: bytes, limit: int) -> tuple[dict[str, float], float]:
    """One cycle on ``body``: CPU ns of each stage, and the commit's wall ns."""
    spent: dict[str, float] = {}
    t = now_cpu()
    slots = read_batch(body, limit, 1 << 20)
    assert isinstance(slots, list)
    inbox = Inbox(limit)
    inbox.add([b"peer"], slots)
    spent["parse"] = now_cpu() - t
    t = now_cpu()
    cycle = runtime.cycle(inbox.requests)
    early = set(cycle.run_turns())
    spent["turns"] = now_cpu() - t
    t, wall = now_cpu(), time.perf_counter_ns()
    result = cycle.commit()
    spent["commit CPU"], commit_wall = now_cpu() - t, time.perf_counter_ns() - wall
    t = now_cpu()
    sent = list(inbox.ready(early, cycle.reply)) + list(inbox.rest(result.replies))
    spent["replies"] = now_cpu() - t
    assert all(b'"ok": false' not in body for _, body in sent)
    bad = [reply for reply in result.replies if not reply["ok"]]
    assert not bad, bad[:1]
    t = now_cpu()
    for event in result.events:
        change_body(event)
    for _, notice in result.notices:
        encode(notice)
    spent["publish"] = now_cpu() - t
    t = now_cpu()
    del slots, inbox, cycle, early, result, sent, bad  # the server drops a cycle's objects when it is done
    spent["free"] = now_cpu() - t
    return spent, commit_wall


def profile(runtime: Runtime, op: str, agents: int, batch: int, rounds: int) -> None:
    rng = random.Random(7)
    bodies = [frame(op, [rng.randrange(agents) for _ in range(batch)], rng, r * batch) for r in range(rounds)]
    totals: dict[str, list[float]] = {stage: [] for stage in STAGES}
    walls = []
    for body in bodies:
        spent, wall = run_round(runtime, body, 16 << 20)
        for stage in STAGES:
            totals[stage].append(spent[stage] / batch / 1e3)
        walls.append(wall / 1e3)
    median = {stage: statistics.median(values) for stage, values in totals.items()}
    cells = "  ".join(f"{stage} {median[stage]:5.2f}" for stage in STAGES)
    print(f"{op:5} {cells}  | total {sum(median.values()):6.2f} us CPU/op;"
          f" commit wall {statistics.median(walls):7.0f} us/cycle")


def time_loop(name: str, action: Callable[[], object], count: int = 20_000) -> None:
    action()
    t = now_cpu()
    for _ in range(count):
        action()
    print(f"  {name:44} {(now_cpu() - t) / count / 1e3:6.2f} us")


def move_parts(runtime: Runtime) -> None:
    """The parts of an Agent.move turn, each alone in a loop."""
    print("\nAgent.move, part by part (each alone in a loop, CPU us per call):")
    ref = runtime.resolve({"class": "Agent", "name": "steve-1"})
    txn = runtime.store.begin()
    try:
        packed = txn.read(ref, b"state")
        assert packed is not None
        state = AGENT_STATE.decode(packed)
        storage = ObjectStorage(txn, ref)
        args = {"x": 1.5, "y": 64.0, "z": -3.25}
        target = {"class": "Agent", "name": "steve-1"}
        time_loop("resolve the target", lambda: runtime.resolve(target))
        time_loop("LMDB read of the state (txn.read)", lambda: txn.read(ref, b"state"))
        time_loop("decode the state record", lambda: AGENT_STATE.decode(packed))
        time_loop("encode the state record", lambda: AGENT_STATE.encode(state))
        time_loop("storage view + get_record", lambda: ObjectStorage(txn, ref).get_record("state", AGENT_STATE))
        time_loop("put_record", lambda: storage.put_record("state", AGENT_STATE, state))
        move = Request(1, "Agent.move", target, args, None)
        time_loop("a whole turn (runtime.turn, not applied)", lambda: runtime.turn(txn, move, 1, []))
    finally:
        txn.abort()


def populate(runtime: Runtime, agents: int) -> None:
    """Spawn ``agents`` agents and give each a ~300-byte ``blob``, 500 to a cycle."""
    rng = random.Random(1)
    for start in range(0, agents, 500):
        names = [(i, {"class": "Agent", "name": f"steve-{i}"}) for i in range(start, min(start + 500, agents))]
        runtime.run_cycle([Request(i, "Agent.init", target, {}, None) for i, target in names])
        runtime.run_cycle([Request(i, "storage.put", target, {"key": "blob", "value": agent_state(i, rng)}, None)
                           for i, target in names])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=256, help="requests per batch frame (one cycle each)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--ops", default="move,put,get")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lodestone-profile-") as tmp:
        store = Store(Path(tmp) / "data", StoreOptions(map_size=1 << 30))
        store.open()
        runtime = Runtime(store, IdFactory(bytes(range(32))), "profile", classes=load_classes(["daemon.world"]))
        populate(runtime, args.agents)
        gc.collect()  # as the daemon does once it is ready (daemon/service/app.py)
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        print(f"{args.agents:,} agents, {args.batch} requests per batch frame (one cycle each), {args.rounds} rounds;"
              f" medians of CPU us per request; CPU speed gauge {loop_rate():.1f}:")
        for op in args.ops.split(","):
            profile(runtime, op, args.agents, args.batch, args.rounds)
        move_parts(runtime)
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
