"""The Python clients' round trips, measured the way the Java bridge's benchmark measures its own.

Run by bridge/java's ClientBench against the daemon it started, so both clients appear in one
table: lockstep read and durable-write latency with the synchronous ``Client`` (one REQ socket,
one request in flight), then pipelined read and write throughput with ``AsyncClient`` (one DEALER
socket, up to ``--window`` requests in flight, writes spread over 64 objects so they share
commits; a count of 0 skips that phase). Every write carries an idempotency key, as with the
clients' default retries. Prints one JSON object: latencies in milliseconds, throughputs in
requests per second.

Usage: python bench/clients.py --rpc tcp://127.0.0.1:PORT [--reads N] [--writes N]
       [--pipelined-reads N] [--pipelined-writes N] [--window N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bridge import AsyncClient, Client

pc = time.perf_counter_ns
OBJECTS = 64
WARM_UP = 500


def agent_state() -> dict[str, Any]:
    """A ~300-byte agent state, the same as the Java benchmark's."""
    return {
        "name": "steve-42",
        "health": 20,
        "maxHealth": 20,
        "position": {"x": 120.5, "y": 64.0, "z": -33.25},
        "inventory": [
            {"type": "oak_log", "count": 12, "slot": 0},
            {"type": "cobblestone", "count": 64, "slot": 1},
            {"type": "bread", "count": 5, "slot": 2},
            {"type": "iron_pickaxe", "count": 1, "slot": 3},
        ],
        "tasks": [{"kind": "gather", "item": "oak_log", "goal": 64}, {"kind": "build", "item": "hut"}],
        "stats": {"blocksMined": 1200, "ticksAlive": 480000},
    }


def percentile_ms(samples: list[int], q: float) -> float:
    """The ``q`` quantile of nanosecond samples, in milliseconds (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def lockstep(rpc: str, reads: int, writes: int) -> dict[str, float]:
    """Read and write latency, one request at a time."""
    state = agent_state()
    with Client(rpc, timeout=30.0) as client:
        steve = client.object("Agent", "bench-python")
        steve.put("state", state)
        for _ in range(WARM_UP):
            steve.get("state")
        read_ns: list[int] = []
        for _ in range(reads):
            started = pc()
            steve.get("state")
            read_ns.append(pc() - started)
        write_ns: list[int] = []
        for _ in range(writes):
            started = pc()
            steve.put("state", state)
            write_ns.append(pc() - started)
    return {
        "read_p50_ms": percentile_ms(read_ns, 0.50),
        "read_p99_ms": percentile_ms(read_ns, 0.99),
        "write_p50_ms": percentile_ms(write_ns, 0.50),
        "write_p99_ms": percentile_ms(write_ns, 0.99),
    }


async def pipelined(rpc: str, total: int, window: int, write: bool) -> float:
    """Requests per second with up to ``window`` in flight on one connection."""
    state = agent_state()
    targets = [{"class": "Agent", "name": f"bench-python-{i}"} for i in range(OBJECTS)]
    slots = asyncio.Semaphore(window)
    async with AsyncClient(rpc, timeout=60.0) as client:
        for target in targets:
            await client.call("storage.put", target, {"key": "state", "value": state})

        async def one(i: int) -> None:
            async with slots:
                target = targets[i % OBJECTS]
                if write:
                    await client.call("storage.put", target, {"key": "state", "value": state})
                else:
                    await client.call("storage.get", target, {"key": "state"})

        started = pc()
        await asyncio.gather(*(one(i) for i in range(total)))
        return total / ((pc() - started) / 1e9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rpc", required=True, help="the daemon's RPC endpoint")
    ap.add_argument("--reads", type=int, default=5000)
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--pipelined-reads", type=int, default=20000)
    ap.add_argument("--pipelined-writes", type=int, default=5000)
    ap.add_argument("--window", type=int, default=256)
    args = ap.parse_args()
    figures = lockstep(args.rpc, args.reads, args.writes)
    if args.pipelined_reads:
        figures["pipelined_read_per_s"] = asyncio.run(pipelined(args.rpc, args.pipelined_reads, args.window, False))
    if args.pipelined_writes:
        figures["pipelined_write_per_s"] = asyncio.run(pipelined(args.rpc, args.pipelined_writes, args.window, True))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
