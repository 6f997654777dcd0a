"""Dashboard benchmark: agents moving at 20 Hz through a real daemon and gateway into the page.

A fresh ``lodestone serve`` with its gateway, N spawned agents, and the
dashboard open in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright). Then every agent sends ``Agent.move`` at ``--hz`` for
``--seconds``, open loop over one DEALER socket (one batch of moves per 5 ms
tick), while the page records its frame gaps and the change messages it
takes. After the last reply, "catch-up" is how long until every marker is
where its agent's last move put it. Everything shares the machine's cores:
the daemon, the gateway, the generator and the browser.

Usage: python bench/dashboard.py [--agents 100,200,400] [--seconds 10] [--hz 20]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from schemas.wire import decode, encode, request

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TICK_S = 0.005
WATCH = """async (seconds) => {
  const { store, map } = window.lodestone;
  const received = store.counts.received;
  const gaps = [];
  let last = performance.now();
  let running = true;
  const tick = (t) => { gaps.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  running = false;
  gaps.sort((a, b) => a - b);
  return { received: store.counts.received - received, frames: gaps.length,
           p95: gaps[Math.floor(gaps.length * 0.95)] || 0, worst: gaps[gaps.length - 1] || 0, moved: map.stats.moved };
}"""


class Stack:
    """A daemon with its gateway (no tokens: loopback, admin) in a temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lodestone-dashboard-"))
        config = self.dir / "lodestone.toml"
        config.write_text('log_level = "warning"\n[gateway]\nlisten = "127.0.0.1:0"\n')
        argv = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(self.dir / "data"), "--config", str(config),
                "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "gateway" not in fields:
            raise RuntimeError(f"the daemon did not start with its gateway: {line!r}")
        self.rpc, self.url = fields["rpc"], fields["gateway"]

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


def send_all(sock: zmq.Socket[bytes], bodies: list[bytes]) -> int:
    """Send requests, wait for every reply; return how many were ok."""
    for body in bodies:
        sock.send_multipart([b"", body])
    ok = 0
    for _ in bodies:
        ok += bool(decode(sock.recv_multipart()[-1])["ok"])
    return ok


def drive(rpc: str, agents: int, hz: float, seconds: float, out: dict[str, Any]) -> None:
    """Send every agent's moves on schedule (open loop) on one DEALER; count the replies."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(rpc)
    total = int(agents * hz * seconds)
    start = time.perf_counter()
    sent = replied = ok = 0
    while replied < total:
        due = min(total, int((time.perf_counter() - start) * agents * hz))
        while sent < due:
            step, agent = divmod(sent, agents)
            where = {"x": agent % 40 * 8 + step % 50, "y": 64, "z": agent // 40 * 8}
            sock.send_multipart([b"", encode(request(sent + 1, "Agent.move", {"class": "Agent", "name": f"a{agent}"},
                                                     where))])
            sent += 1
        while sock.poll(0):
            ok += bool(decode(sock.recv_multipart()[-1])["ok"])
            replied += 1
        if sent == total:
            if sock.poll(1000):
                continue
        else:
            time.sleep(TICK_S)
    out.update(sent=sent, ok=ok, seconds=time.perf_counter() - start, done=time.perf_counter())
    sock.close()


def run(agents: int, seconds: float, hz: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    stack = Stack()
    try:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = context.socket(zmq.DEALER)
        sock.connect(stack.rpc)
        send_all(sock, [encode(request(i + 1, "Agent.init", {"class": "Agent", "name": f"a{i}"}, {}))
                        for i in range(agents)])
        sock.close(linger=0)
        with sync_playwright() as driver:
            browser = driver.chromium.launch_persistent_context(
                tempfile.mkdtemp(), executable_path=CHROMIUM, headless=True, args=ARGS,
                viewport={"width": 1440, "height": 900})
            page = browser.new_page()
            page.goto(stack.url + "/")
            page.wait_for_function("window.lodestone && window.lodestone.store.phase === 'live' && "
                                   f"window.lodestone.store.agents.size === {agents}", timeout=60_000)
            load: dict[str, Any] = {}
            thread = threading.Thread(target=drive, args=(stack.rpc, agents, hz, seconds, load))
            thread.start()
            seen = page.evaluate(WATCH, seconds)
            thread.join()
            last_step = int(hz * seconds) - 1  # moves go out step by step, every agent in each step
            check = ("([n, step]) => [...Array(n).keys()].every((i) => { "
                     "const m = window.lodestone.map.markerOf('a' + i); return m && m.x === i % 40 * 8 + step % 50; })")
            page.wait_for_function(check, arg=[agents, last_step], timeout=60_000)
            catch_up = time.perf_counter() - load["done"]
            browser.close()
        return {"agents": agents, "sent/s": load["sent"] / load["seconds"], "ok": load["ok"], "sent": load["sent"],
                "page msgs/s": seen["received"] / seconds, "fps": seen["frames"] / seconds,
                "p95 ms": seen["p95"], "worst ms": seen["worst"], "catch-up ms": max(0.0, catch_up * 1000)}
    finally:
        stack.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="100,200,400")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--hz", type=float, default=20)
    args = parser.parse_args()
    print(f"| agents | moves sent/s | replied ok | change msgs/s at the page | page frames/s | p95 frame gap ms "
          f"| worst ms | catch-up ms |  ({args.hz:g} Hz, {args.seconds:g} s)")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for agents in (int(n) for n in args.agents.split(",")):
        r = run(agents, args.seconds, args.hz)
        print(f"| {agents:,} | {r['sent/s']:,.0f} | {r['ok']:,}/{r['sent']:,} | {r['page msgs/s']:,.0f} | "
              f"{r['fps']:.0f} | {r['p95 ms']:.0f} | {r['worst ms']:.0f} | {r['catch-up ms']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
