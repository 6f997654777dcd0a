"""The op table: each wire op, the arguments it takes, and what it calls.

Ops that take a target get the turn's :class:`ObjectStorage`; the others get
``None``. Argument names are checked strictly so a misspelt option is an
error, not a silent default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daemon.errors import BadRequest
from daemon.health import health
from daemon.ids import check_class_name
from daemon.objects import ObjectStorage
from schemas.wire import Encoded, encode_value

if TYPE_CHECKING:
    from daemon.runtime import Runtime

OpFunction = Callable[["Runtime", ObjectStorage | None, dict[str, Any]], Any]


@dataclass(frozen=True)
class Op:
    """One wire op: its handler, whether it takes a target, whether it writes."""

    run: OpFunction
    takes_target: bool
    writes: bool
    args: frozenset[str]


def check_args(op: str, args: dict[str, Any], allowed: frozenset[str]) -> None:
    """Raise ``BadRequest`` if ``args`` has a field ``op`` does not take."""
    unknown = set(args) - allowed
    if unknown:
        takes = ", ".join(sorted(allowed)) or "no arguments"
        raise BadRequest(f"{op} does not take {', '.join(sorted(unknown))}; it takes {takes}")


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


def _storage(storage: ObjectStorage | None) -> ObjectStorage:
    assert storage is not None, "storage ops always run with a target"
    return storage


# ops without a target ------------------------------------------------------
def alarms_list(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    due_by = args.get("due_by_ms")
    if due_by is not None and (isinstance(due_by, bool) or not isinstance(due_by, int)):
        raise BadRequest(f"alarms.list due_by_ms must be epoch milliseconds, got {due_by!r}")
    limit = args.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 10_000:
        raise BadRequest(f"alarms.list limit must be 1 to 10000, got {limit!r}")
    return {"alarms": runtime.list_alarms(due_by, limit)}



def ping(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    return {"protocol": list(runtime.protocols), "version": runtime.version}


def id_from_name(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    class_name = _class_arg("id.from_name", args)
    return {"id": runtime.ids.from_name(class_name, _need("id.from_name", args, "name"))}


def id_new_unique(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    return {"id": runtime.ids.new_unique(_class_arg("id.new_unique", args))}


def id_from_string(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    class_name = _class_arg("id.from_string", args)
    return {"id": runtime.ids.from_string(class_name, _need("id.from_string", args, "id"))}


def objects_list(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    class_name = _class_arg("objects.list", args)
    after = args.get("after")
    if after is not None:
        after = runtime.ids.from_string(class_name, after)
    limit = args.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 10_000:
        raise BadRequest(f"objects.list limit must be 1 to 10000, got {limit!r}")
    found = runtime.list_objects(class_name, after, limit)
    return {"objects": [{"id": object_id, "name": name} for object_id, name in found]}


def stats(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    return runtime.stats()


# storage ops -----------------------------------------------------------------
# The reads hand stored values to their replies as they are stored (Encoded), never decoding them.
def storage_get(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    store = _storage(storage)
    if _one_of("storage.get", args, "key", "keys") == "key":
        packed = store.get_packed(args["key"])
        return {"found": False} if packed is None else encode_value({"found": True, "value": Encoded(packed)})
    keys = args["keys"]
    if not isinstance(keys, list):
        raise BadRequest("storage.get keys must be a list of strings")
    values = store.get_many_packed(keys)
    return encode_value({"values": {key: Encoded(packed) for key, packed in values.items()}})


def storage_put(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    store = _storage(storage)
    if _one_of("storage.put", args, "key", "entries") == "key":
        store.put(args["key"], _need("storage.put", args, "value"))
    else:
        if "value" in args:
            raise BadRequest("storage.put takes value only with key, not with entries")
        store.put_many(args["entries"])
    return {}


def storage_delete(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    store = _storage(storage)
    if _one_of("storage.delete", args, "key", "keys") == "key":
        return {"deleted": store.delete(args["key"])}
    keys = args["keys"]
    if not isinstance(keys, list):
        raise BadRequest("storage.delete keys must be a list of strings")
    return {"deleted": store.delete_many(keys)}


def storage_list(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    entries = _storage(storage).list_packed(
        start=args.get("start"),
        start_after=args.get("start_after"),
        end=args.get("end"),
        prefix=args.get("prefix"),
        reverse=args.get("reverse", False),
        limit=args.get("limit"),
    )
    return encode_value({"entries": [(key, Encoded(packed)) for key, packed in entries]})


def storage_delete_all(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    _storage(storage).delete_all()
    return {}


def storage_transaction(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    _storage(storage).transaction(args.get("checks", []), _need("storage.transaction", args, "ops"))
    return {}


def alarm_set(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    _storage(storage).set_alarm(_need("alarm.set", args, "at_ms"))
    return {}


def alarm_get(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    return {"at_ms": _storage(storage).get_alarm()}


def alarm_delete(_: Runtime, storage: ObjectStorage | None, args: dict[str, Any]) -> Any:
    _storage(storage).delete_alarm()
    return {}


def _op(run: OpFunction, takes_target: bool, writes: bool, *args: str) -> Op:
    return Op(run, takes_target, writes, frozenset(args))


OPS: dict[str, Op] = {
    "ping": _op(ping, False, False),
    "stats": _op(stats, False, False),
    "health": _op(health, False, False),
    "id.from_name": _op(id_from_name, False, False, "class", "name"),
    "id.new_unique": _op(id_new_unique, False, False, "class"),
    "id.from_string": _op(id_from_string, False, False, "class", "id"),
    "objects.list": _op(objects_list, False, False, "class", "after", "limit"),
    "storage.get": _op(storage_get, True, False, "key", "keys"),
    "storage.put": _op(storage_put, True, True, "key", "value", "entries"),
    "storage.delete": _op(storage_delete, True, True, "key", "keys"),
    "storage.list": _op(
        storage_list, True, False, "start", "start_after", "end", "prefix", "reverse", "limit"
    ),
    "storage.delete_all": _op(storage_delete_all, True, True),
    "storage.transaction": _op(storage_transaction, True, True, "checks", "ops"),
    "alarm.set": _op(alarm_set, True, True, "at_ms"),
    "alarm.get": _op(alarm_get, True, False),
    "alarm.delete": _op(alarm_delete, True, True),
    "alarms.list": _op(alarms_list, False, False, "due_by_ms", "limit"),
}
