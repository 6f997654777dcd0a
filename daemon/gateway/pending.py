"""What the upstream pool remembers of what it sent: who waits for each reply, and the batch frames.

Each request sent has a :class:`Pending` entry (by gateway id) naming its
:class:`Waiter`. Each batch frame sent is kept in :class:`SentBatches` until
its reply array comes (by the gateway id of its first request), so that a
frame refused whole, whose one error names no id, can be told apart from
the others. It can be matched to a frame only when its socket has one
outstanding: the daemon refuses a frame at once but answers the frames it
accepted after their commit, so replies do not come in send order.
"""

from __future__ import annotations

from typing import Any, Protocol

from daemon.gateway.batching import Queued, Route


class Waiter(Protocol):
    """Where a reply goes: a WebSocket connection, a batch being assembled, an HTTP call."""

    @property
    def gone(self) -> bool:
        """Whether nobody is waiting any more (the client left)."""
        ...

    def settle(self, slot: int, reply: bytes) -> None:
        """Take the reply (with the client's id) to the request sent for ``slot``."""
        ...


class Pending:
    """A request sent and not answered yet: who waits, in which slot, with which id, until when; its
    client's route and its target (to tell whether a later request of that client is on the same object)."""

    __slots__ = ("client_id", "deadline", "route", "slot", "target", "waiter")

    def __init__(self, waiter: Waiter, slot: int, client_id: bytes, deadline: float, route: Route,
                 target: Any) -> None:
        self.waiter = waiter
        self.slot = slot
        self.client_id = client_id
        self.deadline = deadline
        self.route = route
        self.target = target


class SentBatches:
    """Per pool socket, the batch frames sent and not answered yet, oldest first."""

    def __init__(self) -> None:
        # Per socket: the gateway id of a frame's first request -> its requests, and when to forget it.
        self._sockets: list[dict[int, tuple[list[Queued], float]]] = []

    def add_socket(self) -> None:
        """Make room for one more pool socket."""
        self._sockets.append({})

    def add(self, socket: int, requests: list[Queued], forget_at: float) -> None:
        """A batch frame of ``requests`` went out on ``socket``."""
        self._sockets[socket][requests[0].gateway_id] = (requests, forget_at)

    def answered(self, socket: int, first_id: int) -> list[Queued] | None:
        """The requests of the frame whose reply array came, by its first request's id; None if unknown."""
        sent = self._sockets[socket].pop(first_id, None)
        return sent[0] if sent is not None else None

    def any(self, socket: int) -> bool:
        """Whether a batch frame sent on ``socket`` waits for its reply."""
        return bool(self._sockets[socket])

    def refused(self, socket: int) -> list[list[Queued]]:
        """Every batch frame of ``socket`` waiting for its reply, oldest first, now forgotten: the daemon
        refused one of them whole, and only when there is one can it be told which."""
        frames = self._sockets[socket]
        outstanding = [sent[0] for sent in frames.values()]
        frames.clear()
        return outstanding

    def forget(self, now: float) -> None:
        """Drop the frames that will never be answered (the daemon went away); their requests have timed out."""
        for frames in self._sockets:
            while frames:
                first = next(iter(frames))
                if frames[first][1] > now:
                    break
                del frames[first]


def overtaken(pending: dict[int, Pending], queued: Queued, frame: list[Queued]) -> bool:
    """Whether ``queued``, sent again alone now, would run after a later request of its client on the
    same object (its reply coming after that one's, or reading what that one wrote).

    A later request is one sent after it that still waits in ``pending``, except its fellows of one
    client batch in the same ``frame``: they ran before it, and their replies go back in one array with its.
    """
    entry = pending.get(queued.gateway_id)
    if entry is None:
        return False
    fellows = {request.gateway_id for request in frame} if entry.slot >= 0 else set()
    for gateway_id, later in pending.items():  # rare (a crowded-out reply): a scan will do
        if (gateway_id > queued.gateway_id and later.route is entry.route and later.target == entry.target
                and not (later.waiter is entry.waiter and gateway_id in fellows)):
            return True
    return False
