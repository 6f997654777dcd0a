"""How deeply a request may nest maps and arrays: one limit, checked once per request frame.

msgpack decodes frames nested up to 1,024 levels, and its encoder refuses
values nested past that. A value stored at 1,000 levels and later read back
inside a reply (wrapped in a few more levels) could not be encoded at all, so
the limit is applied where every request comes in, far below msgpack's:
:data:`MAX_DEPTH` levels, the request map itself being the first. An
argument's value can therefore nest ``MAX_DEPTH - 2`` levels (the request map
and its ``args`` map hold it), and whatever a reply wraps around a stored
value stays far from msgpack's limit.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64
# The first byte of every msgpack map or array header: fixmap, fixarray, array 16/32, map 16/32.
_CONTAINER_BYTES = bytes(range(0x80, 0xA0)) + bytes(range(0xDC, 0xE0))
_OTHER_BYTES = bytes(byte for byte in range(256) if byte not in _CONTAINER_BYTES)
# Frames up to this size are counted first: most requests are small and hold few containers.
_COUNT_BYTES = 4096
_CONTAINERS = (dict, list)


def frame_too_deep(body: bytes, message: Any) -> bool:
    """Whether the request ``message``, decoded from ``body``, nests past :data:`MAX_DEPTH`.

    Each level of nesting takes a map or array header byte, so a small frame with no more
    such bytes than the limit (counted in one pass in C) is not walked at all.
    """
    if len(body) <= _COUNT_BYTES and len(body.translate(None, _OTHER_BYTES)) <= MAX_DEPTH:
        return False
    return too_deep(message)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests maps and arrays more than ``limit`` levels deep (a scalar is level 0)."""
    if type(value) not in _CONTAINERS:
        return False
    return limit < 1 or _deeper(value, limit - 1)


def _deeper(container: Any, budget: int) -> bool:
    """Whether a container inside ``container`` nests more than ``budget`` levels deep."""
    for value in container.values() if type(container) is dict else container:
        if type(value) in _CONTAINERS and (not budget or _deeper(value, budget - 1)):
            return True
    return False


def refusal_text(limit: int = MAX_DEPTH) -> str:
    """The message of the ``BAD_REQUEST`` a request nested too deeply gets."""
    return (
        f"request nests maps and arrays more than {limit} levels deep (the request map is the first); "
        f"the limit is {limit} levels: flatten the value"
    )
