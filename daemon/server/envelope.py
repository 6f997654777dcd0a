"""Turning a request frame into a :class:`Request`, or into the error reply it earns."""

from __future__ import annotations

from typing import Any, TypeGuard

from daemon.model import Request
from daemon.server.depth import frame_too_deep, refusal_text
from daemon.server.typed_envelope import MAX_IDEM_BYTES, MAX_REQUEST_ID_CHARS, typed_request
from schemas.wire import SUPPORTED_VERSIONS, ErrorCode, decode, error_reply

_MIN_ID, _MAX_ID = -(2**63), 2**64


def parse(body: bytes, max_frame_bytes: int, *, fast: bool = True) -> Request | dict[str, Any]:
    """Return the request in ``body``, or the error reply to send instead.

    A body over ``max_frame_bytes`` is refused before it is decoded. The error
    reply carries the request id whenever it could be read. The usual request
    is decoded and checked in C (:mod:`daemon.server.typed_envelope`); what
    that does not take, and every request when ``fast`` is false, goes the
    check-by-check way below, the source of every refusal.
    """
    if len(body) > max_frame_bytes:
        return error_reply(
            None,
            ErrorCode.TOO_LARGE,
            f"request frame is {len(body)} bytes; the limit is {max_frame_bytes} "
            "(max_frame_bytes); it was not decoded",
        )
    if fast:
        typed = typed_request(body)
        if typed is not None:
            return typed
    try:
        message = decode(body)
    except Exception as exc:  # msgpack raises several unrelated types on bad bytes
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return error_reply(None, ErrorCode.BAD_REQUEST, f"request is not valid msgpack ({detail})")
    if frame_too_deep(body, message):
        request_id = message.get("id") if type(message) is dict else None
        return error_reply(request_id if _good_id(request_id) else None, ErrorCode.BAD_REQUEST, refusal_text())
    # The common case, checked in one pass; anything it does not accept is sorted out by _refusal.
    if type(message) is dict:
        request_id, op, args, idem = message.get("id"), message.get("op"), message.get("args", {}), message.get("idem")
        if (
            _good_id(request_id)
            and type(message.get("v")) is int and message["v"] in SUPPORTED_VERSIONS
            and type(op) is str and op
            and type(args) is dict and _str_keys(args)
            and (idem is None or _good_idem(idem))
            and type(message.get("readonly", False)) is bool
        ):
            return Request(request_id, op, message.get("target"), args, idem, message.get("readonly") is True)
    refusal = _refusal(message)
    if refusal is not None:
        return refusal
    return Request(message["id"], message["op"], message.get("target"), message.get("args", {}), message.get("idem"),
                   message.get("readonly") is True)


def _good_id(request_id: object) -> TypeGuard[int | str]:
    if type(request_id) is int:
        return _MIN_ID <= request_id < _MAX_ID
    return type(request_id) is str and len(request_id) <= MAX_REQUEST_ID_CHARS


def _good_idem(idem: object) -> bool:
    return type(idem) is str and idem != "" and len(idem.encode()) <= MAX_IDEM_BYTES


def _str_keys(args: dict[Any, Any]) -> bool:
    return all(type(key) is str for key in args)


def _refusal(message: Any) -> dict[str, Any] | None:
    """The error reply a decoded request earns, check by check; ``None`` if it is well formed."""
    if not isinstance(message, dict):
        return error_reply(
            None, ErrorCode.BAD_REQUEST, f"request must be a msgpack map, got {type(message).__name__}"
        )
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return error_reply(None, ErrorCode.BAD_REQUEST, "request needs an id (an integer or a string)")
    if isinstance(request_id, str) and len(request_id) > MAX_REQUEST_ID_CHARS:
        return error_reply(
            None, ErrorCode.BAD_REQUEST, f"request id is over {MAX_REQUEST_ID_CHARS} characters"
        )
    if isinstance(request_id, int) and not _MIN_ID <= request_id < _MAX_ID:
        return error_reply(None, ErrorCode.BAD_REQUEST, "request id is out of the 64-bit range")

    def bad(code: ErrorCode, text: str) -> dict[str, Any]:
        return error_reply(request_id, code, text)

    version = message.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
        return bad(ErrorCode.BAD_REQUEST, "request needs v, the protocol version (an integer)")
    if version not in SUPPORTED_VERSIONS:
        speaks = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        return bad(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported; this daemon speaks version {speaks}",
        )
    op = message.get("op")
    if not isinstance(op, str) or not op:
        return bad(ErrorCode.BAD_REQUEST, "request needs op, a non-empty string")
    args = message.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        return bad(ErrorCode.BAD_REQUEST, "args must be a map with string keys")
    idem = message.get("idem")
    if idem is not None and (
        not isinstance(idem, str) or not idem or len(idem.encode()) > MAX_IDEM_BYTES
    ):
        return bad(
            ErrorCode.BAD_REQUEST, f"idem must be a non-empty string of at most {MAX_IDEM_BYTES} bytes"
        )
    if type(message.get("readonly", False)) is not bool:
        return bad(ErrorCode.BAD_REQUEST, "readonly must be true or false")
    return None
