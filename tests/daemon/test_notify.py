"""The sd_notify protocol against real AF_UNIX datagram sockets, path and abstract."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.service.notify import Notifier, Watchdog, watchdog_interval


@pytest.fixture
def receiver() -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket and the NOTIFY_SOCKET value naming it (a short path)."""
    folder = tempfile.mkdtemp(prefix="notify-")
    path = os.path.join(folder, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()
    os.unlink(path)
    os.rmdir(folder)


def fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().splitlines())


def test_ready_carries_its_status_in_one_datagram(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("serving rpc=tcp://127.0.0.1:5555\nand more")
    assert fields(sock.recv(4096)) == {"READY": "1", "STATUS": "serving rpc=tcp://127.0.0.1:5555 and more"}
    notifier.close()


def test_an_abstract_socket_is_named_with_a_leading_at() -> None:
    name = f"lodestone-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier(f"@{name}")
        assert notifier.stopping()
        assert fields(sock.recv(4096))["STOPPING"] == "1"
        notifier.close()


def test_reloading_is_stamped_with_the_monotonic_clock(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = Notifier(path)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    message = fields(sock.recv(4096))
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= after
    notifier.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready("x") and not notifier.watchdog() and not notifier.status("y")


def test_a_full_receiver_queue_drops_pings_instead_of_blocking(receiver: tuple[socket.socket, str]) -> None:
    _, path = receiver
    notifier = Notifier(path)
    started = time.monotonic()
    sent = [notifier.watchdog() for _ in range(2000)]
    assert time.monotonic() - started < 1.0
    assert sent[0] and not sent[-1]
    notifier.close()


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    assert notifier.ready("serving") is False
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}, 0.1),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(environ) == expected


def test_the_watchdog_pings_once_per_interval(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    watchdog = Watchdog(Notifier(path), interval=3600)
    watchdog.tick()
    watchdog.tick()
    assert fields(sock.recv(4096)) == {"WATCHDOG": "1"}
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    assert Watchdog(Notifier(None), interval=0.1).poll_ms == 50
    assert Watchdog(Notifier(None), interval=15).poll_ms == 1000
    watchdog.notifier.close()
