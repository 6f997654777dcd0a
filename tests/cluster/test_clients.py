"""The Python and Java clients at different nodes of a cluster see one agent, consistent after every write.

The Java side is bridge/java's AgentDriver (a test class), run on the JVM
from the jar `mvn package` builds; it keeps the Java client's defaults, so
its calls go out in batch frames.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from bridge.client import Client
from tests.cluster.support import Nodes, call
from tests.cluster.test_handoff import knows, ok
from tests.conftest import REPO, wait_for

JAVA_DIR = REPO / "bridge" / "java"
AGENT = "steve-both"
DAMAGE = 1.5


def _tool(name: str, home_env: str) -> str:
    """The path of ``name`` (java, mvn): on PATH, else under ``$home_env/bin``; fails the test if neither."""
    home = os.environ.get(home_env)
    found = shutil.which(name) or (shutil.which(name, path=str(Path(home) / "bin")) if home else None)
    if found is None:
        pytest.fail(f"{name} is not installed (nor under ${home_env}/bin): this test drives the Java client "
                    "on a JVM; install a JDK (17 or later) and Maven")
    return found


@pytest.fixture(scope="session")
def java_classpath() -> str:
    """The Java client's jar and its test classes, built once per session with Maven."""
    mvn = _tool("mvn", "MAVEN_HOME")
    _tool("java", "JAVA_HOME")
    built = subprocess.run([mvn, "-q", "-B", "package", "-DskipTests"], cwd=JAVA_DIR, capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, f"mvn package failed:\n{built.stdout}\n{built.stderr}"
    jars = [path for path in (JAVA_DIR / "target").glob("lodestone-bridge-*.jar")
            if not path.name.startswith("original-")]
    assert len(jars) == 1, jars
    return os.pathsep.join([str(jars[0]), str(JAVA_DIR / "target" / "test-classes")])


class JavaAgent:
    """The AgentDriver process: one command, one JSON reply line."""

    def __init__(self, classpath: str, endpoint: str, agent: str) -> None:
        command = [_tool("java", "JAVA_HOME"), "-cp", classpath, "dev.lodestone.bridge.AgentDriver", endpoint, agent]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        assert self._reply() == "ready"

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _reply(self) -> Any:
        try:
            line = self._lines.get(timeout=60)
        except queue.Empty:
            raise AssertionError("the Java driver did not answer in 60 s") from None
        assert line is not None, f"the Java driver exited ({self.process.poll()})"
        reply = json.loads(line)
        assert reply["ok"], f"the Java client failed: {reply['error']}"
        return reply["result"]

    def command(self, *words: object) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(map(str, words)) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def java_at(java_classpath: str) -> Iterator[Any]:
    drivers: list[JavaAgent] = []

    def start(endpoint: str) -> JavaAgent:
        drivers.append(JavaAgent(java_classpath, endpoint, AGENT))
        return drivers[-1]

    yield start
    for driver in drivers:
        driver.close()


class Model:
    """What every acknowledged write makes of the agent."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.position = dict(state["position"])
        self.health = float(state["health"])
        self.distance = 0.0
        self.items: Counter[str] = Counter()

    def step(self, x: float, y: float, z: float, item: str, count: int) -> None:
        old = self.position
        self.distance += math.dist((old["x"], old["y"], old["z"]), (x, y, z))
        self.position = {"x": x, "y": y, "z": z}
        self.health -= DAMAGE
        self.items[item] += count

    def check(self, state: dict[str, Any]) -> None:
        assert state["name"] == AGENT
        assert state["position"] == self.position
        assert state["health"] == pytest.approx(self.health)
        assert state["stats"]["distanceTraveled"] == pytest.approx(self.distance)
        held: Counter[str] = Counter()
        for stack in state["inventory"]:
            held[stack["type"]] += stack["count"]
        assert held == self.items


@pytest.mark.timeout(600)  # the first use builds the jar, which may download Maven's plugins first
def test_the_python_and_java_clients_at_two_nodes_see_one_agent(nodes: Nodes, java_at: Any) -> None:
    a, b = nodes.start("a"), nodes.start("b")
    python = Client(a.rpc, timeout=10)
    try:
        model = Model(python.agent(AGENT).init())
        wait_for(lambda: knows(b.rpc, "a", 1))
        java = java_at(b.rpc)
        for step in range(8):
            x, y, z, item, count = 10.0 * step, 64.0, -3.5 * step, ("oak_log", "bread")[step % 2], step + 1
            if step % 2 == 0:  # the Python client at a: its batch moves the agent to a
                agent = python.agent(AGENT)
                with python.batch() as batch:
                    calls = [batch.call(f"Agent.{op}", agent.target, args) for op, args in (
                        ("move", {"x": x, "y": y, "z": z}), ("damage", {"amount": DAMAGE, "source": "python"}),
                        ("inventory.add", {"type": item, "count": count}), ("state", {}))]
                results = [call.result() for call in calls]
                written = results[3]
            else:  # the Java client at b, in one batch frame too: the agent moves to b
                replies = java.command("step", x, y, z, DAMAGE, item, count)
                results = [replies["move"], replies["damage"], {"inventory": replies["inventory"]}, replies["state"]]
                written = replies["state"]
            model.step(x, y, z, item, count)
            assert results[0]["position"] == {"x": x, "y": y, "z": z}
            assert results[1] == {"health": pytest.approx(model.health), "died": False}
            model.check(written)
            from_python, from_java = python.agent(AGENT).state(), java.command("state")
            assert from_python == from_java, f"after step {step} the clients disagree"
            model.check(from_java)
        counters = [ok(call(proc.rpc, "stats"))["counters"] for proc in (a, b)]
        # The agent went back and forth (every step but the first moved it, then one of the two reads),
        # and each client's four calls of a step went out in one batch frame.
        moved = [counter.get("cluster.handoffs_in", 0) for counter in counters]
        assert moved[0] >= 7 and moved[1] >= 8, moved
        assert all(counter.get("batches", 0) >= 4 for counter in counters), counters
    finally:
        python.close()
