"""Whether a batch frame runs here whole (daemon/cluster/admission.py), case by case, on the node's own records."""

from __future__ import annotations

from typing import Any

from daemon.cluster.admission import batch_here
from daemon.cluster.moves import Waiting
from daemon.cluster.records import Owner
from daemon.errors import BadRequest
from daemon.model import ObjectRef, Request

OWNERS = {"here-1": Owner("Steve", "here-1", "a", 7), "here-2": Owner("Steve", "here-2", "a", 8),
          "there": Owner("Steve", "there", "b", 9), "evicted": Owner("Steve", "evicted", None, 10)}


def resolve(target: Any) -> ObjectRef:
    """Targets by name, the name doubling as the id; a target without a name does not resolve."""
    if not isinstance(target, dict) or "name" not in target:
        raise BadRequest("no such target")
    return ObjectRef(target["class"], target["name"], target["name"])


def put(name: str) -> Request:
    return Request(1, "storage.put", {"class": "Steve", "name": name}, {"key": "k", "value": 1}, None)


def here(requests: list[Request], writable: bool = True, leaving: frozenset[str] = frozenset(),
         arriving: frozenset[str] = frozenset(), backing_off: frozenset[str] = frozenset()) -> bool | None:
    waiting = leaving | arriving | backing_off  # each object with requests waiting for it

    def busy(object_id: str) -> list[Waiting] | None:
        return [] if object_id in waiting else None

    return batch_here(requests, writable, "a", OWNERS, busy, resolve)


def test_objects_owned_here_and_ops_naming_none_run_here_and_say_whether_any_touches_an_object() -> None:
    assert here([put("here-1"), Request(2, "ping", None, {}, None), put("here-2")]) is True
    assert here([Request(2, "ping", None, {}, None), Request(3, "id.from_name", None, {}, None)]) is False
    assert here([Request(2, "ping", None, {}, None)], writable=False) is False  # nothing to acknowledge


def test_any_element_that_needs_a_route_of_its_own_splits_the_batch() -> None:
    for outsider in (put("there"), put("evicted"), put("nobody-yet"),
                     Request(4, "storage.get", {"class": "Steve"}, {}, None),  # does not resolve
                     Request(5, "health", None, {}, None),  # answered by the gatekeeper
                     Request(6, "cluster.export", None, {}, None)):  # an op between nodes
        assert here([put("here-1"), outsider]) is None, outsider
    assert here([put("here-1")], leaving=frozenset({"here-1"})) is None
    assert here([put("here-1")], arriving=frozenset({"here-1"})) is None
    assert here([put("here-1")], backing_off=frozenset({"here-1"})) is None  # older requests wait to go first
    assert here([put("here-1")], writable=False) is None
