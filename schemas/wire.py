"""Wire protocol v1: the envelope every request and reply carries.

The normative description is ``docs/protocol.md``; this module is its code
form, shared by the daemon and the Python clients. Language-neutral vectors
that pin the bytes live in ``schemas/vectors/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, final

import msgpack

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)


class ErrorCode(StrEnum):
    """Stable error codes; their meaning never changes within a protocol version."""

    BAD_REQUEST = "BAD_REQUEST"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    UNKNOWN_OP = "UNKNOWN_OP"
    INVALID_ID = "INVALID_ID"
    NOT_FOUND = "NOT_FOUND"
    TOO_LARGE = "TOO_LARGE"
    CONFLICT = "CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"
    FORBIDDEN = "FORBIDDEN"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"
    UNAUTHENTICATED = "UNAUTHENTICATED"


ERROR_CODES: frozenset[str] = frozenset(code.value for code in ErrorCode)

@final
class Encoded:
    """A value already in msgpack bytes; whatever carries it embeds the bytes as they are.

    A read hands a stored value to its reply this way, so the daemon never decodes a value only
    to encode it again.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return type(other) is Encoded and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"Encoded({self.data!r})"


def encode_value(value: Any) -> Encoded:
    """``value`` in msgpack, with the ``Encoded`` values inside its maps and lists embedded as they are."""
    parts: list[bytes] = []
    _encode_parts(value, msgpack.Packer(use_bin_type=True), parts)
    return Encoded(b"".join(parts))


def _encode_parts(value: Any, packer: msgpack.Packer, parts: list[bytes]) -> None:
    if type(value) is Encoded:
        parts.append(value.data)
    elif isinstance(value, Mapping):
        parts.append(packer.pack_map_header(len(value)))
        for key, item in value.items():
            parts.append(packer.pack(key))
            _encode_parts(item, packer, parts)
    elif isinstance(value, list | tuple):
        parts.append(packer.pack_array_header(len(value)))
        for item in value:
            _encode_parts(item, packer, parts)
    else:
        parts.append(packer.pack(value))


# An ok reply as ok_reply builds it, around its id and its result.
_OK_KEYS = ("v", "id", "ok", "result")
_OK_V = b"\x84\xa1v\x01\xa2id"
_OK_RESULT = b"\xa2ok\xc3\xa6result"
# One packer for the hot path: packing plain values runs no Python code, so under the GIL a call is never
# interleaved with another thread's.
_packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack


def encode(message: dict[str, Any]) -> bytes:
    """Encode one envelope as msgpack (str as raw/str type, bytes as bin type).

    An ``Encoded`` result goes in as its bytes (quickest as the last key, where :func:`ok_reply` puts it).
    """
    result = message.get("result")
    if message.get("v") == PROTOCOL_VERSION and message.get("ok") is True and tuple(message) == _OK_KEYS:
        # The reply nearly every request gets, assembled from its parts: msgpack's bytes, sooner.
        body: bytes = result.data if type(result) is Encoded else _packb(result)
        packed_id: bytes = _packb(message["id"])
        return _OK_V + packed_id + _OK_RESULT + body
    if type(result) is Encoded:
        if next(reversed(message)) != "result":
            return encode_value(message).data
        head: bytes = msgpack.packb({**message, "result": None}, use_bin_type=True)
        return head[:-1] + result.data  # the nil that stood for the result is the last byte
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def decode(body: bytes) -> Any:
    """Decode one msgpack body. Raises ``ValueError`` (or a subclass) on bad bytes."""
    return msgpack.unpackb(body, raw=False, strict_map_key=True)


def request(
    request_id: int | str,
    op: str,
    target: dict[str, str] | None = None,
    args: dict[str, Any] | None = None,
    idem: str | None = None,
) -> dict[str, Any]:
    """Build a request envelope; ``target`` and ``idem`` are left out when absent."""
    message: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "op": op}
    if target is not None:
        message["target"] = target
    message["args"] = args if args is not None else {}
    if idem is not None:
        message["idem"] = idem
    return message


def ok_reply(request_id: int | str | None, result: Any) -> dict[str, Any]:
    """Build a success reply."""
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}


def error_reply(
    request_id: int | str | None, code: str, message: str, retryable: bool = False
) -> dict[str, Any]:
    """Build an error reply with a stable code and a readable message."""
    return {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "error": {"code": code, "message": message, "retryable": retryable},
    }
