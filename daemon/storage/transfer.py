"""Moving an object between data directories: its image, and the markers that make the move crash-safe.

A cluster node hands an object to another node as an :class:`ObjectImage`:
every stored record of its sub-database (copied as stored, so long keys and
record formats travel unchanged), its alarm and its idempotency records.
The markers of a move live in the ``_cluster`` database, written in the same
transaction as the change they guard:

* ``leaving/<id>``: this node stopped serving the object and exported it
  under an epoch; the object's alarm is taken out of the schedule into the
  marker, so it cannot fire here while the object is on its way;
* ``pending/<id>``: an image received under another node's epoch, stored
  durably but not served (not in the object's sub-database, its alarm not
  scheduled) until the ownership change is known to have committed;
* ``quarantine/<id><epoch>``: the image of a copy this node found it no
  longer owned (an operator evicted the node); never served, kept for an
  operator.

Every function here runs its own write transaction (with fsync) and must
be called between cycles, on the thread that runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import lmdb
import msgpack

from daemon.errors import BadData
from daemon.model import AlarmRecord
from daemon.storage import alarms, idempotency, keyspace, registry
from daemon.storage.environment import Store

CLUSTER_DB = b"_cluster"
IMAGE_VERSION = 1
_LEAVING = b"leaving/"
_PENDING = b"pending/"
_QUARANTINE = b"quarantine/"
_T = TypeVar("_T")


class ObjectImage(NamedTuple):
    """An object's whole stored state: its records as stored, its alarm, its idempotency records."""

    class_name: str
    id: str
    name: str | None
    records: list[tuple[bytes, bytes]]
    alarm: AlarmRecord | None
    idem: list[tuple[bytes, bytes]]

    def encode(self) -> bytes:
        """The image as bytes (msgpack, versioned), to send or to store."""
        alarm = None if self.alarm is None else list(self.alarm)
        packed: bytes = msgpack.packb(
            [IMAGE_VERSION, self.class_name, self.id, self.name, self.records, alarm, self.idem], use_bin_type=True
        )
        return packed

    @classmethod
    def decode(cls, raw: bytes) -> ObjectImage:
        """An image from :meth:`encode`'s bytes; raises ``BadData`` if it is newer than this code or malformed."""
        try:
            fields = msgpack.unpackb(raw, raw=False)
            if fields[0] > IMAGE_VERSION:
                raise BadData(f"object image version {fields[0]} is newer than this Lodestone's {IMAGE_VERSION}")
            _, class_name, object_id, name, records, alarm, idem = fields
            return cls(class_name, object_id, name, [(bytes(k), bytes(v)) for k, v in records],
                       None if alarm is None else AlarmRecord(*alarm), [(bytes(k), bytes(v)) for k, v in idem])
        except BadData:
            raise
        except Exception as exc:
            raise BadData(f"object image does not decode: {exc}") from exc

    @property
    def size(self) -> int:
        """Bytes of stored records and idempotency records."""
        return sum(len(k) + len(v) for k, v in self.records) + sum(len(k) + len(v) for k, v in self.idem)


class Marker(NamedTuple):
    """A move in progress: the epoch it is tagged with, the other node, and the image or alarm it keeps."""

    object_id: str
    epoch: int
    node: str
    payload: Any


def _write(store: Store, body: Callable[[lmdb.Transaction, lmdb._Database], _T]) -> _T:
    """Run ``body`` in one write transaction with the ``_cluster`` database; grow the map when full."""
    while True:
        store.ensure_capacity(2)
        env = store.env
        try:
            with env.begin(write=True) as txn:
                return body(txn, env.open_db(CLUSTER_DB, txn=txn, create=True))
        except lmdb.MapFullError:
            store.grow_map()


def _read(store: Store, body: Callable[[lmdb.Transaction, lmdb._Database], _T]) -> _T:
    return _write(store, body)  # the _cluster database may not exist yet; a write txn creates it


def _object_db(store: Store, txn: lmdb.Transaction, object_id: str, create: bool) -> lmdb._Database | None:
    try:
        return store.env.open_db(registry.object_db_name(object_id), txn=txn, create=create)
    except lmdb.NotFoundError:
        return None


def _image(store: Store, txn: lmdb.Transaction, class_name: str, object_id: str, name: str | None) -> ObjectImage:
    db = _object_db(store, txn, object_id, create=False)
    records = [] if db is None else [(bytes(k), bytes(v)) for k, v in txn.cursor(db).iternext()]
    oid = bytes.fromhex(object_id)
    idem_records: list[tuple[bytes, bytes]] = []
    cursor = txn.cursor(store.system[idempotency.IDEM_DB])
    if cursor.set_range(oid):
        for key, value in cursor.iternext():
            if not bytes(key).startswith(oid):
                break
            idem_records.append((bytes(key)[len(oid):], bytes(value)))
    return ObjectImage(class_name, object_id, name, records, alarms.read(txn, store.system, oid), idem_records)


def _clear(store: Store, txn: lmdb.Transaction, class_name: str, object_id: str) -> None:
    """Delete every record of the object: sub-database, registry entry, alarm, idempotency records."""
    oid = bytes.fromhex(object_id)
    db = _object_db(store, txn, object_id, create=False)
    if db is not None:
        txn.drop(db, delete=True)
    store.handles.pop(object_id, None)
    txn.delete(registry.registry_key(class_name, oid), db=store.system[registry.REGISTRY_DB])
    alarms.write(txn, store.system, oid, None)
    idem_db, expiry_db = store.system[idempotency.IDEM_DB], store.system[idempotency.EXPIRY_DB]
    cursor = txn.cursor(idem_db)
    doomed: list[tuple[bytes, bytes]] = []
    if cursor.set_range(oid):
        for key, value in cursor.iternext():
            if not bytes(key).startswith(oid):
                break
            doomed.append((bytes(key), bytes(value)))
    for key, value in doomed:
        expires = msgpack.unpackb(value, raw=False, strict_map_key=False)[0]
        txn.delete(key, db=idem_db)
        txn.delete(int(expires).to_bytes(8, "big") + key, db=expiry_db)


def _install(store: Store, txn: lmdb.Transaction, image: ObjectImage) -> None:
    _clear(store, txn, image.class_name, image.id)
    oid = bytes.fromhex(image.id)
    if image.records:
        db = _object_db(store, txn, image.id, create=True)
        for key, value in image.records:
            txn.put(key, value, db=db)
    txn.put(registry.registry_key(image.class_name, oid), registry.encode_entry(image.name),
            db=store.system[registry.REGISTRY_DB])
    if image.alarm is not None:
        alarms.write(txn, store.system, oid, image.alarm, None)
    for suffix, value in image.idem:
        expires = msgpack.unpackb(value, raw=False, strict_map_key=False)[0]
        txn.put(oid + suffix, value, db=store.system[idempotency.IDEM_DB])
        txn.put(int(expires).to_bytes(8, "big") + oid + suffix, b"", db=store.system[idempotency.EXPIRY_DB])


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


# the sending side ------------------------------------------------------------
def mark_leaving(store: Store, class_name: str, object_id: str, name: str | None, epoch: int,
                 to_node: str) -> ObjectImage:
    """Stop the object here for a move to ``to_node`` under ``epoch``; return its image.

    Writes the ``leaving`` marker and takes the alarm out of the schedule
    (into the marker), in one commit.
    """
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> ObjectImage:
        image = _image(store, txn, class_name, object_id, name)
        alarm = None if image.alarm is None else list(image.alarm)
        txn.put(_LEAVING + bytes.fromhex(object_id), _pack([1, epoch, to_node, alarm]), db=cluster)
        if image.alarm is not None:
            alarms.write(txn, store.system, bytes.fromhex(object_id), None, image.alarm)
        return image

    return _write(store, body)


def resume(store: Store, object_id: str) -> AlarmRecord | None:
    """The move did not happen: put the alarm back in the schedule, forget the marker; return the alarm."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> AlarmRecord | None:
        key = _LEAVING + bytes.fromhex(object_id)
        raw = txn.get(key, db=cluster)
        if raw is None:
            return None
        alarm = msgpack.unpackb(raw, raw=False)[3]
        record = None if alarm is None else AlarmRecord(*alarm)
        if record is not None:
            alarms.write(txn, store.system, bytes.fromhex(object_id), record)
        txn.delete(key, db=cluster)
        return record

    return _write(store, body)


def drop(store: Store, class_name: str, object_id: str, quarantine_epoch: int | None = None,
         name: str | None = None) -> None:
    """Delete the object's copy here (and its ``leaving`` marker); with ``quarantine_epoch``, keep its image aside."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> None:
        oid = bytes.fromhex(object_id)
        if quarantine_epoch is not None:
            image = _image(store, txn, class_name, object_id, name)
            leaving = txn.get(_LEAVING + oid, db=cluster)
            if leaving is not None and image.alarm is None:
                alarm = msgpack.unpackb(leaving, raw=False)[3]
                image = image._replace(alarm=None if alarm is None else AlarmRecord(*alarm))
            txn.put(_QUARANTINE + oid + quarantine_epoch.to_bytes(8, "big"), image.encode(), db=cluster)
        _clear(store, txn, class_name, object_id)
        txn.delete(_LEAVING + oid, db=cluster)

    _write(store, body)


# the receiving side ----------------------------------------------------------
def store_pending(store: Store, image: bytes, object_id: str, epoch: int, from_node: str) -> None:
    """Keep a received image durably, not served, tagged with the sender's epoch."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> None:
        txn.put(_PENDING + bytes.fromhex(object_id), _pack([1, epoch, from_node, image]), db=cluster)

    _write(store, body)


def install_pending(store: Store, object_id: str) -> ObjectImage | None:
    """The ownership change committed: make the pending image the object's live state; return it."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> ObjectImage | None:
        key = _PENDING + bytes.fromhex(object_id)
        raw = txn.get(key, db=cluster)
        if raw is None:
            return None
        image = ObjectImage.decode(msgpack.unpackb(raw, raw=False)[3])
        _install(store, txn, image)
        txn.delete(key, db=cluster)
        return image

    return _write(store, body)


def discard_pending(store: Store, object_id: str) -> None:
    """The ownership change did not commit: forget the pending image."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> None:
        txn.delete(_PENDING + bytes.fromhex(object_id), db=cluster)

    _write(store, body)


# an object read and trimmed between cycles (the cluster's outbox) ----------------
def entries(store: Store, object_id: str) -> list[tuple[str, Any]]:
    """Every ``(key, value)`` of the object, in key order (decoded; for small objects)."""
    with store.env.begin() as txn:
        db = _object_db(store, txn, object_id, create=False)
        if db is None:
            return []
        found = []
        for stored_key, record in txn.cursor(db).iternext():
            key, packed = keyspace.unpack_record(bytes(stored_key), bytes(record))
            found.append((key.decode(), msgpack.unpackb(packed, raw=False)))
        return sorted(found)


def delete_entries(store: Store, object_id: str, keys: list[str]) -> None:
    """Delete ``keys`` from the object, in one commit."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> None:
        db = _object_db(store, txn, object_id, create=False)
        if db is not None:
            for key in keys:
                txn.delete(keyspace.storage_key(key.encode()), db=db)

    _write(store, body)


# what a node finds at start ----------------------------------------------------
def markers(store: Store) -> tuple[list[Marker], list[Marker]]:
    """``(leaving, pending)``: the moves this data directory was in the middle of."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> tuple[list[Marker], list[Marker]]:
        found: dict[bytes, list[Marker]] = {_LEAVING: [], _PENDING: []}
        for key, raw in txn.cursor(cluster).iternext():
            key = bytes(key)
            for prefix, into in found.items():
                if key.startswith(prefix):
                    _, epoch, node, payload = msgpack.unpackb(raw, raw=False)
                    into.append(Marker(key[len(prefix):].hex(), epoch, node, payload))
        return found[_LEAVING], found[_PENDING]

    return _read(store, body)


def quarantined(store: Store) -> list[tuple[str, int]]:
    """``(object id, epoch)`` of every quarantined image."""
    def body(txn: lmdb.Transaction, cluster: lmdb._Database) -> list[tuple[str, int]]:
        cursor = txn.cursor(cluster)
        found: list[tuple[str, int]] = []
        if cursor.set_range(_QUARANTINE):
            for key in cursor.iternext(values=False):
                key = bytes(key)
                if not key.startswith(_QUARANTINE):
                    break
                rest = key[len(_QUARANTINE):]
                found.append((rest[:32].hex(), int.from_bytes(rest[32:], "big")))
        return found

    return _read(store, body)


def local_objects(store: Store) -> list[tuple[str, str, str | None]]:
    """``(class, id, name)`` of every object stored here (a walk of the registry: start-up only)."""
    with store.env.begin() as txn:
        found: list[tuple[str, str, str | None]] = []
        for key, raw in txn.cursor(store.system[registry.REGISTRY_DB]).iternext():
            class_name, _, oid = bytes(key).partition(b"\x00")
            found.append((class_name.decode(), oid.hex(), registry.entry_name(bytes(raw))))
        return found
