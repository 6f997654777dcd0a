"""A failed move keeps the object's requests in order: later ones wait behind the ones it held.

When a claim or a handoff in fails, the requests it held are routed again
after a short delay. A request for the same object arriving in that delay
must join them, not start a move of its own and run first: a client's
requests on one object run in the order it sent them, in cluster mode too.

These paths touch neither etcd nor the object's data, so the etcd client
points at a port nothing listens on and its workers are never started.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import zmq

from daemon.cluster.admission import Admission
from daemon.cluster.courier import Courier
from daemon.cluster.directory import Directory
from daemon.cluster.etcd import Etcd, EtcdUnavailable
from daemon.cluster.moves import RETRY_DELAY_S, Moves, Waiting
from daemon.cluster.peers import Peers
from daemon.cluster.records import Keys, NodeInfo, Owner
from daemon.cluster.tasks import Workers
from daemon.config import ClusterSettings
from daemon.errors import Unavailable
from daemon.model import ObjectRef, Request
from daemon.runtime import Runtime
from daemon.storage import Store
from tests.cluster.support import free_port

REF = ObjectRef("Agent", "ab" * 32, "steve")


def waiting(request_id: int, arrival: float) -> Waiting:
    request = Request(request_id, "storage.put", {"class": "Agent", "name": "steve"}, {"key": "k", "value": 1}, None)
    return Waiting([b"client", b""], request, arrival)


def moves_of(store: Store, runtime: Runtime, woken: threading.Event) -> Moves:
    workers = Workers(lambda outcome: None)  # not started: the calls submitted are never run
    etcd = Etcd([f"http://127.0.0.1:{free_port()}"])
    return Moves("a", store, runtime, etcd, Keys("t"), Directory(), workers, Counter(), lambda: None, woken.set)


def ids(due: list[Waiting]) -> list[int | str]:
    return [waiting.request.id for waiting in due]


def test_a_request_arriving_after_a_failed_claim_waits_behind_the_held_ones(store: Store, runtime: Runtime) -> None:
    woken = threading.Event()
    moves = moves_of(store, runtime, woken)
    start = time.monotonic()
    moves.claim(REF, None, [waiting(1, start)])
    moves.claimed(REF.id, EtcdUnavailable("no quorum"))

    held = moves.busy(REF.id)  # what the router asks of a request for the object that arrives now
    assert held is not None, "a later request would start a claim of its own and run before request 1"
    held.append(waiting(2, start + 0.001))

    assert moves.take_ready(time.monotonic()) == []  # both wait out the delay
    assert woken.wait(5), "the server loop is woken when the delay is over"
    assert ids(moves.take_ready(start + RETRY_DELAY_S + 1)) == [1, 2]
    assert moves.busy(REF.id) is None  # routed again: a fresh claim may start


def test_a_request_arriving_after_a_refused_handoff_waits_behind_the_held_ones(store: Store, runtime: Runtime) -> None:
    moves = moves_of(store, runtime, threading.Event())
    start = time.monotonic()
    owner = Owner(node="b", epoch=3, class_name="Agent", name="steve")
    moves.arrive(REF, owner, 7, [waiting(1, start), waiting(2, start + 0.001)])
    moves.exported(REF.id, 7, None)  # the owner did not answer

    held = moves.busy(REF.id)
    assert held is not None
    held.append(waiting(3, start + 0.002))
    assert ids(moves.take_ready(start + RETRY_DELAY_S + 1)) == [1, 2, 3]
    assert moves.busy(REF.id) is None


def test_a_request_for_an_object_owned_here_waits_while_it_backs_off(store: Store, runtime: Runtime) -> None:
    """The claim's outcome was unknown, yet it won: the owner record says this node, and the requests
    it held still wait out the delay. A newcomer must not take the fast path past them."""
    moves = moves_of(store, runtime, threading.Event())
    ref = runtime.resolve({"class": "Agent", "name": "steve"})
    context: zmq.Context[Any] = zmq.Context()
    courier = Courier(context, lambda: None)
    courier.start()
    try:
        peers = Peers("a", "token", courier, moves.directory, moves, runtime.counters)
        settings = ClusterSettings(name="t", node_id="a", etcd=("http://127.0.0.1:1",), token="token")
        admission = Admission("a", settings, runtime, moves.directory, moves, peers, 1 << 20, lambda: None,
                              lambda: {}, lambda: Unavailable("fenced"))
        start = time.monotonic()
        moves.claim(ref, None, [waiting(1, start)])
        moves.claimed(ref.id, EtcdUnavailable("the claim's outcome is unknown"))
        moves.directory.learn(ref.id, Owner("Agent", "steve", "a", 5))  # the watch: it is ours after all

        newcomer = waiting(2, time.monotonic())
        _, run, _ = admission.admit([newcomer[0]], [newcomer[1]], True, newcomer[2], lambda e, r: [])
        assert run == [], "request 2 ran before request 1"
        _, batch_run, _ = admission.admit([[b"c2", b""]], [[waiting(3, time.monotonic())[1]]], True,
                                          time.monotonic(), lambda e, r: [[b"c2", b""] for _ in r])
        assert batch_run == [], "a batch frame for the object ran before request 1"

        time.sleep(max(0.0, start + RETRY_DELAY_S + 0.01 - time.monotonic()))  # the back-off is a delay by design
        _, run, _ = admission.admit([], [], True, time.monotonic(), lambda e, r: [])
        assert [request.id for request in run if isinstance(request, Request)] == [1, 2, 3]
    finally:
        courier.close()
        context.term()



def test_a_forwarded_request_that_waits_out_a_back_off_is_not_forwarded_again(store: Store, runtime: Runtime) -> None:
    """A request a peer forwarded here is never forwarded on, even after it waited for the object."""
    moves = moves_of(store, runtime, threading.Event())
    ref = runtime.resolve({"class": "Agent", "name": "steve"})
    context: zmq.Context[Any] = zmq.Context()
    courier = Courier(context, lambda: None)
    courier.start()
    sent: list[tuple[list[bytes], dict[str, Any]]] = []
    try:
        peers = Peers("a", "token", courier, moves.directory, moves, runtime.counters)
        settings = ClusterSettings(name="t", node_id="a", etcd=("http://127.0.0.1:1",), token="token",
                                   placement={"Agent": "home"})
        admission = Admission("a", settings, runtime, moves.directory, moves, peers, 1 << 20, lambda: None,
                              lambda: {}, lambda: Unavailable("fenced"))
        admission.send = peers.send = lambda envelope, reply: sent.append((envelope, reply))
        moves.directory.nodes["b"] = NodeInfo("b", f"tcp://127.0.0.1:{free_port()}", "tcp://127.0.0.1:1")
        start = time.monotonic()
        moves.claim(ref, None, [waiting(1, start)])
        moves.claimed(ref.id, (False, Owner("Agent", "steve", "b", 5)))  # node b won the claim: a backs off
        inner = {"op": "storage.put", "target": {"class": "Agent", "name": "steve"},
                 "args": {"key": "k", "value": 2}, "idem": None, "readonly": False}
        forward = Request(77, "cluster.forward", None, {"token": "token", "request": inner}, None)
        admission.admit([[b"node-c", b""]], [forward], True, time.monotonic(), lambda e, r: [])

        time.sleep(max(0.0, start + RETRY_DELAY_S + 0.01 - time.monotonic()))  # the back-off is a delay by design
        admission.admit([], [], True, time.monotonic(), lambda e, r: [])
        assert runtime.counters["cluster.forwards"] == 1, "request 77 was forwarded a second time"
        assert [(reply["id"], reply["error"]["code"]) for _, reply in sent] == [(77, "UNAVAILABLE")]
    finally:
        courier.close()
        context.term()
