"""Typed exceptions for the wire error codes, so callers catch what they can handle."""

from __future__ import annotations

from typing import Any

from schemas.wire import ErrorCode


class LodestoneError(Exception):
    """An error reply from the daemon, or a client-side failure with a wire code."""

    code: str = ErrorCode.INTERNAL.value

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.retryable = retryable


class BadRequest(LodestoneError):
    code = ErrorCode.BAD_REQUEST.value


class UnsupportedVersion(LodestoneError):
    code = ErrorCode.UNSUPPORTED_VERSION.value


class UnknownOp(LodestoneError):
    code = ErrorCode.UNKNOWN_OP.value


class InvalidId(LodestoneError):
    code = ErrorCode.INVALID_ID.value


class NotFound(LodestoneError):
    code = ErrorCode.NOT_FOUND.value


class TooLarge(LodestoneError):
    code = ErrorCode.TOO_LARGE.value


class Conflict(LodestoneError):
    code = ErrorCode.CONFLICT.value


class Unavailable(LodestoneError):
    code = ErrorCode.UNAVAILABLE.value


class Timeout(LodestoneError):
    """No reply within the timeout, after every retry."""

    code = ErrorCode.TIMEOUT.value


class Internal(LodestoneError):
    code = ErrorCode.INTERNAL.value


_BY_CODE: dict[str, type[LodestoneError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        UnsupportedVersion,
        UnknownOp,
        InvalidId,
        NotFound,
        TooLarge,
        Conflict,
        Unavailable,
        Timeout,
        Internal,
    )
}


def error_from_reply(error: Any) -> LodestoneError:
    """The exception for a reply's ``error`` map; unknown codes keep their code."""
    if not isinstance(error, dict):
        return Internal(f"malformed error reply: {error!r}")
    code = str(error.get("code", ErrorCode.INTERNAL.value))
    cls = _BY_CODE.get(code, LodestoneError)
    return cls(str(error.get("message", "")), code=code, retryable=bool(error.get("retryable")))
