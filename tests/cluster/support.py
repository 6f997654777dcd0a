"""A real etcd cluster and real Lodestone nodes for the cluster tests (and bench/cluster.py).

:class:`EtcdCluster` runs three etcd members on 127.0.0.1 ports the OS
picked, in a temp dir; :class:`Nodes` runs Lodestone processes joined to
it, each with its own data directory and the same deployment secret.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, write_secret

ETCD = shutil.which("etcd")
TOKEN = "test-cluster-token"


def need_etcd() -> str:
    """The etcd binary; skips the test without it, unless CI is set (then the test fails)."""
    if ETCD is None:
        if os.environ.get("CI"):
            pytest.fail("etcd is not installed; .ci/run installs it (apt-get install etcd-server)")
        pytest.skip("etcd is not installed (apt-get install etcd-server); the cluster tests need a real one")
    return ETCD


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EtcdCluster:
    """Three etcd members; :meth:`stop` and :meth:`start` take one down and bring it back."""

    root: Path
    size: int = 3
    clients: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes] | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clients = [f"http://127.0.0.1:{free_port()}" for _ in range(self.size)]
        self.peers = [f"http://127.0.0.1:{free_port()}" for _ in range(self.size)]
        self.processes = [None] * self.size

    def start_all(self) -> EtcdCluster:
        for index in range(self.size):
            self.start(index, wait=False)
        for index in range(self.size):
            self.wait_healthy(index)
        return self

    def start(self, index: int, wait: bool = True) -> None:
        binary = need_etcd()
        initial = ",".join(f"m{i}={peer}" for i, peer in enumerate(self.peers))
        log = (self.root / f"etcd-m{index}.log").open("ab")
        self.processes[index] = subprocess.Popen([
            binary, "--name", f"m{index}", "--data-dir", str(self.root / f"m{index}"),
            "--listen-client-urls", self.clients[index], "--advertise-client-urls", self.clients[index],
            "--listen-peer-urls", self.peers[index], "--initial-advertise-peer-urls", self.peers[index],
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"lodestone-test-{self.root.name}",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn",
        ], stdout=log, stderr=log)
        log.close()
        if wait:
            self.wait_healthy(index)

    def wait_healthy(self, index: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.clients[index] + "/health", timeout=1) as response:
                    if json.loads(response.read()).get("health") == "true":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"etcd member {index} did not become healthy")

    def stop(self, index: int) -> None:
        process = self.processes[index]
        if process is not None:
            process.kill()
            process.wait(10)
            self.processes[index] = None

    def close(self) -> None:
        for index in range(self.size):
            self.stop(index)


def node_config(cluster: str, node: str, etcd: list[str], ttl_s: int = 2, extra: str = "", top: str = "") -> str:
    return (
        f"{top}[cluster]\n"
        f'name = "{cluster}"\nnode_id = "{node}"\n'
        f"etcd = {json.dumps(etcd)}\nlease_ttl_s = {ttl_s}\n"
        f'token = "{TOKEN}"\n{extra}'
    )


@dataclass
class Nodes:
    """Lodestone nodes of one cluster, by node id; each keeps its data directory across restarts."""

    root: Path
    cluster: str
    etcd: list[str]
    ttl_s: int = 2
    extra: str = ""  # tables after [cluster] ([classes], [cluster.placement], ...)
    top: str = ""  # top-level keys, before [cluster]
    procs: dict[str, DaemonProcess] = field(default_factory=dict)

    def start(self, node: str, environ: dict[str, str] | None = None) -> DaemonProcess:
        data_dir = self.root / node / "data"
        if not data_dir.exists():
            data_dir.mkdir(parents=True)
            write_secret(data_dir)
        config = self.root / node / "lodestone.toml"
        config.write_text(node_config(self.cluster, node, self.etcd, self.ttl_s, self.extra, self.top))
        old = self.procs.get(node)
        proc = DaemonProcess(data_dir, extra_args=["--config", str(config)], environ=environ or {},
                             stderr_path=self.root / node / "stderr.log")
        if old is not None:  # the same ports again, so peers and clients find it where it was
            proc.rpc, proc.pub = old.rpc, old.pub
        self.procs[node] = proc.start(timeout=30)
        return proc

    def kill(self, node: str) -> None:
        proc = self.procs[node]
        if proc.process is not None:
            proc.kill()

    def wait_exit(self, node: str, timeout: float = 30) -> int:
        proc = self.procs[node]
        assert proc.process is not None
        code = proc.process.wait(timeout)
        proc.process = None
        return code

    def signal(self, node: str, signum: int) -> None:
        proc = self.procs[node]
        assert proc.process is not None
        proc.process.send_signal(signum)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.process is not None:
                proc.process.send_signal(signal.SIGCONT)
                proc.process.kill()
                proc.process.wait(10)
                proc.process = None

    def log(self, node: str) -> str:
        path = self.root / node / "stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""


def call(endpoint: str, op: str, target: Any = None, args: dict[str, Any] | None = None, idem: str | None = None,
         timeout: float = 5.0) -> dict[str, Any]:
    """One request on a fresh DEALER; the reply map (raises TimeoutError if none came)."""
    import zmq

    from schemas.wire import decode, encode

    context: zmq.Context[Any] = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        message: dict[str, Any] = {"v": 1, "id": 1, "op": op, "args": args or {}}
        if target is not None:
            message["target"] = target
        if idem is not None:
            message["idem"] = idem
        sock.send_multipart([b"", encode(message)])
        if not sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"{op}: no reply from {endpoint} in {timeout} s")
        reply: dict[str, Any] = decode(sock.recv_multipart()[-1])
        return reply
    finally:
        sock.close(0)
