"""The metrics endpoint's one-thread HTTP server, with real sockets on loopback."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from daemon.service.scrape_server import MAX_HEAD_BYTES, ScrapeServer
from tests.conftest import wait_for

PAGE = b"# a page\nlodestone_up 1\n"


@pytest.fixture
def server() -> Iterator[ScrapeServer]:
    serving = ScrapeServer("127.0.0.1", 0, lambda: (PAGE, "text/plain; version=0.0.4"), max_connections=8,
                           idle_s=0.5)
    serving.start()
    yield serving
    serving.close()


def get(server: ScrapeServer, path: str = "/metrics", method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def exchange(server: ScrapeServer, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_it_serves_the_page_and_refuses_the_rest(server: ScrapeServer) -> None:
    assert get(server) == (200, PAGE)
    assert get(server, "/") == (200, PAGE)
    assert get(server, "/metrics", "HEAD") == (200, b"")
    assert get(server, "/elsewhere")[0] == 404
    assert get(server, "/metrics", "POST")[0] == 405
    assert exchange(server, b"GET /metrics HTTP/1.1\r\nX: " + b"y" * MAX_HEAD_BYTES).startswith(b"HTTP/1.1 431")


def test_a_request_may_arrive_in_pieces(server: ScrapeServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        for piece in (b"GET /met", b"rics HTTP/1.1\r\nHost: x\r\n", b"\r\n"):
            conn.sendall(piece)
        response = conn.makefile("rb").read()
    assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(PAGE)
    assert b"Content-Length: %d" % len(PAGE) in response


def test_idle_connections_are_closed_and_never_lock_a_scraper_out(server: ScrapeServer) -> None:
    threads = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(30)]
    try:
        assert get(server) == (200, PAGE)  # past the cap of 8: the oldest idle ones made room
        assert server.open_connections <= 8
        assert threading.active_count() == threads
        started = time.monotonic()
        wait_for(lambda: server.open_connections == 0, timeout=5)
        assert time.monotonic() - started < 3
        assert idle[-1].recv(1) == b""  # closed by the server
    finally:
        for conn in idle:
            conn.close()
