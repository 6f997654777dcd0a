"""Class migrations: tags in order, renames that keep ids and data, deletes after a backup."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import parse_steps
from daemon.datadir.class_migrations import apply, load_state
from daemon.errors import ConfigError
from daemon.ids import IdFactory
from daemon.model import Step
from daemon.runtime import Runtime
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, error_code, ok

V1 = Step("v1", new_classes=("SteveAgent", "Foreman"))
V2 = Step("v2", renamed_classes=(("SteveAgent", "Agent"),))
V3 = Step("v3", deleted_classes=("Foreman",))


def runtime_for(store: Store) -> Runtime:
    with store.env.begin() as txn:
        state = load_state(txn, store)
    runtime = Runtime(store, IdFactory(SECRET, state.namespaces), "test")
    runtime.retired = dict(state.retired)
    return runtime


def test_parse_the_wrangler_style_table() -> None:
    steps = parse_steps([
        {"tag": "v1", "new_classes": ["SteveAgent"]},
        {"tag": "v2", "renamed_classes": [{"from": "SteveAgent", "to": "Agent"}]},
        {"tag": "v3", "deleted_classes": ["Legacy"]},
    ], "test.toml")
    assert steps == (Step("v1", ("SteveAgent",)), Step("v2", renamed_classes=(("SteveAgent", "Agent"),)),
                     Step("v3", deleted_classes=("Legacy",)))
    for bad, words in (([{"new_classes": ["A"]}], "needs a tag"), ([{"tag": "a"}, {"tag": "a"}], "unique"),
                       ([{"tag": "a", "renamed_classes": [{"old": "A"}]}], "from = ..."),
                       ([{"tag": "a", "new_clases": ["A"]}], "unknown keys")):
        with pytest.raises(ConfigError, match=words):
            parse_steps(bad, "test.toml")


def test_rename_keeps_ids_data_and_alarms(store: Store) -> None:
    apply(store, (V1,), lambda tag: None)
    before = runtime_for(store)
    old_id = ok(call(before, "id.from_name", {"class": "SteveAgent", "name": "steve-42"}))["id"]
    ok(call(before, "storage.put", {"key": "hp", "value": 17}, {"class": "SteveAgent", "name": "steve-42"}))
    ok(call(before, "alarm.set", {"at_ms": 9_000_000_000_000}, {"class": "SteveAgent", "name": "steve-42"}))

    apply(store, (V1, V2), lambda tag: None)
    after = runtime_for(store)
    assert ok(call(after, "id.from_name", {"class": "Agent", "name": "steve-42"}))["id"] == old_id
    agent = {"class": "Agent", "name": "steve-42"}
    assert ok(call(after, "storage.get", {"key": "hp"}, agent)) == {"found": True, "value": 17}
    assert ok(call(after, "storage.get", {"key": "hp"}, {"class": "Agent", "id": old_id}))["value"] == 17
    assert ok(call(after, "alarm.get", {}, agent)) == {"at_ms": 9_000_000_000_000}
    assert ok(call(after, "objects.list", {"class": "Agent"}))["objects"] == [{"id": old_id, "name": "steve-42"}]
    assert ok(call(after, "alarms.list", {}))["alarms"][0]["class"] == "Agent"
    reply = call(after, "storage.get", {"key": "hp"}, {"class": "SteveAgent", "name": "steve-42"})
    assert error_code(reply) == "NOT_FOUND" and "renamed to 'Agent' by migration 'v2'" in reply["error"]["message"]


def test_delete_removes_the_data_after_a_backup(store: Store) -> None:
    apply(store, (V1, V2), lambda tag: None)
    runtime = runtime_for(store)
    for i in range(5):
        ok(call(runtime, "storage.put", {"key": "k", "value": i}, {"class": "Foreman", "name": f"f{i}"}))
    ok(call(runtime, "storage.put", {"key": "k", "value": 1}, {"class": "Agent", "name": "kept"}))
    backups: list[str] = []
    apply(store, (V1, V2, V3), backups.append)
    assert backups == ["v3"]
    after = runtime_for(store)
    assert ok(call(after, "objects.list", {"class": "Foreman"}, None))["objects"] == []
    assert error_code(call(after, "storage.get", {"key": "k"}, {"class": "Foreman", "name": "f1"})) == "NOT_FOUND"
    assert ok(call(after, "storage.get", {"key": "k"}, {"class": "Agent", "name": "kept"}))["value"] == 1


def test_applied_tags_are_recorded_and_not_reapplied(store: Store) -> None:
    apply(store, (V1, V2), lambda tag: None)
    apply(store, (V1, V2), lambda tag: None)
    with store.env.begin() as txn:
        assert [entry["tag"] for entry in load_state(txn, store).applied] == ["v1", "v2"]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ((V2, V1), "tags apply in order"),
        ((V1,), "missing from the config"),
        ((V1, Step("v2", renamed_classes=(("SteveAgent", "Steve"),))), "edited after it was applied"),
        ((V1, V3), "tags apply in order"),
    ],
)
def test_reordered_skipped_or_edited_tags_are_refused(store: Store, config: tuple[Step, ...], words: str) -> None:
    apply(store, (V1, V2), lambda tag: None)
    with pytest.raises(ConfigError, match=words):
        apply(store, config, lambda tag: None)


def test_a_fresh_directory_takes_every_step(tmp_path: Path) -> None:
    store = Store(tmp_path / "d", StoreOptions())
    store.open()
    try:
        state = apply(store, (V1, V2, V3), lambda tag: None)
        assert [entry["tag"] for entry in state.applied] == ["v1", "v2", "v3"]
        assert state.namespaces == {"Agent": "SteveAgent"}
    finally:
        store.close()
