"""``lodestone verify``: check that every stored record of a data directory decodes.

It reads only, through LMDB read transactions, so a directory can be checked
while its daemon serves. The system databases are read in one transaction
(one consistent state); the object databases then in passes of
:data:`_OBJECTS_PER_PASS`, each in a fresh environment and transaction,
because LMDB's cost of opening a database handle grows with the handles
already open (one pass over 100,000 objects would take minutes). An object
created after the first transaction is not checked; one written between
passes is checked as it is then. What is checked:

* ``_meta``: the storage format is one this code reads; ``commit_base`` is 8 bytes;
* ``_objects``, the registry: each key is a valid class name and a 32-byte
  id; each value is a version-1 record with a name; the id is one this
  deployment's secret makes for that class (and that name); its sub-database exists;
* every object sub-database ``o/<64 hex>``: it is registered; every record
  sits under the key it names, its key is UTF-8 within the key limit, and
  its value is one whole msgpack value within the entry limit;
* idempotency and alarm records decode.

Every problem is reported as one line naming the object and key; nothing is
written anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import msgpack

from daemon.datadir.progress import Progress
from daemon.errors import LodestoneError
from daemon.ids import SECRET_FILE, IdFactory, check_class_name
from daemon.model import Limits
from daemon.storage import alarms, idempotency, keyspace
from daemon.storage.meta import COMMIT_BASE, FORMAT, FORMAT_VERSION, META_DB, commit_number
from daemon.storage.registry import OBJECT_DB_PREFIX, REGISTRY_DB

_OBJECT_DB_NAME = re.compile(rb"o/[0-9a-f]{64}")
_OBJECTS_PER_PASS = 2048
_ID_BYTES = 32


class NotADataDirectory(LodestoneError):
    """The directory holds no Lodestone data to read."""


@dataclass
class VerifyReport:
    """What a verification walked, and every problem it found."""

    objects: int = 0
    records: int = 0
    commit_seq: int = 0
    problems: list[str] = field(default_factory=list)
    unchecked_dbs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def open_readonly(lmdb_dir: Path, max_dbs: int, lock: bool = True) -> lmdb.Environment:
    """Open an LMDB environment read-only, without creating anything in it.

    ``lock=True`` registers readers in the lock table, which is what makes
    reading safe while a daemon writes; ``lock=False`` only for a copy that
    nothing else can be using.
    """
    if not (lmdb_dir / "data.mdb").is_file():
        raise NotADataDirectory(f"{lmdb_dir.parent} holds no Lodestone data (no lmdb/data.mdb)")
    return lmdb.open(str(lmdb_dir), readonly=True, lock=lock, max_dbs=max_dbs, subdir=True, create=False,
                     readahead=False)


def verify(
    data_dir: Path,
    progress: Progress,
    on_problem: Callable[[str], None] | None = None,
    lock: bool = True,
) -> VerifyReport:
    """Check every record of ``data_dir`` (see the module docstring); write nothing.

    ``on_problem`` sees each problem as it is found. Raises
    ``NotADataDirectory`` if there is no LMDB environment to read.
    """
    lmdb_dir = data_dir / "lmdb"
    report = VerifyReport()

    def problem(text: str) -> None:
        report.problems.append(text)
        if on_problem is not None:
            on_problem(text)

    try:
        ids: IdFactory | None = IdFactory((data_dir / SECRET_FILE).read_bytes())
    except OSError as exc:
        ids = None
        problem(f"secret: cannot read the deployment secret ({exc}); ids are not checked")
    with open_readonly(lmdb_dir, len(_SYSTEM_CHECKS), lock) as env, env.begin() as txn:
        names = [bytes(name) for name in txn.cursor().iternext(values=False)]
        object_dbs = [name for name in names if name.startswith(OBJECT_DB_PREFIX)]
        for name in names:
            if name.startswith(b"_") and name not in _SYSTEM_CHECKS:
                report.unchecked_dbs.append(name.decode(errors="replace"))
            elif not name.startswith((b"_", OBJECT_DB_PREFIX)):
                problem(f"sub-database {name[:80]!r}: not a name Lodestone gives its databases")
        if META_DB in names:
            _check_meta(txn, env.open_db(META_DB, txn=txn, create=False), report, problem)
        else:
            problem("_meta: missing; this is not a Lodestone data directory")
        registry: dict[str, tuple[str, str | None]] = {}
        if b"_objects" in names:
            registry = _check_registry(txn, env.open_db(REGISTRY_DB, txn=txn, create=False), ids, problem)
        for db_name, check in _SYSTEM_CHECKS.items():
            if check is not None and db_name in names:
                report.records += _check_each(txn, env.open_db(db_name, txn=txn, create=False),
                                              db_name.decode(), check, problem)
    found = {name[len(OBJECT_DB_PREFIX):].decode(errors="replace") for name in object_dbs}
    for object_id, (class_name, object_name) in registry.items():
        if object_id not in found:
            problem(f"{_who(class_name, object_name, object_id)}: registered but its sub-database is missing")
    progress.start("verify", len(object_dbs), "objects")
    for start in range(0, len(object_dbs), _OBJECTS_PER_PASS):
        batch = object_dbs[start:start + _OBJECTS_PER_PASS]
        with open_readonly(lmdb_dir, len(batch), lock) as env, env.begin() as txn:
            for db_name in batch:
                _check_object_db(txn, env, db_name, registry, report, problem)
        progress.update(start + len(batch))
    report.objects = len(object_dbs)
    progress.finish(f"{report.objects} objects, {report.records} records, {len(report.problems)} problems")
    return report


def _who(class_name: str, name: str | None, object_id: str) -> str:
    return f"{class_name}/{name!r} ({object_id})" if name is not None else f"{class_name}/{object_id}"


def _check_meta(txn: lmdb.Transaction, db: Any, report: VerifyReport, problem: Callable[[str], None]) -> None:
    raw = txn.get(FORMAT, db=db)
    try:
        version = msgpack.unpackb(raw)["v"] if raw is not None else None
    except Exception as exc:
        problem(f"_meta format: does not decode: {exc}")
        return
    if version is None:
        problem("_meta: no storage format recorded")
    elif not isinstance(version, int) or version > FORMAT_VERSION:
        problem(f"_meta format: version {version!r} is not one this Lodestone reads (up to {FORMAT_VERSION})")
    raw = txn.get(COMMIT_BASE, db=db)
    if raw is not None and len(raw) != 8:
        problem(f"_meta {COMMIT_BASE.decode()}: {len(raw)} bytes, expected 8")
        return
    report.commit_seq = commit_number(txn, db)


def _check_registry(
    txn: lmdb.Transaction, db: Any, ids: IdFactory | None, problem: Callable[[str], None]
) -> dict[str, tuple[str, str | None]]:
    registry: dict[str, tuple[str, str | None]] = {}
    for raw_key, raw_value in txn.cursor(db):
        key = bytes(raw_key)
        class_part, sep, id_part = key.partition(b"\x00")
        where = f"_objects {key[:80]!r}"
        try:
            if not sep or len(id_part) != _ID_BYTES:
                raise ValueError("the key is not class name, NUL, 32-byte id")
            class_name = check_class_name(class_part.decode())
            object_id = id_part.hex()
            where = f"_objects {class_name}/{object_id}"
            record = msgpack.unpackb(bytes(raw_value), raw=False)
            if not isinstance(record, dict) or record.get("v") != 1:
                raise ValueError(f"not a version-1 registry record: {record!r:.80}")
            name = record.get("name")
            if name is not None and not isinstance(name, str):
                raise ValueError(f"name is {type(name).__name__}, not a string or nil")
        except Exception as exc:
            problem(f"{where}: {exc}")
            continue
        registry[object_id] = (class_name, name)
        try:
            if ids is not None:
                if name is None:
                    ids.from_string(class_name, object_id)
                elif ids.from_name(class_name, name) != object_id:
                    raise ValueError(f"the id is not the one this deployment makes for the name {name!r}")
        except Exception as exc:
            problem(f"{where}: {exc}")
    return registry


def _check_object_db(
    txn: lmdb.Transaction,
    env: lmdb.Environment,
    db_name: bytes,
    registry: dict[str, tuple[str, str | None]],
    report: VerifyReport,
    problem: Callable[[str], None],
) -> None:
    object_id = db_name[len(OBJECT_DB_PREFIX):].decode(errors="replace")
    if not _OBJECT_DB_NAME.fullmatch(db_name):
        problem(f"sub-database {db_name[:80]!r}: not a valid object database name")
        return
    class_name, name = registry.get(object_id, ("?", None))
    who = _who(class_name, name, object_id)
    if object_id not in registry:
        problem(f"{who}: a sub-database with no registry entry")
    limits = Limits()
    for stored_key, record in txn.cursor(env.open_db(db_name, txn=txn, create=False)):
        report.records += 1
        stored = bytes(stored_key)
        try:
            key, packed = keyspace.unpack_record(stored, bytes(record))
            if keyspace.storage_key(key) != stored:
                raise ValueError("the record is stored under another key than the one it names")
            key.decode("utf-8")
            if len(key) > limits.max_key_bytes:
                raise ValueError(f"the key is {len(key)} bytes, over {limits.max_key_bytes}")
            if len(key) + len(packed) > limits.max_entry_bytes:
                raise ValueError(f"key and value are {len(key) + len(packed)} bytes, over {limits.max_entry_bytes}")
            msgpack.unpackb(packed, raw=False, strict_map_key=False)
        except Exception as exc:
            problem(f"{who} key {stored[1:81]!r}: {exc}")


def _check_each(
    txn: lmdb.Transaction, db: Any, db_name: str, check: Callable[[bytes, bytes], None],
    problem: Callable[[str], None],
) -> int:
    count = 0
    for raw_key, raw_value in txn.cursor(db):
        count += 1
        key = bytes(raw_key)
        try:
            check(key, bytes(raw_value))
        except Exception as exc:
            problem(f"{db_name} {key[:80].hex()}: {exc}")
    return count


def _check_idem(key: bytes, value: bytes) -> None:
    if len(key) <= _ID_BYTES:
        raise ValueError("the key is not an object id and an idempotency key")
    expires, _ = msgpack.unpackb(value, raw=False, strict_map_key=False)
    if not isinstance(expires, int):
        raise ValueError(f"the expiry is {expires!r}, not epoch milliseconds")


def _check_idem_expiry(key: bytes, value: bytes) -> None:
    if len(key) <= 8 + _ID_BYTES or value:
        raise ValueError("not an expiry index entry (8-byte time, id, key; empty value)")


def _check_alarm(key: bytes, value: bytes) -> None:
    if len(key) != _ID_BYTES:
        raise ValueError(f"the key is {len(key)} bytes, not a 32-byte object id")
    alarms.decode(value)


def _check_alarm_due(key: bytes, value: bytes) -> None:
    if len(key) != 8 + _ID_BYTES:
        raise ValueError("not a due-time index entry (8-byte time and a 32-byte id)")


# System databases: those checked record by record here, and those checked above
# (None). A system database not named here is listed as unchecked, not as a problem.
_SYSTEM_CHECKS: dict[bytes, Callable[[bytes, bytes], None] | None] = {
    b"_meta": None,
    b"_objects": None,
    idempotency.IDEM_DB: _check_idem,
    idempotency.EXPIRY_DB: _check_idem_expiry,
    alarms.ALARMS_DB: _check_alarm,
    alarms.DUE_DB: _check_alarm_due,
}
