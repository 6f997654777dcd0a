"""Fixtures: one 3-member etcd cluster shared by the tests that do not harm it, and nodes per test."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.support import EtcdCluster, Nodes, need_etcd


@pytest.fixture(scope="session")
def shared_etcd() -> Iterator[EtcdCluster]:
    need_etcd()
    with tempfile.TemporaryDirectory(prefix="lodestone-etcd-") as root:
        cluster = EtcdCluster(Path(root)).start_all()
        yield cluster
        cluster.close()


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[EtcdCluster]:
    """An etcd cluster for a test that stops members."""
    need_etcd()
    root = tmp_path / "etcd"
    root.mkdir()
    cluster = EtcdCluster(root).start_all()
    yield cluster
    cluster.close()


@pytest.fixture
def nodes(tmp_path: Path, shared_etcd: EtcdCluster) -> Iterator[Nodes]:
    """Nodes of a cluster of their own name on the shared etcd."""
    group = Nodes(tmp_path, f"t{uuid.uuid4().hex[:12]}", shared_etcd.clients)
    yield group
    group.close()
