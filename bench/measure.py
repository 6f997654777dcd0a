"""Measuring a system: timed runs (lockstep, pipelined), their results, medians over rounds, the machine.

Every run reports ops, errors, wall time, latencies (send to reply, queueing included) and the CPU
time of the load generator and of the server process; ``cpu_us`` is the server's CPU per op.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import zmq

from bench.systems import Conn, Lodestone, Redis, Server, Workload, pc

CONNS, WINDOW, POPULATE_WINDOW = 8, 64, 256


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
    cpu_us: float = float("nan")  # the server's CPU time per op, microseconds

    @property
    def rate(self) -> float:
        return self.ops / self.wall if self.wall else 0.0

    def finish(self, lat: list[int], cpu0: float, srv0: float, srv: Server) -> Result:
        self.gen_cpu = (time.process_time() - cpu0) / self.wall
        self.srv_cpu = (srv.cpu() - srv0) / self.wall
        self.cpu_us = self.srv_cpu * self.wall / self.ops * 1e6 if self.ops else float("nan")
        if lat:
            lat.sort()
            self.p50, self.p99 = lat[len(lat) // 2] / 1e3, lat[len(lat) * 99 // 100] / 1e3
        return self


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


class Sink(Protocol):
    """Something else the pipelined loop reads as it goes (a change-stream subscriber)."""

    def handle(self) -> Any: ...
    def drain(self) -> None: ...


def run_pipelined(conns: list[Conn], seconds: float, srv: Server, sinks: Sequence[Sink] = ()) -> Result:
    """WINDOW requests in flight per connection, topped up as replies arrive; one poller for all."""
    poller, by_handle, r = zmq.Poller(), {c.handle(): c for c in conns}, Result()
    lat: list[int] = []
    for h in by_handle:
        poller.register(h, zmq.POLLIN)
    sink_of = {sink.handle(): sink for sink in sinks}
    for h in sink_of:
        poller.register(h, zmq.POLLIN)
    cpu0, srv0 = time.process_time(), srv.cpu()
    start = pc()
    end = start + int(seconds * 1e9)
    for c in conns:
        c.send(WINDOW)
    while pc() < end:
        for h, _ in poller.poll(200):
            if h in sink_of:
                sink_of[h].drain()
                continue
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
            if h in sink_of:
                sink_of[h].drain()
            else:
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


def median_of(runs: list[Result]) -> Result:
    """Each figure's median over the rounds; ``low``/``high`` keep the range of rates."""
    mid = statistics.median
    out = Result(ops=round(mid([r.rate for r in runs])), errors=sum(r.errors for r in runs), wall=1.0,
                 gen_cpu=mid([r.gen_cpu for r in runs]), srv_cpu=mid([r.srv_cpu for r in runs]),
                 p50=mid([r.p50 for r in runs]), p99=mid([r.p99 for r in runs]),
                 cpu_us=mid([r.cpu_us for r in runs]))
    out.low, out.high = min(r.rate for r in runs), max(r.rate for r in runs)
    return out


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


