"""Object classes with behaviour, and how the daemon finds them.

A class name with no behaviour is a plain storage class: its objects offer
the storage API and nothing else. A class with behaviour subclasses
:class:`ObjectClass`; the daemon loads the modules named in the config
(``[classes] modules``), each of which lists its classes in ``CLASSES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from daemon.errors import BadRequest, ConfigError
from daemon.ids import check_class_name
from daemon.objects import ObjectRef, ObjectStorage
from schemas.records import RecordType


@dataclass(frozen=True)
class AlarmInfo:
    """What an alarm handler learns about the alarm it is handling."""

    scheduled_ms: int
    retry_count: int

    @property
    def is_retry(self) -> bool:
        return self.retry_count > 0


@dataclass(frozen=True)
class Turn:
    """One turn of one object, as a handler sees it."""

    ref: ObjectRef
    storage: ObjectStorage
    now_ms: int


class ObjectClass:
    """Base of object classes with behaviour.

    Subclasses set ``name``, may map keys to the record types stored under
    them in ``records`` (``lodestone migrate`` upgrades those), and may
    override :meth:`on_alarm`. A handler's
    writes (through ``turn.storage``) commit together when it returns; if it
    raises, none of them is kept.
    """

    name: ClassVar[str] = ""
    records: ClassVar[Mapping[str, RecordType]] = {}

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        """Handle the object's alarm. Raise to have it retried with backoff."""
        raise NotImplementedError

    @classmethod
    def handles_alarms(cls) -> bool:
        return cls.on_alarm is not ObjectClass.on_alarm


def load_classes(modules: Iterable[str]) -> dict[str, type[ObjectClass]]:
    """Import each module and collect the classes in its ``CLASSES`` list.

    Raises ``ConfigError`` for a module that does not import, lacks
    ``CLASSES``, or names a class twice.
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
    return found
