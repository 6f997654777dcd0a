"""The daemon as systemd runs it: notify messages on a test socket, signals, journal lines.

Each test binds a real AF_UNIX datagram socket in the abstract namespace and
passes it as ``$NOTIFY_SOCKET``; a thread collects what the daemon sends, and
the tests wait on those messages (with timeouts), never on the clock.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge import Client, LodestoneError, Timeout
from tests.conftest import SECRET, DaemonProcess

Message = dict[str, str]


class NotifyListener:
    """Receives sd_notify datagrams on an abstract socket; keeps every message in order."""

    def __init__(self) -> None:
        self.name = f"lodestone-test-{os.getpid()}-{time.monotonic_ns()}"
        self.address = "@" + self.name
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind("\0" + self.name)
        self._socket.settimeout(0.2)
        self._inbox: queue.Queue[Message] = queue.Queue()
        self.history: list[Message] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                datagram = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self._inbox.put(dict(line.split("=", 1) for line in datagram.decode().splitlines()))

    def wait_for(self, match: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        """The next message that ``match``es; the ones before it are kept in :attr:`history`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = self._inbox.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(f"no matching notify message within {timeout} s; got {self.history}") from None
            self.history.append(message)
            if match(message):
                return message

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._socket.close()


def has(key: str, value: str = "1") -> Callable[[Message], bool]:
    return lambda message: message.get(key) == value


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    opened = NotifyListener()
    yield opened
    opened.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    (path / "secret").write_bytes(SECRET)
    return path


@pytest.fixture
def service(data_dir: Path, listener: NotifyListener, tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon that reports to ``listener`` (not started: tests set its environment first)."""
    proc = DaemonProcess(data_dir, environ={"NOTIFY_SOCKET": listener.address}, stderr_path=tmp_path / "stderr")
    yield proc
    if proc.process is not None:
        proc.process.kill()
        proc.process.wait(10)


def test_ready_comes_once_a_client_can_be_served(service: DaemonProcess, listener: NotifyListener) -> None:
    service.start()
    ready = listener.wait_for(has("READY"))
    with Client(service.rpc, timeout=2, retries=0) as client:
        assert client.ping()["protocol"] == [1]
        health = client.health()
    assert ready["STATUS"] == f"serving rpc={service.rpc} pub={service.pub}"
    statuses = [message["STATUS"] for message in listener.history[:-1]]
    steps = [status.split(" ")[0] for status in statuses]
    assert steps == ["opening", "applying", "binding", "re-arming"], statuses
    assert health["status"] == "ok" and health["storage_open"] is True


def test_watchdog_pings_keep_coming_from_the_loop(service: DaemonProcess, listener: NotifyListener) -> None:
    service.environ["WATCHDOG_USEC"] = "200000"
    service.start()
    listener.wait_for(has("READY"))
    with Client(service.rpc, timeout=5, retries=0) as client:
        agent = client.object("Agent", "busy")
        for round_ in range(5):
            agent.put("round", round_)
            listener.wait_for(has("WATCHDOG"), timeout=2)
    # Idle as well as busy: the poll timeout is shorter than the ping interval.
    for _ in range(5):
        listener.wait_for(has("WATCHDOG"), timeout=2)


def test_sigterm_under_load_says_stopping_exits_zero_and_keeps_every_acknowledged_write(
    service: DaemonProcess, listener: NotifyListener
) -> None:
    service.start()
    listener.wait_for(has("READY"))
    acknowledged: list[int] = []
    enough = threading.Event()

    def write() -> None:
        with Client(service.rpc, timeout=2, retries=0) as client:
            agent = client.object("Agent", "steady")
            for i in range(1_000_000):
                try:
                    agent.put(f"k{i:07d}", i)
                except (Timeout, LodestoneError):
                    return
                acknowledged.append(i)
                if len(acknowledged) == 200:
                    enough.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert enough.wait(30)
    assert service.signal(signal.SIGTERM) == 0
    writer.join(10)
    listener.wait_for(has("STOPPING"))
    service.rpc = service.pub = "tcp://127.0.0.1:*"
    service.start()
    with Client(service.rpc) as client:
        stored = {key for key, _ in client.object("Agent", "steady").list()}
    assert {f"k{i:07d}" for i in acknowledged} <= stored


def test_sighup_changes_the_log_level_and_keeps_the_client(
    service: DaemonProcess, listener: NotifyListener, tmp_path: Path
) -> None:
    config = tmp_path / "lodestone.toml"
    config.write_text('log_level = "warning"\n')
    service.extra_args = ["--config", str(config)]
    service.start()
    listener.wait_for(has("READY"))
    client = Client(service.rpc, timeout=5, retries=0)
    client.object("Agent", "listener").put("before", 1)
    config.write_text('log_level = "info"\ncycle_max_requests = 64\nmap_size_mb = 64\n')
    before_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    reloading = listener.wait_for(has("RELOADING"))
    ready = listener.wait_for(has("READY"))
    after_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert before_us <= int(reloading["MONOTONIC_USEC"]) <= after_us
    assert ready["STATUS"].startswith("serving rpc=")
    client.object("Agent", "listener").put("after", 2)  # the same REQ socket, no retry
    assert client.object("Agent", "listener").list() == [("after", 2), ("before", 1)]
    client.close()
    assert service.stop() == 0
    log = (tmp_path / "stderr").read_text()
    assert "ready: rpc=" not in log  # info, while the level was warning
    assert "reloaded the configuration: log_level=info cycle_max_requests=64" in log
    assert "applied at the next start: map_size_mb" in log
    assert "received SIGTERM" in log  # info, after the reload


def test_a_reload_with_a_broken_config_keeps_serving(
    service: DaemonProcess, listener: NotifyListener, tmp_path: Path
) -> None:
    config = tmp_path / "lodestone.toml"
    config.write_text('log_level = "info"\n')
    service.extra_args = ["--config", str(config)]
    service.start()
    listener.wait_for(has("READY"))
    config.write_text("log_level = [\n")
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    listener.wait_for(has("RELOADING"))
    ready = listener.wait_for(has("READY"))
    assert "the last reload failed" in ready["STATUS"]
    with Client(service.rpc, timeout=5, retries=0) as client:
        assert client.ping()["protocol"] == [1]
    assert service.stop() == 0
    assert "reload failed; still running with the previous configuration" in (tmp_path / "stderr").read_text()


def test_log_lines_carry_syslog_priorities_when_stderr_is_the_journal(
    service: DaemonProcess, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr"
    stderr.touch()
    stat = stderr.stat()
    service.environ["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
    service.start()
    assert service.stop() == 0
    lines = stderr.read_text().splitlines()
    assert "<6>daemon.service.app: stopped cleanly" in lines
    assert lines and all(line.startswith("<") for line in lines), lines
