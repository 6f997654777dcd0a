"""A small etcd v3 client over etcd's JSON gateway (``/v3/...``), with the standard library only.

Keys and values are bytes here and base64 in the JSON, as the gateway wants;
integers (revisions, lease ids) come back as strings and leave here as ints.
Every call is blocking: the cluster calls them from its own threads, never
from the server loop. A call tries each endpoint in turn, starting with the
one that answered last, and raises :class:`EtcdUnavailable` when none answers.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_S = 2.0


class EtcdUnavailable(Exception):
    """No etcd endpoint answered (or the cluster has no quorum)."""


class EtcdError(Exception):
    """etcd answered with an error (a bad request, a lease that is gone)."""


@dataclass(frozen=True)
class KeyValue:
    """One key as etcd holds it: its value and its revisions (``mod_revision`` is the fencing token)."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int = 0


@dataclass(frozen=True)
class TxnResult:
    """A transaction's outcome: whether the compares held, the store's revision after it, what it read."""

    succeeded: bool
    revision: int
    kvs: list[KeyValue]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes a range cover every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(_unb64(raw.get("key")), _unb64(raw.get("value")), int(raw.get("create_revision", 0)),
                    int(raw.get("mod_revision", 0)), int(raw.get("lease", 0)))


# Builders for transactions (the gateway's JSON shapes).
def compare_mod(key: bytes, revision: int) -> dict[str, Any]:
    """Holds if ``key``'s mod revision is ``revision`` (0: the key does not exist)."""
    return {"key": _b64(key), "result": "EQUAL", "target": "MOD", "mod_revision": str(revision)}


def compare_absent(key: bytes) -> dict[str, Any]:
    """Holds if ``key`` does not exist."""
    return {"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}


def put(key: bytes, value: bytes, lease: int = 0) -> dict[str, Any]:
    request: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        request["lease"] = str(lease)
    return {"request_put": request}


def get(key: bytes) -> dict[str, Any]:
    return {"request_range": {"key": _b64(key)}}


def delete(key: bytes) -> dict[str, Any]:
    return {"request_delete_range": {"key": _b64(key)}}


class Etcd:
    """Blocking calls to an etcd cluster's JSON gateway; safe to share between threads."""

    def __init__(self, endpoints: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not endpoints:
            raise ValueError("etcd needs at least one endpoint")
        self.endpoints = [endpoint.rstrip("/") for endpoint in endpoints]
        self.timeout_s = timeout_s
        self._preferred = 0
        self._lock = threading.Lock()

    # plumbing ----------------------------------------------------------------
    def _connection(self, endpoint: str, timeout_s: float) -> http.client.HTTPConnection:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme != "http" or url.hostname is None:
            raise EtcdUnavailable(f"etcd endpoint {endpoint!r} is not http://HOST:PORT")
        return http.client.HTTPConnection(url.hostname, url.port or 2379, timeout=timeout_s)

    def _order(self) -> list[int]:
        with self._lock:
            first = self._preferred
        return [(first + i) % len(self.endpoints) for i in range(len(self.endpoints))]

    def call(self, path: str, body: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """POST ``body`` to ``path`` on the first endpoint that answers; return the decoded reply."""
        failures: list[str] = []
        for index in self._order():
            endpoint = self.endpoints[index]
            connection = self._connection(endpoint, timeout_s or self.timeout_s)
            try:
                connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                response = connection.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{endpoint}: {exc or type(exc).__name__}")
                continue
            finally:
                connection.close()
            reply = json.loads(text) if text else {}
            if response.status != 200 or "error" in reply:
                message = str(reply.get("error") or reply.get("message") or text[:200].decode(errors="replace"))
                if response.status >= 500 or "timed out" in str(message) or "leader" in str(message):
                    failures.append(f"{endpoint}: {message}")
                    continue
                raise EtcdError(f"etcd refused {path}: {message}")
            with self._lock:
                self._preferred = index
            result: dict[str, Any] = reply.get("result", reply)
            return result
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(failures))

    # kv ---------------------------------------------------------------------
    def range(self, key: bytes, prefix: bool = False, revision: int = 0) -> tuple[list[KeyValue], int]:
        """The key (or every key under the prefix) and the store's revision."""
        body: dict[str, Any] = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(prefix_end(key))
        if revision:
            body["revision"] = str(revision)
        reply = self.call("/v3/kv/range", body)
        return [_kv(kv) for kv in reply.get("kvs", [])], int(reply["header"]["revision"])

    def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> TxnResult:
        """One transaction: ``success`` if every compare holds, else ``failure``."""
        reply = self.call("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure or []})
        kvs = [_kv(kv) for response in reply.get("responses", [])
               for kv in response.get("response_range", {}).get("kvs", [])]
        return TxnResult(bool(reply.get("succeeded", False)), int(reply["header"]["revision"]), kvs)

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Write ``key``; return the new revision."""
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self.call("/v3/kv/put", body)["header"]["revision"])

    # leases -----------------------------------------------------------------
    def grant(self, ttl_s: int) -> int:
        """A new lease of ``ttl_s`` seconds; return its id."""
        return int(self.call("/v3/lease/grant", {"TTL": str(ttl_s)})["ID"])

    def keepalive(self, lease: int) -> int:
        """Renew ``lease``; return its TTL, 0 if it has expired (it is gone for good then)."""
        reply = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(reply.get("TTL", 0))

    def revoke(self, lease: int) -> None:
        """End ``lease`` now; keys attached to it go."""
        self.call("/v3/lease/revoke", {"ID": str(lease)})

    # watch ------------------------------------------------------------------
    def watch(self, prefix: bytes, start_revision: int,
              idle_s: float = 30.0) -> Iterator[tuple[int, list[tuple[str, KeyValue]]]]:
        """Yield ``(revision, [(PUT or DELETE, kv)])`` for changes under ``prefix`` from ``start_revision`` on.

        Ends (raising ``EtcdUnavailable``) when the connection fails, the
        member loses its leader, or nothing came for ``idle_s``: the caller
        starts again from the revision after the last it saw.
        """
        body = {"create_request": {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
                                   "start_revision": str(start_revision)}}
        # "hasleader" makes a member that loses its leader end the watch instead of going quiet.
        headers = {"Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"}
        failures: list[str] = []
        for index in self._order():
            endpoint = self.endpoints[index]
            connection = self._connection(endpoint, idle_s)
            try:
                connection.request("POST", "/v3/watch", json.dumps(body), headers)
                response = connection.getresponse()
                first = response.readline() if response.status == 200 else b""
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                failures.append(f"{endpoint}: {exc or type(exc).__name__}")
                continue
            if not first:
                connection.close()
                failures.append(f"{endpoint}: HTTP {response.status}")
                continue
            try:
                yield from self._events(first, response)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise EtcdUnavailable(f"watch on {endpoint} ended: {exc or type(exc).__name__}") from exc
            finally:
                connection.close()
            raise EtcdUnavailable(f"watch on {endpoint} ended")
        raise EtcdUnavailable("watch: no etcd endpoint answered: " + "; ".join(failures))

    @staticmethod
    def _events(first: bytes,
                response: http.client.HTTPResponse) -> Iterator[tuple[int, list[tuple[str, KeyValue]]]]:
        line = first
        while line:
            message = json.loads(line)
            if "error" in message:
                raise EtcdUnavailable(f"watch ended: {message['error']}")
            result = message.get("result", {})
            if result.get("compact_revision"):
                raise EtcdUnavailable(f"watch cancelled: compacted up to {result['compact_revision']}")
            if result.get("canceled"):
                raise EtcdUnavailable(f"watch cancelled: {result.get('cancel_reason', 'by etcd')}")
            events = [(event.get("type", "PUT"), _kv(event["kv"])) for event in result.get("events", [])]
            yield int(result.get("header", {}).get("revision", 0)), events
            line = response.readline()
