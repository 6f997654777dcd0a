"""Requests queued for the daemon in one pass of the loop, cut into the frames they travel in.

The requests of one pool socket go in the order they were queued, as batch
frames (docs/protocol.md) within the daemon's limits. Requests that only read
and requests that may write never share a frame: the daemon answers a batch
frame once every request in it may be answered, so a read next to a write
would wait for the write's commit.
"""

from __future__ import annotations

from daemon.gateway.frames import ARRAY_HEAD_BYTES

# Ops that never write (docs/protocol.md); a class op may write, whatever it does.
READ_OPS = frozenset({"storage.get", "storage.list", "alarm.get", "alarms.list", "objects.list", "ping",
                      "health", "stats", "id.from_name", "id.new_unique", "id.from_string"})


class Route:
    """Which pool socket a client's requests take; it moves only when that socket has lost the daemon."""

    __slots__ = ("socket",)

    def __init__(self, socket: int) -> None:
        self.socket = socket


class Queued:
    """One request ready to go: its route, its encoded map, its gateway id, whether it only reads.

    ``resendable``: sending it again cannot apply it twice, because it only
    reads or because it carries an ``idem`` key (the daemon then answers a
    second send with the result it recorded, docs/protocol.md).
    """

    __slots__ = ("body", "gateway_id", "reads", "resendable", "route")

    def __init__(self, route: Route, body: bytes, gateway_id: int, reads: bool, resendable: bool) -> None:
        self.route = route
        self.body = body
        self.gateway_id = gateway_id
        self.reads = reads
        self.resendable = resendable


def frames_of(queue: list[Queued], max_frame_bytes: int, max_requests: int) -> list[list[Queued]]:
    """``queue`` (one socket's, in order) cut into frames: runs of one kind, within the daemon's limits.

    A frame holds at most ``max_requests`` requests and, with its array
    header, at most ``max_frame_bytes`` (a request alone is never over it:
    forwarding refuses those). A frame of one request goes as that request alone.
    """
    frames: list[list[Queued]] = []
    frame: list[Queued] = []
    size = ARRAY_HEAD_BYTES
    for queued in queue:
        if frame and (queued.reads != frame[0].reads or len(frame) == max_requests
                      or size + len(queued.body) > max_frame_bytes):
            frames.append(frame)
            frame, size = [], ARRAY_HEAD_BYTES
        frame.append(queued)
        size += len(queued.body)
    if frame:
        frames.append(frame)
    return frames
