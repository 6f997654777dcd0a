"""Where the gateway's lockstep latency goes: one call at a time, timed stage by stage.

One daemon and one gateway on loopback (as bench/gateway.py starts them), and blocking clients with
as little of their own cost as can be (plain sockets, a hand-rolled WebSocket client), in turns:

- ``daemon``: a ZeroMQ DEALER straight to the daemon, ``storage.get``;
- ``gateway answers``: a frame the gateway answers itself (a request without ``op``): the WebSocket
  hop alone (the client's socket, aiohttp's reader, the gateway's loop, its write);
- ``gateway + daemon``: ``storage.get`` through the gateway.

The last minus the first two is what relaying costs inside the gateway (its ZeroMQ sends and
receives, and the loop passes between them). Each is reported as p50 and p99 per round, median
(lowest to highest) over the rounds.

Usage: python bench/gateway_stages.py [--seconds N] [--rounds N]
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway import start_stack

TARGET = {"class": "Chest", "name": "bench-stages"}


class RawWebSocket:
    """A blocking WebSocket client: one masked binary frame out, one binary frame back."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.rest = head.split(b"\r\n\r\n", 1)[1]

    def call(self, payload: bytes) -> bytes:
        assert len(payload) < 126
        self.sock.sendall(bytes((0x82, 0x80 | len(payload))) + b"\0\0\0\0" + payload)  # a zero mask
        data = self.rest
        while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
            data += self.sock.recv(65536)
        size = data[1] & 0x7F
        assert size < 126, "replies here are small"
        self.rest = data[2 + size:]
        return data[2:2 + size]


def lockstep(call: Callable[[], object], seconds: float) -> list[float]:
    for _ in range(200):
        call()
    times: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - t0) / 1e3)
    return sorted(times)


def pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lodestone-gwstages-") as tmp:
        daemon, gateway, rpc, url = start_stack(Path(tmp))
        context = zmq.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.connect(rpc)
        get = msgpack.packb({"v": 1, "id": 1, "op": "storage.get", "target": TARGET, "args": {"key": "k"}})
        put = msgpack.packb({"v": 1, "id": 1, "op": "storage.put", "target": TARGET, "args": {"key": "k", "value": 1}})
        ws = RawWebSocket(url)
        no_op = msgpack.packb({"v": 1, "id": 1, "args": {}})

        def direct(body: bytes = get) -> bytes:
            dealer.send_multipart([b"", body])
            return dealer.recv_multipart()[-1]

        direct(put)
        stages: dict[str, Callable[[], object]] = {
            "daemon": direct, "gateway answers": lambda: ws.call(no_op), "gateway + daemon": lambda: ws.call(get)}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in stages}
        try:
            for round_ in range(args.rounds):
                for name, call in stages.items():
                    times = lockstep(call, args.seconds)
                    results[name].append((pct(times, 0.5), pct(times, 0.99)))
                    print(f"  round {round_ + 1} {name:18} p50 {pct(times, 0.5):6.0f} us  "
                          f"p99 {pct(times, 0.99):6.0f} us", flush=True)
        finally:
            dealer.close(linger=0)
            context.term()
            gateway.stop()
            daemon.stop()
    print("\n| stage | p50 us | p99 us |\n|---|---|---|")
    for name, runs in results.items():
        cells = [f"{statistics.median(v):.0f} ({min(v):.0f} to {max(v):.0f})" for v in zip(*runs, strict=True)]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    relay = [g[0] - d[0] - w[0] for g, d, w in zip(results["gateway + daemon"], results["daemon"],
                                                      results["gateway answers"], strict=True)]
    print(f"\nrelaying inside the gateway, p50 per round: {statistics.median(relay):.0f} "
          f"({min(relay):.0f} to {max(relay):.0f}) us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
