"""Shared fixtures: real LMDB in a temp dir, a real daemon process on ephemeral ports."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions
from schemas.wire import decode, encode

REPO = Path(__file__).resolve().parent.parent
SECRET = bytes(range(32))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "data", StoreOptions(map_size=1 << 24))
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def runtime(store: Store) -> Runtime:
    return Runtime(store, IdFactory(SECRET), "test")


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` (a read through a client) until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def call(runtime: Runtime, op: str, args: dict[str, Any] | None = None, target: Any = None,
         idem: str | None = None) -> dict[str, Any]:
    """Run one request as its own cycle and return the reply map, as a client decodes it."""
    result = runtime.run_cycle([Request(1, op, target, args or {}, idem)])
    return as_sent(result.replies[0])


def as_sent(reply: dict[str, Any]) -> dict[str, Any]:
    """A reply the runtime made, as a client decodes it: what the server encodes, decoded."""
    decoded: dict[str, Any] = decode(encode(reply))
    return decoded


def ok(reply: dict[str, Any]) -> Any:
    assert reply["ok"], reply
    return reply["result"]


def error_code(reply: dict[str, Any]) -> str:
    assert not reply["ok"], reply
    code: str = reply["error"]["code"]
    return code


@dataclass
class DaemonProcess:
    """A real ``lodestone serve`` subprocess; ports are chosen by the OS unless given."""

    data_dir: Path
    rpc: str = "tcp://127.0.0.1:*"
    pub: str = "tcp://127.0.0.1:*"
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    # Extra environment (NOTIFY_SOCKET, WATCHDOG_USEC, ...) and a file that collects stderr.
    environ: dict[str, str] = field(default_factory=dict)
    stderr_path: Path | None = None
    # Every key=value of the "serving" line (rpc, pub, metrics, ...).
    announced: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 20.0) -> DaemonProcess:
        command = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(self.data_dir),
                   "--rpc", self.rpc, "--pub", self.pub, *self.extra_args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for inherited in ("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            env.pop(inherited, None)
        env.update(self.environ)
        if self.stderr_path is None:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, env=env)
        else:
            with self.stderr_path.open("ab") as stderr:
                self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, env=env)
        line = self._read_line(timeout)
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        self.rpc, self.pub = fields["rpc"], fields["pub"]
        self.announced = fields
        return self

    def _read_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.process.kill()
                raise TimeoutError("the daemon did not report ready")
        line = self.process.stdout.readline().decode()
        if "serving" not in line:
            self.process.wait(5)
            raise RuntimeError(f"the daemon did not start (exit {self.process.returncode}): {line!r}")
        return line

    def signal(self, signum: int) -> int:
        """Send ``signum`` and wait for the exit; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        code = self.process.wait(30)
        self.process = None
        return code

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self) -> int:
        return self.signal(signal.SIGTERM) if self.process is not None else 0


def running_daemon(tmp_path: Path, config_text: str | None = None) -> Iterator[DaemonProcess]:
    """A daemon on a fresh data directory (with the test secret), and the config given; killed after."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret").write_bytes(SECRET)
    extra_args: list[str] = []
    if config_text is not None:
        config = tmp_path / "lodestone.toml"
        config.write_text(config_text)
        extra_args = ["--config", str(config)]
    proc = DaemonProcess(data_dir, extra_args=extra_args).start()
    yield proc
    if proc.process is not None:
        proc.process.kill()
        proc.process.wait(10)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path)
