"""Lodestone's error hierarchy and the one function that maps errors to the wire.

Every error a client can see is a :class:`LodestoneError` with a stable code
from :class:`schemas.wire.ErrorCode`. Library errors (LMDB, msgpack) are wrapped
where they are caught, with ``raise ... from exc``.
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.wire import ErrorCode, error_reply

log = logging.getLogger(__name__)


class LodestoneError(Exception):
    """Base class: an error with a stable wire code and a readable message."""

    code: ErrorCode = ErrorCode.INTERNAL
    retryable: bool = False


class BadRequest(LodestoneError):
    """The request is malformed: wrong types, missing fields, bad options."""

    code = ErrorCode.BAD_REQUEST


class UnsupportedVersion(LodestoneError):
    """The envelope's protocol version is not one this daemon speaks."""

    code = ErrorCode.UNSUPPORTED_VERSION


class UnknownOp(LodestoneError):
    """The op name is not one this daemon knows."""

    code = ErrorCode.UNKNOWN_OP


class InvalidId(LodestoneError):
    """An object id is malformed or was not made by this deployment for this class."""

    code = ErrorCode.INVALID_ID


class NotFound(LodestoneError):
    """The thing named does not exist (or the class is not declared)."""

    code = ErrorCode.NOT_FOUND


class TooLarge(LodestoneError):
    """A key, value, batch or frame is over its limit; nothing was written."""

    code = ErrorCode.TOO_LARGE


class Conflict(LodestoneError):
    """A transaction's precondition did not hold; nothing was written."""

    code = ErrorCode.CONFLICT


class Forbidden(LodestoneError):
    """The request may not do this: a read-only request asked for an op that writes."""

    code = ErrorCode.FORBIDDEN


class BadData(LodestoneError):
    """Stored data cannot be read: damaged, or written by a newer Lodestone."""

    code = ErrorCode.INTERNAL


class Unavailable(LodestoneError):
    """The daemon cannot take the request now (shutting down, full); retry later."""

    code = ErrorCode.UNAVAILABLE
    retryable = True


class StorageError(Exception):
    """LMDB failed under a cycle; the storage layer wraps it so no other layer imports ``lmdb``."""


class MapFull(StorageError):
    """The data map is full: grow it and run the cycle again."""


class HandlesFull(StorageError):
    """The environment has no room for another object sub-database: reopen it bigger and run again."""


class NeedsWrite(StorageError):
    """A cycle begun on a read transaction (all its requests read) was asked to write: run it again on a write one."""


class ConfigError(Exception):
    """The configuration is invalid; the daemon refuses to start."""


class DataTooNew(Exception):
    """The data directory holds data written by a newer Lodestone; the daemon refuses to start."""


class DataDamaged(Exception):
    """A file of the data directory (the secret, a key) is damaged; the daemon refuses to start."""


class DataDirLocked(Exception):
    """Another process holds the data directory."""


def to_wire(request_id: int | str | None, exc: BaseException) -> dict[str, Any]:
    """Map any exception raised while serving a request to an error reply.

    Lodestone errors keep their code and message. Anything else is a bug: it is
    logged with its traceback and reported as ``INTERNAL`` without internals.
    """
    if isinstance(exc, LodestoneError):
        return error_reply(request_id, exc.code.value, str(exc), exc.retryable)
    log.error("internal error serving request %r", request_id, exc_info=exc)
    return error_reply(
        request_id,
        ErrorCode.INTERNAL.value,
        f"internal error ({type(exc).__name__}); the daemon log has the details",
        False,
    )
