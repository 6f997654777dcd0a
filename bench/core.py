"""Lodestone core benchmark: storage.put/get over ZeroMQ versus Redis HSET/HGET (AOF on).

Per agent count: a fresh Lodestone daemon and fresh Redis servers (appendfsync always,
everysec), every agent's ~300-byte msgpack state written once, then four timed phases:
lockstep write/read (one connection, one request in flight; a zmq.REQ socket for
Lodestone) and pipelined write/read (8 connections in one process on one zmq.Poller,
each with a sliding window of 64 requests outstanding: a new request goes out as soon
as a reply arrives; latency is send-to-reply, queueing included). Requests are
pre-built; agents are picked uniformly at random, the same sequence for every server.
"gen CPU" is the load generator's CPU time over wall time (100% = one core busy: the
generator, not the server, is the limit); "server CPU" is the server process's.

Usage: python bench/core.py [--quick] [--agents 1000,10000] [--seconds N] [--out FILE]
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
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgpack
import zmq

REPO = Path(__file__).resolve().parent.parent
CONNS, WINDOW, POPULATE_WINDOW = 8, 64, 256
PHASES = ("lockstep write", "lockstep read", "pipelined write", "pipelined read")
SYSTEMS = ("Lodestone", "Redis always", "Redis everysec")
pc = time.perf_counter_ns
Ctx = zmq.Context[zmq.Socket[bytes]]
Call = Callable[[int], str | None]  # sends request i, waits, returns an error description or None


def agent_state(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "name": f"steve-{i}", "health": 20, "maxHealth": 20,
        "position": {"x": rng.uniform(-500, 500), "y": 64.0, "z": rng.uniform(-500, 500)},
        "inventory": [{"type": t, "count": c, "slot": s} for s, (t, c) in enumerate(
            [("oak_log", 12), ("cobblestone", 64), ("bread", 5), ("iron_pickaxe", 1)])],
        "tasks": [{"kind": "gather", "item": "oak_log", "goal": 64}, {"kind": "build", "item": "hut"}],
        "stats": {"blocksMined": 1200, "ticksAlive": 480000},
    }


@dataclass
class Workload:
    names: list[str]
    states: list[dict[str, Any]]
    blobs: list[bytes]
    picks: list[int]  # the agent of each pooled request, shared by all servers

    @classmethod
    def make(cls, n: int) -> Workload:
        rng = random.Random(n)
        states = [agent_state(i, rng) for i in range(n)]
        picks = [rng.randrange(n) for _ in range(max(8192, 2 * n))]
        return cls([f"steve-{i}" for i in range(n)], states, [msgpack.packb(s) for s in states], picks)


@dataclass
class Result:
    ops: int = 0
    errors: int = 0
    wall: float = 0.0
    gen_cpu: float = 0.0
    srv_cpu: float = 0.0
    p50: float = float("nan")
    p99: float = float("nan")
    first_error: str | None = None

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
    """A server subprocess in its own session (Ctrl-C reaches only us); output goes to a log."""

    def __init__(self, name: str, argv: list[str], cwd: Path, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def cpu(self) -> float:
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads

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


def check_reply(rep: Any, read: bool, rid: int | None = None) -> str | None:
    """None if rep is an ok reply (with found=true for reads, echoing rid if given), else why not."""
    ok = isinstance(rep, dict) and rep.get("ok") is True and (rid is None or rep.get("id") == rid)
    if ok and read:
        res = rep.get("result")
        ok = isinstance(res, dict) and res.get("found") is True
    return None if ok else repr(rep)[:300]


class Conn(Protocol):
    """One pipelined connection over a pool of pre-built requests."""

    first_error: str | None

    def handle(self) -> Any: ...  # a zmq socket or a file descriptor, for zmq.Poller
    def send(self, n: int) -> None: ...  # send the next n requests of the pool
    def drain(self, lat: list[int]) -> tuple[int, int]: ...  # read ready replies: (replies, bad ones)
    def pending(self) -> int: ...
    def close(self) -> None: ...


class ZmqConn:
    """A DEALER socket; request id = index of the body in the pool, unique among in-flight ones."""

    def __init__(self, ctx: Ctx, ep: str, bodies: list[bytes], start: int, read: bool) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(ep)
        self.bodies, self.cur, self.read = bodies, start % len(bodies), read
        self.inflight: dict[int, int] = {}  # request id -> send time
        self.first_error: str | None = None

    def handle(self) -> Any:
        return self.sock

    def send(self, n: int) -> None:
        sock, bodies, inflight, cur, size = self.sock, self.bodies, self.inflight, self.cur, len(self.bodies)
        for _ in range(n):
            while cur in inflight:  # a slow reply still holds this id: skip it
                cur = (cur + 1) % size
            inflight[cur] = pc()
            sock.send(b"", zmq.SNDMORE)
            sock.send(bodies[cur])
            cur = (cur + 1) % size
        self.cur = cur

    def drain(self, lat: list[int]) -> tuple[int, int]:
        done = bad = 0
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return done, bad
            t = pc()
            rep = msgpack.unpackb(frames[-1])
            t0 = self.inflight.pop(rep.get("id", -1), None) if isinstance(rep, dict) else None
            done += 1
            err = check_reply(rep, self.read) if t0 is not None else f"unknown id: {rep!r:.200}"
            if t0 is not None:
                lat.append(t - t0)
            if err:
                bad += 1
                self.first_error = self.first_error or err

    def pending(self) -> int:
        return len(self.inflight)

    def close(self) -> None:
        self.sock.close()


def parse_resp(buf: bytearray, read: bool) -> tuple[int, int, int, bytes]:
    """Count complete RESP replies: (bytes used, replies, unexpected replies, first unexpected header)."""
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
        self.sock.sendall(b"".join([cmds[(cur + k) % size] for k in range(n)]))
        self.cur = (cur + n) % size
        self.sent.extend([pc()] * n)

    def _read(self) -> tuple[int, int]:
        if not (got := self.sock.recv_into(self.chunk)):  # into a reused buffer: no allocation per read
            raise ConnectionError("redis closed the connection")
        self.buf += memoryview(self.chunk)[:got]
        used, done, bad, first = parse_resp(self.buf, self.read)
        del self.buf[:used]
        if bad:
            self.first_error = self.first_error or repr(first)
        return done, bad

    def drain(self, lat: list[int]) -> tuple[int, int]:
        done, bad = self._read()
        t, sent = pc(), self.sent
        for _ in range(done):
            lat.append(t - sent.popleft())
        return done, bad

    def call(self, i: int) -> str | None:  # lockstep
        self.sock.sendall(self.cmds[i % len(self.cmds)])
        while not (replies := self._read())[0]:
            pass
        return self.first_error if replies[1] else None

    def pending(self) -> int:
        return len(self.sent)

    def close(self) -> None:
        self.sock.close()


class Lodestone:
    def __init__(self, ctx: Ctx, tmp: Path) -> None:
        self.name, self.ctx, self.ep = "Lodestone", ctx, f"tcp://127.0.0.1:{free_port()}"
        (tmp / "data").mkdir()
        argv = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(tmp / "data"), "--rpc", self.ep]
        self.server = Server("the Lodestone daemon", [*argv, "--pub", f"tcp://127.0.0.1:{free_port()}"], REPO, tmp / "daemon.log")

    def wait_ready(self) -> str:
        """Ping until the daemon answers (20 s); returns its version."""
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
            target = {"class": "Agent", "name": w.names[a]}
            out.append(msgpack.packb({"v": 1, "id": rid, "op": op, "target": target, "args": args}))
        return out

    def conn(self, reqs: list[bytes], start: int, read: bool) -> Conn:
        return ZmqConn(self.ctx, self.ep, reqs, start, read)

    def lockstep(self, reqs: list[bytes], read: bool) -> tuple[Call, Callable[[], None]]:
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 10_000)
        sock.connect(self.ep)

        def call(i: int) -> str | None:
            j = i % len(reqs)
            sock.send(reqs[j])
            return check_reply(msgpack.unpackb(sock.recv()), read, j)

        return call, sock.close


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
        keys = [(a, b"agent:" + w.names[a].encode()) for a in order]
        if write:
            return [resp(b"HSET", k, b"state", w.blobs[a]) for a, k in keys]
        return [resp(b"HGET", k, b"state") for _, k in keys]

    def conn(self, reqs: list[bytes], start: int, read: bool) -> Conn:
        return RedisConn(self.port, reqs, start, read)

    def lockstep(self, reqs: list[bytes], read: bool) -> tuple[Call, Callable[[], None]]:
        c = RedisConn(self.port, reqs, 0, read)
        return c.call, c.close


def run_lockstep(call: Call, seconds: float, srv: Server) -> Result:
    lat: list[int] = []
    r, i = Result(), 0
    cpu0, srv0 = time.process_time(), srv.cpu()
    start = pc()
    end = start + int(seconds * 1e9)
    while (t0 := pc()) < end:
        err = call(i)
        lat.append(pc() - t0)
        i += 1
        if err:
            r.errors += 1
            r.first_error = r.first_error or err
    r.ops, r.wall = i, (pc() - start) / 1e9
    return r.finish(lat, cpu0, srv0, srv)


def run_pipelined(conns: list[Conn], seconds: float, srv: Server) -> Result:
    poller, by_handle = zmq.Poller(), {c.handle(): c for c in conns}
    for h in by_handle:
        poller.register(h, zmq.POLLIN)
    lat: list[int] = []
    r = Result()
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
    lost = sum(c.pending() for c in conns)
    r.errors += lost
    r.first_error = next((c.first_error for c in conns if c.first_error), None) or (
        f"{lost} requests never answered" if lost else None)
    return r


def populate(t: Lodestone | Redis, n: int, w: Workload) -> None:
    """Write every agent's state exactly once, POPULATE_WINDOW requests in flight."""
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


def bench_target(t: Lodestone | Redis, w: Workload, seconds: float) -> dict[str, Result]:
    populate(t, len(w.names), w)
    out: dict[str, Result] = {}
    for phase in PHASES:
        write = phase.endswith("write")
        reqs = t.build(w, write, w.picks)
        if phase.startswith("lockstep"):
            call, close = t.lockstep(reqs, not write)
            try:
                r = run_lockstep(call, seconds, t.server)
            finally:
                close()
        else:
            conns = [t.conn(reqs, k * len(reqs) // CONNS, not write) for k in range(CONNS)]
            try:
                r = run_pipelined(conns, seconds, t.server)
            finally:
                for c in conns:
                    c.close()
        t.server.check()
        out[phase] = r
        print(f"  {phase:16} {r.rate:>9,.0f} ops/s  p50 {r.p50:8.1f} us  p99 {r.p99:8.1f} us"
              f"  gen CPU {r.gen_cpu:4.0%}  server CPU {r.srv_cpu:4.0%}")
        if r.errors:
            print(f"  !!!!! {t.name} {phase}: {r.errors} ERROR REPLIES, first: {r.first_error}")
    return out


def header(lodestone: str) -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    v = {p: importlib.metadata.version(p) for p in ("pyzmq", "msgpack", "lmdb")}
    redis = "absent"
    if shutil.which("redis-server"):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
        redis = next((f[2:] for f in out.split() if f.startswith("v=")), out.strip())
    u = platform.uname()
    return (f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}\n"
            f"- uname -srm: {u.system} {u.release} {u.machine}\n- cpu: {cpu}, {os.cpu_count()} cores\n"
            f"- python {platform.python_version()}, pyzmq {v['pyzmq']} (libzmq {zmq.zmq_version()}), "
            f"msgpack {v['msgpack']}, lmdb {v['lmdb']}, lodestone {lodestone}, redis-server {redis}")


def table(res: dict[tuple[str, int], dict[str, Result]], agents: list[int]) -> str:
    def cell(r: Result | None, lat: bool = True) -> str:
        if r is None:
            return "n/a"
        s = f"{r.rate:,.0f}" + (f" ({r.p50:.0f}/{r.p99:.0f})" if lat else "")
        return s + (f" **{r.errors} ERRORS**" if r.errors else "")

    def ratio(a: Result | None, b: Result | None) -> str:
        return f"{a.rate / b.rate:.2f}x" if a and b and b.rate else "n/a"

    head = ("| agents | phase | Lodestone ops/s | p50 us | p99 us | Redis always ops/s (p50/p99 us) "
            "| Redis everysec ops/s (p50/p99 us) | Lodestone / Redis always | Lodestone / Redis everysec |")
    rows = [head, "|" + "---|" * 9]
    cpu = ["| agents | phase | Lodestone | Redis always | Redis everysec |", "|" + "---|" * 5]
    for n in agents:
        for ph in PHASES:
            lo, ra, re = (res.get((s, n), {}).get(ph) for s in SYSTEMS)
            p50, p99 = (f"{lo.p50:.0f}", f"{lo.p99:.0f}") if lo else ("n/a", "n/a")
            rows.append(f"| {n:,} | {ph} | {cell(lo, False)} | {p50} | {p99} | {cell(ra)} | {cell(re)} "
                        f"| {ratio(lo, ra)} | {ratio(lo, re)} |")
            cpu.append(f"| {n:,} | {ph} | " + " | ".join(
                f"{x.gen_cpu:.0%} / {x.srv_cpu:.0%}" if x else "n/a" for x in (lo, ra, re)) + " |")
    lines = [*rows, "", "CPU use, load generator / server process (100% = one core):", "", *cpu, ""]
    if len(agents) > 1:
        for s in SYSTEMS:
            a, b = (res.get((s, n), {}).get("pipelined write") for n in (agents[-1], agents[0]))
            lines.append(f"- {s}: pipelined-write throughput, {agents[-1]:,} agents / {agents[0]:,} agents"
                         f" = {ratio(a, b)}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 s per phase (unless --seconds is given)")
    ap.add_argument("--agents", default="1000,10000", help="comma-separated agent counts")
    ap.add_argument("--seconds", type=float, help="duration of each timed phase (default 3)")
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
    try:
        for n in agents:
            w = Workload.make(n)
            size = sorted(len(b) for b in w.blobs)
            print(f"\n## {n:,} agents; state {len(w.blobs[0])} bytes packed (steve-0), {size[0]}..{size[-1]} overall")
            for cfg in ["lodestone", *redis]:
                with contextlib.ExitStack() as stack:  # stop the server, then remove its directory
                    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lodestone-bench-")))
                    t = Lodestone(ctx, tmp) if cfg == "lodestone" else Redis(cfg, tmp)
                    stack.callback(t.server.stop)
                    ready = t.wait_ready()
                    version = ready if isinstance(t, Lodestone) else version
                    print(f"{t.name}:")
                    res[(t.name, n)] = bench_target(t, w, seconds)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped")
        return 130
    except (RuntimeError, OSError) as exc:  # TimeoutError is an OSError
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    finally:
        ctx.destroy(linger=0)
    report = (f"# Lodestone core benchmark\n\n{header(version)}\n- {seconds:g} s per phase; pipelined = {CONNS} "
              f"connections x {WINDOW} in flight (sliding window), one process\n\n{table(res, agents)}\n")
    print("\n" + report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
