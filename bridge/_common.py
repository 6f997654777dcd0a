"""What the synchronous and the asyncio clients share: targets and reply handling."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import msgpack

from bridge.errors import BadRequest, Internal, TooLarge, error_from_reply

MAX_FRAME_BYTES = 16 * 1024 * 1024
# The daemon's default batch_max_requests: a client never sends a larger batch.
BATCH_MAX_REQUESTS = 1024
DEFAULT_RPC = "tcp://127.0.0.1:5555"
DEFAULT_PUB = "tcp://127.0.0.1:5556"


def target(class_name: str, name: str | None = None, object_id: str | None = None) -> dict[str, str]:
    """A wire target naming an object by name or by id (exactly one)."""
    if (name is None) == (object_id is None):
        raise BadRequest("name an object by name or by id, exactly one")
    if name is not None:
        return {"class": class_name, "name": name}
    return {"class": class_name, "id": object_id or ""}


def idempotency_key(idem: str | None, retries: int) -> str | None:
    """The key to send: the caller's, or a fresh one for any request that may be sent again.

    Any op may write (an operator's own class ops too), and the daemon ignores
    the key on reads, so every request that may be retried carries one.
    """
    if idem is not None or retries <= 0:
        return idem
    return uuid.uuid4().hex


def check_size(body: bytes, op: str, limit: int) -> bytes:
    """``body`` if it fits the daemon's frame limit; else ``TooLarge`` before anything is sent.

    The daemon answers an oversize frame without reading its id, so the
    reply could not be matched to the request.
    """
    if len(body) > limit:
        raise TooLarge(f"{op} request is {len(body)} bytes; the daemon's frame limit is {limit}; nothing was sent")
    return body


def result_of(reply: Any) -> Any:
    """The result of a reply, or raise its error as a typed exception."""
    if not isinstance(reply, dict) or "ok" not in reply:
        raise Internal(f"malformed reply from the daemon: {reply!r:.200}")
    if reply["ok"]:
        return reply.get("result")
    raise error_from_reply(reply.get("error"))


def list_args(
    start: str | None,
    start_after: str | None,
    end: str | None,
    prefix: str | None,
    reverse: bool,
    limit: int | None,
) -> dict[str, Any]:
    """The args map of ``storage.list``, leaving out what is unset."""
    args: dict[str, Any] = {
        "start": start,
        "start_after": start_after,
        "end": end,
        "prefix": prefix,
        "limit": limit,
    }
    args = {key: value for key, value in args.items() if value is not None}
    if reverse:
        args["reverse"] = True
    return args


def frames_of(bodies: list[bytes], max_requests: int, max_frame_bytes: int) -> Iterator[tuple[int, bytes]]:
    """``(count, frame)``: request frames carrying ``bodies`` in order, ``count`` of them in each.

    ``bodies`` are encoded requests, each within ``max_frame_bytes``. One
    body goes as it is; more go as batch frames (arrays of requests) of at
    most ``max_requests`` requests and ``max_frame_bytes`` bytes each.
    """
    start = 0
    while start < len(bodies):
        end, size = start, 5  # an array header takes at most 5 bytes
        while end < len(bodies) and end - start < max_requests and size + len(bodies[end]) <= max_frame_bytes:
            size += len(bodies[end])
            end += 1
        end = max(end, start + 1)
        if end - start == 1:
            yield 1, bodies[start]
        else:
            head: bytes = msgpack.Packer().pack_array_header(end - start)
            yield end - start, head + b"".join(bodies[start:end])
        start = end


def replies_in(reply: Any) -> list[Any]:
    """The replies a decoded reply frame holds: one map, or each of a batch's."""
    return reply if isinstance(reply, list) else [reply]
