"""The op table: each wire op that is not a class op, the arguments it takes, and what it runs.

:data:`OBJECT_OPS` take a target and run against the turn's
:class:`ObjectStorage`; :data:`GLOBAL_OPS` take none and run against the
runtime's services and the cycle's queries (so they see the cycle's earlier
writes). Argument names are checked strictly (:class:`~daemon.runtime.args.Args`)
so a misspelt option is an error, not a silent default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from daemon.errors import BadRequest
from daemon.ids import IdFactory, check_class_name
from daemon.model import MAX_AT_MS, PlainArgs
from daemon.runtime.args import Args
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import CycleTransaction
from schemas.wire import Encoded, encode_value


class Services(Protocol):
    """What the ops without a target reach: ids, versions, reports."""

    ids: IdFactory
    version: str
    protocols: tuple[int, ...]

    def stats(self) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any]: ...


GlobalRun = Callable[[Services, CycleTransaction, dict[str, Any]], Any]
ObjectRun = Callable[[ObjectStorage, dict[str, Any]], Any]


@dataclass(frozen=True)
class GlobalOp:
    """An op without a target: its handler and the arguments it takes."""

    run: GlobalRun
    args: tuple[str, ...]


@dataclass(frozen=True)
class ObjectOp:
    """A storage op on one object: its handler, whether it writes, the arguments it takes."""

    run: ObjectRun
    writes: bool
    args: tuple[str, ...]
    arg_names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "arg_names", frozenset(self.args))


def _one_of(op: str, args: dict[str, Any], single: str, many: str) -> str:
    if (single in args) == (many in args):
        raise BadRequest(f"{op} takes either {single} or {many}")
    return single if single in args else many


def _need(op: str, args: dict[str, Any], name: str) -> Any:
    if name not in args:
        raise BadRequest(f"{op} needs {name}")
    return args[name]


def _class_arg(op: str, args: dict[str, Any]) -> str:
    return check_class_name(_need(op, args, "class"))


# ops without a target ------------------------------------------------------
def alarms_list(_: Services, txn: CycleTransaction, args: dict[str, Any]) -> Any:
    checked = Args("alarms.list", args, "due_by_ms", "limit")
    due_by = checked.integer("due_by_ms", MAX_AT_MS, minimum=-(2**63), maximum=MAX_AT_MS)
    found = txn.alarms(due_by, checked.limit(1000, 10_000))
    return {"alarms": [
        {"class": record.class_name, "id": object_id.hex(), "name": record.name, "at_ms": record.at_ms,
         "scheduled_ms": record.scheduled_ms, "retry_count": record.retry_count}
        for object_id, record in found
    ]}


def ping(services: Services, _: CycleTransaction, args: dict[str, Any]) -> Any:
    return {"protocol": list(services.protocols), "version": services.version}


def id_from_name(services: Services, _: CycleTransaction, args: dict[str, Any]) -> Any:
    class_name = _class_arg("id.from_name", args)
    return {"id": services.ids.from_name(class_name, _need("id.from_name", args, "name"))}


def id_new_unique(services: Services, _: CycleTransaction, args: dict[str, Any]) -> Any:
    return {"id": services.ids.new_unique(_class_arg("id.new_unique", args))}


def id_from_string(services: Services, _: CycleTransaction, args: dict[str, Any]) -> Any:
    class_name = _class_arg("id.from_string", args)
    return {"id": services.ids.from_string(class_name, _need("id.from_string", args, "id"))}


def objects_list(services: Services, txn: CycleTransaction, args: dict[str, Any]) -> Any:
    class_name = _class_arg("objects.list", args)
    after = args.get("after")
    if after is not None:
        after = services.ids.from_string(class_name, after)
    limit = Args("objects.list", args, "class", "after", "limit").limit(1000, 10_000)
    found = txn.list_objects(class_name, after, limit)
    return {"objects": [{"id": object_id, "name": name} for object_id, name in found]}


def stats(services: Services, _: CycleTransaction, args: dict[str, Any]) -> Any:
    return services.stats()


def health(services: Services, _: CycleTransaction, args: dict[str, Any]) -> Any:
    return services.health()


# storage ops -----------------------------------------------------------------
# The reads hand stored values to their replies as they are stored (Encoded), never decoding them.
_FOUND = encode_value({"found": True, "value": None}).data[:-1]  # ... and the value's bytes in place of the nil


def storage_get(store: ObjectStorage, args: dict[str, Any]) -> Any:
    if _one_of("storage.get", args, "key", "keys") == "key":
        packed = store.get_packed(args["key"])
        return {"found": False} if packed is None else Encoded(_FOUND + packed)
    keys = args["keys"]
    if not isinstance(keys, list):
        raise BadRequest("storage.get keys must be a list of strings")
    values = store.get_many_packed(keys)
    return encode_value({"values": {key: Encoded(packed) for key, packed in values.items()}})


def storage_put(store: ObjectStorage, args: dict[str, Any]) -> Any:
    if _one_of("storage.put", args, "key", "entries") == "key":
        value = _need("storage.put", args, "value")
        if type(value) is Encoded:  # a batch frame's plain value, encoded as it was read (server/typed_envelope.py)
            store.put_packed(args["key"], value.data)
        elif type(args) is PlainArgs:  # decoded by the typed path: msgspec makes the same bytes, sooner
            store.put_plain(args["key"], value)
        else:
            store.put(args["key"], value)
    else:
        if "value" in args:
            raise BadRequest("storage.put takes value only with key, not with entries")
        store.put_many(args["entries"])
    return {}


def storage_delete(store: ObjectStorage, args: dict[str, Any]) -> Any:
    if _one_of("storage.delete", args, "key", "keys") == "key":
        return {"deleted": store.delete(args["key"])}
    keys = args["keys"]
    if not isinstance(keys, list):
        raise BadRequest("storage.delete keys must be a list of strings")
    return {"deleted": store.delete_many(keys)}


def storage_list(store: ObjectStorage, args: dict[str, Any]) -> Any:
    entries = store.list_packed(
        start=args.get("start"),
        start_after=args.get("start_after"),
        end=args.get("end"),
        prefix=args.get("prefix"),
        reverse=args.get("reverse", False),
        limit=args.get("limit"),
    )
    return encode_value({"entries": [(key, Encoded(packed)) for key, packed in entries]})


def storage_delete_all(store: ObjectStorage, args: dict[str, Any]) -> Any:
    store.delete_all()
    return {}


def storage_transaction(store: ObjectStorage, args: dict[str, Any]) -> Any:
    store.transaction(args.get("checks", []), _need("storage.transaction", args, "ops"))
    return {}


def alarm_set(store: ObjectStorage, args: dict[str, Any]) -> Any:
    store.set_alarm(_need("alarm.set", args, "at_ms"))
    return {}


def alarm_get(store: ObjectStorage, args: dict[str, Any]) -> Any:
    return {"at_ms": store.get_alarm()}


def alarm_delete(store: ObjectStorage, args: dict[str, Any]) -> Any:
    store.delete_alarm()
    return {}


GLOBAL_OPS: dict[str, GlobalOp] = {
    "ping": GlobalOp(ping, ()),
    "stats": GlobalOp(stats, ()),
    "health": GlobalOp(health, ()),
    "id.from_name": GlobalOp(id_from_name, ("class", "name")),
    "id.new_unique": GlobalOp(id_new_unique, ("class",)),
    "id.from_string": GlobalOp(id_from_string, ("class", "id")),
    "objects.list": GlobalOp(objects_list, ("after", "class", "limit")),
    "alarms.list": GlobalOp(alarms_list, ("due_by_ms", "limit")),
}

OBJECT_OPS: dict[str, ObjectOp] = {
    "storage.get": ObjectOp(storage_get, False, ("key", "keys")),
    "storage.put": ObjectOp(storage_put, True, ("entries", "key", "value")),
    "storage.delete": ObjectOp(storage_delete, True, ("key", "keys")),
    "storage.list": ObjectOp(storage_list, False, ("end", "limit", "prefix", "reverse", "start", "start_after")),
    "storage.delete_all": ObjectOp(storage_delete_all, True, ()),
    "storage.transaction": ObjectOp(storage_transaction, True, ("checks", "ops")),
    "alarm.set": ObjectOp(alarm_set, True, ("at_ms",)),
    "alarm.get": ObjectOp(alarm_get, False, ()),
    "alarm.delete": ObjectOp(alarm_delete, True, ()),
}
