"""Object classes with behaviour, and how the daemon finds them.

A class name with no behaviour is a plain storage class: its objects offer
the storage API and nothing else. A class with behaviour subclasses
:class:`ObjectClass`; the daemon loads the modules named in the config
(``[classes] modules``), each of which lists its classes in ``CLASSES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from daemon.errors import BadRequest, ConfigError
from daemon.ids import check_class_name
from daemon.model import ObjectRef
from daemon.runtime.object_storage import ObjectStorage
from schemas.records import RecordType


@dataclass(frozen=True)
class AlarmInfo:
    """What an alarm handler learns about the alarm it is handling."""

    scheduled_ms: int
    retry_count: int

    @property
    def is_retry(self) -> bool:
        return self.retry_count > 0


class Calls(Protocol):
    """What a turn uses to reach other objects and the change stream (the runtime provides it)."""

    def call(self, target: ObjectRef, method: str, args: dict[str, Any]) -> Any: ...

    def ref(self, class_name: str, name: str) -> ObjectRef: ...

    def publish(self, topic: str, body: dict[str, Any]) -> None: ...


class Turn:
    """One turn of one object, as a handler sees it (read its attributes; do not set them).

    ``storage`` is the object's storage API; :meth:`call` runs a method of
    another object inside this turn (its writes commit with this turn's, or
    not at all); :meth:`publish` sends a notice on the PUB socket once the
    turn has committed.
    """

    # A plain class with slots, not a frozen dataclass: one is made per turn, and a frozen
    # dataclass's __init__ costs several times more.
    __slots__ = ("calls", "now_ms", "ref", "storage")

    def __init__(self, ref: ObjectRef, storage: ObjectStorage, now_ms: int, calls: Calls) -> None:
        self.ref = ref
        self.storage = storage
        self.now_ms = now_ms
        self.calls = calls

    def __repr__(self) -> str:
        return f"Turn(ref={self.ref!r}, now_ms={self.now_ms})"

    def call(self, class_name: str, name: str, method: str, **args: Any) -> Any:
        """Call ``method`` of the object ``name`` of ``class_name``, as part of this turn."""
        return self.calls.call(self.calls.ref(class_name, name), method, args)

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        """Publish ``body`` under ``topic`` after this turn commits (never if it fails)."""
        self.calls.publish(topic, body)


OpMethod = Callable[[Any, Turn, dict[str, Any]], Any]


def op(name: str | None = None, *, writes: bool = True) -> Callable[[OpMethod], OpMethod]:
    """Mark a method of an :class:`ObjectClass` as the wire op ``<Class>.<name>``.

    The method takes ``(self, turn, args)`` and returns the op's result (any
    msgpack value). ``writes=False`` marks a read: it takes no idempotency key.
    """

    def mark(method: OpMethod) -> OpMethod:
        method.__lodestone_op__ = (name or method.__name__, writes)  # type: ignore[attr-defined]
        return method

    return mark


class ObjectClass:
    """Base of object classes with behaviour.

    Subclasses set ``name``; mark their ops with :func:`op`; may map keys to
    the record types stored under them in ``records`` (``lodestone migrate``
    upgrades those); and may override :meth:`on_alarm`. A handler's writes
    (through ``turn.storage``, and those of the objects it calls) commit
    together when the turn finishes; if it raises, none of them is kept.

    An instance is the object's in-memory form: made on first use with the
    object's ref and the class's options from the config, kept while the
    object is busy, dropped when idle or when a turn on it fails (then
    rebuilt from storage). Keep in it only what storage can rebuild.
    """

    name: ClassVar[str] = ""
    records: ClassVar[Mapping[str, RecordType]] = {}
    ops: ClassVar[dict[str, tuple[str, bool]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = dict(cls.ops)
        for attribute, value in vars(cls).items():
            marked = getattr(value, "__lodestone_op__", None)
            if marked is not None:
                found[marked[0]] = (attribute, marked[1])
        cls.ops = found

    def __init__(self, ref: ObjectRef, options: Mapping[str, Any]) -> None:
        self.ref = ref
        self.options = options

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ``ConfigError`` naming the option at fault if ``options`` (its config table) is bad.

        The default takes any options; the daemon checks them at start, before serving.
        """

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        """Handle the object's alarm. Raise to have it retried with backoff."""
        raise NotImplementedError

    @classmethod
    def handles_alarms(cls) -> bool:
        return cls.on_alarm is not ObjectClass.on_alarm


def load_classes(
    modules: Iterable[str], options: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, type[ObjectClass]]:
    """Import each module, collect the classes in its ``CLASSES`` list, and check their ``options``.

    Raises ``ConfigError`` for a module that does not import, lacks
    ``CLASSES``, names a class twice, or a class whose options are bad.
    """
    found: dict[str, type[ObjectClass]] = {}
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"classes module {module_name!r} cannot be imported: {exc}") from exc
        classes = getattr(module, "CLASSES", None)
        if not isinstance(classes, list | tuple):
            raise ConfigError(f"classes module {module_name!r} has no CLASSES list")
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, ObjectClass)):
                raise ConfigError(f"{module_name}.CLASSES holds {cls!r}, which is not an ObjectClass")
            try:
                check_class_name(cls.name)
            except BadRequest as exc:
                raise ConfigError(f"{module_name}.{cls.__name__}: {exc}") from exc
            if cls.name in found:
                raise ConfigError(f"class {cls.name!r} is defined twice (in {module_name})")
            found[cls.name] = cls
    for cls in found.values():
        cls.check_options((options or {}).get(cls.name, {}))
    return found
