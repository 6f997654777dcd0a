"""The gateway's price: the TypeScript client through ``lodestone gateway`` against AsyncClient direct.

One daemon and one gateway in front of it, on loopback. Two phases, each run --rounds times with
the systems taking turns (so the host's drift hits all alike):

- pipelined ``Agent.move`` over 64 agents, a sliding window of 256 calls in flight: the TypeScript
  client (bridge/js, built; the window of its own bench, bridge/js/bench/client.ts) through the
  gateway, with its automatic batching and with ``batch: false`` (one frame per call), against the
  Python ``AsyncClient`` straight to the daemon's ROUTER;
- lockstep ``storage.get`` (one call at a time), p50 and p99: the TypeScript client through the
  gateway against ``AsyncClient`` direct.

Around every phase the gateway's and the daemon's CPU time is read from /proc/<pid>/stat
(utime + stime), so each gets a CPU cost per op: the target is gateway / daemon <= 0.3 on the
pipelined load, and at most 300 us added to the lockstep p99. The client's CPU is not counted.
The daemon's ``stats`` (its ``frames`` counter) around each pipelined phase shows how many
request frames the calls reached it in: the gateway sends what it reads together as batch frames,
which also makes the daemon's share cheaper, so the report also gives the gateway's CPU per op
against the daemon's on the direct path of the same round. bench/gateway_stages.py breaks the
lockstep latency down by stage.

Usage: python bench/gateway.py [--seconds N] [--rounds N] [--out FILE]   (needs node, and
``cd bridge/js && npm ci && npm run build`` first)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import loop_rate
from bench.systems import REPO, Server, free_port
from bridge import AsyncClient

AGENTS, WINDOW, WARM_UP = 64, 256, 200
DIST = REPO / "bridge" / "js" / "dist" / "index.js"

# The gateway-side load: bridge/js/bench/client.ts's window and lockstep loops, driven one phase at
# a time over stdin/stdout (one JSON line each way) so the CPU readings bracket each phase exactly.
DRIVER = """
import { createInterface } from "node:readline";
const { LodestoneClient } = await import(process.argv[2]);
const url = process.argv[3];
const clients = { batched: new LodestoneClient({ url }), single: new LodestoneClient({ url, batch: false }) };
const agents = Array.from({ length: %(agents)d }, (_, i) => `bench-gw-${i}`);
async function window(client, seconds, size) {
  const handles = agents.map((name) => client.agent(name));
  let calls = 0, i = 0;
  const started = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: size }, async () => {
    while (Date.now() < end) { await handles[i++ %% handles.length].move(i %% 1000, 64, 0); calls += 1; }
  }));
  return { ops: calls, wall: Number(process.hrtime.bigint() - started) / 1e9 };
}
async function lockstep(client, seconds) {
  const chest = client.object("Chest", "bench-gw");
  for (let i = 0; i < %(warm)d; i++) await chest.get("k");
  const times = [];
  const started = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    await chest.get("k");
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return { ops: times.length + %(warm)d, wall: Number(process.hrtime.bigint() - started) / 1e9, lat: times };
}
async function run(cmd) {
  if (cmd.phase === "setup") {
    const c = clients.batched;
    await Promise.all(agents.map((name) => c.agent(name).init().catch(() => undefined)));
    await c.object("Chest", "bench-gw").put("k", { health: 20, position: { x: 1.5, y: 64, z: -3 } });
    return {};
  }
  if (cmd.phase === "move") return window(clients[cmd.mode], cmd.seconds, cmd.window);
  return lockstep(clients.batched, cmd.seconds);
}
for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(JSON.stringify(await run(JSON.parse(line))) + "\\n");
}
await Promise.all(Object.values(clients).map((c) => c.close()));
"""


@dataclass
class Run:
    ops: int
    wall: float
    gateway_cpu: float  # seconds over the phase
    daemon_cpu: float
    lat_us: list[float] = field(default_factory=list)
    frames: int = 0  # request frames the daemon received over the phase

    @property
    def rate(self) -> float:
        return self.ops / self.wall

    def per_op(self, cpu: float) -> float:
        return cpu / self.ops * 1e6

    def pct(self, q: float) -> float:
        ordered = sorted(self.lat_us)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Node:
    """The node driver: one JSON command per line in, one JSON result per line out."""

    def __init__(self, tmp: Path, url: str) -> None:
        script = tmp / "driver.mjs"
        script.write_text(DRIVER % {"agents": AGENTS, "warm": WARM_UP})
        self.proc = subprocess.Popen(["node", str(script), DIST.as_uri(), url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the node driver exited with {self.proc.wait()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Direct:
    """AsyncClient straight to the daemon, in this process."""

    def __init__(self, rpc: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(rpc, timeout=30.0)

    def move(self, seconds: float) -> dict[str, Any]:
        async def one_lane(state: dict[str, int], end: float) -> None:
            while time.monotonic() < end:
                i = state["i"] = state["i"] + 1
                await self.client.call("Agent.move", {"class": "Agent", "name": f"bench-gw-{i % AGENTS}"},
                                       {"x": i % 1000, "y": 64, "z": 0})
                state["calls"] += 1

        async def go() -> dict[str, Any]:
            state = {"i": 0, "calls": 0}
            started, end = time.perf_counter(), time.monotonic() + seconds
            await asyncio.gather(*(one_lane(state, end) for _ in range(WINDOW)))
            return {"ops": state["calls"], "wall": time.perf_counter() - started}

        return self.loop.run_until_complete(go())

    def lockstep(self, seconds: float) -> dict[str, Any]:
        target = {"class": "Chest", "name": "bench-gw"}

        async def go() -> dict[str, Any]:
            for _ in range(WARM_UP):
                await self.client.call("storage.get", target, {"key": "k"})
            times: list[float] = []
            started = time.perf_counter()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                t0 = time.perf_counter_ns()
                await self.client.call("storage.get", target, {"key": "k"})
                times.append((time.perf_counter_ns() - t0) / 1e3)
            return {"ops": len(times) + WARM_UP, "wall": time.perf_counter() - started, "lat": times}

        return self.loop.run_until_complete(go())

    def frames(self) -> int:
        """The daemon's count of request frames received (a batch frame counting once)."""
        reply = self.loop.run_until_complete(self.client.call("stats"))
        return int(reply["counters"].get("frames", 0))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


def start_stack(tmp: Path) -> tuple[Server, Server, str, str]:
    """A daemon and a gateway in front of it: (daemon, gateway, rpc endpoint, gateway URL)."""
    rpc, pub, port = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}", free_port()
    (tmp / "data").mkdir()
    py = [sys.executable, "-m", "daemon"]
    daemon = Server("the daemon", [*py, "serve", "--data-dir", str(tmp / "data"), "--rpc", rpc, "--pub", pub,
                                   "--log-level", "warning"], REPO, tmp / "daemon.log")
    wait_for_line(daemon, "serving")
    (tmp / "gateway.toml").write_text("[gateway]\n")
    gateway = Server("the gateway", [*py, "gateway", "--config", str(tmp / "gateway.toml"), "--listen",
                                     f"127.0.0.1:{port}", "--rpc", rpc, "--pub", pub, "--log-level", "warning"],
                     REPO, tmp / "gateway.log")
    wait_for_line(gateway, "serving")
    return daemon, gateway, rpc, f"http://127.0.0.1:{port}"


def wait_for_line(server: Server, word: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        server.check()
        if word in server.log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{server.name} did not print {word!r} within 30 s")


def measure(daemon: Server, gateway: Server, phase: Any, direct: Direct) -> Run:
    f0 = direct.frames()
    g0, d0 = gateway.cpu(), daemon.cpu()
    out = phase()
    g1, d1 = gateway.cpu(), daemon.cpu()
    frames = direct.frames() - f0 - 1  # less the second stats call
    daemon.check()
    gateway.check()
    return Run(out["ops"], out["wall"], g1 - g0, d1 - d0, out.get("lat", []), frames)


SYSTEMS_MOVE = ("gateway, batched", "gateway, one frame per call", "direct AsyncClient")
SYSTEMS_GET = ("gateway", "direct AsyncClient")


def bench(seconds: float, rounds: int, tmp: Path) -> tuple[dict[str, list[Run]], dict[str, list[Run]]]:
    daemon, gateway, rpc, url = start_stack(tmp)
    node, direct = Node(tmp, url), Direct(rpc)
    moves: dict[str, list[Run]] = {s: [] for s in SYSTEMS_MOVE}
    gets: dict[str, list[Run]] = {s: [] for s in SYSTEMS_GET}
    try:
        node.run(phase="setup")
        move_phases = {
            SYSTEMS_MOVE[0]: lambda: node.run(phase="move", mode="batched", seconds=seconds, window=WINDOW),
            SYSTEMS_MOVE[1]: lambda: node.run(phase="move", mode="single", seconds=seconds, window=WINDOW),
            SYSTEMS_MOVE[2]: lambda: direct.move(seconds),
        }
        get_phases = {SYSTEMS_GET[0]: lambda: node.run(phase="get", seconds=seconds),
                      SYSTEMS_GET[1]: lambda: direct.lockstep(seconds)}
        for round_ in range(rounds):
            for phases, runs in ((move_phases, moves), (get_phases, gets)):
                names = list(phases)
                for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                    run = measure(daemon, gateway, phases[name], direct)
                    runs[name].append(run)
                    print(f"  round {round_ + 1} {name:28} {run.rate:>8,.0f} ops/s  gateway "
                          f"{run.per_op(run.gateway_cpu):5.1f} us/op  daemon {run.per_op(run.daemon_cpu):5.1f} us/op"
                          f"  daemon frames/call {run.frames / run.ops:.3f}"
                          + (f"  p50 {run.pct(0.5):.0f} us  p99 {run.pct(0.99):.0f} us" if run.lat_us else ""),
                          flush=True)
    finally:
        node.stop()
        direct.close()
        gateway.stop()
        daemon.stop()
    return moves, gets


def cell(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def report(moves: dict[str, list[Run]], gets: dict[str, list[Run]], seconds: float, rounds: int,
           gauge: float) -> str:
    u = platform.uname()
    versions = {p: importlib.metadata.version(p) for p in ("aiohttp", "pyzmq", "msgpack")}
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Lodestone gateway benchmark", "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- uname -srm: {u.system} {u.release} {u.machine}; {os.cpu_count()} cores",
        f"- python {platform.python_version()}, node {node}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- CPU speed gauge (a bare Python loop, millions of iterations/s): {gauge:.1f}",
        f"- {rounds} rounds of {seconds:g} s per phase, systems in turn; median (lowest to highest)", "",
        f"Pipelined Agent.move, {AGENTS} agents, {WINDOW} calls in flight:", "",
        "| path | calls/s | daemon frames / call | gateway CPU us/op | daemon CPU us/op | gateway / daemon CPU "
        "| gateway / direct daemon CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    direct = moves[SYSTEMS_MOVE[2]]
    for name, runs in moves.items():
        gw = [r.per_op(r.gateway_cpu) for r in runs]
        dm = [r.per_op(r.daemon_cpu) for r in runs]
        ratio = [r.gateway_cpu / r.daemon_cpu for r in runs if r.daemon_cpu]
        against = [r.per_op(r.gateway_cpu) / d.per_op(d.daemon_cpu) for r, d in zip(runs, direct, strict=True)
                   if d.daemon_cpu]
        through = name.startswith("gateway")
        gw_cell = cell(gw, ".1f") if through else "-"
        ratio_cell = cell(ratio, ".2f") if through and ratio else "-"
        against_cell = cell(against, ".2f") if through and against else "-"
        lines.append(f"| {name} | {cell([r.rate for r in runs])} | {cell([r.frames / r.ops for r in runs], '.3f')} "
                     f"| {gw_cell} | {cell(dm, '.1f')} | {ratio_cell} | {against_cell} |")
    lines += ["", "Lockstep storage.get (one call at a time):", "",
              "| path | p50 us | p99 us | gateway CPU us/op | daemon CPU us/op |", "|---|---|---|---|---|"]
    for name, runs in gets.items():
        gw_cell = cell([r.per_op(r.gateway_cpu) for r in runs], ".1f") if name == "gateway" else "-"
        lines.append(f"| {name} | {cell([r.pct(0.5) for r in runs])} | {cell([r.pct(0.99) for r in runs])} "
                     f"| {gw_cell} | {cell([r.per_op(r.daemon_cpu) for r in runs], '.1f')} |")
    added = [g.pct(0.99) - d.pct(0.99) for g, d in zip(gets["gateway"], gets["direct AsyncClient"], strict=True)]
    added50 = [g.pct(0.5) - d.pct(0.5) for g, d in zip(gets["gateway"], gets["direct AsyncClient"], strict=True)]
    ratios = [r.gateway_cpu / r.daemon_cpu for name in SYSTEMS_MOVE[:2] for r in moves[name] if r.daemon_cpu]
    lines += ["", f"- added by the gateway (and the other client), lockstep storage.get, per round: p50 "
              f"{cell(added50)} us, p99 {cell(added)} us (target: p99 at most 300 us)",
              f"- gateway / daemon CPU per op, pipelined, both framings: median {statistics.median(ratios):.2f} "
              "(target: at most 0.30)"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each timed phase")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each phase per system")
    ap.add_argument("--out", type=Path, help="also write the markdown report to this file")
    args = ap.parse_args()
    if not DIST.exists():
        print(f"{DIST} is missing: cd bridge/js && npm ci && npm run build", file=sys.stderr)
        return 1
    gauge = loop_rate()
    with tempfile.TemporaryDirectory(prefix="lodestone-gwbench-") as tmp:
        moves, gets = bench(args.seconds, args.rounds, Path(tmp))
    text = report(moves, gets, args.seconds, args.rounds, gauge)
    print("\n" + text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
