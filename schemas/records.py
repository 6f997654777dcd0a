"""Versioned record types: declared once, encoded with a version header, migrated on read.

A record type has a name and a list of versions; each version lists its fields
(name, kind, default) and, from the second on, a pure function that turns a
record of the previous version into one of this version. Encoded, a record is
a msgpack map whose ``_type`` and ``_v`` keys say what it is; the other keys
are its fields. Decoding checks the header against the expected type (data
never chooses which code runs), refuses versions newer than the code knows,
migrates older ones step by step, and validates the result, naming the field
at fault.

The current version of a record type whose kinds are all built in here is
also compiled into msgspec Structs, so the usual stored record (the current
version, complete, its values plain) is decoded and checked in C; anything
that path does not take goes the check-by-check way, which decides and words
every refusal. A record that passes the compiled fast check is encoded by
msgspec, into the same bytes msgpack would make of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import msgpack
import msgspec

from schemas.plain import PLAIN_ENCODER, PLAIN_VALUE

TYPE_KEY = "_type"
VERSION_KEY = "_v"


class RecordError(ValueError):
    """A record does not match its declared shape; the message names the field."""


class NewerVersionError(RecordError):
    """A record was written by a newer version of its type than this code knows."""

    def __init__(self, type_name: str, found: int, known: int) -> None:
        super().__init__(
            f"{type_name} record version {found} is newer than the newest this Lodestone knows "
            f"({known}); upgrade Lodestone, or restore a backup made before the upgrade"
        )
        self.type_name, self.found, self.known = type_name, found, known


def _unsure(value: Any) -> bool:
    return False


class _Code:
    """Names for the expression of a compiled fast check: constants it uses, and fresh variables."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}
        self._count = 0

    def name(self) -> str:
        self._count += 1
        return f"_{self._count}"

    def const(self, value: Any) -> str:
        name = self.name()
        self.env[name] = value
        return name


# Given the name of a variable, a _Code and an indent, the Python statements that return False from the
# compiled check unless the variable holds a right value (a missing field raises KeyError, caught once).
Block = Callable[[str, _Code, str], list[str]]


@dataclass(frozen=True)
class Kind:
    """What a field holds: a scalar type, a list of a kind, or a nested shape.

    ``check`` raises ``RecordError`` naming the path of what is wrong, filling
    in missing fields that have defaults; ``fast`` only answers whether the
    value is already complete and right, without building a path or changing
    anything. Records are checked on every read and write, so ``fast`` is the
    usual path and ``check`` runs only when it says no. A record shape's
    ``fast`` is compiled, once, into one function from the ``block`` parts of
    its fields' kinds: plain statements, fields read by subscript, loops over
    list items (a call per field, per list item, would cost several times
    more, and one expression with a generator per list nearly twice as
    much); fast checks compare exact types, leaving subclasses (a ``bool``
    where an ``int`` goes) to ``check``.
    """

    label: str
    check: Callable[[Any, str], None]
    fast: Callable[[Any], bool] = _unsure
    block: Block | None = None
    # The msgspec type of a complete, right value (None: no typed path for this kind).
    typed: Any = None


def _block(kind: Kind, var: str, code: _Code, indent: str) -> list[str]:
    if kind.block is not None:
        return kind.block(var, code, indent)
    return [f"{indent}if not {code.const(kind.fast)}({var}): return False"]


def _compiled(kind_block: Block) -> Callable[[Any], bool]:
    code = _Code()
    lines = ["def fast(v):", "    try:", *kind_block("v", code, " " * 8), "    except KeyError:",
             "        return False", "    return True"]
    # The source is built from the declared fields and kinds, never from data.
    exec("\n".join(lines) + "\n", code.env)
    fast: Callable[[Any], bool] = code.env["fast"]
    return fast


def _scalar(label: str, *types: type) -> Kind:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) and bool not in types:
            raise RecordError(f"{path} must be {label}, got a boolean")
        if not isinstance(value, types):
            raise RecordError(f"{path} must be {label}, got {type(value).__name__} {value!r:.40}")

    exact = frozenset(types)

    def block(var: str, code: _Code, indent: str) -> list[str]:
        if len(types) == 1:  # an identity test is quicker than a set lookup
            return [f"{indent}if type({var}) is not {code.const(types[0])}: return False"]
        return [f"{indent}if type({var}) not in {code.const(exact)}: return False"]

    return Kind(label, check, lambda value: type(value) in exact, block, Union[types])  # noqa: UP007


INT = _scalar("an integer", int)
NUMBER = _scalar("a number", int, float)
STR = _scalar("a string", str)
BOOL = _scalar("a boolean", bool)
def _is_plain(value: Any) -> bool:
    """Whether ``value`` is nil, a boolean, a number, a string, bytes, or a list or string-keyed map of those."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _is_plain(item) for key, item in value.items())
    if kind is list:
        return all(map(_is_plain, value))
    return value is None or kind in _PLAIN_SCALARS


_PLAIN_SCALARS = frozenset((bool, int, float, str, bytes))
# The fast check takes only plain values here (any value is right; others are encoded the slow way).
ANY = Kind("any value", lambda value, path: None, _is_plain, None, PLAIN_VALUE)


def list_of(item: Kind) -> Kind:
    """A list whose items are all of ``item``'s kind."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise RecordError(f"{path} must be a list, got {type(value).__name__}")
        for index, element in enumerate(value):
            item.check(element, f"{path}[{index}]")

    def block(var: str, code: _Code, indent: str) -> list[str]:
        element = code.name()
        return [f"{indent}if type({var}) is not list: return False", f"{indent}for {element} in {var}:",
                *_block(item, element, code, indent + "    ")]

    return Kind(f"a list of {item.label}", check, _compiled(block), block,
                None if item.typed is None else list[item.typed])  # type: ignore[name-defined]


def optional(kind: Kind) -> Kind:
    """``kind`` or nil."""

    def check(value: Any, path: str) -> None:
        if value is not None:
            kind.check(value, path)

    def block(var: str, code: _Code, indent: str) -> list[str]:
        return [f"{indent}if {var} is not None:", *_block(kind, var, code, indent + "    ")]

    return Kind(f"{kind.label} or nil", check, lambda value: value is None or kind.fast(value), block,
                None if kind.typed is None else Union[kind.typed, None])  # noqa: UP007


@dataclass(frozen=True)
class Field:
    """One field: its name, its kind, and a default factory (absent: the field is required)."""

    name: str
    kind: Kind
    default: Callable[[], Any] | None = None


def shape(*fields: Field) -> Kind:
    """A nested map with exactly these fields (missing ones take their defaults)."""

    def check(value: Any, path: str) -> None:
        _check_fields(fields, value, path)

    def block(var: str, code: _Code, indent: str) -> list[str]:
        # As many keys as fields, each present (else KeyError) and right: then no key is unknown.
        lines = [f"{indent}if type({var}) is not dict or len({var}) != {len(fields)}: return False"]
        for f in fields:
            value = code.name()
            lines += [f"{indent}{value} = {var}[{f.name!r}]", *_block(f.kind, value, code, indent)]
        return lines

    return Kind("a map of " + ", ".join(f.name for f in fields), check, _compiled(block), block,
                _struct(fields))


def _struct(fields: Sequence[Field], header: Sequence[tuple[str, Any, Any]] = ()) -> Any:
    """A msgspec Struct of exactly these fields, all required (None if a field's kind has no type)."""
    if any(f.kind.typed is None for f in fields):
        return None
    spec = [*header, *((f"f{index}", f.kind.typed, msgspec.field(name=f.name)) for index, f in enumerate(fields))]
    return msgspec.defstruct("Shape", spec, forbid_unknown_fields=True)


def _check_fields(fields: Sequence[Field], value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise RecordError(f"{path or 'the record'} must be a map, got {type(value).__name__}")
    known = {f.name for f in fields}
    unknown = [key for key in value if key not in known]
    if unknown:
        raise RecordError(f"{path + '.' if path else ''}{unknown[0]!s} is not a field of {path or 'this record'}")
    for f in fields:
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in value:
            if f.default is None:
                raise RecordError(f"{where} is missing")
            value[f.name] = f.default()
        f.kind.check(value[f.name], where)


@dataclass(frozen=True)
class Version:
    """One version of a record type: its fields, and how a record of the previous version becomes one."""

    number: int
    fields: tuple[Field, ...]
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class _Typed:
    """The current version of a record type as a msgspec Struct: decoded and checked in C."""

    decoder: msgspec.msgpack.Decoder[Any]  # a whole record, header included

    @classmethod
    def of(cls, name: str, version: Version) -> _Typed | None:
        header = [("type_", Literal[name], msgspec.field(name=TYPE_KEY)),
                  ("version_", Literal[version.number], msgspec.field(name=VERSION_KEY))]
        record = _struct(version.fields, header)
        return None if record is None else cls(msgspec.msgpack.Decoder(record))

    def decode(self, data: bytes) -> dict[str, Any] | None:
        """The fields of a complete current record in ``data``; ``None`` if it is anything else."""
        try:
            fields: dict[str, Any] = msgspec.to_builtins(self.decoder.decode(data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        del fields[TYPE_KEY], fields[VERSION_KEY]
        return fields


@dataclass(frozen=True)
class RecordType:
    """A named, versioned record type; see the module docstring."""

    name: str
    versions: tuple[Version, ...] = field(default_factory=tuple)
    _current_is_complete: Callable[[Any], bool] = field(init=False, repr=False, compare=False, default=_unsure)
    _typed: _Typed | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        numbers = [version.number for version in self.versions]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"{self.name}: versions must be numbered 1, 2, ... in order, got {numbers}")
        if any(version.upgrade is None for version in self.versions[1:]):
            raise ValueError(f"{self.name}: every version after the first needs an upgrade function")
        if self.versions:
            object.__setattr__(self, "_current_is_complete", shape(*self.versions[-1].fields).fast)
            object.__setattr__(self, "_typed", _Typed.of(self.name, self.versions[-1]))

    @property
    def current(self) -> int:
        return len(self.versions)

    def validate(self, value: Mapping[str, Any], version: int | None = None) -> dict[str, Any]:
        """A copy of ``value`` checked against ``version`` (default: current), defaults filled in."""
        checked: dict[str, Any] = _deep_copy(dict(value))
        _check_fields(self.versions[(version or self.current) - 1].fields, checked, "")
        return checked

    def encode(self, value: Mapping[str, Any], version: int | None = None) -> bytes:
        """msgpack bytes of ``value`` as ``version`` (default: current), header first."""
        number = version or self.current
        if number == self.current and self._current_is_complete(value):
            record = {TYPE_KEY: self.name, VERSION_KEY: number, **value}
            try:  # plain values, checked: msgspec makes msgpack's bytes, in a third of the time
                return PLAIN_ENCODER.encode(record)
            except (OverflowError, msgspec.EncodeError):
                return msgpack.packb(record, use_bin_type=True)  # type: ignore[no-any-return]  # it words the error
        return self.encode_checked(value, version)

    def encode_checked(self, value: Mapping[str, Any], version: int | None = None) -> bytes:
        """:meth:`encode` the check-by-check way, the source of every refusal."""
        number = version or self.current
        checked = self.validate(value, number)
        return msgpack.packb({TYPE_KEY: self.name, VERSION_KEY: number, **checked}, use_bin_type=True)  # type: ignore[no-any-return]

    def read_version(self, data: bytes) -> tuple[int, dict[str, Any]]:
        """``(version, fields)`` as stored, header checked, not migrated nor validated."""
        try:
            raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, msgpack.ExtraData) as exc:
            raise RecordError(f"a {self.name} record is not valid msgpack: {exc}") from exc
        return self._split(raw)

    def from_value(self, value: Any) -> dict[str, Any]:
        """The record in ``value``, an already decoded map (as ``storage.list`` returns), at the current version."""
        version, fields = self._split(dict(value) if isinstance(value, dict) else value)
        return self._current(fields, version)

    def _current(self, fields: dict[str, Any], version: int) -> dict[str, Any]:
        """``fields`` (freshly decoded, not shared) at the current version: as they are when already right."""
        if version == self.current and self._current_is_complete(fields):
            return fields
        return self.upgrade(fields, version)

    def _split(self, raw: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(raw, dict) or raw.get(TYPE_KEY) != self.name:
            found = raw.get(TYPE_KEY) if isinstance(raw, dict) else type(raw).__name__
            raise RecordError(f"expected a {self.name} record, found {found!r:.60}")
        version = raw.pop(VERSION_KEY, None)
        raw.pop(TYPE_KEY)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise RecordError(f"a {self.name} record has no valid version ({VERSION_KEY})")
        if version > self.current:
            raise NewerVersionError(self.name, version, self.current)
        return version, raw

    def upgrade(self, fields: dict[str, Any], version: int) -> dict[str, Any]:
        """Migrate ``fields`` of ``version`` to the current version, one step at a time, validating each."""
        value = self.validate(fields, version)
        for step in self.versions[version:]:
            assert step.upgrade is not None
            value = self.validate(step.upgrade(_deep_copy(value)), step.number)
        return value

    def decode(self, data: bytes) -> dict[str, Any]:
        """The record in ``data`` at the current version (migrated if older)."""
        if self._typed is not None:
            fields = self._typed.decode(data)
            if fields is not None:
                return fields
        return self.decode_checked(data)

    def decode_checked(self, data: bytes) -> dict[str, Any]:
        """:meth:`decode` the check-by-check way, the source of every refusal."""
        version, fields = self.read_version(data)
        return self._current(fields, version)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy(item) for item in value]
    return value
