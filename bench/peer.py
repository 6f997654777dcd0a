"""Lodestone against its usual peer, Redis with ``appendfsync always``, at the agents' own work, in one run.

For each agent count: a fresh Lodestone daemon, a fresh stack floor (bench/floor.py: pyzmq, msgpack
and LMDB with group commit and fsync, nothing else) and a fresh Redis (AOF, ``appendfsync always``),
every agent spawned on each (an AgentState of ~300 bytes: Agent.init on Lodestone, the same record
stored whole on the others) with a ~300-byte ``blob`` beside it in the same object (the same hash on
Redis, so every system holds one object per agent); then these phases, each run
``--rounds`` times with the systems taking turns (the table gives medians and the range of rates):

* ``move``: ``Agent.move`` of a random agent. Lodestone and the floor get batch frames of ``--batch``
  requests; Redis runs the same logic as a Lua function (EVALSHA: read the msgpack state with
  cmsgpack, check the coordinates are numbers, update the position, ``stats.distanceTraveled``
  and ``lastSeen``, store it, PUBLISH a change). Pipelined to the same depth: 8 connections each
  keeping 64 requests in flight.
* ``move, 1 subscriber`` (and ``put, 1 subscriber``): the same with one subscriber to everything
  (Lodestone: a SUB socket on ""; Redis: PSUBSCRIBE *) in a process of its own, as a dashboard
  would be. The floor publishes nothing.
* ``put`` / ``get``: ``storage.put`` / ``storage.get`` of the blob (batch frames) against HSET / HGET.
* ``lockstep read`` / ``lockstep write``: one request in flight on one connection (a REQ socket,
  single frames): latency.

Next to every rate stands the server's CPU time per op (its process's CPU seconds over the ops), the
figure that says what each system costs whatever the load generator does on a shared machine. The
Lodestone daemon runs with ``heartbeat_s`` at a day, so agents' heartbeat alarms stay out of the
timed phases. A CPU speed gauge (a bare Python loop) is printed at the start and the end.

Usage: python bench/peer.py [--agents 1000,10000] [--seconds 3] [--rounds 3] [--batch 32] [--phase move ...]
       [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import zmq

if __package__ in (None, ""):  # run as a script: the repository's root makes bench a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import CONNS, WINDOW, Result, header, loop_rate, median_of, run_lockstep, run_pipelined
from bench.systems import Conn, Ctx, Floor, Lodestone, Redis, agent_state, resp

PHASES = ("move", "move, 1 subscriber", "put", "put, 1 subscriber", "get", "lockstep read", "lockstep write")
SYSTEMS = ("Lodestone", "Stack floor", "Redis always")
CONFIG = "[classes.options.Agent]\nheartbeat_s = 86400\n"
FILL_WINDOW = 512
MOVE_LUA = b"""
local blob = redis.call('HGET', KEYS[1], 'state')
if not blob then return redis.error_reply('NOT_FOUND the agent has not spawned') end
local x, y, z = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not (x and y and z) then return redis.error_reply('BAD_REQUEST x, y and z must be numbers') end
local s = cmsgpack.unpack(blob)
local p = s.position
local d = math.sqrt((x - p.x) ^ 2 + (y - p.y) ^ 2 + (z - p.z) ^ 2)
s.position = {x = x, y = y, z = z}
s.stats.distanceTraveled = s.stats.distanceTraveled + d
local t = redis.call('TIME')
s.lastSeen = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', cmsgpack.pack(s))
redis.call('PUBLISH', 'agent.move.' .. KEYS[1], cmsgpack.pack({agent = KEYS[1], position = s.position, distance = d}))
return tostring(s.stats.distanceTraveled)
"""
ITEMS = [("oak_log", 12), ("cobblestone", 64), ("bread", 5), ("iron_pickaxe", 1)]


@dataclass
class Agents:
    """The workload: each agent's spawn point, state record and blob; the random picks and moves."""

    n: int
    spawns: list[tuple[float, float]]
    blobs: list[bytes]
    picks: list[int]
    moves: list[tuple[float, float, float]]

    @classmethod
    def make(cls, n: int) -> Agents:
        rng = random.Random(n)
        spawns = [(rng.uniform(-500, 500), rng.uniform(-500, 500)) for _ in range(n)]
        blobs = [msgpack.packb(agent_state(i, rng)) for i in range(n)]
        picks = [rng.randrange(n) for _ in range(max(8192, 2 * n))]
        moves = [(rng.uniform(-500, 500), 64.0, rng.uniform(-500, 500)) for _ in picks]
        return cls(n, spawns, blobs, picks, moves)

    def record(self, i: int) -> bytes:
        """Agent ``i``'s AgentState record as Lodestone stores it after Agent.init (for Redis and the floor)."""
        x, z = self.spawns[i]
        now = time.time_ns() // 1_000_000
        record: bytes = msgpack.packb({
            "_type": "AgentState", "_v": 4, "name": f"steve-{i}", "health": 20, "maxHealth": 20,
            "position": {"x": x, "y": 64.0, "z": z},
            "inventory": [{"type": t, "count": c, "slot": s} for s, (t, c) in enumerate(ITEMS)],
            "stats": {"blocksMined": 0, "blocksPlaced": 0, "distanceTraveled": 0.0, "deaths": 0, "tasksAssigned": 0},
            "tasks": [], "createdAt": now, "lastSeen": now})
        return record


def wire(rid: int, op: str, target: dict[str, str] | None, args: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {"v": 1, "id": rid, "op": op, "args": args}
    if target is not None:
        message["target"] = target
    body: bytes = msgpack.packb(message)
    return body


class Peer:
    """One system under test and the requests of each phase in its own form."""

    def __init__(self, system: Lodestone | Redis, batch: int) -> None:
        self.system, self.batch = system, batch
        self.name, self.server = system.name, system.server
        self.sha = b""

    @property
    def redis(self) -> bool:
        return isinstance(self.system, Redis)

    def requests(self, w: Agents, phase: str) -> list[bytes]:
        kind = phase.split(",")[0].replace("lockstep ", "")
        kind = {"read": "get", "write": "put"}.get(kind, kind)
        if self.redis:
            if kind == "move":
                return [resp(b"EVALSHA", self.sha, b"1", b"agent:steve-%d" % a, *(b"%r" % c for c in w.moves[k]))
                        for k, a in enumerate(w.picks)]
            if kind == "put":
                return [resp(b"HSET", b"agent:steve-%d" % a, b"blob", w.blobs[a]) for a in w.picks]
            return [resp(b"HGET", b"agent:steve-%d" % a, b"blob") for a in w.picks]
        if kind == "move":
            return [wire(k, "Agent.move", {"class": "Agent", "name": f"steve-{a}"},
                         dict(zip("xyz", w.moves[k], strict=True))) for k, a in enumerate(w.picks)]
        steve = [{"class": "Agent", "name": f"steve-{a}"} for a in w.picks]
        if kind == "put":
            return [wire(k, "storage.put", steve[k], {"key": "blob", "value": msgpack.unpackb(w.blobs[a])})
                    for k, a in enumerate(w.picks)]
        return [wire(k, "storage.get", steve[k], {"key": "blob"}) for k in range(len(w.picks))]

    def conn(self, reqs: list[bytes], start: int, read: bool, lockstep: bool, move: bool = False) -> Conn:
        if self.redis:  # EVALSHA answers with a bulk string, as HGET does
            return self.system.conn(reqs, start, read or move, lockstep)
        if lockstep:
            return self.system.conn(reqs, start, read, lockstep)
        assert isinstance(self.system, Lodestone)
        return self.system.batch_conn(reqs, start, read, self.batch)


def fill(peer: Peer, bodies: list[bytes], read: bool = False) -> None:
    """Send every request once, FILL_WINDOW in flight; fail loudly on any error reply."""
    conn = peer.conn(bodies, 0, read, lockstep=False)
    poller = zmq.Poller()
    poller.register(conn.handle(), zmq.POLLIN)
    sent = done = bad = 0
    while done < len(bodies):
        if (k := min(FILL_WINDOW - (sent - done), len(bodies) - sent)) > 0:
            conn.send(k)
            sent += k
        if not poller.poll(20_000):
            raise TimeoutError(f"{peer.name}: no reply for 20 s while populating")
        d, b = conn.drain([])
        done, bad = done + d, bad + b
    conn.close()
    if bad:
        raise RuntimeError(f"{peer.name}: {bad} error replies while populating, first: {conn.first_error}")


def populate(peer: Peer, w: Agents) -> None:
    t0 = time.perf_counter()
    if peer.redis:
        assert isinstance(peer.system, Redis)
        peer.sha = redis_command(peer.system.port, resp(b"SCRIPT", b"LOAD", MOVE_LUA)).strip()
        fill(peer, [resp(b"HSET", b"agent:steve-%d" % i, b"state", w.record(i)) for i in range(w.n)])
        fill(peer, [resp(b"HSET", b"agent:steve-%d" % i, b"blob", w.blobs[i]) for i in range(w.n)])
    else:
        if isinstance(peer.system, Floor):
            fill(peer, [wire(i, "storage.put", {"class": "Agent", "name": f"steve-{i}"},
                             {"key": "state", "value": msgpack.unpackb(w.record(i))}) for i in range(w.n)])
        else:
            fill(peer, [wire(i, "Agent.init", {"class": "Agent", "name": f"steve-{i}"},
                             {"position": {"x": w.spawns[i][0], "y": 64.0, "z": w.spawns[i][1]},
                              "inventory": [{"type": t, "count": c} for t, c in ITEMS]}) for i in range(w.n)])
        fill(peer, [wire(i, "storage.put", {"class": "Agent", "name": f"steve-{i}"},
                         {"key": "blob", "value": msgpack.unpackb(w.blobs[i])}) for i in range(w.n)])
    print(f"  {peer.name}: populated {w.n:,} agents in {time.perf_counter() - t0:.1f} s")


def redis_command(port: int, command: bytes) -> bytes:
    """One command's bulk-string reply (SCRIPT LOAD's sha)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(command)
        reply = sock.recv(1 << 16)
    if not reply.startswith(b"$"):
        raise RuntimeError(f"redis refused {command[:40]!r}: {reply!r}")
    return reply.split(b"\r\n")[1]


class Subscriber:
    """One subscriber to everything, in a process of its own (as a dashboard would be), counting messages.

    ``python bench/peer.py --listen zmq:ENDPOINT`` or ``--listen redis:PORT`` is the process: it
    prints "ready" once it hears (ZeroMQ subscriptions take a moment to reach the publisher, so the
    daemon is sent writes until then) and its count when it is stopped.
    """

    def __init__(self, peer: Peer) -> None:
        where = f"redis:{peer.system.port}" if isinstance(peer.system, Redis) else f"zmq:{peer.system.pub}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--listen", where], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        probe = None if peer.redis else peer.system.conn(
            [wire(0, "storage.put", {"class": "Probe", "name": "p"}, {"key": "k", "value": 1})], 0, False, True)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if probe is not None:
                    probe.send(1)
                    probe.drain([], block=True)
                if select.select([self.proc.stdout], [], [], 0.05)[0]:
                    if self.proc.stdout.readline().strip() == "ready":
                        return
                    break
        finally:
            if probe is not None:
                probe.close()
        self.proc.kill()
        raise TimeoutError(f"the subscriber to {where} heard nothing")

    def stop(self) -> int:
        """Stop it; the messages (ZeroMQ) or bytes (Redis) it received (-1: it did not say in time)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # still reading a backlog on a busy machine
            self.proc.kill()
            self.proc.communicate()
            return -1
        return int(out.split()[-1]) if out.split() else 0


def listen(where: str) -> int:
    """The subscriber process (see Subscriber): count what arrives until SIGINT, then print the count."""
    kind, _, address = where.partition(":")
    count = 0
    try:
        if kind == "redis":
            with socket.create_connection(("127.0.0.1", int(address))) as sock:
                sock.sendall(resp(b"PSUBSCRIBE", b"*"))
                print("ready", flush=True)
                chunk = bytearray(1 << 18)
                while got := sock.recv_into(chunk):
                    count += got
        else:
            ctx: Ctx = zmq.Context()
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.RCVHWM, 0)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(address)
            sub.recv_multipart()
            print("ready", flush=True)
            recv = sub.recv
            while True:
                recv()  # a topic or a body: two frames a message
                count += 1
    except KeyboardInterrupt:
        pass
    print(count // 2 if kind == "zmq" else count, flush=True)
    return 0


def run_phase(peer: Peer, w: Agents, phase: str, seconds: float, ctx: Ctx) -> Result | None:
    """One timed run of ``phase`` on ``peer``; None where it does not apply (the floor publishes nothing)."""
    if "subscriber" in phase and isinstance(peer.system, Floor):
        return None
    lockstep, read = phase.startswith("lockstep"), phase.startswith(("get", "lockstep read"))
    reqs = peer.requests(w, phase)
    nconns = 1 if lockstep else CONNS
    move = phase.startswith("move")
    conns = [peer.conn(reqs, k * len(reqs) // nconns, read, lockstep, move) for k in range(nconns)]
    subscriber = Subscriber(peer) if "subscriber" in phase else None
    try:
        r = run_lockstep(conns, seconds, peer.server) if lockstep else run_pipelined(conns, seconds, peer.server)
    finally:
        for c in conns:
            c.close()
        heard = subscriber.stop() if subscriber is not None else 0
    if subscriber is not None and not heard:
        print(f"  !!!!! {peer.name} {phase}: the subscriber received nothing")
    peer.server.check()
    print(f"  {phase:20} {peer.name:13} {r.rate:>9,.0f} ops/s  {r.cpu_us:6.1f} us CPU/op  p50 {r.p50:8.1f} us"
          f"  p99 {r.p99:8.1f} us  gen {r.gen_cpu:4.0%} server {r.srv_cpu:4.0%}")
    if r.errors:
        first = next((c.first_error for c in conns if c.first_error), "no reply")
        print(f"  !!!!! {peer.name} {phase}: {r.errors} ERROR REPLIES, first: {first}")
    return r


def bench(peers: list[Peer], w: Agents, seconds: float, rounds: int, ctx: Ctx,
          phases: tuple[str, ...] = PHASES) -> dict[tuple[str, str], Result]:
    """Each of ``phases``, ``rounds`` times, every system in turn within a round (drift hits all alike)."""
    runs: dict[tuple[str, str], list[Result]] = {}
    for phase in phases:
        for round_ in range(rounds):
            for peer in peers[round_ % len(peers):] + peers[:round_ % len(peers)]:
                if (r := run_phase(peer, w, phase, seconds, ctx)) is not None:
                    runs.setdefault((peer.name, phase), []).append(r)
    return {key: median_of(results) for key, results in runs.items()}


def table(res: dict[tuple[str, int, str], Result], agents: list[int]) -> str:
    def cell(r: Result | None) -> str:
        if r is None:
            return "n/a"
        errors = f" **{r.errors} ERRORS**" if r.errors else ""
        return f"{r.rate:,.0f} ({r.p50:.0f}/{r.p99:.0f}) {r.cpu_us:.1f} us{errors}"

    rows = ["| agents | phase | " + " | ".join(f"{s} ops/s (p50/p99 us) CPU/op" for s in SYSTEMS)
            + " | Lodestone / Redis | Lodestone / floor |", "|" + "---|" * (4 + len(SYSTEMS))]
    spread = ["| agents | phase | " + " | ".join(SYSTEMS) + " |", "|" + "---|" * (2 + len(SYSTEMS))]
    for n in agents:
        for phase in PHASES:
            lo, fl, rd = (res.get((s, n, phase)) for s in SYSTEMS)
            rows.append(f"| {n:,} | {phase} | {cell(lo)} | {cell(fl)} | {cell(rd)} | {ratio(lo, rd)} "
                        f"| {ratio(lo, fl)} |")
            spread.append(f"| {n:,} | {phase} | " + " | ".join(
                f"{x.low:,.0f} - {x.high:,.0f}" if x else "n/a" for x in (lo, fl, rd)) + " |")
    return "\n".join([*rows, "", "Lowest - highest ops/s over the rounds:", "", *spread])


def ratio(a: Result | None, b: Result | None) -> str:
    return f"{a.rate / b.rate:.2f}x" if a and b and b.rate else "n/a"


def targets(res: dict[tuple[str, int, str], Result], agents: list[int]) -> str:
    """Each target, the figure this run gives for it, and whether it is met."""
    def get(system: str, phase: str, n: int) -> Result | None:
        return res.get((system, n, phase))

    n0, n1 = agents[0], agents[-1]
    checks: list[tuple[str, Callable[[], float], Callable[[float], bool], str]] = [
        ("Agent.move, batch frames: >= 1.0x Redis's Lua (aim 1.2x)",
         lambda: rate("Lodestone", "move", n0) / rate("Redis always", "move", n0), lambda v: v >= 1.0, "x"),
        ("storage.put, batch frames: >= 0.25x Redis HSET",
         lambda: rate("Lodestone", "put", n0) / rate("Redis always", "put", n0), lambda v: v >= 0.25, "x"),
        ("storage.put, batch frames: >= 0.7x the batch floor",
         lambda: rate("Lodestone", "put", n0) / rate("Stack floor", "put", n0), lambda v: v >= 0.7, "x"),
        ("storage.get, batch frames: >= 0.7x the batch floor",
         lambda: rate("Lodestone", "get", n0) / rate("Stack floor", "get", n0), lambda v: v >= 0.7, "x"),
        ("lockstep read p99: <= 1.2x the floor's",
         lambda: p99("Lodestone", "lockstep read", n0) / p99("Stack floor", "lockstep read", n0),
         lambda v: v <= 1.2, "x"),
        ("lockstep durable write p99: <= 1.2x the floor's",
         lambda: p99("Lodestone", "lockstep write", n0) / p99("Stack floor", "lockstep write", n0),
         lambda v: v <= 1.2, "x"),
        (f"storage.put at {n1:,} agents: >= 0.9x the floor's own {n1:,}/{n0:,} ratio",
         lambda: (rate("Lodestone", "put", n1) / rate("Lodestone", "put", n0))
         / (rate("Stack floor", "put", n1) / rate("Stack floor", "put", n0)), lambda v: v >= 0.9, "x"),
        ("one subscriber to everything: <= 1.3x the CPU per op of none (Agent.move)",
         lambda: cpu("Lodestone", "move, 1 subscriber", n0) / cpu("Lodestone", "move", n0), lambda v: v <= 1.3, "x"),
        ("one subscriber to everything: <= 1.3x the CPU per op of none (storage.put)",
         lambda: cpu("Lodestone", "put, 1 subscriber", n0) / cpu("Lodestone", "put", n0), lambda v: v <= 1.3, "x"),
    ]

    def rate(system: str, phase: str, n: int) -> float:
        r = get(system, phase, n)
        return r.rate if r else float("nan")

    def p99(system: str, phase: str, n: int) -> float:
        r = get(system, phase, n)
        return r.p99 if r else float("nan")

    def cpu(system: str, phase: str, n: int) -> float:
        r = get(system, phase, n)
        return r.cpu_us if r else float("nan")

    lines = [f"| target ({n0:,} agents unless said) | this run | met? |", "|---|---|---|"]
    for name, figure, met, unit in checks:
        value = figure()
        if value != value:  # a phase it needs was not run (--phase)
            continue
        lines.append(f"| {name} | {value:.2f}{unit} | {'yes' if met(value) else 'no'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", default="1000,10000", help="comma-separated agent counts")
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each timed run")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each phase per system; the table has medians")
    ap.add_argument("--batch", type=int, default=32, help="requests per batch frame (Lodestone, floor)")
    ap.add_argument("--out", type=Path, help="also write the markdown report to this file")
    ap.add_argument("--phase", action="append", choices=PHASES, dest="phases",
                    help="run this phase (repeat for more); default: every phase")
    ap.add_argument("--listen", help=argparse.SUPPRESS)  # the subscriber process (see Subscriber)
    args = ap.parse_args()
    if args.listen:
        return listen(args.listen)
    if not shutil.which("redis-server"):
        print("redis-server is not on PATH (apt-get install -y redis-server)", file=sys.stderr)
        return 2
    agents = sorted(int(a) for a in args.agents.split(","))
    phases = tuple(args.phases or PHASES)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    gauge_start = loop_rate()
    print(f"# Lodestone against Redis\n\n{header('?')}")
    res: dict[tuple[str, int, str], Result] = {}
    version = "?"
    ctx: Ctx = zmq.Context()
    status = 0
    try:
        for n in agents:
            w = Agents.make(n)
            print(f"\n## {n:,} agents")
            with contextlib.ExitStack() as stack:  # stops the servers, then removes their directories
                peers: list[Peer] = []
                for make in (lambda tmp: Lodestone(ctx, tmp, CONFIG), lambda tmp: Floor(ctx, tmp),
                             lambda tmp: Redis("always", tmp)):
                    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lodestone-peer-")))
                    system = make(tmp)
                    stack.callback(system.server.stop)
                    ready = system.wait_ready()
                    version = ready if isinstance(system, Lodestone) and not isinstance(system, Floor) else version
                    peers.append(Peer(system, args.batch))
                for peer in peers:
                    populate(peer, w)
                for (name, phase), r in bench(peers, w, args.seconds, args.rounds, ctx, phases).items():
                    res[(name, n, phase)] = r
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
    setup = (f"{args.seconds:g} s per run, {args.rounds} rounds (every system in turn), medians; pipelined = "
             f"{CONNS} connections x {WINDOW} in flight, Lodestone and the floor in batch frames of {args.batch}; "
             f"CPU speed gauge {gauge_start:.1f} at the start, {loop_rate():.1f} at the end")
    report = (f"# Lodestone against Redis (appendfsync always)\n\n{header(version)}\n- {setup}\n\n"
              f"{table(res, agents)}\n\n{targets(res, agents)}\n")
    print("\n" + report)
    if args.out:
        args.out.write_text(report)
    return status


if __name__ == "__main__":
    sys.exit(main())
