"""Plain msgpack values as a msgspec type, for the paths that decode and check in C.

A plain value is nil, a boolean, an integer, a float, a string, or a list or
a string-keyed map of plain values. msgspec decodes a value of
:data:`PLAIN_VALUE` (at most :data:`PLAIN_DEPTH` lists and maps deep) into
exactly the Python objects ``msgpack.unpackb`` makes of it, and refuses
anything else (binary data, which one msgspec union cannot hold beside
strings; extension types; keys that are not strings; deeper nesting), which
the callers then hand to their check-by-check path.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

PLAIN_DEPTH = 6


def plain_value_type(depth: int) -> Any:
    """The msgspec type of a plain value at most ``depth`` lists and maps deep."""
    scalar: Any = Union[None, bool, int, float, str]  # noqa: UP007 (a runtime type, not an annotation)
    value: Any = scalar
    for _ in range(depth):
        value = Union[scalar, list[value], dict[str, value]]  # noqa: UP007
    return value


PLAIN_VALUE: Any = plain_value_type(PLAIN_DEPTH)
# Encodes a plain value into exactly the bytes ``msgpack.packb`` makes of it, sooner; one instance, so
# every path that stores or pre-encodes a plain value makes the same bytes by construction.
PLAIN_ENCODER = msgspec.msgpack.Encoder()
