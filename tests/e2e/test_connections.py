"""max_connections against a real daemon: connections past it are closed and counted, the clients
already connected are served, and the daemon stays idle while the extra ones wait."""

from __future__ import annotations

import os
import resource
import select
import socket
import time
from functools import partial
from pathlib import Path

import pytest

from bridge import Client
from tests.conftest import wait_for
from tests.support.serving import serving

CAP = 20
EXTRA = 320
WAVE = 80
# The daemon's file limit during the test: the flood is larger, so without the cap it would run out.
FILES = 256


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ended(sock: socket.socket, timeout: float) -> bool:
    """Whether the daemon closes ``sock`` within ``timeout`` seconds (whatever it sent first)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return False
        try:
            if not sock.recv(4096):
                return True
        except ConnectionResetError:
            return True
    return False


def test_connections_past_the_cap_are_closed_counted_and_cost_no_cpu(tmp_path: Path) -> None:
    with serving(tmp_path, f"max_connections = {CAP}\n") as daemon, Client(daemon.rpc) as client:
        assert daemon.process is not None
        client.object("Chest", "c").put("k", 1)  # this client holds one place
        resource.prlimit(daemon.process.pid, resource.RLIMIT_NOFILE, (FILES, FILES))
        host, port = daemon.rpc.removeprefix("tcp://").rsplit(":", 1)
        kept = [socket.create_connection((host, int(port))) for _ in range(CAP - 1)]
        wait_for(lambda: len(kept) == CAP - 1 and client.stats()["counters"].get("connections_refused") is None)
        flood: list[socket.socket] = []
        try:
            # In waves that fit the listen backlog (100), so that no connect waits on SYN retries;
            # together more than the daemon has files for.
            for wave in range(EXTRA // WAVE):
                for _ in range(WAVE):
                    sock = socket.socket()
                    sock.setblocking(False)
                    sock.connect_ex((host, int(port)))
                    flood.append(sock)
                wait_for(partial(_refused, client, (wave + 1) * WAVE), timeout=30)
            assert sum(ended(sock, 5.0) for sock in flood) == EXTRA
            assert not any(ended(sock, 0.05) for sock in kept)  # those let in stay open
            assert client.object("Chest", "c").get("k") == 1  # the client already connected is served
            before = cpu_seconds(daemon.process.pid)
            time.sleep(1.0)  # idle, with every place taken
            assert cpu_seconds(daemon.process.pid) - before < 0.2
        finally:
            for sock in kept + flood:
                sock.close()
        # The places are given back: a new client gets in.
        wait_for(lambda: _new_client_pings(daemon.rpc))


def _refused(client: Client, count: int) -> bool:
    return bool(client.stats()["counters"].get("connections_refused") == count)


def _new_client_pings(endpoint: str) -> bool:
    with Client(endpoint, timeout=1, retries=0) as other:
        try:
            return bool(other.ping()["protocol"] == [1])
        except Exception:
            return False


def test_a_cap_the_file_limit_cannot_hold_stops_the_start_with_exit_78(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files here")
    log = tmp_path / "daemon.log"
    with pytest.raises(RuntimeError, match="exit 78"), serving(tmp_path, f"max_connections = {hard}\n", log):
        pass
    assert f"max_connections = {hard} needs {hard + 128} open files" in log.read_text()
