"""Requests this node sends to other nodes: forwards to a ``home`` object's owner, and exports it asks for.

Each goes out through the :class:`~daemon.cluster.courier.Courier` under a
sequence number of its own (the reply carries it as its id); a forward's
reply is relayed to the client with the client's own id. What gets no
answer in :data:`RPC_TIMEOUT_S` is answered (forward) or given up
(export) as if the peer had refused.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.cluster.courier import Courier
from daemon.cluster.directory import Directory
from daemon.cluster.moves import Moves, Waiting
from daemon.cluster.records import Owner
from daemon.errors import Unavailable, to_wire
from daemon.model import ObjectRef, Request
from schemas.wire import decode, encode, encode_value

RPC_TIMEOUT_S = 5.0
# An export request older than this is dropped by the owner (one that sat queued while the owner was
# frozen); generous, as it compares two nodes' wall clocks.
EXPORT_TTL_MS = 30_000
Send = Callable[[list[bytes], dict[str, Any]], None]


@dataclass
class _Rpc:
    kind: str
    object_id: str
    since: float
    envelope: list[bytes] | None = None
    request_id: int | str | None = None
    node: str = ""
    callback: Callable[[dict[str, Any] | None], None] | None = None


class Peers:
    """The requests in flight to other nodes."""

    def __init__(self, node: str, token: str, courier: Courier, directory: Directory, moves: Moves,
                 counters: Any) -> None:
        self.node = node
        self._token = token
        self._courier = courier
        self._directory = directory
        self._moves = moves
        self._counters = counters
        self._seq = itertools.count(1)
        self._rpcs: dict[int, _Rpc] = {}
        self.send: Send = lambda envelope, reply: None

    def forward(self, envelope: list[bytes], request: Request, ref: ObjectRef, node: str) -> None:
        """Send ``request`` to ``node``, the owner of ``ref``; its reply goes back to ``envelope``."""
        seq = next(self._seq)
        inner = {"op": request.op, "target": request.target, "args": request.args, "idem": request.idem,
                 "readonly": request.readonly}
        # encode_value: a put's value may come encoded already (a batch frame's), and goes as those bytes.
        body = encode_value({"v": 1, "id": seq, "op": "cluster.forward",
                             "args": {"token": self._token, "request": inner}}).data
        self._rpcs[seq] = _Rpc("forward", ref.id, time.monotonic(), envelope, request.id, node)
        self._courier.send(self._directory.nodes[node].rpc, seq, body)
        self._counters["cluster.forwards"] += 1

    def call(self, endpoint: str, request: dict[str, Any], callback: Callable[[dict[str, Any] | None], None]) -> None:
        """Run ``request`` (``{op, target, args, idem}``) at the node at ``endpoint``; ``callback`` gets the reply."""
        seq = next(self._seq)
        body = encode({"v": 1, "id": seq, "op": "cluster.forward", "args": {"token": self._token, "request": request}})
        self._rpcs[seq] = _Rpc("call", "", time.monotonic(), callback=callback)
        self._courier.send(endpoint, seq, body)

    def fetch(self, ref: ObjectRef, owner: Owner, held: list[Waiting]) -> None:
        """Ask ``owner``'s node to hand ``ref`` over to this one."""
        assert owner.node is not None
        seq = next(self._seq)
        args = {"token": self._token, "class": ref.class_name, "id": ref.id, "name": ref.name, "to": self.node,
                "expires_ms": time.time_ns() // 1_000_000 + EXPORT_TTL_MS}
        self._rpcs[seq] = _Rpc("export", ref.id, time.monotonic(), node=owner.node)
        self._moves.arrive(ref, owner, seq, held)
        self._courier.send(self._directory.nodes[owner.node].rpc, seq,
                           encode({"v": 1, "id": seq, "op": "cluster.export", "args": args}))

    def deliver(self, seq: int, body: bytes | None) -> None:
        """A peer's reply frame (``None``: the request ``seq`` got none)."""
        reply: dict[str, Any] | None = None
        if body is not None:
            try:
                reply = decode(body)
                seq = int(reply["id"]) if isinstance(reply, dict) else -1
            except Exception:
                return
        rpc = self._rpcs.pop(seq, None)
        if rpc is None:
            return
        if rpc.kind == "export":
            self._moves.exported(rpc.object_id, seq, reply)
            return
        if rpc.callback is not None:
            rpc.callback(reply)
            return
        assert rpc.envelope is not None and rpc.request_id is not None
        if reply is None:
            reply = to_wire(rpc.request_id, Unavailable(f"node {rpc.node}, the object's owner, did not answer; retry"))
        reply["id"] = rpc.request_id
        self.send(rpc.envelope, reply)

    def expire(self, now: float) -> None:
        """Give up on requests that got no answer in time."""
        if self._rpcs:
            for seq in [seq for seq, rpc in self._rpcs.items() if now - rpc.since > RPC_TIMEOUT_S]:
                self.deliver(seq, None)
