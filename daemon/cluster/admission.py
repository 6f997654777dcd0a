"""Admission: where each request a cluster node gets runs, decided before each cycle.

:meth:`Admission.admit` routes every request with a target by its object's
owner record:

* owned here, lease valid: it runs here (the fast path: two dict lookups);
* owned here, lease not valid (etcd unreachable past the safety margin, or
  a new lease whose owner records are not re-checked yet): ``UNAVAILABLE``;
* owned by nobody: this node claims it (the request waits);
* owned by a live node: a ``follow`` class moves here first (a handoff,
  :mod:`daemon.cluster.moves`; the request waits), a ``home`` class is
  forwarded to its owner and the reply relayed;
* owned by a node that is down: ``UNAVAILABLE``, naming it.

A request that names no object runs here, but for ``health``, which is
answered here with the node's cluster state, and the ops between nodes
(``cluster.export``, ``cluster.forward``), which need the cluster's token.

A batch frame whose every element would run here now, each routed on its
own, runs as on one daemon: kept whole, in one cycle, without the stand-in
envelopes its elements would otherwise travel under. :func:`batch_here`
says whether that is so; when it is not, the batch is split and each
element takes its own route, which gives the elements that run here the
same result.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable
from typing import Any

from daemon.cluster.calls import owner_down
from daemon.cluster.directory import Directory
from daemon.cluster.moves import HOLD_LIMIT_S, Moves, Waiting
from daemon.cluster.outbox import OUTBOX_CLASS
from daemon.cluster.peers import Peers
from daemon.cluster.records import Owner
from daemon.config import ClusterSettings
from daemon.errors import BadRequest, Forbidden, LodestoneError, Unavailable, UnknownOp, to_wire
from daemon.model import ObjectRef, Request
from daemon.runtime import Runtime
from daemon.runtime.ops import GLOBAL_OPS
from schemas.wire import ok_reply

Send = Callable[[list[bytes], dict[str, Any]], None]
# As the server's gatekeeper protocol has them: a single request or a batch frame's elements; and how the server
# splits a batch frame into its elements' stand-in envelopes.
Entry = Request | list[Request]
Split = Callable[[list[bytes], list[Request]], list[list[bytes]]]


def batch_here(requests: list[Request], writable: bool, node: str, owners: dict[str, Owner],
               busy: Callable[[str], list[Waiting] | None], resolve: Callable[[Any], ObjectRef]) -> bool | None:
    """Whether every request of a batch frame runs here now: ``None`` if any must take its own route;
    otherwise whether any of them touches an object (so the cycle acknowledges writes, see the output gate).

    A request runs here, with no side effect of its routing, when it names
    no object (an op like ``ping`` or ``id.from_name``, but neither
    ``health``, which the gatekeeper answers, nor ``cluster.*``, the ops
    between nodes), or its object is owned here (its owner record names
    ``node``), no requests wait for it (``busy``: it is not moving, nor
    backing off after a failed move with requests that must run first), and
    the node is ``writable``. Anything else (an object owned elsewhere or by
    nobody, one with requests waiting, a node that may not acknowledge
    writes, a target that does not resolve) is ``None``.
    """
    touches = False
    for request in requests:
        op = request.op
        if request.target is None or op in GLOBAL_OPS:
            if op == "health" or op.startswith("cluster."):
                return None
            continue
        if not writable:
            return None
        try:
            object_id = resolve(request.target).id
        except LodestoneError:
            return None
        owner = owners.get(object_id)
        if owner is None or owner.node != node or busy(object_id) is not None:
            return None
        touches = True
    return touches


class Admission:
    """A cluster node's routing of the requests it gets; see the module docstring.

    ``health`` makes the ``health`` op's report; ``fenced`` the error that
    says why this node may not acknowledge writes now. The node sets
    :attr:`send` (how a request not run here is answered) before each
    :meth:`admit`.
    """

    def __init__(self, node: str, settings: ClusterSettings, runtime: Runtime, directory: Directory, moves: Moves,
                 peers: Peers, max_frame_bytes: int, wake: Callable[[], None], health: Callable[[], dict[str, Any]],
                 fenced: Callable[[], Unavailable]) -> None:
        self.node = node
        self.settings = settings
        self.directory = directory
        self.moves = moves
        self.send: Send = lambda envelope, reply: None
        self._peers = peers
        self._runtime = runtime
        self._resolve = runtime.resolve
        self._counters = runtime.counters
        self._max_frame_bytes = max_frame_bytes
        self._wake = wake
        self._health = health
        self._fenced = fenced
        self._token = settings.token.encode()
        self._exports: list[tuple[list[bytes], Request, ObjectRef]] = []
        self._touches_objects = False

    def admit(self, envelopes: list[list[bytes]], requests: list[Entry], writable: bool, now: float,
              split: Split) -> tuple[list[list[bytes]], list[Entry], bool]:
        """The entries to run here now, with their envelopes, in arrival order, and whether any touches an object.

        First the requests held until their object could be served here
        (:meth:`Moves.take_ready`), then ``requests`` (arrived at ``now``),
        each routed as the module docstring says: a batch frame stays whole
        if :func:`batch_here`, else it is split with ``split`` and each
        element routed under its stand-in envelope. Those not run here are
        answered through :attr:`send`, now or from a later call: refused,
        forwarded to their owner, or held until the object has moved here.
        """
        run_envelopes: list[list[bytes]] = []
        run: list[Entry] = []
        self._touches_objects = False
        for waiting in self.moves.take_ready(time.monotonic()):
            self._route(waiting.envelope, waiting.request, waiting.arrival, writable, run_envelopes, run,
                        waiting.forwarded)
        # The fast path, inline: a request for an object owned here and not moving runs here.
        owners, node, resolve, busy = self.directory.owners, self.node, self._resolve, self.moves.busy
        for envelope, entry in zip(envelopes, requests, strict=True):
            if type(entry) is list:  # a batch frame: whole if every element runs here now, else element by element
                touches = batch_here(entry, writable, node, owners, busy, resolve)
                if touches is not None:
                    self._counters["cluster.batches_whole"] += 1
                    self._touches_objects = self._touches_objects or touches
                    run_envelopes.append(envelope)
                    run.append(entry)
                    continue
                self._counters["cluster.batches_split"] += 1
                each: Iterable[tuple[list[bytes], Request]] = zip(split(envelope, entry), entry, strict=True)
            else:
                assert isinstance(entry, Request)
                each = ((envelope, entry),)
            for envelope_of, request in each:
                if writable and request.target is not None and request.op not in GLOBAL_OPS:
                    try:
                        object_id = resolve(request.target).id
                    except LodestoneError:
                        object_id = ""
                    owner = owners.get(object_id)
                    if owner is not None and owner.node == node and busy(object_id) is None:
                        run_envelopes.append(envelope_of)
                        run.append(request)
                        self._touches_objects = True
                        continue
                self._route(envelope_of, request, now, writable, run_envelopes, run)
        return run_envelopes, run, self._touches_objects

    def reply_exports(self) -> None:
        """Answer each ``cluster.export`` admitted since the last call with its object's image (or why not).

        Called between cycles, so the cycles that ran the object's last
        turns here have committed (:meth:`Moves.export`).
        """
        exports, self._exports = self._exports, []
        for envelope, request, ref in exports:
            self.send(envelope, self.moves.export(ref, request, self._max_frame_bytes - 4096))

    # routing -------------------------------------------------------------------------
    def _route(self, envelope: list[bytes], request: Request, arrival: float, writable: bool,
               run_envelopes: list[list[bytes]], run: list[Entry], forwarded: bool = False) -> None:
        op = request.op
        if request.target is None or op in GLOBAL_OPS:
            if op.startswith("cluster."):
                self._internal(envelope, request, writable, run_envelopes, run)
            elif op == "health":
                self.send(envelope, ok_reply(request.id, self._health()))
            else:
                run_envelopes.append(envelope)
                run.append(request)
            return
        try:
            ref = self._resolve(request.target)
        except LodestoneError:
            run_envelopes.append(envelope)  # the runtime answers with the error
            run.append(request)
            return
        object_id = ref.id
        if ref.class_name == OUTBOX_CLASS:  # each node's own, never moved: read it on its node
            run_envelopes.append(envelope)
            run.append(request)
            return
        owner = self.directory.owners.get(object_id)
        held = self.moves.busy(object_id)
        if held is None and owner is not None and owner.node == self.node:
            if writable:
                run_envelopes.append(envelope)
                run.append(request)
                self._touches_objects = True
            else:
                self._counters["cluster.fenced_refusals"] += 1
                self._refuse(envelope, request, self._fenced())
            return
        if time.monotonic() - arrival > HOLD_LIMIT_S:
            self._refuse(envelope, request, Unavailable(
                f"{ref.class_name} {ref.name or ref.id} did not become available on node {self.node} in "
                f"{HOLD_LIMIT_S:.0f} s (it is moving between nodes, or its owner does not answer); retry"))
        elif held is not None:
            held.append(Waiting(envelope, request, arrival, forwarded))
        elif not writable:
            self._counters["cluster.fenced_refusals"] += 1
            self._refuse(envelope, request, self._fenced())
        elif owner is None or owner.node is None:
            self.moves.claim(ref, owner, [Waiting(envelope, request, arrival, forwarded)])
        elif forwarded:  # never forwarded twice: the sender's record was stale; it retries
            self._refuse(envelope, request, Unavailable(
                f"{ref.class_name} {ref.name or ref.id} is not on node {self.node} (owner: {owner.node}); retry"))
        elif owner.node not in self.directory.nodes:
            self._refuse(envelope, request, owner_down(ref, owner.node))
        elif self.settings.placement_of(ref.class_name) == "home":
            self._peers.forward(envelope, request, ref, owner.node)
        else:
            self._peers.fetch(ref, owner, [Waiting(envelope, request, arrival, forwarded)])

    def _refuse(self, envelope: list[bytes], request: Request, error: LodestoneError) -> None:
        reply = to_wire(request.id, error)
        self._counters[f"errors.{reply['error']['code']}"] += 1
        self.send(envelope, reply)

    # the ops between nodes --------------------------------------------------------------
    def _internal(self, envelope: list[bytes], request: Request, writable: bool,
                  run_envelopes: list[list[bytes]], run: list[Entry]) -> None:
        token = request.args.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token):
            self._refuse(envelope, request, Forbidden(f"{request.op} is an op between cluster nodes; "
                                                      "it needs the cluster's token"))
            return
        try:
            if request.op == "cluster.export":
                self._export(envelope, request, writable)
            elif request.op == "cluster.forward":
                inner = request.args.get("request")
                if not isinstance(inner, dict) or not isinstance(inner.get("op"), str) \
                        or not isinstance(inner.get("args", {}), dict) or inner["op"].startswith("cluster."):
                    raise BadRequest("cluster.forward needs request: {op, target, args, idem, readonly}")
                forwarded = Request(request.id, inner["op"], inner.get("target"), inner.get("args", {}),
                                    inner.get("idem"), inner.get("readonly") is True)
                self._route(envelope, forwarded, time.monotonic(), writable, run_envelopes, run, forwarded=True)
            else:
                raise UnknownOp(f"unknown op {request.op!r}; the ops between nodes are cluster.export, "
                                "cluster.forward")
        except LodestoneError as exc:
            self._refuse(envelope, request, exc)

    def _export(self, envelope: list[bytes], request: Request, writable: bool) -> None:
        args = request.args
        class_name, object_id, to = args.get("class"), args.get("id"), args.get("to")
        if not isinstance(class_name, str) or not isinstance(object_id, str) or not isinstance(to, str):
            raise BadRequest("cluster.export needs class, id and to")
        if not isinstance(args.get("expires_ms"), int) or args["expires_ms"] < time.time_ns() // 1_000_000:
            raise Unavailable("this export request expired before it arrived")
        ref = ObjectRef(class_name, self._runtime.ids.from_string(class_name, object_id), args.get("name"))
        self.moves.accept_export(ref, to, writable)
        self._exports.append((envelope, request, ref))
        self._wake()
