"""The node's lease against a real etcd: its deadline, and a new lease when etcd lost the old one."""

from __future__ import annotations

import threading
import uuid

from daemon.cluster.etcd import Etcd
from daemon.cluster.lease import Lease
from tests.cluster.support import EtcdCluster
from tests.conftest import wait_for


def test_writes_are_acknowledged_until_the_send_time_plus_the_ttl_less_the_margin(shared_etcd: EtcdCluster) -> None:
    now = [1000.0]
    key = f"/lodestone/{uuid.uuid4().hex}/nodes/x".encode()
    lease = Lease(Etcd(shared_etcd.clients), 30, key, b"{}", lambda: None, clock=lambda: now[0])
    lease.start()
    try:
        assert lease.margin_s == 6 and lease.deadline == 1024
        now[0] = 1023.99
        assert lease.valid()
        now[0] = 1024
        assert not lease.valid()
    finally:
        lease.close()
    assert Etcd(shared_etcd.clients).range(key)[0] == []  # revoked: the node record went with it


def test_a_lease_etcd_lost_is_replaced_and_the_node_told_to_recheck(shared_etcd: EtcdCluster) -> None:
    etcd = Etcd(shared_etcd.clients)
    key = f"/lodestone/{uuid.uuid4().hex}/nodes/x".encode()
    changed = threading.Event()
    lease = Lease(etcd, 3, key, b"{}", changed.set)
    lease.start()
    try:
        first = lease.lease_id
        etcd.revoke(first)  # as if it had expired while the node was frozen
        assert changed.wait(10)
        assert lease.generation == 2 and lease.lease_id != first
        wait_for(lambda: lease.valid())
        assert etcd.range(key)[0][0].lease == lease.lease_id  # registered again, under the new lease
    finally:
        lease.close()
