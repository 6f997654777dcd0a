"""The bytes the gateway sends: replies with the client's id put back, errors, control and event frames.

A reply comes from the daemon as ``{"v": 1, "id": <gateway id>, "ok": ..., ...}``.
The gateway's ids are integers from 2**32 up, which msgpack always writes in
nine bytes, so the client's id is put back by splicing bytes at a fixed
offset; the rest of the reply (its result, stored values) is never decoded.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import msgpack

from schemas.wire import PROTOCOL_VERSION, ErrorCode, decode, encode, error_reply

# The first gateway id: msgpack writes every integer from here to 2**64 - 1 as 0xcf + 8 bytes.
FIRST_GATEWAY_ID = 2**32
MAX_REQUEST_ID_CHARS = 256
_MIN_ID, _MAX_ID = -(2**63), 2**64
# What every reply the daemon encodes starts with, up to its id: a map of 4, "v": 1, "id".
_REPLY_HEAD = b"\x84\xa1v" + msgpack.packb(PROTOCOL_VERSION) + b"\xa2id"
_ID_AT = len(_REPLY_HEAD)
_UINT64 = b"\xcf"
_packer = msgpack.Packer(use_bin_type=True)
# ctl frames, as msgpack, up to their variable part.
_EVENT_HEAD = b"\x83" + msgpack.packb("ctl") + msgpack.packb("event") + msgpack.packb("topic")
_BODY_KEY = msgpack.packb("body")
# First bytes of a msgpack array: fixarray, array 16, array 32.
_ARRAY_HEADS = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])
# How the daemon's TOO_LARGE for a reply crowded out of a batch's reply array begins.
_CROWDED_TEXT = "the batch's reply would be"
_CROWDED = _CROWDED_TEXT.encode()
# A batch frame's array header is at most this long (array 32).
ARRAY_HEAD_BYTES = 5
# WebSocket frame headers, server to client: FIN + binary, no mask, the length in 7, 16 or 64 bits.
_WS_SHORT = [bytes((0x82, size)) for size in range(126)]
_WS_HEAD16 = b"\x82\x7e"
_WS_HEAD64 = b"\x82\x7f"


def pack(value: Any) -> bytes:
    """``value`` in msgpack (str as str, bytes as bin)."""
    packed: bytes = _packer.pack(value)
    return packed


def good_id(request_id: object) -> TypeGuard[int | str]:
    """Whether ``request_id`` is a request id the protocol accepts."""
    if type(request_id) is int:
        return _MIN_ID <= request_id < _MAX_ID
    return type(request_id) is str and len(request_id) <= MAX_REQUEST_ID_CHARS


def id_refusal(request_id: object) -> str:
    """The daemon's words for an unreadable request id."""
    if isinstance(request_id, str):
        return f"request id is over {MAX_REQUEST_ID_CHARS} characters"
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return "request id is out of the 64-bit range"
    return "request needs an id (an integer or a string)"


def reply_gateway_id(reply: bytes) -> int | None:
    """The gateway id a daemon reply answers; None if the reply is not in the expected form."""
    if reply[_ID_AT : _ID_AT + 1] == _UINT64 and reply.startswith(_REPLY_HEAD):
        return int.from_bytes(reply[_ID_AT + 1 : _ID_AT + 9], "big")
    try:
        message = decode(reply)
        gateway_id = message["id"]
    except (ValueError, TypeError, KeyError):
        return None
    return gateway_id if type(gateway_id) is int else None


def with_client_id(reply: bytes, client_id: bytes) -> bytes:
    """The daemon's ``reply`` with its id replaced by ``client_id`` (msgpack bytes)."""
    if reply[_ID_AT : _ID_AT + 1] == _UINT64 and reply.startswith(_REPLY_HEAD):
        return b"".join((_REPLY_HEAD, client_id, reply[_ID_AT + 9 :]))
    message = decode(reply)  # a reply in another form: slower, same result
    message["id"] = msgpack.unpackb(client_id, raw=False)
    return encode(message)


def crowded_out(reply: bytes) -> bool:
    """Whether ``reply`` is the ``TOO_LARGE`` error a batch reply puts in place of its largest reply
    while the array is over the daemon's ``max_frame_bytes`` (docs/protocol.md, batch frames)."""
    if _CROWDED not in reply or not reply.startswith(_REPLY_HEAD):
        return False
    message = decode(reply)
    error = message.get("error")
    return (message.get("ok") is False and isinstance(error, dict) and error.get("code") == ErrorCode.TOO_LARGE
            and str(error.get("message", "")).startswith(_CROWDED_TEXT))


def crowded_reply(reply: bytes) -> bytes:
    """The reply to a request crowded out of a batch reply (see :func:`crowded_out`) and not sent again:
    ``TOO_LARGE`` as the daemon said, but retryable, since alone its reply may well fit."""
    message = decode(reply)
    return encode(error_reply(message.get("id"), ErrorCode.TOO_LARGE, (
        f"{message['error'].get('message')}; it shared a batch frame with other requests and was not sent "
        "again alone, since requests its client sent later on the same object are in flight: send it again "
        "(a write with the same idem key: it ran, and the daemon answers with the result it recorded)"),
        True))


def error_frame(client_id: bytes | None, code: str, message: str, retryable: bool = False) -> bytes:
    """An error reply; ``client_id`` is the request's id in msgpack, None when it could not be read."""
    body: bytes = encode(error_reply(None, code, message, retryable))
    if client_id is None:
        return body
    # error_reply's id is nil, the byte after the head: put the client's id in its place.
    return b"".join((_REPLY_HEAD, client_id, body[_ID_AT + 1 :]))


def unavailable(client_id: bytes | None, message: str) -> bytes:
    """An UNAVAILABLE reply: retryable, and nothing was written."""
    return error_frame(client_id, ErrorCode.UNAVAILABLE, message, retryable=True)


def batch_frame(replies: list[bytes]) -> bytes:
    """The array of a batch's replies (or requests), in their order: each element's bytes as they are."""
    header: bytes = _packer.pack_array_header(len(replies))
    return header + b"".join(replies)


def is_array(body: bytes) -> bool:
    """Whether ``body`` starts a msgpack array (a batch reply), not a map."""
    return len(body) > 0 and body[0] in _ARRAY_HEADS


def split_array(body: bytes) -> list[bytes]:
    """The elements of the msgpack array in ``body``, each as its own bytes (skipped over, not decoded).

    Raises ValueError if ``body`` is not one well-formed array.
    """
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(body), 1))
    unpacker.feed(body)
    try:
        count = unpacker.read_array_header()
        start = unpacker.tell()
        elements: list[bytes] = []
        for _ in range(count):
            unpacker.skip()
            end = unpacker.tell()
            elements.append(body[start:end])
            start = end
    except Exception as exc:  # msgpack raises several unrelated types on bad bytes
        raise ValueError(f"not a msgpack array: {exc!r}") from exc
    if start != len(body):
        raise ValueError("bytes after the array")
    return elements


def websocket_frames(payloads: list[bytes]) -> bytes:
    """``payloads`` as unmasked binary WebSocket frames (RFC 6455, server to client), back to back."""
    parts: list[bytes] = []
    for payload in payloads:
        size = len(payload)
        if size < 126:
            parts.append(_WS_SHORT[size])
        elif size < 65536:
            parts.append(_WS_HEAD16 + size.to_bytes(2, "big"))
        else:
            parts.append(_WS_HEAD64 + size.to_bytes(8, "big"))
        parts.append(payload)
    return b"".join(parts)


def event_frame(topic: str, body: bytes) -> bytes:
    """``{"ctl": "event", "topic": topic, "body": body}`` with the daemon's body bytes embedded as they are."""
    return b"".join((_EVENT_HEAD, _packer.pack(topic), _BODY_KEY, body))


def ctl_frame(ctl: str, **fields: Any) -> bytes:
    """A control message: ``{"ctl": ctl, **fields}``."""
    return pack({"ctl": ctl, **fields})


def ctl_error(code: str, message: str, prefix: str | None = None) -> bytes:
    """``{"ctl": "error", "code", "message"}``, with the prefix it is about when there is one."""
    if prefix is None:
        return ctl_frame("error", code=code, message=message)
    return ctl_frame("error", code=code, message=message, prefix=prefix)


def decode_reply(reply: bytes) -> dict[str, Any]:
    """A reply the daemon sent, decoded (bins as bytes)."""
    message: dict[str, Any] = msgpack.unpackb(reply, raw=False, strict_map_key=False)
    return message

