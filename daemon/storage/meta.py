"""``_meta``: the data directory's own records, each under a key named here and nowhere else.

* ``format``: the storage format version (``{"v": n}``); newer data is refused.
* ``commit_base``: commit numbers are LMDB's id of a write transaction plus this
  base (8 bytes, signed), so numbering costs no write per commit. The base
  changes only when the ids restart: in a compacted copy (a backup).
* ``record_versions``: per record type, the newest version any Lodestone wrote.
* ``class_migrations``: the class migration tags applied, renames and retired names.
"""

from __future__ import annotations

from typing import Any

import lmdb
import msgpack

META_DB = b"_meta"
FORMAT = b"format"
COMMIT_BASE = b"commit_base"
RECORD_VERSIONS = b"record_versions"
CLASS_MIGRATIONS = b"class_migrations"
FORMAT_VERSION = 1


def commit_base(txn: lmdb.Transaction, meta: lmdb._Database) -> int:
    """The base that commit numbers are counted from (see the module docstring)."""
    raw = txn.get(COMMIT_BASE, db=meta)
    return int.from_bytes(raw, "big", signed=True) if raw is not None else 0


def set_commit_base(txn: lmdb.Transaction, meta: lmdb._Database, base: int) -> None:
    """Store the base of commit numbers, in the write transaction ``txn``."""
    txn.put(COMMIT_BASE, base.to_bytes(8, "big", signed=True), db=meta)


def commit_number(txn: lmdb.Transaction, meta: lmdb._Database) -> int:
    """The number of the last commit a read transaction sees, or of the one a write transaction makes."""
    return commit_base(txn, meta) + txn.id()


def read(txn: lmdb.Transaction, meta: lmdb._Database, key: bytes) -> Any:
    """The msgpack record under ``key`` in ``_meta``, or ``None``."""
    raw = txn.get(key, db=meta)
    return None if raw is None else msgpack.unpackb(raw, raw=False)


def write(txn: lmdb.Transaction, meta: lmdb._Database, key: bytes, value: Any) -> None:
    """Store ``value`` (msgpack) under ``key`` in ``_meta``."""
    txn.put(key, msgpack.packb(value, use_bin_type=True), db=meta)
