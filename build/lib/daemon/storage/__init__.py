"""Durable storage: one LMDB environment, one named sub-database per object.

The only layer that imports ``lmdb`` (whole-data-directory tools in
:mod:`daemon.datadir` aside). :class:`Store` owns the environment;
:class:`CycleTransaction` is a cycle's write transaction; :class:`Snapshot`
a read transaction for queries between cycles.
"""

from __future__ import annotations

from daemon.storage.environment import LOCK_FILE, Store, StoreOptions
from daemon.storage.snapshot import Snapshot
from daemon.storage.transaction import CycleTransaction

__all__ = ["LOCK_FILE", "CycleTransaction", "Snapshot", "Store", "StoreOptions"]
