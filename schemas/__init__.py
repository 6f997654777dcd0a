"""Lodestone's versioned msgpack schemas: the wire envelope and its test vectors.

This package imports nothing else of Lodestone's, so both the daemon and the
clients in ``bridge`` can depend on it.
"""

from __future__ import annotations

from schemas.wire import (
    ERROR_CODES,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    ErrorCode,
    decode,
    encode,
    error_reply,
    ok_reply,
    request,
)

__all__ = [
    "ERROR_CODES",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "ErrorCode",
    "decode",
    "encode",
    "error_reply",
    "ok_reply",
    "request",
]
