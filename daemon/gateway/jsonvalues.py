"""msgpack values as JSON and back, for ``POST /v1/call``.

JSON has no bytes, extension types or non-finite floats, so they travel as
one-key objects: ``{"$bytes": "<hex>"}`` (as the ``lodestone`` command prints
them), ``{"$ext": {"type": int, "data": "<hex>"}}`` and
``{"$float": "NaN" | "Infinity" | "-Infinity"}``. Map keys that are not
strings (bytes) become their hex. Integers stay exact, which JavaScript's
numbers are not past 2**53.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_json(value: Any) -> Any:
    """A decoded msgpack value as plain JSON data."""
    if isinstance(value, dict):
        return {_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, msgpack.ExtType):  # a named tuple: before the tuples
        return {"$ext": {"type": value.code, "data": value.data.hex()}}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, msgpack.Timestamp):
        return {"$ext": {"type": -1, "data": value.to_bytes().hex()}}
    return value


def from_json(value: Any) -> Any:
    """JSON data as the msgpack value it stands for (the inverse of :func:`to_json`).

    Raises ``ValueError`` on a malformed ``$bytes``, ``$ext`` or ``$float`` object.
    """
    if isinstance(value, dict):
        if len(value) == 1:
            (key, item), = value.items()
            if key == "$bytes":
                if not isinstance(item, str):
                    raise ValueError('{"$bytes": ...} takes a string of hex digits')
                return bytes.fromhex(item)
            if key == "$ext":
                if not isinstance(item, dict) or not isinstance(item.get("type"), int) or not isinstance(
                        item.get("data"), str):
                    raise ValueError('{"$ext": ...} takes {"type": int, "data": hex}')
                data = bytes.fromhex(item["data"])
                if item["type"] == -1:
                    return msgpack.Timestamp.from_bytes(data)
                return msgpack.ExtType(item["type"], data)
            if key == "$float":
                if item not in _NON_FINITE:
                    raise ValueError('{"$float": ...} takes "NaN", "Infinity" or "-Infinity"')
                return _NON_FINITE[item]
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """A decoded msgpack value as JSON text."""
    return json.dumps(to_json(value), ensure_ascii=False, allow_nan=False)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.hex()
    return str(key)
