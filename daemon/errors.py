"""Lodestone's error hierarchy and the one function that maps errors to the wire.

Every error a client can see is a :class:`LodestoneError` with a stable code
from :class:`schemas.wire.ErrorCode`. Library errors (LMDB, msgpack) are wrapped
where they are caught, with ``raise ... from exc``.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Iterable
from typing import Any

from schemas.wire import ErrorCode, error_reply

log = logging.getLogger(__name__)

# An error message quotes what the client sent, never all of it: a request may hold a million
# keys or a 16 MiB string, and its error reply must stay small and cheap to build.
MAX_MESSAGE_CHARS = 1024
MOST_NAMED = 5
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlong = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = MOST_NAMED
_SHORT.maxlevel = 2


def shown(value: object) -> str:
    """``repr(value)`` cut short (strings, numbers, the first few items, two levels); costs the same however big."""
    return _SHORT.repr(value)


def some(names: Iterable[object], most: int = MOST_NAMED) -> str:
    """The first ``most`` of ``names`` (each cut short), then "and N more": what an error message lists."""
    shown_names: list[str] = []
    more = 0
    for name in names:
        if len(shown_names) < most:
            shown_names.append(name[:60] if isinstance(name, str) else shown(name))
        else:
            more += 1
    return ", ".join(shown_names) + (f" and {more} more" if more else "")


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


class DiskFull(StorageError):
    """The disk holding the data is full: nothing more can be written until space is freed."""


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


class NoSpaceToStart(OSError):
    """The disk holding the data directory has too little free space to open the data; start is refused."""


# How the OS says a write did not reach the disk; LMDB reports a short write (a full disk) as EIO.
_WRITE_FAILURES = ("No space left on device", "Input/output error", "Disk quota exceeded", "File too large")


def storage_failure(exc: StorageError) -> Unavailable:
    """The ``UNAVAILABLE`` error a cycle's requests get when storage failed with ``exc``: what happened, what to do."""
    text = str(exc)
    if any(failure in text for failure in _WRITE_FAILURES):
        return Unavailable(
            f"the write did not reach the disk ({text[:200]}): the disk holding the data directory is "
            "probably full (or failing); nothing was written. Free space there (df -h), then retry"
        )
    return Unavailable(f"storage failed: {text[:200]}; nothing was written")


def to_wire(request_id: int | str | None, exc: BaseException) -> dict[str, Any]:
    """Map any exception raised while serving a request to an error reply.

    Lodestone errors keep their code and message. Anything else is a bug: it is
    logged with its traceback and reported as ``INTERNAL`` without internals.
    """
    if isinstance(exc, LodestoneError):
        message = str(exc)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS - 20] + f"... ({len(message)} characters)"
        return error_reply(request_id, exc.code.value, message, exc.retryable)
    log.error("internal error serving request %r", request_id, exc_info=exc)
    return error_reply(
        request_id,
        ErrorCode.INTERNAL.value,
        f"internal error ({type(exc).__name__}); the daemon log has the details",
        False,
    )
