"""storage.transfer on real LMDB: an object's image carries everything, and the markers do what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.config import ClusterSettings, load_config
from daemon.errors import ConfigError
from daemon.ids import IdFactory
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions, transfer
from tests.conftest import SECRET, call, ok

STEVE = {"class": "Steve", "name": "steve-1"}
LONG = "k" * 600  # stored as a prefix and a digest, its record carrying the whole key


def _runtime(path: Path) -> tuple[Store, Runtime]:
    store = Store(path, StoreOptions(map_size=1 << 24))
    store.open()
    return store, Runtime(store, IdFactory(SECRET), "test")


def _everything(runtime: Runtime) -> dict[str, Any]:
    return {
        "entries": ok(call(runtime, "storage.list", {}, STEVE))["entries"],
        "alarm": ok(call(runtime, "alarm.get", {}, STEVE))["at_ms"],
        "alarms": ok(call(runtime, "alarms.list"))["alarms"],
    }


def test_an_image_installed_elsewhere_is_the_whole_object(tmp_path: Path) -> None:
    source, here = _runtime(tmp_path / "a")
    target, there = _runtime(tmp_path / "b")
    try:
        ok(call(here, "storage.put", {"entries": {"hp": 20, LONG: "long", "": "empty key"}}, STEVE))
        ok(call(here, "storage.put", {"key": "x", "value": 1}, STEVE, idem="first"))
        ok(call(here, "storage.put", {"key": "x", "value": 2}, STEVE))
        ok(call(here, "alarm.set", {"at_ms": 4_000_000_000_000}, STEVE))
        before = _everything(here)
        ref = here.resolve(STEVE)

        image = transfer.mark_leaving(source, "Steve", ref.id, ref.name, epoch=7, to_node="b")
        assert ok(call(here, "alarms.list"))["alarms"] == []  # out of the schedule while it moves
        transfer.store_pending(target, image.encode(), ref.id, 7, "a")
        assert ok(call(there, "storage.list", {}, STEVE))["entries"] == []  # pending is not served
        assert transfer.markers(target)[1][0].epoch == 7
        installed = transfer.install_pending(target, ref.id)
        assert installed is not None and installed.size > 600
        assert _everything(there) == before
        assert transfer.markers(target) == ([], [])
        # The idempotency record came along: the first write sent again is a replay, not a write.
        ok(call(there, "storage.put", {"key": "x", "value": 1}, STEVE, idem="first"))
        assert ok(call(there, "storage.get", {"key": "x"}, STEVE))["value"] == 2

        transfer.drop(source, "Steve", ref.id)
        assert ok(call(here, "objects.list", {"class": "Steve"}))["objects"] == []
        assert ok(call(here, "storage.list", {}, STEVE))["entries"] == []
        assert transfer.markers(source) == ([], [])
    finally:
        source.close()
        target.close()


def test_a_move_that_did_not_happen_puts_the_alarm_back_and_a_lost_copy_is_quarantined(tmp_path: Path) -> None:
    store, runtime = _runtime(tmp_path / "a")
    try:
        ok(call(runtime, "storage.put", {"key": "hp", "value": 20}, STEVE))
        ok(call(runtime, "alarm.set", {"at_ms": 4_000_000_000_000}, STEVE))
        ref = runtime.resolve(STEVE)
        transfer.mark_leaving(store, "Steve", ref.id, ref.name, epoch=3, to_node="b")
        resumed = transfer.resume(store, ref.id)
        assert resumed is not None and resumed.at_ms == 4_000_000_000_000
        assert len(ok(call(runtime, "alarms.list"))["alarms"]) == 1

        transfer.drop(store, "Steve", ref.id, quarantine_epoch=3, name=ref.name)
        assert ok(call(runtime, "storage.list", {}, STEVE))["entries"] == []
        assert ok(call(runtime, "alarms.list"))["alarms"] == []
        assert transfer.quarantined(store) == [(ref.id, 3)]
    finally:
        store.close()


def test_without_a_cluster_table_cluster_mode_is_off(tmp_path: Path) -> None:
    assert load_config(None, {}, {}).cluster is None


def test_a_cluster_table_is_read_with_its_placement(tmp_path: Path) -> None:
    path = tmp_path / "lodestone.toml"
    path.write_text('[cluster]\nname = "net"\nnode_id = "hub-1"\netcd = ["http://127.0.0.1:2379"]\n'
                    'token = "s"\n[cluster.placement]\nAgent = "home"\n')
    cluster = load_config(path, {}, {}).cluster
    assert isinstance(cluster, ClusterSettings) and cluster.lease_ttl_s == 10
    assert (cluster.placement_of("Agent"), cluster.placement_of("Foreman"), cluster.placement_of("Chest")) == \
        ("home", "home", "follow")


@pytest.mark.parametrize(("table", "words"), [
    ('name = "net"\nnode_id = "n 1"\netcd = ["http://e:2379"]\ntoken = "s"', "node_id"),
    ('name = "net"\nnode_id = "n1"\netcd = ["e:2379"]\ntoken = "s"', "etcd"),
    ('name = "net"\nnode_id = "n1"\netcd = ["http://e:2379"]', "token"),
    ('name = "net"\nnode_id = "n1"\netcd = ["http://e:2379"]\ntoken = "s"\nlease_ttl_s = 1', "lease_ttl_s"),
    ('name = "net"\nnode_id = "n1"\netcd = ["http://e:2379"]\ntoken = "s"\nleases = 1', "takes only"),
    ('name = "net"\nnode_id = "n1"\netcd = ["http://e:2379"]\ntoken = "s"\nplacement = {Agent = "away"}',
     "placement"),
])
def test_a_bad_cluster_table_is_refused_naming_the_key(tmp_path: Path, table: str, words: str) -> None:
    path = tmp_path / "lodestone.toml"
    path.write_text(f"[cluster]\n{table}\n")
    with pytest.raises(ConfigError, match=words):
        load_config(path, {}, {})
