"""Lodestone core benchmark: storage.put/get over ZeroMQ versus Redis HSET/HGET with AOF.

For each agent count: a fresh Lodestone daemon, a fresh "stack floor" server (bench/floor.py: the
same sockets, wire format, LMDB layout and group commit with fsync, and nothing else, so the gap
between it and Lodestone is the price of Lodestone's checks and features, and the gap between it
and Redis is the stack's) and fresh Redis servers (appendfsync always and everysec); every agent's
~300-byte msgpack state is written once, then four timed phases run:
lockstep write/read (one connection, one request in flight; a zmq.REQ socket for Lodestone) and
pipelined write/read (8 connections in one process on one zmq.Poller, each keeping a sliding
window of 64 requests outstanding: a new request goes out as soon as a reply arrives; latency is
send-to-reply, queueing included). Requests are pre-built; agents are picked uniformly at random,
the same sequence for every server. "gen" CPU is this load generator's CPU time over wall time
(100% = one core busy: the generator, not the server, is the limit); "server" is the server's.

Every phase runs --rounds times per system, the systems taking turns, and the table gives each
figure's median over the rounds (the range of rates is listed after it): the disk's fsync time drifts
by tens of percent over minutes, and turns keep that drift from favouring one system.

Usage: python bench/core.py [--quick] [--agents 1000,10000] [--seconds N] [--rounds N] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import zmq

if __package__ in (None, ""):  # run as a script: the repository's root makes bench a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (
    CONNS,
    WINDOW,
    Result,
    header,
    median_of,
    populate,
    run_lockstep,
    run_pipelined,
)
from bench.systems import Ctx, Lodestone, Redis, Workload, start

PHASES = ("lockstep write", "lockstep read", "pipelined write", "pipelined read")
SYSTEMS = ("Lodestone", "Stack floor", "Redis always", "Redis everysec")


def run_phase(t: Lodestone | Redis, w: Workload, phase: str, seconds: float) -> Result:
    """One timed run of ``phase`` against ``t``; prints its line."""
    lockstep, write = phase.startswith("lockstep"), phase.endswith("write")
    reqs, nconns = t.build(w, write, w.picks), 1 if lockstep else CONNS
    conns = [t.conn(reqs, k * len(reqs) // nconns, not write, lockstep) for k in range(nconns)]
    try:
        r = (run_lockstep if lockstep else run_pipelined)(conns, seconds, t.server)
    finally:
        for c in conns:
            c.close()
    t.server.check()
    print(
        f"  {phase:16} {t.name:15} {r.rate:>9,.0f} ops/s  p50 {r.p50:8.1f} us  p99 {r.p99:8.1f} us"
        f"  gen CPU {r.gen_cpu:4.0%}  server CPU {r.srv_cpu:4.0%}"
    )
    if r.errors:
        first = next((c.first_error for c in conns if c.first_error), "no reply")
        print(f"  !!!!! {t.name} {phase}: {r.errors} ERROR REPLIES, first: {first}")
    return r


def bench_targets(
    targets: list[Lodestone | Redis], w: Workload, seconds: float, rounds: int
) -> dict[str, dict[str, Result]]:
    """Every phase, ``rounds`` times, each round running every target in turn (so drift hits all alike)."""
    for t in targets:
        print(f"{t.name}:")
        populate(t, w)
    runs: dict[tuple[str, str], list[Result]] = {}
    for phase in PHASES:
        for round_ in range(rounds):
            turn = targets[round_ % len(targets):] + targets[: round_ % len(targets)]
            for t in turn:
                runs.setdefault((t.name, phase), []).append(run_phase(t, w, phase, seconds))
    return {t.name: {phase: median_of(runs[(t.name, phase)]) for phase in PHASES} for t in targets}


def table(res: dict[tuple[str, int], dict[str, Result]], agents: list[int]) -> str:
    def cell(r: Result | None, lat: bool = True) -> str:
        if r is None:
            return "n/a"
        s = f"{r.rate:,.0f}" + (f" ({r.p50:.0f}/{r.p99:.0f})" if lat else "")
        return s + (f" **{r.errors} ERRORS**" if r.errors else "")

    def ratio(a: Result | None, b: Result | None) -> str:
        return f"{a.rate / b.rate:.2f}x" if a and b and b.rate else "n/a"

    rows = [
        "| agents | phase | Lodestone ops/s | p50 us | p99 us | Stack floor ops/s (p50/p99 us) "
        "| Redis always ops/s (p50/p99 us) | Redis everysec ops/s (p50/p99 us) "
        "| Lodestone / floor | Lodestone / Redis always | Lodestone / Redis everysec |",
        "|" + "---|" * 11,
    ]
    cpu = ["| agents | phase | " + " | ".join(SYSTEMS) + " |", "|" + "---|" * (2 + len(SYSTEMS))]
    spread = list(cpu)
    for n in agents:
        for ph in PHASES:
            lo, fl, ra, re = (res.get((s, n), {}).get(ph) for s in SYSTEMS)
            p50, p99 = (f"{lo.p50:.0f}", f"{lo.p99:.0f}") if lo else ("n/a", "n/a")
            rows.append(
                f"| {n:,} | {ph} | {cell(lo, False)} | {p50} | {p99} | {cell(fl)} | {cell(ra)} | {cell(re)} "
                f"| {ratio(lo, fl)} | {ratio(lo, ra)} | {ratio(lo, re)} |"
            )
            use = [f"{x.gen_cpu:.0%} / {x.srv_cpu:.0%}" if x else "n/a" for x in (lo, fl, ra, re)]
            cpu.append(f"| {n:,} | {ph} | {' | '.join(use)} |")
            ranges = [f"{x.low:,.0f} - {x.high:,.0f}" if x else "n/a" for x in (lo, fl, ra, re)]
            spread.append(f"| {n:,} | {ph} | {' | '.join(ranges)} |")
    lines = [*rows, "", "Lowest - highest ops/s over the rounds:", "", *spread, "",
             "CPU use, load generator / server process (100% = one core):", "", *cpu, ""]
    for s in SYSTEMS if len(agents) > 1 else ():
        a, b = (res.get((s, n), {}).get("pipelined write") for n in (agents[-1], agents[0]))
        lines.append(f"- {s}: pipelined-write ops/s, {agents[-1]:,} / {agents[0]:,} agents = {ratio(a, b)}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 s per phase (unless --seconds is given)")
    ap.add_argument("--agents", default="1000,10000", help="comma-separated agent counts")
    ap.add_argument("--seconds", type=float, help="duration of each timed phase (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each phase per system; the table has medians")
    ap.add_argument("--out", type=Path, help="also write the markdown report to this file")
    args = ap.parse_args()
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    agents = sorted(int(a) for a in args.agents.split(","))
    redis = ["always", "everysec"] if shutil.which("redis-server") else []
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    res: dict[tuple[str, int], dict[str, Result]] = {}
    version = "?"
    print(f"# Lodestone core benchmark\n\n{header(version)}")
    if not redis:
        print("redis-server is absent from PATH: the Redis columns are skipped")
    ctx: Ctx = zmq.Context()
    status = 0
    try:
        for n in agents:
            w = Workload.make(n)
            size = sorted(len(b) for b in w.blobs)
            print(f"\n## {n:,} agents; state {len(w.blobs[0])} bytes packed ({size[0]}..{size[-1]})")
            with contextlib.ExitStack() as stack:  # stops the servers, then removes their directories
                targets: list[Lodestone | Redis] = []
                for cfg in ["lodestone", "floor", *redis]:
                    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lodestone-bench-")))
                    t = start(cfg, ctx, tmp)
                    stack.callback(t.server.stop)
                    ready = t.wait_ready()
                    version = ready if cfg == "lodestone" else version
                    targets.append(t)
                for name, phases in bench_targets(targets, w, seconds, args.rounds).items():
                    res[(name, n)] = phases
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped")
        status = 130
    except (RuntimeError, OSError) as exc:  # TimeoutError and ConnectionError are OSErrors
        print(f"\nerror: {exc}", file=sys.stderr)
        status = 1
    finally:
        ctx.destroy(linger=0)
    if status and not res:
        return status
    if status:
        print("\n(partial results: the run did not finish)")
    setup = (f"{seconds:g} s per run, {args.rounds} rounds (every system in turn); medians of the rounds; "
             f"pipelined = {CONNS} connections x {WINDOW} in flight (sliding window)")
    report = f"# Lodestone core benchmark\n\n{header(version)}\n- {setup}\n\n{table(res, agents)}\n"
    print("\n" + report)
    if args.out:
        args.out.write_text(report)
    return status


if __name__ == "__main__":
    sys.exit(main())
