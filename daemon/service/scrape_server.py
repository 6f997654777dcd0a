"""The metrics endpoint's HTTP server: one thread and one selector, however many clients connect.

prometheus_client's own server starts a thread per connection, and a thread
waits as long as its client does: 1,000 idle connections made 1,000
threads in the daemon. This one serves every connection from a single
thread with non-blocking sockets:

* each connection sends one request (``GET`` or ``HEAD``) and gets one
  response, then is closed (``Connection: close``), as Prometheus expects;
* a connection idle for ``idle_s`` seconds (:data:`IDLE_S`) is closed;
* at most ``max_connections`` are open at once: when another arrives, the
  one that has been open longest without a response under way is closed, so
  idle connections cannot lock a scraper out;
* a request head over :data:`MAX_HEAD_BYTES` gets ``431`` and is closed.

The page is rendered on this thread by the ``render`` callable (what the
loop last copied, never LMDB), so a scrape costs the server loop nothing.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

IDLE_S = 10.0
MAX_HEAD_BYTES = 8192
MAX_CONNECTIONS = 64
_PATHS = (b"/metrics", b"/")
_RECV_BYTES = 4096


@dataclass
class _Connection:
    sock: socket.socket
    last_active: float
    received: bytearray = field(default_factory=bytearray)
    # The response still to send; None until the request has been read.
    outgoing: memoryview | None = None


class ScrapeServer:
    """Serves ``render()``'s page over HTTP on ``(host, port)`` from one thread; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        render: Callable[[], tuple[bytes, str]],
        max_connections: int = MAX_CONNECTIONS,
        idle_s: float = IDLE_S,
    ) -> None:
        """Bind ``(host, port)``; ``render`` returns the page and its content type, on the server's thread."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=128)
        self._listener.setblocking(False)
        self._render = render
        self._max_connections = max_connections
        self._idle_s = idle_s
        self._connections: dict[int, _Connection] = {}  # in the order they were accepted
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lodestone-metrics", daemon=True)

    @property
    def open_connections(self) -> int:
        """How many connections are open now (read from another thread, it is a moment old)."""
        return len(self._connections)

    @property
    def port(self) -> int:
        """The port bound (resolved if 0 was asked for)."""
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        """Start serving on the server's thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, close every connection and the listener."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._thread.is_alive():
            self._thread.join()
        for conn in list(self._connections.values()):
            self._close(conn)
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    # the loop ------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping:
            try:
                events = self._selector.select(timeout=self._wait_s())
                for key, mask in events:
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is not self._wake_r:
                        self._serve(key.data, mask)
                self._close_idle()
            except Exception:  # a bug here must not take the daemon's metrics down for good
                log.exception("the metrics endpoint failed a turn of its loop")

    def _wait_s(self) -> float:
        if not self._connections:
            return self._idle_s
        oldest = min(conn.last_active for conn in self._connections.values())
        return max(0.0, oldest + self._idle_s - time.monotonic())

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: try again at the next event
                log.warning("the metrics endpoint could not accept a connection: %s", exc)
                return
            if len(self._connections) >= self._max_connections:
                self._evict()
            sock.setblocking(False)
            conn = _Connection(sock, time.monotonic())
            self._connections[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _evict(self) -> None:
        """Close the connection open longest that is not being answered."""
        for conn in self._connections.values():
            if conn.outgoing is None:
                self._close(conn)
                return
        self._close(next(iter(self._connections.values())))

    def _serve(self, conn: _Connection, mask: int) -> None:
        try:
            if mask & selectors.EVENT_READ and conn.outgoing is None:
                self._read(conn)
            if conn.outgoing is not None:
                self._write(conn)
        except OSError:
            self._close(conn)

    def _read(self, conn: _Connection) -> None:
        data = conn.sock.recv(_RECV_BYTES)
        if not data:
            self._close(conn)
            return
        conn.last_active = time.monotonic()
        conn.received += data
        end = conn.received.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.received) > MAX_HEAD_BYTES:
                self._respond(conn, b"431 Request Header Fields Too Large", b"request head too large\n", "text/plain")
            return
        method, _, rest = bytes(conn.received[:end]).partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method not in (b"GET", b"HEAD"):
            self._respond(conn, b"405 Method Not Allowed", b"GET /metrics\n", "text/plain")
        elif path not in _PATHS:
            self._respond(conn, b"404 Not Found", b"the metrics are at /metrics\n", "text/plain")
        else:
            try:
                page, content_type = self._render()
            except Exception:
                log.exception("rendering the metrics failed")
                self._respond(conn, b"500 Internal Server Error", b"rendering the metrics failed\n", "text/plain")
                return
            self._respond(conn, b"200 OK", page, content_type, head_only=method == b"HEAD")

    def _respond(self, conn: _Connection, status: bytes, body: bytes, content_type: str,
                 head_only: bool = False) -> None:
        head = (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type.encode("latin-1")
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
        )
        conn.outgoing = memoryview(head if head_only else head + body)
        self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)

    def _write(self, conn: _Connection) -> None:
        assert conn.outgoing is not None
        try:
            sent = conn.sock.send(conn.outgoing)
        except (BlockingIOError, InterruptedError):
            return
        conn.last_active = time.monotonic()
        conn.outgoing = conn.outgoing[sent:]
        if not conn.outgoing:
            self._close(conn)

    def _close_idle(self) -> None:
        cutoff = time.monotonic() - self._idle_s
        for conn in [conn for conn in self._connections.values() if conn.last_active <= cutoff]:
            self._close(conn)

    def _close(self, conn: _Connection) -> None:
        fileno = conn.sock.fileno()
        if self._connections.pop(fileno, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        conn.sock.close()
