"""Calls between objects on a cluster node: the runtime's :class:`~daemon.runtime.session.CallPolicy`.

A turn's ``Turn.call`` reaches an object on this node as on a single
daemon. An object elsewhere: a ``follow`` one (or one nobody owns yet) is
refused with ``UNAVAILABLE`` while this node brings it over (so the retry
usually succeeds); a write op of a ``home`` one is queued in the outbox
(:mod:`daemon.cluster.outbox`); a read op of a ``home`` one is refused with
``CONFLICT``, naming both nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daemon.cluster.directory import Directory
from daemon.cluster.moves import Moves
from daemon.cluster.outbox import Outbox
from daemon.config import ClusterSettings
from daemon.errors import Conflict, Unavailable
from daemon.model import ObjectRef


def owner_down(ref: ObjectRef, node: str) -> Unavailable:
    """The error for an object whose owner node is down."""
    return Unavailable(
        f"{ref.class_name} {ref.name or ref.id} is owned by node {node}, which is down (no etcd lease); retry "
        f"when it returns, or run `lodestone cluster evict {node} --accept-loss` to give up its objects' state")


class Calls:
    """Decides where each call of a turn goes; objects to bring here collect in :attr:`pulls`."""

    def __init__(self, node: str, settings: ClusterSettings, directory: Directory, moves: Moves,
                 resolve: Callable[[Any], ObjectRef], outbox: Outbox) -> None:
        self.node = node
        self.settings = settings
        self.directory = directory
        self.moves = moves
        self._resolve = resolve
        self._outbox = outbox
        self.pulls: list[ObjectRef] = []

    def resolve(self, target: dict[str, Any]) -> ObjectRef:
        """The object a turn's call names (the runtime's :class:`CallPolicy`), if the turn can reach it.

        Here: yes. A ``home`` object on another node: yes, :meth:`outbox`
        queues the call. Anything else elsewhere (or owned by nobody yet):
        ``UNAVAILABLE``, and this node starts bringing it here, so a retry
        usually succeeds.
        """
        ref = self._resolve(target)
        owner = self.directory.owners.get(ref.id)
        if owner is not None and owner.node == self.node and self.moves.busy(ref.id) is None:
            return ref
        where = owner.node if owner is not None else None
        if where is not None and where != self.node and self.settings.placement_of(ref.class_name) == "home":
            return ref
        if where is not None and where != self.node and where not in self.directory.nodes:
            raise owner_down(ref, where)
        self.pulls.append(ref)
        raise Unavailable(f"this turn on node {self.node} calls {ref.class_name} {ref.name or ref.id}, which is "
                          f"{'on node ' + where if where else 'not owned by any node yet'}; "
                          f"it is being brought to node {self.node}: retry")

    def outbox(self, target: ObjectRef, writes: bool) -> ObjectRef | None:
        """The outbox to queue a call to ``target`` in, if it is a ``home`` object on another node."""
        owner = self.directory.owners.get(target.id)
        if owner is None or owner.node is None or owner.node == self.node:
            return None
        if not writes:
            raise Conflict(
                f"this turn on node {self.node} reads {target.class_name} {target.name or target.id}, which lives "
                f"on node {owner.node}: a turn cannot wait for another node; send the request to node {owner.node}, "
                "or place both classes so they live on one node (docs/cluster.md)")
        self._outbox.dirty = True
        return self._outbox.ref
