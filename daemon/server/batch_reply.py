"""The reply array of a batch frame whose elements take routes of their own (cluster mode).

A cluster node routes request by request: one element of a batch may run
here, another wait for its object to move here, another be forwarded to
the node that owns its object. Each element therefore travels under a
:class:`SlotEnvelope`, a stand-in for the frame's envelope that the server
sends nothing to: a reply "sent" to it is put in its slot of the frame's
:class:`BatchReply`, and once every slot holds its reply the server sends
the whole array, in slot order, to the frame's real envelope. A batch
whose every element runs here now is not split at all: :func:`by_frame`
hands it to the gatekeeper as one entry, which keeps it whole, or splits it
with :func:`stand_ins` when an element needs a route of its own.

A slot is filled only where a single request's reply would have been sent:
after its cycle's commit (with fsync) and the output gate, when the request
ran here; when the owner's reply arrives, when it was forwarded; at once,
when it is refused. A cycle whose replies the gate withholds fills none of
its slots, so that batch gets no reply at all, as a single request would not.
"""

from __future__ import annotations

import operator
from typing import Any, cast

from daemon.model import Request
from daemon.server.batches import Inbox, Slot, join_replies
from daemon.server.gatekeeper import Entry


class BatchReply:
    """The replies of one batch frame, slot by slot; complete once every slot is filled."""

    __slots__ = ("_bodies", "_ids", "_max_frame_bytes", "_missing", "envelope", "stand_ins")

    def __init__(self, envelope: list[bytes], ids: list[Any], max_frame_bytes: int) -> None:
        self.envelope = envelope
        self._ids = ids
        self._bodies: list[bytes | None] = [None] * len(ids)
        self._missing = len(ids)
        self._max_frame_bytes = max_frame_bytes
        # Every slot's stand-in envelope, in slot order.
        self.stand_ins = [SlotEnvelope(self, index) for index in range(len(ids))]

    def __len__(self) -> int:
        return len(self._bodies)

    def untouched(self) -> bool:
        """Whether no slot is filled yet."""
        return self._missing == len(self._bodies)

    def fill(self, index: int, body: bytes) -> bytes | None:
        """Put one encoded reply in its slot; the body of the whole reply array once this was the last one.

        A slot filled twice keeps its first reply (cannot happen: each request gets one reply).
        """
        if self._bodies[index] is not None:
            return None
        self._bodies[index] = body
        self._missing -= 1
        if self._missing:
            return None
        return join_replies([body for body in self._bodies if body is not None], self._ids,
                            self._max_frame_bytes)


class SlotEnvelope(list[bytes]):
    """Where one element of a batch frame is answered: its slot in a :class:`BatchReply`, not a socket.

    An empty list of frames, so a socket given one by mistake would route
    nothing anywhere; the server checks for this type before it sends.
    """

    __slots__ = ("batch", "position")

    def __init__(self, batch: BatchReply, index: int) -> None:  # list's own __init__ has nothing to do: empty
        self.batch = batch
        self.position = index

    def fill(self, body: bytes) -> tuple[list[bytes], bytes] | None:
        """Put ``body`` in this slot; ``(envelope, body)`` of the whole reply array once it is complete."""
        whole = self.batch.fill(self.position, body)
        return None if whole is None else (self.batch.envelope, whole)


def by_frame(inbox: Inbox, max_frame_bytes: int) -> tuple[list[list[bytes]], list[Entry],
                                                           list[tuple[SlotEnvelope, dict[str, Any]]]]:
    """The inbox's frames for a gatekeeper, in arrival order, each with the envelope its reply goes to;
    and the error replies of malformed batch elements, each with its slot's envelope.

    A single request keeps its frame's envelope; so does a batch frame whose
    every element is well formed, as one entry (its elements' list), which
    the gatekeeper keeps whole or splits (:func:`stand_ins`). A batch with a
    malformed element is split here: each well-formed element gets its
    slot's :class:`SlotEnvelope`, each malformed one its error.
    """
    envelopes: list[list[bytes]] = []
    entries: list[Entry] = []
    refused: list[tuple[SlotEnvelope, dict[str, Any]]] = []
    for envelope, slots in inbox.frames():
        if isinstance(slots, Request):
            envelopes.append(envelope)
            entries.append(slots)
            continue
        requests = [slot for slot in slots if isinstance(slot, Request)]
        if len(requests) == len(slots):
            envelopes.append(envelope)
            entries.append(requests)
            continue
        reply = BatchReply(envelope, [slot.id if isinstance(slot, Request) else slot.get("id") for slot in slots],
                           max_frame_bytes)
        for stand_in, slot in zip(reply.stand_ins, slots, strict=True):
            if isinstance(slot, Request):
                envelopes.append(stand_in)
                entries.append(slot)
            else:
                refused.append((stand_in, slot))
    return envelopes, entries, refused


def stand_ins(envelope: list[bytes], requests: list[Request], max_frame_bytes: int) -> list[list[bytes]]:
    """One :class:`SlotEnvelope` per element of the batch frame ``envelope`` brought, in array order."""
    return list(BatchReply(envelope, [request.id for request in requests], max_frame_bytes).stand_ins)


def regroup(envelopes: list[list[bytes]], requests: list[Entry], inbox: Inbox) -> None:
    """Add the requests to run to ``inbox``: a batch kept whole as it is; a batch split into stand-ins whose
    every element runs here in this cycle, in array order and none answered yet, back as the batch frame it
    came in; anything else one by one.

    So a batch on objects owned here runs exactly as on one daemon, at the cost of a batch frame.
    """
    index, count = 0, len(envelopes)
    while index < count:
        envelope = envelopes[index]
        if type(envelope) is SlotEnvelope and envelope.position == 0 and envelope.batch.untouched():
            batch = envelope.batch
            end = index + len(batch)
            if end <= count and all(map(operator.is_, envelopes[index:end], batch.stand_ins)):
                inbox.add(batch.envelope, cast(list[Slot], requests[index:end]))
                index = end
                continue
        entry = requests[index]
        inbox.add(envelope, entry if isinstance(entry, Request) else cast(list[Slot], entry))
        index += 1
