"""Checking what the built-in classes are given: op arguments and class options.

Every refusal names the field: an op argument earns a ``BAD_REQUEST`` that
starts with the op (``Agent.damage: amount must be a positive number, got -3``),
a class option a ``ConfigError`` naming its table and key. An argument sent
as nil counts as absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from daemon.errors import BadRequest, ConfigError, shown, some

_MISSING: Any = object()
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME_BYTES = 512
MAX_ITEMS = 128


_NUMBER_TYPES = (int, float)


def _is_number(value: Any) -> bool:
    # type(), not isinstance(): True is an int to isinstance, never a number here.
    return type(value) in _NUMBER_TYPES and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return type(value) is int


def check_name(value: Any, what: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """``value`` if it is a non-empty string of at most ``max_bytes`` without control characters."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{what} must be a non-empty string, got {shown(value)}")
    if len(value.encode()) > max_bytes:
        raise BadRequest(f"{what} is over {max_bytes} UTF-8 bytes")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise BadRequest(f"{what} must not contain control characters, got {shown(value)}")
    return value


class Args:
    """An op's arguments; each accessor returns a checked value or raises ``BadRequest``."""

    def __init__(self, op: str, args: Mapping[str, Any], *allowed: str) -> None:
        for key in args:  # a plain loop: any() over a generator costs twice as much, on every class op
            if key not in allowed:
                unknown = (key for key in args if key not in allowed)
                takes = ", ".join(allowed) or "no arguments"
                raise BadRequest(f"{op} does not take {some(unknown)}; it takes {takes}")
        self.op = op
        self._args = args

    def has(self, name: str) -> bool:
        return self._args.get(name) is not None

    def _raw(self, name: str, default: Any) -> Any:
        value = self._args.get(name)
        if value is None:
            if default is _MISSING:
                raise BadRequest(f"{self.op} needs {name}")
            return default
        return value

    def fail(self, message: str) -> BadRequest:
        return BadRequest(f"{self.op}: {message}")

    def value(self, name: str, default: Any = _MISSING) -> Any:
        """Any msgpack value."""
        return self._raw(name, default)

    def name(self, name: str, default: Any = _MISSING, max_bytes: int = MAX_NAME_BYTES) -> str:
        """A non-empty string without control characters, at most ``max_bytes`` UTF-8 bytes."""
        value = self._raw(name, default)
        return value if value is default else check_name(value, f"{self.op}: {name}", max_bytes)

    def text(self, name: str, default: Any = _MISSING, max_chars: int = 4096) -> str:
        """Any string of at most ``max_chars`` characters."""
        value = self._raw(name, default)
        if not isinstance(value, str) or len(value) > max_chars:
            raise self.fail(f"{name} must be a string of at most {max_chars} characters, got {shown(value)}")
        return value

    def token(self, name: str, default: Any = _MISSING) -> str:
        """1-64 letters, digits, ``_`` or ``-`` (it goes into topics and keys)."""
        value = self._raw(name, default)
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise self.fail(f"{name} must be 1-64 letters, digits, _ or -, got {shown(value)}")
        return value

    def choice(self, name: str, choices: Iterable[str], default: Any = _MISSING) -> str:
        options = tuple(choices)
        value = self._raw(name, default)
        if value not in options:
            raise self.fail(f"{name} must be one of {', '.join(options)}, got {shown(value)}")
        return str(value)

    def number(self, name: str, default: Any = _MISSING, *, positive: bool = False) -> float:
        """A finite number (integer or float, not a boolean); ``positive``: above zero."""
        value = self._raw(name, default)
        if not _is_number(value) or (positive and value <= 0):
            kind = "a positive number" if positive else "a finite number"
            raise self.fail(f"{name} must be {kind}, got {shown(value)}")
        return value  # type: ignore[no-any-return]

    def integer(self, name: str, default: Any = _MISSING, *, minimum: int = 0, maximum: int = 2**53) -> int:
        value = self._raw(name, default)
        if not _is_int(value) or not minimum <= value <= maximum:
            raise self.fail(f"{name} must be an integer from {minimum} to {maximum}, got {shown(value)}")
        return value  # type: ignore[no-any-return]

    def limit(self, default: int, maximum: int) -> int:
        return self.integer("limit", default, minimum=1, maximum=maximum)

    def position(self, name: str, default: Any = _MISSING) -> dict[str, float]:
        """A map ``{x, y, z}`` of finite numbers."""
        value = self._raw(name, default)
        if not isinstance(value, dict) or set(value) != {"x", "y", "z"} or not all(map(_is_number, value.values())):
            raise self.fail(f"{name} must be a map {{x, y, z}} of finite numbers, got {shown(value)}")
        return {"x": value["x"], "y": value["y"], "z": value["z"]}

    def point(self) -> dict[str, float]:
        """The arguments ``x``, ``y`` and ``z``, finite numbers."""
        get = self._args.get
        x: Any = get("x")
        y: Any = get("y")
        z: Any = get("z")
        if _is_number(x) and _is_number(y) and _is_number(z):  # the usual case, 20 times a second per agent
            return {"x": x, "y": y, "z": z}
        return {axis: self.number(axis) for axis in ("x", "y", "z")}

    def items(self, name: str, *, allow_empty: bool = False) -> list[dict[str, Any]]:
        """A list of ``{type, count}`` (count a positive integer), merged by type, in first-seen order."""
        value = self._raw(name, [] if allow_empty else _MISSING)
        if not isinstance(value, list) or len(value) > MAX_ITEMS or (not value and not allow_empty):
            raise self.fail(f"{name} must be a list of 1 to {MAX_ITEMS} {{type, count}} maps")
        merged: dict[str, int] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"type", "count"}:
                raise self.fail(f"{name}[{index}] must be a map {{type, count}}, got {shown(item)}")
            check_name(item["type"], f"{self.op}: {name}[{index}].type", 128)
            count = item["count"]
            if not _is_int(count) or not 0 < count <= 2**31:
                raise self.fail(f"{name}[{index}].count must be a positive integer, got {shown(count)}")
            merged[item["type"]] = merged.get(item["type"], 0) + count
        return [{"type": kind, "count": count} for kind, count in merged.items()]


class Options:
    """A class's options from ``[classes.options.<Class>]``; a bad one raises ``ConfigError``."""

    def __init__(self, class_name: str, options: Mapping[str, Any], *known: str) -> None:
        self._where = f"[classes.options.{class_name}]"
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"{self._where} has no option {', '.join(unknown)}; its options are {', '.join(known)}")
        self._options = options

    def number(self, key: str, default: float) -> float:
        value = self._options.get(key, default)
        if not _is_number(value) or value <= 0:
            raise ConfigError(f"{self._where} {key} must be a positive number, got {value!r}")
        return value  # type: ignore[no-any-return]

    def integer(self, key: str, default: int) -> int:
        value = self._options.get(key, default)
        if not _is_int(value) or value < 1:
            raise ConfigError(f"{self._where} {key} must be a positive integer, got {value!r}")
        return value  # type: ignore[no-any-return]

    def name(self, key: str, default: str, *, allow_empty: bool = False) -> str:
        value = self._options.get(key, default)
        if value == "" and allow_empty:
            return ""
        try:
            return check_name(value, key)
        except BadRequest as exc:
            raise ConfigError(f"{self._where} {exc}") from exc

    def position(self, key: str, default: Mapping[str, float]) -> dict[str, float]:
        value = self._options.get(key, default)
        if not isinstance(value, Mapping) or set(value) != {"x", "y", "z"} or not all(map(_is_number, value.values())):
            raise ConfigError(f"{self._where} {key} must be a table {{x, y, z}} of numbers, got {value!r}")
        return {"x": value["x"], "y": value["y"], "z": value["z"]}
