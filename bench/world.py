"""World benchmark: a Minecraft-server-shaped load on the built-in classes, and the nearest-agent query.

1. Load: N spawned agents, each sending ``Agent.move`` at 20 Hz (one per tick, 50 ms; each agent at
   its own phase within the tick, as independent bots are), an inventory op (``inventory.add`` and
   ``inventory.remove`` in turn) and a health op (``damage`` and ``heal`` in turn) once a second
   each, for ``--seconds``; meanwhile every agent's alarm sends a heartbeat to the Foreman every
   ``--heartbeat-s``. Requests are built before the clock starts and sent open-loop on a schedule
   over ``--conns`` DEALER sockets with no limit on requests in flight; latency is from send to
   reply, per op. One request per frame, as a plugin without batching sends; with ``--batch``, each
   socket's requests go out as a batch frame whenever the generator next waits (at most 64 sends
   apart), as the Java client's I/O thread sends what is queued when it wakes. "dropped" counts
   requests without a reply (or with an error) at the end, plus envelopes the daemon dropped; "lag"
   is how far the generator fell behind its schedule (if it is large, the generator, not the
   daemon, was the limit). The highest agent count whose every op keeps p99 under one tick (50 ms)
   with nothing dropped is searched for with ``--search``.
2. Nearest: 10,000 agents registered with the Foreman (all active), then ``Foreman.nearest`` at
   random points, one request in flight, k = 1 and k = 10.

Usage: python bench/world.py [--agents 200,1000] [--seconds 60] [--search] [--batch] [--nearest-agents 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq

from schemas.wire import decode, encode, request

REPO = Path(__file__).resolve().parent.parent
TICK_NS = 50_000_000
POOL = 64  # pre-built move requests per agent, used in turn
ID_BASE = 1 << 16  # ids from here encode as uint32, so a reply's id sits at bytes 8..11
KINDS = ("move", "inventory", "health")
pc = time.perf_counter_ns


class Daemon:
    """A fresh ``lodestone serve`` on ephemeral ports, in its own data directory and session."""

    def __init__(self, heartbeat_s: float) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lodestone-world-"))
        config = self.dir / "lodestone.toml"
        config.write_text(f'log_level = "warning"\n[classes.options.Agent]\nheartbeat_s = {heartbeat_s}\n')
        argv = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(self.dir / "data"), "--config",
                str(config), "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "serving" not in line:
            raise RuntimeError(f"the daemon did not start: {line!r}")
        self.rpc = dict(part.split("=", 1) for part in line.split() if "=" in part)["rpc"]

    def cpu(self) -> tuple[float, float]:
        """User and system CPU seconds used so far (all threads)."""
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return int(stat[11]) / os.sysconf("SC_CLK_TCK"), int(stat[12]) / os.sysconf("SC_CLK_TCK")
        return 0.0, 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Pipe:
    """DEALER sockets sending pre-built requests; replies are matched to their slot by id.

    With ``batch``, requests queue per socket and go out as one batch frame
    when the sender next waits for replies (or every 64 requests), as the Java
    client's I/O thread sends whatever is queued when it wakes; a request's
    latency counts from when it was queued.
    """

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, conns: int, slots: int,
                 batch: bool = False) -> None:
        self.batch = batch
        self.queued: list[list[bytes]] = [[] for _ in range(conns)]
        self.socks = []
        for _ in range(conns):
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.connect(endpoint)
            self.socks.append(sock)
        self.poller = zmq.Poller()
        for sock in self.socks:
            self.poller.register(sock, zmq.POLLIN)
        self.sent_at = [0] * slots
        self.replies = self.errors = self.overruns = self.outstanding = 0
        self.first_error: str | None = None

    def send(self, conn: int, slot: int, body: bytes) -> None:
        if self.sent_at[slot]:
            self.overruns += 1  # its last use is still unanswered
            self.outstanding -= 1
        if self.batch:
            self.queued[conn].append(body)
        else:
            self.socks[conn].send_multipart((b"", body))
        self.sent_at[slot] = pc()
        self.outstanding += 1

    def flush(self) -> None:
        """Send each socket's queued requests as one batch frame (a lone request as itself)."""
        for conn, bodies in enumerate(self.queued):
            if bodies:
                frame = bodies[0] if len(bodies) == 1 else msgpack.Packer().pack_array_header(len(bodies)) + b"".join(
                    bodies)
                self.socks[conn].send_multipart((b"", frame))
                bodies.clear()

    def drain(self, timeout_ms: float, on_reply: Any) -> None:
        """Wait up to ``timeout_ms`` for replies; hand each ``(slot, latency_ns)`` to ``on_reply``."""
        if self.batch:
            self.flush()
        for sock, _ in self.poller.poll(int(timeout_ms)):
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now, body = pc(), frames[-1]
                if body[0] & 0xF0 == 0x90 or body[0] in (0xDC, 0xDD):  # a batch frame's reply array
                    for reply in decode(body):
                        self._answered(int(reply["id"]) - ID_BASE, bool(reply.get("ok")), reply, now, on_reply)
                elif body[7] == 0xCE:
                    slot, ok = int.from_bytes(body[8:12], "big") - ID_BASE, body[15] == 0xC3
                    self._answered(slot, ok, body, now, on_reply)
                else:
                    reply = decode(body)
                    self._answered(int(reply["id"]) - ID_BASE, bool(reply.get("ok")), reply, now, on_reply)

    def _answered(self, slot: int, ok: bool, reply: Any, now: int, on_reply: Any) -> None:
        if not ok:
            self.errors += 1
            message = decode(reply) if isinstance(reply, bytes) else reply
            self.first_error = self.first_error or repr(message.get("error"))
        started = self.sent_at[slot]
        if started:
            self.sent_at[slot] = 0
            self.outstanding -= 1
            self.replies += 1
            on_reply(slot, now - started)

    def close(self) -> None:
        for sock in self.socks:
            sock.close(0)


def call_all(pipe: Pipe, bodies: list[bytes], window: int = 256) -> None:
    """Send ``bodies`` (slots 0..n-1) with ``window`` in flight; wait for every reply."""
    pipe.sent_at = [0] * len(bodies)
    sent = 0
    while sent < len(bodies) or pipe.outstanding:
        while sent < len(bodies) and pipe.outstanding < window:
            pipe.send(sent % len(pipe.socks), sent, bodies[sent])
            sent += 1
        pipe.drain(1000, lambda slot, latency: None)
    if pipe.errors:
        raise RuntimeError(f"set-up requests failed: {pipe.first_error}")


def agent_target(a: int) -> dict[str, str]:
    return {"class": "Agent", "name": f"steve-{a}"}


def percentile(values: list[int], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] / 1e6 if values else float("nan")


@dataclass
class LoadResult:
    agents: int
    seconds: float
    latencies: dict[str, list[int]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    dropped: int = 0
    errors: int = 0
    max_lag_ms: float = 0.0
    heartbeats: int = 0
    gen_cpu: float = 0.0
    daemon_user: float = 0.0
    daemon_sys: float = 0.0
    cycles: int = 0
    first_error: str | None = None

    def p99(self, kind: str) -> float:
        return percentile(self.latencies[kind], 0.99)

    def passes(self) -> bool:
        return self.dropped == 0 and all(self.p99(kind) < 50 for kind in KINDS)


def run_load(agents: int, seconds: float, heartbeat_s: float, conns: int, batch: bool = False) -> LoadResult:
    rng = random.Random(agents)
    daemon = Daemon(heartbeat_s)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        pipe = Pipe(ctx, daemon.rpc, conns, 1, batch)
        starts = [(rng.uniform(-2000, 2000), rng.uniform(-2000, 2000)) for _ in range(agents)]
        call_all(pipe, [encode(request(ID_BASE + a, "Agent.init", agent_target(a), {
            "position": {"x": x, "y": 64.0, "z": z}, "inventory": [{"type": "cobblestone", "count": 64}]}))
            for a, (x, z) in enumerate(starts)])
        # Slots: moves [0, agents * POOL), inventory and health ops two per agent after them.
        inv_base, health_base = agents * POOL, agents * (POOL + 2)
        bodies: list[bytes] = []
        for a, (x, z) in enumerate(starts):
            for j in range(POOL):
                x, z = x + rng.uniform(-0.3, 0.3), z + rng.uniform(-0.3, 0.3)
                bodies.append(encode(request(ID_BASE + a * POOL + j, "Agent.move", agent_target(a),
                                             {"x": round(x, 3), "y": 64.0, "z": round(z, 3)})))
        pairs: list[tuple[int, list[tuple[str, dict[str, Any]]]]] = [
            (inv_base, [("Agent.inventory.add", {"type": "oak_log", "count": 1}),
                        ("Agent.inventory.remove", {"type": "oak_log", "count": 1})]),
            (health_base, [("Agent.damage", {"amount": 1, "source": "zombie"}), ("Agent.heal", {"amount": 1})])]
        for base, ops in pairs:
            for a in range(agents):
                for j, (op, args) in enumerate(ops):
                    bodies.append(encode(request(ID_BASE + base + 2 * a + j, op, agent_target(a), args)))
        pipe.sent_at = [0] * len(bodies)
        # One tick's schedule: (offset ns, agent, kind); inventory and health ops spread over the second.
        phase = [rng.randrange(TICK_NS) for _ in range(agents)]
        ticks: list[list[tuple[int, int, int]]] = []
        for k in range(20):
            events = [(phase[a], a, 0) for a in range(agents)]
            events += [((phase[a] + TICK_NS // 3) % TICK_NS, a, 1) for a in range(agents) if a % 20 == k]
            events += [((phase[a] + 2 * TICK_NS // 3) % TICK_NS, a, 2) for a in range(agents) if (a + 10) % 20 == k]
            ticks.append(sorted(events))
        result = LoadResult(agents, seconds)
        lat = result.latencies

        def on_reply(slot: int, latency: int) -> None:
            lat["move" if slot < inv_base else "inventory" if slot < health_base else "health"].append(latency)

        before = stats(ctx, daemon.rpc)["counters"]
        fired0, cycles0 = before.get("alarms.fired", 0), before.get("cycles", 0)
        cpu0, daemon0 = time.process_time(), daemon.cpu()
        t0 = pc() + 100_000_000
        total_ticks = int(seconds * 20)
        sent, sent_total = [0, 0, 0], 0
        for k in range(total_ticks):
            tick_start, second = t0 + k * TICK_NS, k // 20
            for offset, a, kind in ticks[k % 20]:
                due = tick_start + offset
                now = pc()
                while due - now >= 1_000_000:  # wait in the poller; a request due within 1 ms goes now
                    pipe.drain((due - now) / 1e6, on_reply)
                    now = pc()
                result.max_lag_ms = max(result.max_lag_ms, (now - due) / 1e6)
                if sent_total & 63 == 0:
                    pipe.drain(0, on_reply)  # keep reading replies while sending a burst
                sent_total += 1
                if kind == 0:
                    slot = a * POOL + (k % POOL)
                else:
                    slot = (inv_base if kind == 1 else health_base) + 2 * a + (second & 1)
                pipe.send(a % conns, slot, bodies[slot])
                sent[kind] += 1
        wall = (pc() - t0) / 1e9
        deadline = pc() + 5_000_000_000
        while pipe.outstanding and pc() < deadline:
            pipe.drain(100, on_reply)
        result.gen_cpu = (time.process_time() - cpu0) / wall
        (user, system), (user0, system0) = daemon.cpu(), daemon0
        result.daemon_user, result.daemon_sys = (user - user0) / wall, (system - system0) / wall
        after = stats(ctx, daemon.rpc)["counters"]
        result.cycles = after.get("cycles", 0) - cycles0
        result.heartbeats = after.get("alarms.fired", 0) - fired0
        result.sent = dict(zip(KINDS, sent, strict=True))
        result.errors, result.first_error = pipe.errors, pipe.first_error
        result.dropped = pipe.outstanding + pipe.overruns + pipe.errors + after.get("dropped_envelopes", 0)
        for values in lat.values():
            values.sort()
        pipe.close()
        return result
    finally:
        ctx.destroy(0)
        daemon.stop()


def stats(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> dict[str, Any]:
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send(encode(request(1, "stats")))
    reply = decode(sock.recv())
    sock.close(0)
    return dict(reply["result"])


def run_nearest(agents: int, queries: int) -> dict[int, tuple[float, float, float]]:
    """``{k: (p50 ms, p99 ms, max ms)}`` of ``Foreman.nearest`` over ``agents`` active agents."""
    rng = random.Random(agents)
    daemon = Daemon(30)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        pipe = Pipe(ctx, daemon.rpc, 4, 1)
        foreman = {"class": "Foreman", "name": "global"}
        call_all(pipe, [encode(request(ID_BASE + a, "Foreman.heartbeat", foreman, {
            "agent": f"steve-{a}", "health": 20, "position": {
                "x": rng.uniform(-5000, 5000), "y": rng.uniform(0, 255), "z": rng.uniform(-5000, 5000)}}))
            for a in range(agents)])
        found = {}
        for k in (1, 10):
            bodies = [encode(request(ID_BASE + q, "Foreman.nearest", foreman, {
                "x": rng.uniform(-5000, 5000), "y": 64.0, "z": rng.uniform(-5000, 5000), "k": k}))
                for q in range(queries)]
            latencies: list[int] = []
            keep = latencies.append
            pipe.sent_at = [0] * queries
            for q, body in enumerate(bodies):
                pipe.send(0, q, body)
                while pipe.outstanding:
                    pipe.drain(1000, lambda slot, latency: keep(latency))  # noqa: B023 (drained before the next k)
            latencies.sort()
            found[k] = (percentile(latencies, 0.5), percentile(latencies, 0.99), latencies[-1] / 1e6)
        if pipe.errors:
            raise RuntimeError(f"nearest failed: {pipe.first_error}")
        pipe.close()
        return found
    finally:
        ctx.destroy(0)
        daemon.stop()


def print_load(result: LoadResult) -> None:
    for kind in KINDS:
        values = result.latencies[kind]
        print(f"{result.agents:>7} {result.seconds:>5.0f}  {kind:<10} {result.sent[kind]:>9,} {len(values):>9,} "
              f"{percentile(values, 0.5):>8.2f} {percentile(values, 0.99):>8.2f} "
              f"{values[-1] / 1e6 if values else float('nan'):>8.1f}")
    verdict = "PASS" if result.passes() else "FAIL"
    print(f"{'':>14} dropped {result.dropped} (errors {result.errors}), heartbeats {result.heartbeats:,} "
          f"({result.heartbeats / result.seconds:,.0f}/s), {result.cycles / result.seconds:,.0f} cycles/s, "
          f"lag max {result.max_lag_ms:.1f} ms, daemon CPU {result.daemon_user:.0%} user + {result.daemon_sys:.0%} "
          f"sys, generator {result.gen_cpu:.0%}  -> p99 < 50 ms: {verdict}")
    if result.first_error:
        print(f"{'':>14} first error: {result.first_error}")


def loop_rate() -> float:
    """Millions of iterations per second of a bare Python loop: this VM's CPU speed varies by host load."""
    count, end = 0, pc() + 500_000_000
    while pc() < end:
        count += 1
    return count / 0.5e6


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", default="200,1000", help="comma-separated agent counts")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--batch", action="store_true",
                        help="send each connection's requests as batch frames, as the Java client's I/O thread does")
    parser.add_argument("--search", action="store_true", help="bisect for the highest passing agent count")
    parser.add_argument("--search-seconds", type=float, help="length of each search run (default: --seconds; "
                        "shorter runs pass loads that build a backlog only after a while)")
    parser.add_argument("--nearest-agents", type=int, default=10_000, help="0 skips the nearest benchmark")
    parser.add_argument("--queries", type=int, default=5000)
    args = parser.parse_args()
    print(f"Lodestone world benchmark, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
          f"heartbeat every {args.heartbeat_s} s; CPU speed gauge {loop_rate():.1f} (see core.py)")
    print(f"{'agents':>7} {'secs':>5}  {'op':<10} {'sent':>9} {'replied':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8}")
    results = []
    for agents in (int(n) for n in args.agents.split(",")):
        results.append(run_load(agents, args.seconds, args.heartbeat_s, args.conns, args.batch))
        print_load(results[-1])
    if args.search:
        search_seconds = args.search_seconds or args.seconds
        passing = [r.agents for r in results if r.passes()]
        failing = [r.agents for r in results if not r.passes()]
        low, high = max(passing, default=0), min((n for n in failing if n > max(passing, default=0)), default=0)
        while high and high - low > max(25, low // 20):
            middle = (low + high) // 2
            result = run_load(middle, search_seconds, args.heartbeat_s, args.conns, args.batch)
            print_load(result)
            low, high = (middle, high) if result.passes() else (low, middle)
        print(f"highest agent count with every op's p99 under 50 ms and nothing dropped: {low} "
              f"(searched with {search_seconds:.0f} s runs)")
    if args.nearest_agents:
        print(f"\nForeman.nearest over {args.nearest_agents:,} active agents, {args.queries:,} queries, "
              "one in flight:")
        for k, (p50, p99, worst) in run_nearest(args.nearest_agents, args.queries).items():
            print(f"  k={k:<3} p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {worst:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
