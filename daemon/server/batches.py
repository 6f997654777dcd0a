"""Batch frames, and where each request's reply goes.

A request frame whose msgpack body is an array of request maps is a batch
(docs/protocol.md): each element is a request of its own, with its own reply
in the same slot of the reply array. :func:`read_batch` turns a batch body
into its slots (a :class:`Request`, or the error reply an element earns) or
into the one error reply a whole frame earns (empty, nested, too many
requests, not msgpack). :class:`Inbox` holds one cycle's requests in arrival
order, remembers which frame each came in, and builds each frame's reply
once every request of it has its reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import msgpack
import msgspec

from daemon.model import Request
from daemon.server.envelope import parse
from daemon.server.typed_envelope import typed_batch
from schemas.wire import ErrorCode, decode, encode, error_reply

Slot = Request | dict[str, Any]
# First bytes of a msgpack array: fixarray, array 16, array 32.
_ARRAY_HEADS = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])
# The elements as their own bytes, each parsed as a request on its own (and quickly, when well formed).
_ELEMENTS = msgspec.msgpack.Decoder(list[msgspec.Raw])


def is_batch(body: bytes) -> bool:
    """Whether a frame body is a msgpack array, i.e. a batch (a well-formed one or not)."""
    return len(body) > 0 and body[0] in _ARRAY_HEADS


def read_batch(body: bytes, max_frame_bytes: int, max_requests: int) -> list[Slot] | dict[str, Any]:
    """The slots of the batch in ``body``, or the one error reply the whole frame earns.

    A frame over ``max_frame_bytes`` is refused before it is decoded. An
    empty array and an array holding an array are ``BAD_REQUEST``, more than
    ``max_requests`` elements ``TOO_LARGE``; an element that is not a
    well-formed request gets its own error reply in its slot.
    """
    if len(body) > max_frame_bytes:
        refused = parse(body, max_frame_bytes)
        assert isinstance(refused, dict)
        return refused
    typed = typed_batch(body)  # the usual frame, in one call; any other is read element by element
    if typed is not None and len(typed) <= max_requests:
        return cast(list[Slot], typed)
    try:
        elements: list[bytes] = [bytes(raw) for raw in _ELEMENTS.decode(body)]
    except (msgspec.DecodeError, msgspec.ValidationError):
        try:
            elements = [msgpack.packb(item, use_bin_type=True) for item in decode(body)]
        except Exception as exc:  # msgpack raises several unrelated types on bad bytes
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return error_reply(None, ErrorCode.BAD_REQUEST, f"request is not valid msgpack ({detail})")
    if not elements:
        return error_reply(None, ErrorCode.BAD_REQUEST,
                           f"a batch holds at least one request; send an array of 1 to {max_requests} request maps")
    if len(elements) > max_requests:
        return error_reply(None, ErrorCode.TOO_LARGE,
                           f"a batch of {len(elements)} requests; the limit is {max_requests} (batch_max_requests)")
    nested = next((index for index, element in enumerate(elements) if is_batch(element)), None)
    if nested is not None:
        return error_reply(None, ErrorCode.BAD_REQUEST,
                           f"a batch holds request maps, not arrays; element {nested} is an array")
    return [parse(element, max_frame_bytes) for element in elements]


@dataclass(slots=True)
class _Frame:
    """One request frame of a cycle: who sent it, and what stands in each slot of its reply."""

    envelope: list[bytes]
    # The index of a slot's request in the cycle, or the error reply already made for it.
    slots: list[int | dict[str, Any]]
    batch: bool
    sent: bool = False


class Inbox:
    """One cycle's requests, in arrival order, and the frames their replies go back in."""

    def __init__(self, max_frame_bytes: int, encode_one: Callable[[dict[str, Any]], bytes] | None = None) -> None:
        self.max_frame_bytes = max_frame_bytes
        # How one reply becomes bytes; the server passes its Encoder's, which cannot fail.
        self._encode_one = encode_one or (lambda reply: encode_reply(reply, max_frame_bytes))
        self.requests: list[Request] = []
        self._frames: list[_Frame] = []

    def add(self, envelope: list[bytes], slots: Request | list[Slot]) -> None:
        """Take a single request, or a batch's slots (its requests join the cycle in array order)."""
        requests = self.requests
        if isinstance(slots, Request):
            self._frames.append(_Frame(envelope, [len(requests)], False))
            requests.append(slots)
            return
        placed: list[int | dict[str, Any]] = []
        for slot in slots:
            if isinstance(slot, Request):
                placed.append(len(requests))
                requests.append(slot)
            else:
                placed.append(slot)
        self._frames.append(_Frame(envelope, placed, True))

    def ready(self, early: set[int], reply: Callable[[int], dict[str, Any]]) -> Iterator[tuple[list[bytes], bytes]]:
        """``(envelope, body)`` of each frame whose every request may have its reply now (see Cycle.run_turns)."""
        for frame in self._frames:
            if all(type(slot) is dict or slot in early for slot in frame.slots):
                frame.sent = True
                yield frame.envelope, self._body(frame, reply)

    def rest(self, replies: list[dict[str, Any]]) -> Iterator[tuple[list[bytes], bytes]]:
        """``(envelope, body)`` of every frame not sent yet, once the cycle committed."""
        for frame in self._frames:
            if not frame.sent:
                frame.sent = True
                yield frame.envelope, self._body(frame, replies.__getitem__)

    def _body(self, frame: _Frame, reply: Callable[[int], dict[str, Any]]) -> bytes:
        answers = [slot if type(slot) is dict else reply(slot) for slot in frame.slots]  # type: ignore[arg-type]
        if not frame.batch:
            return self._encode_one(answers[0])
        return encode_batch(answers, self.max_frame_bytes, self._encode_one)

    def frames(self) -> Iterator[tuple[list[bytes], Request | list[Slot]]]:
        """Each frame as ``(envelope, request)`` (a single request) or ``(envelope, slots)`` (a batch), in
        arrival order.

        For a server that routes requests one by one (cluster mode); the inbox is not used after.
        """
        requests = self.requests
        for frame in self._frames:
            if frame.batch:
                yield frame.envelope, [slot if type(slot) is dict else requests[slot]  # type: ignore[index]
                                       for slot in frame.slots]
            else:
                yield frame.envelope, requests[frame.slots[0]]  # type: ignore[index]


def _too_large(request_id: Any, size: int, limit: int, what: str = "the reply") -> dict[str, Any]:
    return error_reply(request_id, ErrorCode.TOO_LARGE,
                       f"{what} would be {size} bytes, over max_frame_bytes ({limit}); "
                       "ask for less (list with limit and start_after)")


def encode_reply(reply: dict[str, Any], max_frame_bytes: int) -> bytes:
    """The body of one reply; a ``TOO_LARGE`` error in its place if it is over ``max_frame_bytes``."""
    body = encode(reply)
    if len(body) > max_frame_bytes:
        body = encode(_too_large(reply.get("id"), len(body), max_frame_bytes))
    return body


def encode_batch(
    replies: list[dict[str, Any]], max_frame_bytes: int, encode_one: Callable[[dict[str, Any]], bytes] = encode
) -> bytes:
    """The body of a batch's reply: its replies in order, within ``max_frame_bytes`` (see :func:`join_replies`)."""
    return join_replies([encode_one(reply) for reply in replies], [reply.get("id") for reply in replies],
                        max_frame_bytes)


def join_replies(bodies: list[bytes], ids: list[Any], max_frame_bytes: int) -> bytes:
    """The body of a batch's reply from its encoded replies (``ids``: each slot's request id), in order.

    While the array is over ``max_frame_bytes``, its largest reply gives way to
    a ``TOO_LARGE`` error. ``bodies`` is changed in place.
    """
    head: bytes = msgpack.Packer().pack_array_header(len(bodies))
    size = len(head) + sum(map(len, bodies))
    while size > max_frame_bytes:
        largest = max(range(len(bodies)), key=lambda index: len(bodies[index]))
        stand_in = encode(_too_large(ids[largest], size, max_frame_bytes, "the batch's reply"))
        if len(stand_in) >= len(bodies[largest]):
            break  # nothing left to shrink; cannot happen with a sane max_frame_bytes
        size -= len(bodies[largest]) - len(stand_in)
        bodies[largest] = stand_in
    return head + b"".join(bodies)
