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
import datetime
import importlib.metadata
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgpack
import zmq

REPO = Path(__file__).resolve().parent.parent
CONNS, WINDOW, POPULATE_WINDOW = 8, 64, 256
PHASES = ("lockstep write", "lockstep read", "pipelined write", "pipelined read")
SYSTEMS = ("Lodestone", "Stack floor", "Redis always", "Redis everysec")
pc = time.perf_counter_ns
Ctx = zmq.Context[zmq.Socket[bytes]]


def agent_state(i: int, rng: random.Random) -> dict[str, Any]:
    items = [("oak_log", 12), ("cobblestone", 64), ("bread", 5), ("iron_pickaxe", 1)]
    return {
        "name": f"steve-{i}",
        "health": 20,
        "maxHealth": 20,
        "position": {"x": rng.uniform(-500, 500), "y": 64.0, "z": rng.uniform(-500, 500)},
        "inventory": [{"type": t, "count": c, "slot": s} for s, (t, c) in enumerate(items)],
        "tasks": [{"kind": "gather", "item": "oak_log", "goal": 64}, {"kind": "build", "item": "hut"}],
        "stats": {"blocksMined": 1200, "ticksAlive": 480000},
    }


@dataclass
class Workload:
    states: list[dict[str, Any]]
    blobs: list[bytes]  # the same states, packed
    picks: list[int]  # the agent of each pooled request, shared by all servers

    @classmethod
    def make(cls, n: int) -> Workload:
        rng = random.Random(n)
        states = [agent_state(i, rng) for i in range(n)]
        picks = [rng.randrange(n) for _ in range(max(8192, 2 * n))]
        return cls(states, [msgpack.packb(s) for s in states], picks)


@dataclass
class Result:
    ops: int = 0
    errors: int = 0
    wall: float = 0.0
    gen_cpu: float = 0.0
    srv_cpu: float = 0.0
    p50: float = float("nan")
    p99: float = float("nan")
    low: float = float("nan")  # over rounds: the lowest and highest rate
    high: float = float("nan")

    @property
    def rate(self) -> float:
        return self.ops / self.wall if self.wall else 0.0

    def finish(self, lat: list[int], cpu0: float, srv0: float, srv: Server) -> Result:
        self.gen_cpu = (time.process_time() - cpu0) / self.wall
        self.srv_cpu = (srv.cpu() - srv0) / self.wall
        if lat:
            lat.sort()
            self.p50, self.p99 = lat[len(lat) // 2] / 1e3, lat[len(lat) * 99 // 100] / 1e3
        return self


class Server:
    """A server subprocess in its own session (so Ctrl-C reaches only us), output to a log file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=out, start_new_session=True)

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads) used by the server process so far."""
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Conn(Protocol):
    """A connection sending requests from a pool of pre-built ones, in order from `start`."""

    first_error: str | None

    def handle(self) -> Any: ...  # a zmq socket or a file descriptor, for zmq.Poller
    def send(self, n: int) -> None: ...  # send the next n requests of the pool
    def drain(self, lat: list[int], block: bool = False) -> tuple[int, int]:
        """Read the replies that are ready (block: wait for one); append latencies; (replies, bad)."""

    def pending(self) -> int: ...
    def close(self) -> None: ...


def check_reply(rep: Any, read: bool) -> str | None:
    """None for an ok reply (with found=true for a read), else a description of the reply."""
    ok = isinstance(rep, dict) and rep.get("ok") is True
    if ok and read:
        res = rep.get("result")
        ok = isinstance(res, dict) and res.get("found") is True
    return None if ok else f"{rep!r:.300}"


class ZmqConn:
    """A DEALER (pipelined) or REQ (lockstep) socket; request id = the body's index in the pool."""

    def __init__(self, ctx: Ctx, ep: str, bodies: list[bytes], start: int, read: bool, kind: int) -> None:
        self.sock, self.dealer = ctx.socket(kind), kind == zmq.DEALER
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 10_000)
        self.sock.connect(ep)
        self.bodies, self.cur, self.read = bodies, start % len(bodies), read
        self.inflight: dict[int, int] = {}  # request id -> send time
        self.first_error: str | None = None

    def handle(self) -> Any:
        return self.sock

    def send(self, n: int) -> None:
        sock, bodies, inflight, cur, size = self.sock, self.bodies, self.inflight, self.cur, len(self.bodies)
        for _ in range(n):
            while cur in inflight:  # ids are unique among in-flight requests: skip one still held
                cur = (cur + 1) % size
            inflight[cur] = pc()
            if self.dealer:
                sock.send(b"", zmq.SNDMORE)
            sock.send(bodies[cur])
            cur = (cur + 1) % size
        self.cur = cur

    def drain(self, lat: list[int], block: bool = False) -> tuple[int, int]:
        done = bad = 0
        flags = 0 if block else zmq.NOBLOCK
        while self.inflight:  # (a REQ socket must not recv again once its one reply is in)
            try:
                frames = self.sock.recv_multipart(flags)
            except zmq.Again:
                break
            t, flags = pc(), zmq.NOBLOCK
            rep = msgpack.unpackb(frames[-1])
            t0 = self.inflight.pop(rep.get("id", -1), None) if isinstance(rep, dict) else None
            err = check_reply(rep, self.read) if t0 is not None else f"unknown id: {rep!r:.200}"
            if t0 is not None:
                lat.append(t - t0)
            if err:
                bad, self.first_error = bad + 1, self.first_error or err
            done += 1
        return done, bad

    def pending(self) -> int:
        return len(self.inflight)

    def close(self) -> None:
        self.sock.close()


def parse_resp(buf: bytearray, read: bool) -> tuple[int, int, int, bytes]:
    """Count complete RESP replies: (bytes used, replies, unexpected replies, first unexpected)."""
    pos = done = bad = 0
    first = b""
    while (nl := buf.find(b"\r\n", pos)) >= 0:
        end = nl + 2
        if buf[pos] == 0x24:  # '$' bulk string from HGET; '$-1' is a miss
            size = int(buf[pos + 1 : nl])
            if size >= 0:
                end += size + 2
                if end > len(buf):
                    break
            ok = read and size >= 0
        else:  # ':' integer from HSET; '-' is an error
            ok = buf[pos] == 0x3A and not read
        if not ok:
            bad, first = bad + 1, first or bytes(buf[pos:nl])
        pos, done = end, done + 1
    return pos, done, bad, first


class RedisConn:
    """A raw RESP socket. Redis answers in order, so send times queue up in a deque."""

    def __init__(self, port: int, cmds: list[bytes], start: int, read: bool) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cmds, self.cur, self.read = cmds, start % len(cmds), read
        self.buf, self.chunk = bytearray(), bytearray(1 << 18)
        self.sent: deque[int] = deque()
        self.first_error: str | None = None

    def handle(self) -> Any:
        return self.sock.fileno()

    def send(self, n: int) -> None:  # one write for the n commands, as a pipelining client does
        cmds, cur, size = self.cmds, self.cur, len(self.cmds)
        data = b"".join([cmds[(cur + k) % size] for k in range(n)])
        self.sent.extend([pc()] * n)  # before sendall: on loopback it already runs the server's receive path
        self.sock.sendall(data)
        self.cur = (cur + n) % size

    def drain(self, lat: list[int], block: bool = False) -> tuple[int, int]:
        done = bad = 0
        while not done:  # recv blocks only if nothing was ready, i.e. when blocking is wanted
            if not (got := self.sock.recv_into(self.chunk)):  # a reused buffer: no allocation per read
                raise ConnectionError("redis closed the connection")
            self.buf += memoryview(self.chunk)[:got]
            used, done, bad, first = parse_resp(self.buf, self.read)
            del self.buf[:used]
            if bad:
                self.first_error = self.first_error or repr(first)
            if not block:
                break
        t, sent = pc(), self.sent
        for _ in range(done):
            lat.append(t - sent.popleft())
        return done, bad

    def pending(self) -> int:
        return len(self.sent)

    def close(self) -> None:
        self.sock.close()


class Lodestone:
    def __init__(self, ctx: Ctx, tmp: Path) -> None:
        self.name, self.ctx, self.ep = "Lodestone", ctx, f"tcp://127.0.0.1:{free_port()}"
        (tmp / "data").mkdir()
        argv = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(tmp / "data"), "--rpc", self.ep]
        argv += ["--pub", f"tcp://127.0.0.1:{free_port()}"]
        self.server = Server("the Lodestone daemon", argv, REPO, tmp / "daemon.log")


    def wait_ready(self) -> str:
        """Ping until the daemon answers (20 s at most); returns its version."""
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.ep)
        deadline, rid = time.monotonic() + 20, 0
        try:
            while time.monotonic() < deadline:
                self.server.check()
                sock.send_multipart([b"", msgpack.packb({"v": 1, "id": rid, "op": "ping", "args": {}})])
                rid += 1
                if sock.poll(500):
                    rep = msgpack.unpackb(sock.recv_multipart()[-1])
                    if isinstance(rep, dict) and rep.get("ok"):
                        return str(rep["result"].get("version"))
        finally:
            sock.close()
        raise TimeoutError("the Lodestone daemon did not answer ping within 20 s")

    def build(self, w: Workload, write: bool, order: list[int]) -> list[bytes]:
        op, out = ("storage.put" if write else "storage.get"), []
        for rid, a in enumerate(order):
            args = {"key": "state", "value": w.states[a]} if write else {"key": "state"}
            target = {"class": "Agent", "name": f"steve-{a}"}
            out.append(msgpack.packb({"v": 1, "id": rid, "op": op, "target": target, "args": args}))
        return out

    def conn(self, reqs: list[bytes], start: int, read: bool, lockstep: bool = False) -> Conn:
        return ZmqConn(self.ctx, self.ep, reqs, start, read, zmq.REQ if lockstep else zmq.DEALER)


class Floor(Lodestone):
    """bench/floor.py: Lodestone's wire format over the same stack, with nothing but the storage ops."""

    def __init__(self, ctx: Ctx, tmp: Path) -> None:
        self.name, self.ctx, self.ep = "Stack floor", ctx, f"tcp://127.0.0.1:{free_port()}"
        (tmp / "data").mkdir()
        argv = [sys.executable, str(REPO / "bench" / "floor.py"), self.ep, str(tmp / "data")]
        self.server = Server("the stack-floor server", argv, REPO, tmp / "floor.log")


def resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class Redis:
    def __init__(self, fsync: str, tmp: Path) -> None:
        self.name, self.port = f"Redis {fsync}", free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", fsync, "--dir", str(tmp)]
        self.server = Server("redis-server", argv, tmp, tmp / "redis.log")

    def wait_ready(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.server.check()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return "redis"
            time.sleep(0.05)
        raise TimeoutError("redis-server did not answer PING within 20 s")

    def build(self, w: Workload, write: bool, order: list[int]) -> list[bytes]:
        if write:
            return [resp(b"HSET", b"agent:steve-%d" % a, b"state", w.blobs[a]) for a in order]
        return [resp(b"HGET", b"agent:steve-%d" % a, b"state") for a in order]

    def conn(self, reqs: list[bytes], start: int, read: bool, lockstep: bool = False) -> Conn:
        return RedisConn(self.port, reqs, start, read)


def start(system: str, ctx: Ctx, tmp: Path) -> Lodestone | Redis:
    """Start ``lodestone``, ``floor`` or a Redis with AOF fsync ``always`` or ``everysec``, in ``tmp``."""
    if system == "lodestone":
        return Lodestone(ctx, tmp)
    return Floor(ctx, tmp) if system == "floor" else Redis(system, tmp)


def run_lockstep(conns: list[Conn], seconds: float, srv: Server) -> Result:
    """One request in flight on one connection: send, block for the reply, repeat."""
    c, r = conns[0], Result()
    lat: list[int] = []
    cpu0, srv0 = time.process_time(), srv.cpu()
    start = pc()
    end = start + int(seconds * 1e9)
    while pc() < end:
        c.send(1)
        done, bad = c.drain(lat, block=True)
        if not done:
            srv.check()  # a crash explains itself better than the timeout
            raise TimeoutError(f"{srv.name}: no reply within 10 s")
        r.ops, r.errors = r.ops + done, r.errors + bad
    r.wall = (pc() - start) / 1e9
    return r.finish(lat, cpu0, srv0, srv)


def run_pipelined(conns: list[Conn], seconds: float, srv: Server) -> Result:
    """WINDOW requests in flight per connection, topped up as replies arrive; one poller for all."""
    poller, by_handle, r = zmq.Poller(), {c.handle(): c for c in conns}, Result()
    lat: list[int] = []
    for h in by_handle:
        poller.register(h, zmq.POLLIN)
    cpu0, srv0 = time.process_time(), srv.cpu()
    start = pc()
    end = start + int(seconds * 1e9)
    for c in conns:
        c.send(WINDOW)
    while pc() < end:
        for h, _ in poller.poll(200):
            c = by_handle[h]
            done, bad = c.drain(lat)
            r.ops, r.errors = r.ops + done, r.errors + bad
            if done:
                c.send(done)
    r.wall = (pc() - start) / 1e9
    r.finish(lat, cpu0, srv0, srv)
    deadline = time.monotonic() + 10  # collect stragglers (uncounted) so the next phase starts idle
    while any(c.pending() for c in conns) and time.monotonic() < deadline:
        for h, _ in poller.poll(200):
            by_handle[h].drain([])
    r.errors += sum(c.pending() for c in conns)  # never answered
    return r


def populate(t: Lodestone | Redis, w: Workload) -> None:
    """Write every agent's state exactly once, POPULATE_WINDOW requests in flight."""
    n = len(w.states)
    c = t.conn(t.build(w, True, list(range(n))), 0, False)
    poller = zmq.Poller()
    poller.register(c.handle(), zmq.POLLIN)
    sent = done = bad = 0
    t0 = time.perf_counter()
    while done < n:
        if (k := min(POPULATE_WINDOW - (sent - done), n - sent)) > 0:
            c.send(k)
            sent += k
        if not poller.poll(10_000):
            raise TimeoutError(f"{t.name}: no reply for 10 s while populating")
        d, b = c.drain([])
        done, bad = done + d, bad + b
    c.close()
    loud = f"  !!!!! {bad} ERROR REPLIES, first: {c.first_error}" if bad else ""
    print(f"  populated {n:,} agents in {time.perf_counter() - t0:.2f} s{loud}")


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


def median_of(runs: list[Result]) -> Result:
    """Each figure's median over the rounds; ``low``/``high`` keep the range of rates."""
    mid = statistics.median
    out = Result(ops=round(mid([r.rate for r in runs])), errors=sum(r.errors for r in runs), wall=1.0,
                 gen_cpu=mid([r.gen_cpu for r in runs]), srv_cpu=mid([r.srv_cpu for r in runs]),
                 p50=mid([r.p50 for r in runs]), p99=mid([r.p99 for r in runs]))
    out.low, out.high = min(r.rate for r in runs), max(r.rate for r in runs)
    return out


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


def loop_rate() -> float:
    """Millions of iterations per second of a bare Python loop: this VM's CPU speed varies by host load."""
    count, end = 0, pc() + 500_000_000
    while pc() < end:
        count += 1
    return count / 0.5e6


def header(lodestone: str) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    v = {p: importlib.metadata.version(p) for p in ("pyzmq", "msgpack", "lmdb")}
    redis = "absent"
    if shutil.which("redis-server"):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        redis = next((f[2:] for f in out.split() if f.startswith("v=")), out.strip())
    now, u = datetime.datetime.now().astimezone().isoformat(timespec="seconds"), platform.uname()
    return (
        f"- date: {now}\n- uname -srm: {u.system} {u.release} {u.machine}\n"
        f"- cpu: {cpu}, {os.cpu_count()} cores\n- python {platform.python_version()}, "
        f"pyzmq {v['pyzmq']} (libzmq {zmq.zmq_version()}), msgpack {v['msgpack']}, lmdb {v['lmdb']}, "
        f"lodestone {lodestone}, redis-server {redis}\n"
        f"- CPU speed gauge (a bare Python loop, millions of iterations/s; the host's load moves it): {loop_rate():.1f}"
    )


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
