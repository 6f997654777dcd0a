"""Cluster mode's costs: handoff latency, forwarded requests, and throughput with cluster mode on and off.

Runs a real 3-member etcd (the `etcd` binary) on 127.0.0.1 and Lodestone
nodes as subprocesses, then prints a table:

* **handoff**: a read sent to the node that does not own an agent, which
  moves it there first (export, pending import, the etcd transaction,
  install), timed at the client, alternating between two nodes; an agent
  with a ~300-byte state and one with 1 MiB of entries;
* **forward**: sequential writes to a `home` object (Foreman) at its owner
  and at another node, which forwards them; the difference is the cost of
  the extra hop;
* **throughput**: pipelined `storage.put` (8 connections, 64 requests in
  flight each) over 1,000 agents a single node already owns, with cluster
  mode off and on, in alternating rounds; with `--batch N`, in batch frames
  of N requests (64 / N frames in flight per connection).

Usage: python bench/cluster.py [--moves N] [--seconds S] [--rounds N] [--batch N] [--throughput-only]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.wire import decode, encode
from tests.cluster.support import EtcdCluster, Nodes
from tests.conftest import SECRET, DaemonProcess

CONNS, WINDOW, AGENTS = 8, 64, 1000


class Caller:
    """One DEALER, one request at a time; returns the reply and its latency."""

    def __init__(self, context: zmq.Context[Any], endpoint: str) -> None:
        self.sock: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.seq = 0

    def call(self, op: str, target: Any = None, args: dict[str, Any] | None = None) -> tuple[dict[str, Any], float]:
        self.seq += 1
        message: dict[str, Any] = {"v": 1, "id": self.seq, "op": op, "args": args or {}}
        if target is not None:
            message["target"] = target
        started = time.perf_counter()
        self.sock.send_multipart([b"", encode(message)])
        if not self.sock.poll(30_000):
            raise TimeoutError(op)
        reply: dict[str, Any] = decode(self.sock.recv_multipart()[-1])
        elapsed = time.perf_counter() - started
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply, elapsed

    def close(self) -> None:
        self.sock.close(0)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def handoffs(context: zmq.Context[Any], nodes: Nodes, name: str, entries: dict[str, Any],
             moves: int) -> tuple[float, float]:
    target = {"class": "Agent", "name": name}
    a, b = (Caller(context, nodes.procs[node].rpc) for node in ("a", "b"))
    try:
        for start in range(0, len(entries), 64):
            chunk = dict(list(entries.items())[start:start + 64])
            a.call("storage.put", target, {"entries": chunk})
        samples = []
        for move in range(moves):
            caller = b if move % 2 == 0 else a
            _, elapsed = caller.call("storage.get", target, {"key": "state"})
            samples.append(elapsed)
        return percentiles(samples)
    finally:
        a.close()
        b.close()


def forwards(context: zmq.Context[Any], nodes: Nodes, count: int) -> dict[str, tuple[float, float]]:
    foreman = {"class": "Foreman", "name": "global"}
    a, b = (Caller(context, nodes.procs[node].rpc) for node in ("a", "b"))
    try:
        a.call("storage.put", foreman, {"key": "k", "value": 0})
        time.sleep(0.5)  # b hears of the owner record
        found = {}
        for label, caller in (("local", a), ("forwarded", b)):
            samples = [caller.call("storage.put", foreman, {"key": "k", "value": i})[1] for i in range(count)]
            found[label] = percentiles(samples)
        return found
    finally:
        a.close()
        b.close()


def pipelined(context: zmq.Context[Any], endpoint: str, seconds: float, seed: int, batch: int = 1) -> float:
    """Pipelined storage.put over AGENTS agents for ``seconds`` (``batch`` > 1: in batch frames); requests/s."""
    rng = random.Random(seed)
    bodies = [encode({"v": 1, "id": i, "op": "storage.put", "target": {"class": "Agent", "name": f"steve-{i % AGENTS}"},
                      "args": {"key": "state", "value": {"hp": rng.randint(1, 20), "pad": "x" * 200}}})
              for i in range(20_000)]
    if batch > 1:
        head = msgpack.Packer().pack_array_header(batch)
        bodies = [head + b"".join(bodies[i:i + batch]) for i in range(0, len(bodies) - batch + 1, batch)]
    socks = []
    poller = zmq.Poller()
    for _ in range(CONNS):
        sock: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        poller.register(sock, zmq.POLLIN)
        socks.append(sock)
    sent = done = 0
    for sock in socks:
        for _ in range(max(1, WINDOW // batch)):
            sock.send_multipart([b"", bodies[sent % len(bodies)]])
            sent += 1
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for sock, _ in poller.poll(1000):
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                replies = decode(frames[-1])
                for reply in replies if batch > 1 else [replies]:
                    if not reply["ok"]:
                        raise RuntimeError(reply)
                done += batch
                sock.send_multipart([b"", bodies[sent % len(bodies)]])
                sent += 1
    rate = done / (time.perf_counter() - started)
    for sock in socks:
        sock.close(0)
    return rate


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_agents(context: zmq.Context[Any], endpoint: str) -> None:
    """Write every agent once, so the node owns (and has stored) all of them before the timed rounds."""
    caller = Caller(context, endpoint)
    for i in range(AGENTS):
        caller.call("storage.put", {"class": "Agent", "name": f"steve-{i}"}, {"key": "state", "value": 0})
    caller.close()


def throughput(context: zmq.Context[Any], root: Path, etcd: EtcdCluster, seconds: float,
               rounds: int, batch: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Requests per second, and the server's CPU microseconds per request, per round, off and on."""
    plain_dir = root / "plain"
    plain_dir.mkdir()
    (plain_dir / "secret").write_bytes(SECRET)
    (plain_dir / "secret").chmod(0o600)  # the daemon refuses a secret others may read
    plain = DaemonProcess(plain_dir).start()
    nodes = Nodes(root / "solo", "bench-solo", etcd.clients, ttl_s=10)
    (root / "solo").mkdir()
    node = nodes.start("solo")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    try:
        own_agents(context, plain.rpc)
        own_agents(context, node.rpc)
        for round_number in range(rounds):
            for label, proc in (("off", plain), ("on", node)):
                assert proc.process is not None
                before, started = cpu_seconds(proc.process.pid), time.perf_counter()
                rate = pipelined(context, proc.rpc, seconds, round_number, batch)
                served = rate * (time.perf_counter() - started)
                rates[label].append(rate)
                cpu[label].append((cpu_seconds(proc.process.pid) - before) / served * 1e6)
    finally:
        plain.stop()
        nodes.close()
    return rates, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=200, help="handoffs timed per agent size")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per throughput round")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds, off and on in turn")
    parser.add_argument("--batch", type=int, default=1, help="throughput: requests per frame (> 1: batch frames)")
    parser.add_argument("--throughput-only", action="store_true", help="skip the handoff and forward timings")
    args = parser.parse_args()
    context: zmq.Context[Any] = zmq.Context.instance()
    with tempfile.TemporaryDirectory(prefix="lodestone-bench-cluster-") as tmp:
        root = Path(tmp)
        (root / "etcd").mkdir()
        etcd = EtcdCluster(root / "etcd").start_all()
        nodes = Nodes(root, "bench", etcd.clients, ttl_s=10)
        small = big = (0.0, 0.0)
        forward: dict[str, tuple[float, float]] = {}
        try:
            if not args.throughput_only:
                nodes.start("a")
                nodes.start("b")
                small = handoffs(context, nodes, "small", {"state": {"pad": "x" * 280}}, args.moves)
                big = handoffs(context, nodes, "big",
                               {"state": 0, **{f"e{i:02d}": "y" * 65_536 for i in range(16)}}, max(20, args.moves // 4))
                forward = forwards(context, nodes, 1000)
                nodes.close()
            rates, cpu = throughput(context, root, etcd, args.seconds, args.rounds, args.batch)
        finally:
            nodes.close()
            etcd.close()
    print(f"bench/cluster.py on {os.cpu_count()} CPUs, etcd 3 members on loopback, lease_ttl_s 10\n")
    if not args.throughput_only:
        print("| what | p50 (ms) | p99 (ms) |\n|---|---|---|")
        print(f"| handoff, 300-byte agent ({args.moves} moves) | {small[0]:.2f} | {small[1]:.2f} |")
        print(f"| handoff, 1 MiB of entries ({max(20, args.moves // 4)} moves) | {big[0]:.2f} | {big[1]:.2f} |")
        for label, (p50, p99) in forward.items():
            print(f"| write to a home object, {label} | {p50:.2f} | {p99:.2f} |")
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    framing = f"in batch frames of {args.batch}" if args.batch > 1 else "one request per frame"
    print(f"\n| pipelined storage.put ({framing}), 1,000 agents owned locally | requests/s (median) "
          "| server CPU per request (us, median) | requests/s per round |\n|---|---|---|---|")
    print(f"| cluster mode off | {off:,.0f} | {cpu_off:.1f} | {', '.join(f'{r:,.0f}' for r in rates['off'])} |")
    print(f"| cluster mode on | {on:,.0f} | {cpu_on:.1f} | {', '.join(f'{r:,.0f}' for r in rates['on'])} |")
    print(f"\non/off: {on / off:.2f}x the requests/s, {cpu_on / cpu_off:.2f}x the server CPU per request")
    ratios = sorted(on_rate / off_rate for off_rate, on_rate in zip(rates["off"], rates["on"], strict=True))
    print(f"on/off per round (requests/s): median {statistics.median(ratios):.2f}x, "
          f"{ratios[0]:.2f}x to {ratios[-1]:.2f}x")
    cpu_ratios = sorted(on_cpu / off_cpu for off_cpu, on_cpu in zip(cpu["off"], cpu["on"], strict=True))
    print(f"on/off per round (server CPU per request): median {statistics.median(cpu_ratios):.2f}x, "
          f"{cpu_ratios[0]:.2f}x to {cpu_ratios[-1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
