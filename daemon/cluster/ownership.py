"""The etcd transactions that change who owns an object; each is fenced by the owner record's revision.

* :func:`claim`: take an object no live node owns: it has no record
  (``create_revision == 0``) or an eviction left it unowned (its record's
  mod revision is the one read);
* :func:`take_over`: the last step of a handoff, by the receiving node:
  from ``(from_node, epoch)`` to this node, only if the record still has
  that revision, so an owner that fenced itself meanwhile wins;
* :func:`fence`: the sending node gives up on a handoff that did not
  finish: rewriting its own record gives it a new revision, so the stale
  handoff's :func:`take_over` can no longer succeed.

Each returns ``(succeeded, record now)``; the record's ``epoch`` is its mod
revision. A transaction whose answer was lost (etcd unreachable after it
was sent) is resolved by reading the record until etcd answers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from daemon.cluster.etcd import Etcd, EtcdUnavailable, compare_absent, compare_mod, get, put
from daemon.cluster.records import Keys, Owner
from daemon.model import ObjectRef

log = logging.getLogger(__name__)

_RESOLVE_EVERY_S = 0.25


def read(etcd: Etcd, keys: Keys, ref: ObjectRef) -> Owner | None:
    """The object's owner record, or ``None`` if it has none."""
    kvs, _ = etcd.range(keys.owner(ref.class_name, ref.id))
    return Owner.decode(kvs[0].value, kvs[0].mod_revision) if kvs else None


def _write(etcd: Etcd, keys: Keys, ref: ObjectRef, compare: dict[str, Any], owner: Owner,
           won: Any) -> tuple[bool, Owner | None]:
    key = keys.owner(ref.class_name, ref.id)
    try:
        result = etcd.txn([compare], [put(key, owner.encode())], [get(key)])
    except EtcdUnavailable:
        # The transaction may or may not have committed: the record says which.
        while True:
            try:
                current = read(etcd, keys, ref)
                break
            except EtcdUnavailable:
                time.sleep(_RESOLVE_EVERY_S)
        return bool(current is not None and won(current)), current
    if result.succeeded:
        return True, Owner(owner.class_name, owner.name, owner.node, result.revision, owner.from_node,
                           owner.from_epoch)
    current = Owner.decode(result.kvs[0].value, result.kvs[0].mod_revision) if result.kvs else None
    return False, current


def claim(etcd: Etcd, keys: Keys, ref: ObjectRef, node: str, prior: Owner | None) -> tuple[bool, Owner | None]:
    """Make ``node`` the owner of an object with no record (``prior`` None) or left unowned by an eviction."""
    key = keys.owner(ref.class_name, ref.id)
    compare = compare_absent(key) if prior is None or prior.epoch == 0 else compare_mod(key, prior.epoch)
    owner = Owner(ref.class_name, ref.name, node)
    return _write(etcd, keys, ref, compare, owner,
                  lambda now: now.node == node and now.from_node is None and now.epoch > (prior.epoch if prior else 0))


def take_over(etcd: Etcd, keys: Keys, ref: ObjectRef, node: str, from_node: str,
              epoch: int) -> tuple[bool, Owner | None]:
    """Move the object from ``(from_node, epoch)`` to ``node``: the handoff's commit point."""
    owner = Owner(ref.class_name, ref.name, node, 0, from_node, epoch)
    return _write(etcd, keys, ref, compare_mod(keys.owner(ref.class_name, ref.id), epoch), owner,
                  lambda now: now.node == node and now.from_node == from_node and now.from_epoch == epoch)


def fence(etcd: Etcd, keys: Keys, ref: ObjectRef, node: str, epoch: int) -> tuple[bool, Owner | None]:
    """Keep the object at ``node`` under a new epoch, so a handoff tagged ``epoch`` cannot commit."""
    owner = Owner(ref.class_name, ref.name, node)
    return _write(etcd, keys, ref, compare_mod(keys.owner(ref.class_name, ref.id), epoch), owner,
                  lambda now: now.node == node and now.epoch > epoch and now.from_node is None)
