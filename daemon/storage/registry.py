"""``_objects``, the registry of stored objects, and the names of their sub-databases.

A registry key is ``class name + NUL + 32-byte id``; its value is
``{"v": 1, "name": name or nil}``. An object's sub-database is ``o/<64-hex id>``.
Listing a class is a range scan of the registry, never a walk of every object.
"""

from __future__ import annotations

import lmdb
import msgpack

from daemon.model import ObjectRef

REGISTRY_DB = b"_objects"
OBJECT_DB_PREFIX = b"o/"


def object_db_name(object_id: str) -> bytes:
    """The name of the sub-database that holds ``object_id``'s entries."""
    return OBJECT_DB_PREFIX + object_id.encode()


def class_prefix(class_name: str) -> bytes:
    """The registry keys of ``class_name``'s objects all start with this."""
    return class_name.encode() + b"\x00"


def registry_key(class_name: str, object_id: bytes) -> bytes:
    """The registry key of an object (``object_id`` as its 32 bytes)."""
    return class_prefix(class_name) + object_id


def register(txn: lmdb.Transaction, registry: lmdb._Database, ref: ObjectRef) -> None:
    """Record ``ref`` as a stored object, in the write transaction ``txn``."""
    txn.put(registry_key(ref.class_name, bytes.fromhex(ref.id)), encode_entry(ref.name), db=registry)


def encode_entry(name: str | None) -> bytes:
    """A registry value: the name the object was made by (``None`` for a unique id)."""
    packed: bytes = msgpack.packb({"v": 1, "name": name})
    return packed


def entry_name(raw: bytes) -> str | None:
    """The name stored in a registry value."""
    name: str | None = msgpack.unpackb(raw, raw=False)["name"]
    return name


def list_objects(
    txn: lmdb.Transaction, registry: lmdb._Database, class_name: str, after: str | None, limit: int
) -> list[tuple[str, str | None]]:
    """``(id, name)`` of stored objects of ``class_name`` in id order, after ``after``."""
    prefix = class_prefix(class_name)
    cursor = txn.cursor(registry)
    start = prefix + bytes.fromhex(after) if after else prefix
    found: list[tuple[str, str | None]] = []
    if not cursor.set_range(start):
        return found
    for key, raw in cursor.iternext():
        key = bytes(key)
        if not key.startswith(prefix) or len(found) >= limit:
            break
        if key == start:
            continue
        found.append((key[len(prefix) :].hex(), entry_name(bytes(raw))))
    return found


def objects_of(txn: lmdb.Transaction, registry: lmdb._Database, class_name: str) -> list[tuple[bytes, bytes]]:
    """Every ``(registry key, value)`` of ``class_name``'s objects."""
    prefix = class_prefix(class_name)
    cursor = txn.cursor(registry)
    found: list[tuple[bytes, bytes]] = []
    if not cursor.set_range(prefix):
        return found
    for key, value in cursor.iternext():
        if not bytes(key).startswith(prefix):
            break
        found.append((bytes(key), bytes(value)))
    return found
