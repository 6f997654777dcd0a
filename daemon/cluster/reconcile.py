"""Start-up: settle every move this data directory was in the middle of, against the owner records.

Before a node serves, each object it holds is made to agree with etcd:

* a **pending** image (received, the ownership change not known to have
  committed) is installed if the owner record names this node as taking it
  from that sender and epoch, and discarded otherwise;
* a **leaving** object (exported, the change not known) is dropped if the
  record shows it went to the receiver from this node's epoch; if the
  record still holds this node's epoch, this node fences it (a new epoch,
  so the stale handoff cannot commit) and serves it again; otherwise (an
  eviction) its copy is quarantined;
* any other local object: kept if this node owns it, claimed if nobody
  does (a data directory that joins a cluster), quarantined if the record
  names another node or an eviction.

So after a crash at any step exactly one node owns each object, with its
whole state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from daemon.cluster import ownership
from daemon.cluster.directory import Snapshot
from daemon.cluster.etcd import Etcd
from daemon.cluster.outbox import OUTBOX_CLASS
from daemon.cluster.records import Keys, Owner
from daemon.model import ObjectRef
from daemon.storage import Store, transfer

log = logging.getLogger(__name__)


@dataclass
class Settled:
    """What start-up did, for the log and the tests."""

    installed: int = 0
    discarded: int = 0
    dropped: int = 0
    resumed: int = 0
    claimed: int = 0
    quarantined: int = 0


def settle(store: Store, etcd: Etcd, keys: Keys, node: str, snapshot: Snapshot) -> Settled:
    """Make the data directory agree with the owner records in ``snapshot`` (updated with what it writes)."""
    done = Settled()
    owners = snapshot.owners
    leaving, pending = transfer.markers(store)
    names = {object_id: (class_name, name) for class_name, object_id, name in transfer.local_objects(store)}
    for marker in pending:
        owner = owners.get(marker.object_id)
        if owner is not None and owner.node == node and owner.from_node == marker.node \
                and owner.from_epoch == marker.epoch:
            image = transfer.install_pending(store, marker.object_id)
            if image is not None:
                names[marker.object_id] = (image.class_name, image.name)
            done.installed += 1
        else:
            transfer.discard_pending(store, marker.object_id)
            done.discarded += 1
    for marker in leaving:
        class_name, name = names.get(marker.object_id, (None, None))
        owner = owners.get(marker.object_id)
        if class_name is None:
            class_name = owner.class_name if owner is not None else None
        if class_name is None:
            transfer.resume(store, marker.object_id)
            continue
        ref = ObjectRef(class_name, marker.object_id, name)
        _settle_leaving(store, etcd, keys, node, ref, marker.epoch, owner, owners, done)
        names.pop(marker.object_id, None)
    for object_id, (class_name, name) in names.items():
        if class_name == OUTBOX_CLASS:  # this node's own, never owned through etcd
            continue
        _settle_local(store, etcd, keys, node, ObjectRef(class_name, object_id, name), owners, done)
    log.info("cluster start-up: %s", done)
    return done


def _settle_leaving(store: Store, etcd: Etcd, keys: Keys, node: str, ref: ObjectRef, epoch: int,
                    owner: Owner | None, owners: dict[str, Owner], done: Settled) -> None:
    while owner is not None and owner.node == node and owner.epoch == epoch:
        _, owner = ownership.fence(etcd, keys, ref, node, epoch)
        if owner is not None:
            owners[ref.id] = owner
    if owner is not None and owner.node == node:
        transfer.resume(store, ref.id)
        done.resumed += 1
    elif owner is not None and owner.from_node == node and owner.from_epoch == epoch:
        transfer.drop(store, ref.class_name, ref.id)
        done.dropped += 1
    else:
        transfer.drop(store, ref.class_name, ref.id, quarantine_epoch=epoch, name=ref.name)
        done.quarantined += 1


def _settle_local(store: Store, etcd: Etcd, keys: Keys, node: str, ref: ObjectRef,
                  owners: dict[str, Owner], done: Settled) -> None:
    owner = owners.get(ref.id)
    if owner is not None and owner.node == node:
        return
    if owner is None:
        claimed, owner = ownership.claim(etcd, keys, ref, node, None)
        if owner is not None:
            owners[ref.id] = owner
        if claimed:
            done.claimed += 1
            return
    epoch = owner.epoch if owner is not None else 0
    log.warning("%s %s: node %s holds a copy but does not own it (owner: %s); quarantined",
                ref.class_name, ref.name or ref.id, node, owner.node if owner else None)
    transfer.drop(store, ref.class_name, ref.id, quarantine_epoch=epoch, name=ref.name)
    done.quarantined += 1
