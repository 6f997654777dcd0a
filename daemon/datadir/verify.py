"""``lodestone verify``: walk every record of a data directory and check it.

It reads only, through LMDB read transactions, so a directory can be checked
while its daemon serves. The system databases are read in one transaction
(one consistent state); the object databases then in passes of
:data:`_OBJECTS_PER_PASS`, each in a fresh environment and transaction,
because LMDB's cost of opening a database handle grows with the handles
already open (one pass over 100,000 objects would take minutes). An object
created after the first transaction is not checked; one written between
passes is checked as it is then. What is checked:

* the data file: it is whole (its length covers every page its meta page
  says is used; :mod:`daemon.storage.datafile`), before LMDB maps it;
* ``_meta``: the storage format is one this code reads; ``commit_base`` is
  8 bytes; the secret is the one the data recorded (its fingerprint);
* ``_objects``, the registry: each key is a valid class name and a 32-byte
  id; each value is a version-1 record with a name; the id is one this
  deployment's secret makes for that class (and that name), in the class's
  namespace (its first name, kept across renames); its sub-database exists;
* every object sub-database ``o/<64 hex>``: it is registered; every record
  sits under the key it names, its CRC matches its key and value, its key is
  UTF-8 within the key limit, and its value is one whole msgpack value within
  the entry limit; the records walked are as many as LMDB counts;
* idempotency and alarm records decode.

Every key and value of every database is read, so every page reachable
from the meta page is touched; an LMDB error on the way (a damaged page) is
reported for that database and the walk goes on with the next. Every
problem is one line naming the object and key; nothing is written anywhere.

What it cannot see: a changed byte in the free space of a page or in a page
no longer in use (harmless), and a changed byte in a system record that
still decodes to a plausible value (an alarm's time, an idempotency
result, a record-version counter): those records carry no CRC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import msgpack

from daemon.datadir.class_migrations import state_from
from daemon.datadir.progress import Progress
from daemon.datadir.system_records import SYSTEM_CHECKS, check_alarm_index, check_count, check_each, check_idem_index
from daemon.errors import DataDamaged, LodestoneError
from daemon.ids import SECRET_FILE, IdFactory, check_class_name, secret_fingerprint
from daemon.model import Limits
from daemon.storage import alarms, datafile, idempotency, keyspace, meta
from daemon.storage.isolated import run_isolated, signal_sentence
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
    nothing else can be using. Raises ``NotADataDirectory`` if there is no
    data file, and ``DataDamaged`` if it is not whole (before mapping it).
    """
    if not (lmdb_dir / "data.mdb").is_file():
        raise NotADataDirectory(f"{lmdb_dir.parent} holds no Lodestone data (no lmdb/data.mdb)")
    datafile.check(lmdb_dir / datafile.DATA_FILE)
    return lmdb.open(str(lmdb_dir), readonly=True, lock=lock, max_dbs=max_dbs, subdir=True, create=False, mode=0o600,
                     readahead=False)


def verify(
    data_dir: Path,
    progress: Progress,
    on_problem: Callable[[str], None] | None = None,
    lock: bool = True,
) -> VerifyReport:
    """Check every record of ``data_dir`` (see the module docstring); write nothing.

    ``on_problem`` sees each problem as it is found. The walk runs in a
    child process (:mod:`daemon.storage.isolated`), so damage that kills its
    reader (LMDB's own assertions, SIGBUS) is one more problem, not a crash.
    Raises ``NotADataDirectory`` if there is no LMDB environment to read.
    """
    if not (data_dir / "lmdb" / "data.mdb").is_file():
        raise NotADataDirectory(f"{data_dir} holds no Lodestone data (no lmdb/data.mdb)")
    report = VerifyReport()

    def problem(text: str) -> None:
        report.problems.append(text)
        if on_problem is not None:
            on_problem(text)

    def on_line(line: str) -> None:
        if line.startswith("error: "):
            problem(f"verify could not finish: {line[len('error: '):]}")
            return
        message = json.loads(line)
        if "problem" in message:
            problem(message["problem"])
        else:
            for name, value in message["report"].items():
                setattr(report, name, value)

    def walk(emit: Callable[[str], None]) -> None:
        found = _walk(data_dir, progress, lambda text: emit(json.dumps({"problem": text})), lock)
        emit(json.dumps({"report": {"objects": found.objects, "records": found.records,
                                    "commit_seq": found.commit_seq, "unchecked_dbs": found.unchecked_dbs}}))

    progress.start("verify", None, "objects")
    died = run_isolated(walk, on_line)
    if died is not None:
        problem(f"data file: {signal_sentence(died)}; {data_dir / 'lmdb' / 'data.mdb'} is damaged further than "
                "the lines above say: restore the latest backup")
    progress.finish(f"{report.objects} objects, {report.records} records, {len(report.problems)} problems")
    return report


def _walk(data_dir: Path, progress: Progress, problem: Callable[[str], None], lock: bool) -> VerifyReport:
    """The walk :func:`verify` runs in its child; its problems go to ``problem`` (the report holds none)."""
    lmdb_dir = data_dir / "lmdb"
    report = VerifyReport()
    try:
        secret: bytes | None = (data_dir / SECRET_FILE).read_bytes()
    except OSError as exc:
        secret = None
        problem(f"secret: cannot read the deployment secret ({exc}); ids are not checked")
    try:
        registry, object_dbs = _check_system(lmdb_dir, secret, lock, report, problem)
    except (DataDamaged, lmdb.Error) as exc:
        problem(f"data file: {exc}")
        return report
    found = {name[len(OBJECT_DB_PREFIX):].decode(errors="replace") for name in object_dbs}
    for object_id, (class_name, object_name) in registry.items():
        if object_id not in found:
            problem(f"{_who(class_name, object_name, object_id)}: registered but its sub-database is missing")
    progress.start("verify", len(object_dbs), "objects")
    for start in range(0, len(object_dbs), _OBJECTS_PER_PASS):
        batch = object_dbs[start:start + _OBJECTS_PER_PASS]
        try:
            with open_readonly(lmdb_dir, len(batch), lock) as env, env.begin() as txn:
                for db_name in batch:
                    _guarded(db_name.decode(errors="replace"), problem,
                             _check_object_db, txn, env, db_name, registry, report, problem)
        except lmdb.Error as exc:
            problem(f"objects {start + 1} to {start + len(batch)}: cannot be read: {exc}")
        progress.update(start + len(batch))
    report.objects = len(object_dbs)
    return report


Registry = dict[str, tuple[str, str | None]]


def _check_system(
    lmdb_dir: Path, secret: bytes | None, lock: bool, report: VerifyReport, problem: Callable[[str], None]
) -> tuple[Registry, list[bytes]]:
    """Check the main and system databases in one transaction; return the registry and the object databases."""
    with open_readonly(lmdb_dir, len(SYSTEM_CHECKS), lock) as env, env.begin() as txn:
        names = [bytes(name) for name in txn.cursor().iternext(values=False)]
        object_dbs = [name for name in names if name.startswith(OBJECT_DB_PREFIX)]
        for name in names:
            if name.startswith(b"_") and name not in SYSTEM_CHECKS:
                report.unchecked_dbs.append(name.decode(errors="replace"))
            elif not name.startswith((b"_", OBJECT_DB_PREFIX)):
                problem(f"sub-database {name[:80]!r}: not a name Lodestone gives its databases")
        namespaces: dict[str, str] = {}
        if META_DB in names:
            meta_db = env.open_db(META_DB, txn=txn, create=False)
            namespaces = _guarded("_meta", problem, _check_meta, txn, meta_db, report, problem) or {}
            recorded = txn.get(meta.SECRET_FINGERPRINT, db=meta_db)
            if secret is not None and recorded is not None and bytes(recorded) != secret_fingerprint(secret):
                problem("secret: not the deployment secret this data was written with (its fingerprint "
                        "differs from the one the data recorded); ids are not checked")
                secret = None
        else:
            problem("_meta: missing; this is not a Lodestone data directory")
        ids = IdFactory(secret, namespaces) if secret is not None else None
        registry: Registry = {}
        if REGISTRY_DB in names:
            registry = _guarded("_objects", problem, _check_registry,
                                txn, env.open_db(REGISTRY_DB, txn=txn, create=False), ids, problem) or {}
        for db_name, check in SYSTEM_CHECKS.items():
            if check is not None and db_name in names:
                report.records += _guarded(db_name.decode(), problem, check_each, txn,
                                           env.open_db(db_name, txn=txn, create=False), db_name.decode(),
                                           check, problem) or 0
        if {alarms.ALARMS_DB, alarms.DUE_DB} <= set(names):
            _guarded("_alarms", problem, check_alarm_index, txn, env, registry, problem)
        if {idempotency.IDEM_DB, idempotency.EXPIRY_DB} <= set(names):
            _guarded("_idem", problem, check_idem_index, txn, env, problem)
    return registry, object_dbs


def _guarded(where: str, problem: Callable[[str], None], check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, with an LMDB error (a damaged page) reported as a problem of ``where``; ``None`` then."""
    try:
        return check(*args)
    except (lmdb.Error, DataDamaged) as exc:
        problem(f"{where}: cannot be read to the end: {exc}")
        return None


def _who(class_name: str, name: str | None, object_id: str) -> str:
    return f"{class_name}/{name!r} ({object_id})" if name is not None else f"{class_name}/{object_id}"


def _check_meta(
    txn: lmdb.Transaction, db: Any, report: VerifyReport, problem: Callable[[str], None]
) -> dict[str, str]:
    """Check ``_meta``; return the namespaces of renamed classes (which ids are derived from)."""
    raw = txn.get(FORMAT, db=db)
    try:
        version = msgpack.unpackb(raw)["v"] if raw is not None else None
    except Exception as exc:
        problem(f"_meta format: does not decode: {exc}")
        version = FORMAT_VERSION
    if version is None:
        problem("_meta: no storage format recorded")
    elif not isinstance(version, int) or version > FORMAT_VERSION:
        problem(f"_meta format: version {version!r} is not one this Lodestone reads (up to {FORMAT_VERSION})")
    namespaces: dict[str, str] = {}
    try:
        namespaces = dict(state_from(meta.read(txn, db, meta.CLASS_MIGRATIONS)).namespaces)
    except Exception as exc:
        problem(f"_meta {meta.CLASS_MIGRATIONS.decode()}: does not decode: {exc}")
    raw = txn.get(COMMIT_BASE, db=db)
    if raw is not None and len(raw) != 8:
        problem(f"_meta {COMMIT_BASE.decode()}: {len(raw)} bytes, expected 8")
        return namespaces
    report.commit_seq = commit_number(txn, db)
    return namespaces


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
    db = env.open_db(db_name, txn=txn, create=False)
    walked = 0
    for stored_key, record in txn.cursor(db):
        walked += 1
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
    check_count(txn, db, walked, who, problem)
