"""Alarm benchmark: start-up with many stored alarms, a burst due in one second, sustained firing.

1. Start-up: N stored alarms (1,000,000 by default, written straight into a
   data directory, due over the next 30 days): time from spawning the daemon
   to its "serving" line, and its resident memory then.
2. Burst: 10,000 plain-object alarms due within the same second; every
   ``alarm.*`` notice is collected; lateness = notice received - due time.
3. Sustained: ``Ticker`` objects whose handlers write state and re-arm every
   second (5,000 of them: 5,000 fires/s) for ``--seconds``, while a lockstep
   client reads; reports fires/s, handler lateness and request latency.

Usage: python bench/alarms.py [--stored 1000000] [--burst 10000] [--tickers 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

from daemon.ids import IdFactory
from daemon.model import AlarmRecord
from daemon.storage import Store, StoreOptions, alarms

REPO = Path(__file__).resolve().parent.parent
SECRET = bytes(range(32))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Daemon:
    """A daemon subprocess on ephemeral ports; ``ready_s`` is spawn-to-serving time."""

    def __init__(self, data_dir: Path, config: Path | None = None) -> None:
        argv = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(data_dir), "--log-level", "warning",
                "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"]
        if config is not None:
            argv += ["--config", str(config)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        self.ready_s = time.perf_counter() - started
        if "serving" not in line:
            raise RuntimeError(f"the daemon did not start: {line!r}")
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        self.rpc, self.pub = fields["rpc"], fields["pub"]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def call(sock: zmq.Socket[bytes], op: str, target: dict[str, str] | None = None, **args: Any) -> Any:
    sock.send(msgpack.packb({"v": 1, "id": 1, "op": op, "target": target, "args": args}))
    reply = msgpack.unpackb(sock.recv())
    if not reply["ok"]:
        raise RuntimeError(reply["error"])
    return reply["result"]


def pipelined(endpoint: str, bodies: list[bytes], window: int = 256) -> None:
    """Send every body on one DEALER, keeping ``window`` in flight; fail on any error reply."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.connect(endpoint)
    sent = received = 0
    while received < len(bodies):
        while sent < len(bodies) and sent - received < window:
            sock.send_multipart([b"", bodies[sent]])
            sent += 1
        reply = msgpack.unpackb(sock.recv_multipart()[-1])
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        received += 1
    sock.close(0)


def startup(root: Path, stored: int) -> dict[str, float]:
    data_dir = root / "startup"
    data_dir.mkdir()
    (data_dir / "secret").write_bytes(SECRET)
    ids = IdFactory(SECRET)
    store = Store(data_dir, StoreOptions(map_size=1 << 32))
    store.open()
    rng = random.Random(1)
    base = now_ms() + 3_600_000
    written = time.perf_counter()
    for start in range(0, stored, 50_000):
        with store.env.begin(write=True) as txn:
            for i in range(start, min(stored, start + 50_000)):
                at = base + rng.randrange(30 * 86_400_000)
                record = AlarmRecord("Horse", f"h{i}", at, at)
                alarms.write(txn, store.system, bytes.fromhex(ids.from_name("Horse", f"h{i}")), record)
    written_s = time.perf_counter() - written
    store.close()
    daemon = Daemon(data_dir)
    try:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
        sock.connect(daemon.rpc)
        count = call(sock, "stats")["storage"]["alarms_stored"]
        sock.close(0)
        return {"stored": count, "write_s": written_s, "ready_s": daemon.ready_s, "rss_mb": daemon.rss_mb()}
    finally:
        daemon.stop()


def burst(root: Path, count: int) -> dict[str, float]:
    data_dir = root / "burst"
    daemon = Daemon(data_dir)
    try:
        sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        sub.connect(daemon.pub)
        sub.setsockopt(zmq.SUBSCRIBE, b"alarm.")
        due_second = now_ms() + 4000
        rng = random.Random(2)
        dues = [due_second + rng.randrange(1000) for _ in range(count)]
        bodies = [msgpack.packb({"v": 1, "id": i, "op": "alarm.set", "target": {"class": "Horse", "name": f"h{i}"},
                                 "args": {"at_ms": at}}) for i, at in enumerate(dues)]
        pipelined(daemon.rpc, bodies)
        if now_ms() > due_second:
            raise RuntimeError("setting the alarms took longer than the lead time; raise it")
        late: list[float] = []
        deadline = time.monotonic() + 30
        while len(late) < count and time.monotonic() < deadline:
            if sub.poll(1000):
                _, body = sub.recv_multipart()
                received = time.time_ns() / 1e6
                late.append(received - msgpack.unpackb(body)["scheduled_ms"])
        sub.close(0)
        return {"fired": len(late), "p50_ms": pct(late, 0.5), "p99_ms": pct(late, 0.99), "max_ms": max(late)}
    finally:
        daemon.stop()


def sustained(root: Path, tickers: int, seconds: float) -> dict[str, float]:
    data_dir = root / "sustained"
    config = root / "sustained.toml"
    config.write_text('[classes]\nmodules = ["bench.alarm_classes"]\n')
    daemon = Daemon(data_dir, config)
    try:
        start = now_ms() + 3000
        bodies = []
        for i in range(tickers):
            target = {"class": "Ticker", "name": f"t{i}"}
            bodies.append(msgpack.packb({"v": 1, "id": 2 * i, "op": "storage.put", "target": target,
                                         "args": {"key": "period", "value": 1000}}))
            bodies.append(msgpack.packb({"v": 1, "id": 2 * i + 1, "op": "alarm.set", "target": target,
                                         "args": {"at_ms": start + i * 1000 // tickers}}))
        pipelined(daemon.rpc, bodies)
        sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        sub.connect(daemon.pub)
        sub.setsockopt(zmq.SUBSCRIBE, b"tick")
        req: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
        req.connect(daemon.rpc)
        while now_ms() < start + 1000:  # let the first round go by
            time.sleep(0.05)
        before = call(req, "stats")["counters"].get("alarms.fired", 0)
        read = msgpack.packb({"v": 1, "id": 9, "op": "storage.get", "target": {"class": "Ticker", "name": "t0"},
                              "args": {"key": "state"}})
        latencies: list[float] = []
        late: list[float] = []
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            sent = time.perf_counter()
            req.send(read)
            req.recv()
            latencies.append((time.perf_counter() - sent) * 1e6)
            while sub.poll(0):
                late.append(msgpack.unpackb(sub.recv_multipart()[1])["late_ms"])
        elapsed = time.perf_counter() - began
        fired = call(req, "stats")["counters"].get("alarms.fired", 0) - before
        req.close(0)
        sub.close(0)
        return {"fires_per_s": fired / elapsed, "late_p50_ms": pct(late, 0.5), "late_p99_ms": pct(late, 0.99),
                "read_p50_us": pct(latencies, 0.5), "read_p99_us": pct(latencies, 0.99),
                "reads_per_s": len(latencies) / elapsed}
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--tickers", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lodestone-alarms-"))
    try:
        print(f"- {time.strftime('%Y-%m-%dT%H:%M:%S%z')}, {os.cpu_count()} cores, python {sys.version.split()[0]}")
        s = startup(root, args.stored)
        print(f"\n| stored alarms | written in (s) | spawn to ready (s) | RSS at ready (MB) |\n|---|---|---|---|\n"
              f"| {s['stored']:,.0f} | {s['write_s']:.1f} | {s['ready_s']:.2f} | {s['rss_mb']:.0f} |", flush=True)
        b = burst(root, args.burst)
        print(f"\n| alarms due in one second | notices received | lateness p50 (ms) | p99 (ms) | max (ms) |\n"
              f"|---|---|---|---|---|\n| {args.burst:,} | {b['fired']:,.0f} | {b['p50_ms']:.1f} "
              f"| {b['p99_ms']:.1f} | {b['max_ms']:.1f} |", flush=True)
        c = sustained(root, args.tickers, args.seconds)
        print(f"\n| tickers (1 fire/s each) | fires/s | handler lateness p50 / p99 (ms) | lockstep reads/s "
              f"| read p50 / p99 (us) |\n|---|---|---|---|---|\n| {args.tickers:,} | {c['fires_per_s']:,.0f} "
              f"| {c['late_p50_ms']:.1f} / {c['late_p99_ms']:.1f} | {c['reads_per_s']:,.0f} "
              f"| {c['read_p50_us']:.0f} / {c['read_p99_us']:.0f} |", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
