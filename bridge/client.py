"""The synchronous client: one REQ socket, lockstep, with the lazy-pirate retry.

If no reply comes within the timeout, the socket is closed and reopened (a REQ
socket that lost its reply is stuck otherwise) and the request is sent again
with the same idempotency key, so a write is applied once however often it is
retried. Not thread-safe: use one client per thread.
"""

from __future__ import annotations

import builtins
import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any

import zmq

from bridge._common import (
    BATCH_MAX_REQUESTS,
    DEFAULT_RPC,
    MAX_FRAME_BYTES,
    check_size,
    idempotency_key,
    list_args,
    result_of,
    target,
)
from bridge.batch import Batch
from bridge.curve import CurveKeys
from bridge.errors import LodestoneError, Timeout
from bridge.world import AgentHandle, ForemanHandle, MissionControlHandle, TelemetryHandle
from schemas.wire import decode, encode, request

_RETRY_BACKOFF_S = 0.05


class Client:
    """A blocking client for the daemon's RPC endpoint."""

    def __init__(
        self,
        endpoint: str = DEFAULT_RPC,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        batch_max_requests: int = BATCH_MAX_REQUESTS,
        context: zmq.Context[Any] | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        """``curve``: the keys for a daemon with ``[security] curve = true`` (see :class:`CurveKeys`)."""
        self.endpoint = endpoint
        self.curve = curve
        self.timeout = timeout
        self.retries = retries
        self.max_frame_bytes = max_frame_bytes
        self.batch_max_requests = batch_max_requests
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket[bytes] | None = None
        self._ids = itertools.count(1)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket; a later call opens a new one."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _connected(self) -> zmq.Socket[bytes]:
        if self._socket is None:
            sock = self._context.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            if self.curve is not None:
                self.curve.apply(sock)
            sock.connect(self.endpoint)
            self._socket = sock
        return self._socket

    def call(
        self,
        op: str,
        target: dict[str, str] | None = None,
        args: dict[str, Any] | None = None,
        *,
        idem: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return its result, or raise its typed error.

        Retries (``retries`` times) after a timeout or a retryable error, with
        the same idempotency key; raises ``Timeout`` when every try timed out.
        """
        request_id = self.next_id()
        idem = idempotency_key(idem, self.retries)
        body = check_size(encode(request(request_id, op, target, args, idem)), op, self.max_frame_bytes)
        wait_ms = int((self.timeout if timeout is None else timeout) * 1000)
        last_error: LodestoneError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(_RETRY_BACKOFF_S * attempt)
            reply = self.round_trip(body, wait_ms)
            if reply is None:
                last_error = Timeout(f"no reply to {op} from {self.endpoint} within {wait_ms} ms")
                continue
            try:
                return result_of(reply)
            except LodestoneError as exc:
                if not exc.retryable:
                    raise
                last_error = exc
        assert last_error is not None
        raise last_error

    def batch(self) -> Batch:
        """A batch of calls sent in one round trip (see :mod:`bridge.batch`)::

            with client.batch() as batch:
                moved = batch.call("Agent.move", client.agent("steve-42").target, {"x": 1, "y": 64, "z": 2})
            moved.result()
        """
        return Batch(self)

    def next_id(self) -> int:
        """A request id not used yet by this client."""
        return next(self._ids)

    def round_trip(self, frame: bytes, wait_ms: int) -> Any:
        """Send one request frame and return its decoded reply frame; ``None`` if none came in ``wait_ms``.

        Without a reply the socket is closed (a REQ socket that lost its reply is stuck otherwise).
        """
        sock = self._connected()
        sock.send(frame)
        if not sock.poll(wait_ms, zmq.POLLIN):
            self.close()
            return None
        return decode(sock.recv())

    # ops without a target --------------------------------------------------
    def ping(self) -> dict[str, Any]:
        """The daemon's protocol versions and software version."""
        result: dict[str, Any] = self.call("ping")
        return result

    def id_from_name(self, class_name: str, name: str) -> str:
        """The deterministic id of ``name`` in ``class_name``."""
        return str(self.call("id.from_name", args={"class": class_name, "name": name})["id"])

    def new_unique_id(self, class_name: str) -> str:
        """A fresh random id for ``class_name``."""
        return str(self.call("id.new_unique", args={"class": class_name})["id"])

    def id_from_string(self, class_name: str, object_id: str) -> str:
        """``object_id`` if valid for ``class_name`` here; raises ``InvalidId`` if not."""
        return str(self.call("id.from_string", args={"class": class_name, "id": object_id})["id"])

    def objects(
        self, class_name: str, *, after: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Stored objects of ``class_name`` (id and name), in id order."""
        args: dict[str, Any] = {"class": class_name, "limit": limit}
        if after is not None:
            args["after"] = after
        return list(self.call("objects.list", args=args)["objects"])

    def stats(self) -> dict[str, Any]:
        """The daemon's counters and storage figures."""
        result: dict[str, Any] = self.call("stats")
        return result

    def health(self) -> dict[str, Any]:
        """The daemon's health: status, storage figures, last commit age (docs/protocol.md)."""
        result: dict[str, Any] = self.call("health")
        return result

    def object(self, class_name: str, name: str | None = None, *, id: str | None = None) -> ObjectClient:
        """A handle on one object's storage, by name or by id."""
        return ObjectClient(self, target(class_name, name, id))

    # the built-in classes (bridge/world.py) ----------------------------------
    def agent(self, name: str) -> AgentHandle:
        """The agent ``name``: ``Agent.*`` ops."""
        return AgentHandle(self, name)

    def foreman(self, name: str = "global") -> ForemanHandle:
        """A Foreman (agents beat to ``global`` by default): ``Foreman.*`` ops."""
        return ForemanHandle(self, name)

    def missions(self, name: str = "global") -> MissionControlHandle:
        """A MissionControl: ``MissionControl.*`` ops."""
        return MissionControlHandle(self, name)

    def telemetry(self, name: str = "global") -> TelemetryHandle:
        """A Telemetry log: ``Telemetry.*`` ops."""
        return TelemetryHandle(self, name)


class ObjectClient:
    """One object's storage API, over a :class:`Client`."""

    def __init__(self, client: Client, target: dict[str, str]) -> None:
        self.client = client
        self.target = target

    def _call(self, op: str, args: dict[str, Any], idem: str | None = None) -> Any:
        return self.client.call(op, self.target, args, idem=idem)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` if it is not stored."""
        result = self._call("storage.get", {"key": key})
        return result["value"] if result["found"] else default

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored keys among ``keys``, sorted by key bytes."""
        return dict(self._call("storage.get", {"keys": list(keys)})["values"])

    def put(self, key: str, value: Any, *, idem: str | None = None) -> None:
        """Store ``value`` under ``key``; returns once it is durable."""
        self._call("storage.put", {"key": key, "value": value}, idem)

    def put_many(self, entries: Mapping[str, Any], *, idem: str | None = None) -> None:
        """Store every pair, all or none; returns once they are durable."""
        self._call("storage.put", {"entries": dict(entries)}, idem)

    def delete(self, key: str, *, idem: str | None = None) -> bool:
        """Delete ``key``; whether it existed."""
        return bool(self._call("storage.delete", {"key": key}, idem)["deleted"])

    def delete_many(self, keys: Iterable[str], *, idem: str | None = None) -> int:
        """Delete ``keys``; how many existed."""
        return int(self._call("storage.delete", {"keys": list(keys)}, idem)["deleted"])

    def list(
        self,
        *,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        prefix: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[str, Any]]:
        """Entries in key order (see docs/protocol.md for the options)."""
        args = list_args(start, start_after, end, prefix, reverse, limit)
        return [(key, value) for key, value in self._call("storage.list", args)["entries"]]

    def delete_all(self, *, idem: str | None = None) -> None:
        """Delete every key of the object."""
        self._call("storage.delete_all", {}, idem)

    def transaction(
        self,
        ops: builtins.list[dict[str, Any]],
        checks: builtins.list[dict[str, Any]] | None = None,
        *,
        idem: str | None = None,
    ) -> None:
        """Apply ``ops`` if every check holds; raises ``Conflict`` otherwise."""
        self._call("storage.transaction", {"checks": checks or [], "ops": ops}, idem)
