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


class Gatekeeper(Protocol):
    """The cluster's two interception points in the server loop."""

    def admit(self, envelopes: list[list[bytes]], requests: list[Request], due: bool,
              send: Send) -> tuple[list[list[bytes]], list[Request], bool]:
        """Before a cycle: the requests (and envelopes) to run here now, and whether alarms may fire.

        The others it answers itself through ``send`` (now, or later from a
        later call): refused, forwarded to their owner, or held until the
        object has moved here.
        """
        ...

    def may_reply(self) -> bool:
        """The output gate: whether this node may still acknowledge what it ran (its lease cannot have expired)."""
        ...

    def gate(self, result: CycleResult) -> None:
        """After the commit: empty ``result``'s replies, events and notices if the gate is shut."""
        ...
