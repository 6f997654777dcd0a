"""What the server loop asks of a cluster node: which requests to serve here, and whether replies may go out.

The server knows no cluster; in cluster mode the service composition sets
:attr:`Server.gatekeeper` to an object with these methods, and the loop
calls them at two points of every cycle (docs/cluster.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from daemon.model import Request
from daemon.runtime import CycleResult

Send = Callable[[list[bytes], dict[str, Any]], None]
# A request frame as the gatekeeper gets it: a single request, or the elements of a batch frame (each well formed).
Entry = Request | list[Request]
# Splits a batch frame (its envelope, its elements) into one stand-in envelope per element, in array order.
Split = Callable[[list[bytes], list[Request]], list[list[bytes]]]


class Gatekeeper(Protocol):
    """The cluster's two interception points in the server loop."""

    def admit(self, envelopes: list[list[bytes]], requests: list[Entry], due: bool, send: Send,
              split: Split) -> tuple[list[list[bytes]], list[Entry], bool]:
        """Before a cycle: the requests (and envelopes) to run here now, in arrival order, and whether alarms may fire.

        A batch frame whose every element runs here now stays one entry,
        under its own envelope, to run as on one daemon; any other is split
        with ``split`` and each element routed on its own, under its
        stand-in envelope. The requests not run here it answers itself
        through ``send`` (now, or later from a later call): refused,
        forwarded to their owner, or held until the object has moved here.
        """
        ...

    def may_reply(self) -> bool:
        """The output gate: whether this node may still acknowledge what it ran (its lease cannot have expired)."""
        ...

    def gate(self, result: CycleResult) -> None:
        """After the commit: empty ``result``'s replies, events and notices if the gate is shut."""
        ...
