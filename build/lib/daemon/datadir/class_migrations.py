"""Class migrations in the style of wrangler's ``[[migrations]]``: tagged steps, applied in order.

A step adds classes, renames classes (their objects keep their ids and data),
or deletes classes (their data is removed, after a backup). The config lists
every step ever made; the data directory records the tags it has applied,
each with a digest of its content. At start the applied tags must be exactly
the first steps of the config: a skipped, reordered or edited tag is refused,
and the steps after them are applied, each in its own transaction.

Renames keep ids because ids are derived from a class's *namespace*, which
is its original name: the data directory remembers ``new name -> namespace``.
A renamed or deleted class name is retired: requests for it get a sentence
that says where it went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import lmdb

from daemon.errors import ConfigError, DataTooNew
from daemon.model import AlarmRecord, Step
from daemon.storage import Store, alarms, meta
from daemon.storage.registry import REGISTRY_DB, object_db_name, objects_of, registry_key

log = logging.getLogger(__name__)

_STATE_VERSION = 1


@dataclass
class ClassState:
    """What the data directory records: applied steps, namespaces of renamed classes, retired names."""

    applied: list[dict[str, str]] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)
    retired: dict[str, str] = field(default_factory=dict)


def load_state(txn: lmdb.Transaction, store: Store) -> ClassState:
    """The class-migration state recorded in the data directory."""
    fields = meta.read(txn, store.system[meta.META_DB], meta.CLASS_MIGRATIONS)
    if fields is None:
        return ClassState()
    if fields.get("v", 0) > _STATE_VERSION:
        raise DataTooNew(
            "the data directory's class migrations were recorded by a newer Lodestone; upgrade Lodestone, "
            "or restore a backup taken before the upgrade"
        )
    return ClassState(fields["applied"], fields["namespaces"], fields["retired"])


def _save_state(txn: lmdb.Transaction, store: Store, state: ClassState) -> None:
    record = {"v": _STATE_VERSION, "applied": state.applied, "namespaces": state.namespaces,
              "retired": state.retired}
    meta.write(txn, store.system[meta.META_DB], meta.CLASS_MIGRATIONS, record)


def pending(state: ClassState, steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps still to apply; raises ``ConfigError`` if the recorded ones are not the config's first."""
    for index, applied in enumerate(state.applied):
        if index >= len(steps):
            raise ConfigError(
                f"migration tag {applied['tag']!r} was applied to this data directory but is missing from "
                "the config; tags are never removed: restore the [[migrations]] list"
            )
        step = steps[index]
        if step.tag != applied["tag"]:
            raise ConfigError(
                f"migration {index + 1} in the config is {step.tag!r}, but this data directory applied "
                f"{applied['tag']!r} at that place; tags apply in order and are never skipped or reordered"
            )
        if step.digest() != applied["digest"]:
            raise ConfigError(
                f"migration tag {step.tag!r} was edited after it was applied; add a new tag instead"
            )
    return steps[len(state.applied):]


def apply(store: Store, steps: tuple[Step, ...], backup: Callable[[str], object]) -> ClassState:
    """Apply the pending steps in order, each in its own transaction; return the new state.

    ``backup(tag)`` is called before a step that deletes a class.
    """
    with store.env.begin() as txn:
        state = load_state(txn, store)
    for step in pending(state, steps):
        if step.deleted_classes:
            backup(step.tag)
        with store.env.begin(write=True) as txn:
            for name in step.new_classes:
                state.retired.pop(name, None)
            for old, new in step.renamed_classes:
                moved = _rename(txn, store, old, new)
                state.namespaces[new] = state.namespaces.pop(old, old)
                state.retired[old] = f"class {old!r} was renamed to {new!r} by migration {step.tag!r}"
                state.retired.pop(new, None)
                log.info("migration %s: renamed %s to %s (%d objects)", step.tag, old, new, moved)
            for name in step.deleted_classes:
                removed = _delete(txn, store, name)
                state.namespaces.pop(name, None)
                state.retired[name] = f"class {name!r} was deleted by migration {step.tag!r}"
                log.info("migration %s: deleted %s (%d objects)", step.tag, name, removed)
            state.applied.append({"tag": step.tag, "digest": step.digest()})
            _save_state(txn, store, state)
    return state


def _rename(txn: lmdb.Transaction, store: Store, old: str, new: str) -> int:
    registry = store.system[REGISTRY_DB]
    entries = objects_of(txn, registry, old)
    for key, value in entries:
        object_id = key[len(old) + 1:]
        txn.delete(key, db=registry)
        txn.put(registry_key(new, object_id), value, db=registry)
    stored = [(bytes(key), bytes(raw)) for key, raw in txn.cursor(store.system[alarms.ALARMS_DB]).iternext()]
    for alarm_owner, raw in stored:
        record = alarms.decode(raw)
        if record.class_name == old:
            moved = AlarmRecord(new, record.name, record.at_ms, record.scheduled_ms, record.retry_count)
            alarms.write(txn, store.system, alarm_owner, moved)
    return len(entries)


def _delete(txn: lmdb.Transaction, store: Store, class_name: str) -> int:
    entries = objects_of(txn, store.system[REGISTRY_DB], class_name)
    for key, _ in entries:
        object_id = key[len(class_name) + 1:]
        try:
            db = store.env.open_db(object_db_name(object_id.hex()), txn=txn, create=False)
        except lmdb.NotFoundError:
            db = None
        if db is not None:
            txn.drop(db, delete=True)
        txn.delete(key, db=store.system[REGISTRY_DB])
        alarms.write(txn, store.system, object_id, None)
    return len(entries)
