"""The systems the benchmarks drive: server processes, the requests they take, connections to them.

Lodestone (a daemon process), the stack floor (bench/floor.py) and Redis (a redis-server with AOF)
each start in a temporary directory on ephemeral loopback ports, build their own form of a
workload's requests, and hand out connections that send pre-built requests and count replies:
ZeroMQ REQ (lockstep) or DEALER (pipelined, optionally batch frames), or raw RESP sockets.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgpack
import zmq

REPO = Path(__file__).resolve().parent.parent
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
            replies = msgpack.unpackb(frames[-1])
            for rep in replies if isinstance(replies, list) else [replies]:  # a batch frame's reply array
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


class ZmqBatchConn(ZmqConn):
    """A DEALER sending batch frames of up to ``batch`` requests (each its own id); replies come as arrays."""

    def __init__(self, ctx: Ctx, ep: str, bodies: list[bytes], start: int, read: bool, batch: int) -> None:
        super().__init__(ctx, ep, bodies, start, read, zmq.DEALER)
        self.batch = batch

    def send(self, n: int) -> None:
        sock, bodies, inflight, cur, size = self.sock, self.bodies, self.inflight, self.cur, len(self.bodies)
        while n > 0:
            count, n = min(n, self.batch), n - min(n, self.batch)
            chosen, t = [], pc()
            for _ in range(count):
                while cur in inflight:
                    cur = (cur + 1) % size
                inflight[cur] = t
                chosen.append(bodies[cur])
                cur = (cur + 1) % size
            sock.send(b"", zmq.SNDMORE)
            sock.send(msgpack.Packer().pack_array_header(count) + b"".join(chosen))
        self.cur = cur


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
    def __init__(self, ctx: Ctx, tmp: Path, config: str | None = None) -> None:
        self.name, self.ctx, self.ep = "Lodestone", ctx, f"tcp://127.0.0.1:{free_port()}"
        self.pub = f"tcp://127.0.0.1:{free_port()}"
        (tmp / "data").mkdir()
        argv = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(tmp / "data"), "--rpc", self.ep]
        argv += ["--pub", self.pub]
        if config is not None:
            (tmp / "lodestone.toml").write_text(config)
            argv += ["--config", str(tmp / "lodestone.toml")]
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

    def batch_conn(self, reqs: list[bytes], start: int, read: bool, batch: int) -> Conn:
        return ZmqBatchConn(self.ctx, self.ep, reqs, start, read, batch)


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


