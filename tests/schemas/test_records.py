"""Record schemas: golden fixtures of every version, round trips, migrations, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.agent import AGENT_STATE
from schemas.records import NewerVersionError, RecordError

FIXTURES = Path(__file__).resolve().parents[2] / "schemas" / "fixtures" / "AgentState"


def fixture(version: int) -> bytes:
    return (FIXTURES / f"v{version}.msgpack").read_bytes()


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_golden_fixtures_decode_to_the_current_version(version: int) -> None:
    expected = json.loads((FIXTURES / "expected_current.json").read_text())[f"v{version}"]
    assert AGENT_STATE.read_version(fixture(version))[0] == version
    assert AGENT_STATE.decode(fixture(version)) == expected


def test_the_current_fixture_round_trips_byte_for_byte() -> None:
    assert AGENT_STATE.current == 4
    assert AGENT_STATE.encode(AGENT_STATE.decode(fixture(4))) == fixture(4)


def test_v3_gains_an_unknown_name_no_tasks_and_zero_counts() -> None:
    state = AGENT_STATE.decode(fixture(3))
    assert state["name"] == "" and state["tasks"] == [] and (state["createdAt"], state["lastSeen"]) == (0, 0)
    assert state["stats"] == {"blocksMined": 31, "blocksPlaced": 7, "distanceTraveled": 152.25,
                              "deaths": 0, "tasksAssigned": 0}


def test_v1_gains_an_empty_inventory_and_default_stats() -> None:
    state = AGENT_STATE.decode(fixture(1))
    assert state["inventory"] == [] and state["maxHealth"] == 20
    assert state["stats"] == {"blocksMined": 0, "blocksPlaced": 0, "distanceTraveled": 0.0,
                              "deaths": 0, "tasksAssigned": 0}


def test_a_healthier_than_default_agent_keeps_its_health_as_max() -> None:
    old = AGENT_STATE.encode({"health": 30, "position": {"x": 0, "y": 0, "z": 0}}, 1)
    assert AGENT_STATE.decode(old)["maxHealth"] == 30


def test_newer_versions_are_refused_with_what_to_do() -> None:
    future = msgpack.packb({"_type": "AgentState", "_v": 5, "health": 1})
    with pytest.raises(NewerVersionError, match=r"version 5 is newer.*upgrade Lodestone"):
        AGENT_STATE.decode(future)


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({"_type": "Horse", "_v": 1}, "expected a AgentState record"),
        ({"_type": "AgentState"}, "no valid version"),
        ({"_type": "AgentState", "_v": 3, "health": "full"}, "health must be a number"),
        ({"_type": "AgentState", "_v": 1, "health": 1, "position": {"x": 1, "y": 2}}, "position.z is missing"),
        ({"_type": "AgentState", "_v": 1, "health": 1, "position": {"x": 1, "y": 2, "z": 3}, "mana": 3},
         "mana is not a field"),
        ({"_type": "AgentState", "_v": 2, "health": 1, "position": {"x": 1, "y": 2, "z": 3},
          "inventory": [{"type": "dirt", "count": "many"}]}, r"inventory\[0\].count must be an integer"),
    ],
)
def test_bad_records_name_the_field(record: dict[str, Any], words: str) -> None:
    with pytest.raises(RecordError, match=words):
        AGENT_STATE.decode(msgpack.packb(record))


def test_decoding_never_trusts_the_type_named_in_the_data() -> None:
    with pytest.raises(RecordError):
        AGENT_STATE.decode(msgpack.packb({"_type": "os.system", "_v": 1}))
    with pytest.raises(RecordError, match="not valid msgpack"):
        AGENT_STATE.decode(b"\xc1")


numbers = st.one_of(st.integers(-(2**31), 2**31), st.floats(allow_nan=False, allow_infinity=False))
positions = st.fixed_dictionaries({"x": numbers, "y": numbers, "z": numbers})
items = st.fixed_dictionaries(
    {"type": st.text(max_size=12), "count": st.integers(0, 64)},
    optional={"slot": st.one_of(st.none(), st.integers(0, 35))},
)
v1_states = st.fixed_dictionaries({"health": numbers, "position": positions})
v2_states = st.fixed_dictionaries({"health": numbers, "position": positions, "inventory": st.lists(items, max_size=5)})


@given(v1_states)
def test_any_v1_record_migrates_to_a_valid_current_record(state: dict[str, Any]) -> None:
    current = AGENT_STATE.decode(AGENT_STATE.encode(state, 1))
    assert AGENT_STATE.validate(current) == current
    assert current["health"] == state["health"] and current["position"] == state["position"]


@given(v2_states)
def test_any_v2_record_migrates_and_round_trips(state: dict[str, Any]) -> None:
    current = AGENT_STATE.decode(AGENT_STATE.encode(state, 2))
    assert AGENT_STATE.decode(AGENT_STATE.encode(current)) == current
    assert [item["type"] for item in current["inventory"]] == [item["type"] for item in state["inventory"]]


def _corruptions(value: Any, path: tuple[Any, ...] = ()) -> Any:
    """Every copy of ``value`` with one thing wrong: a field missing, a field added, a value of another type."""
    if isinstance(value, dict):
        for key in value:
            yield (*path, key), {k: v for k, v in value.items() if k != key}
            for where, wrong in _corruptions(value[key], (*path, key)):
                yield where, {**value, key: wrong}
        yield (*path, "extra"), {**value, "extra": 1}
    elif isinstance(value, list):
        for index, item in enumerate(value):
            for where, wrong in _corruptions(item, (*path, index)):
                yield where, [*value[:index], wrong, *value[index + 1:]]
        yield (*path, "item"), [*value, "stray"]
    else:
        replacements: tuple[Any, ...] = (True, "text", None, 1.5, 7, [], {})
        for replacement in replacements:
            if type(replacement) is not type(value) and not (value is None and replacement is None):
                yield path, replacement


def test_the_fast_check_never_passes_what_the_full_check_would_change_or_refuse() -> None:
    current = AGENT_STATE.decode(fixture(4))
    assert AGENT_STATE._current_is_complete(current)
    checked = 0
    for where, wrong in _corruptions(current):
        if AGENT_STATE._current_is_complete(wrong):
            assert AGENT_STATE.validate(wrong) == wrong, where  # nothing to fill in, nothing refused
        checked += 1
    assert checked > 100


def test_the_fast_check_takes_every_right_record() -> None:
    """Optional fields nil or set, lists empty or not: a right record never takes the slow path."""
    current = AGENT_STATE.decode(fixture(4))
    items = [{"type": "bread", "count": 5, "slot": None}, {"type": "oak_log", "count": 1, "slot": 3}]
    no_tasks: list[dict[str, Any]] = []
    for inventory in ([], items):
        for tasks in (no_tasks, current["tasks"]):
            right = {**current, "inventory": inventory, "tasks": tasks}
            assert AGENT_STATE.validate(right) == right
            assert AGENT_STATE._current_is_complete(right), (inventory, tasks)


def _outcome(action: Any) -> Any:
    """What ``action()`` gives (decoded, if bytes), or the type of the error it raises."""
    try:
        value = action()
    except (RecordError, TypeError, OverflowError) as exc:
        return type(exc)
    return msgpack.unpackb(value) if isinstance(value, bytes) else value


def test_the_typed_paths_give_the_check_by_check_answer_for_every_corruption() -> None:
    """Decoding in C and encoding with msgspec take a record only when the Python checks agree."""
    current = AGENT_STATE.decode_checked(fixture(4))
    typed = AGENT_STATE._typed
    assert typed is not None and typed.decode(fixture(4)) == current and AGENT_STATE.encode(current) == fixture(4)
    assert current["tasks"], "the fixture has a task to corrupt"

    def task_target(target: Any) -> dict[str, Any]:
        return {**current, "tasks": [{**current["tasks"][0], "target": target}]}

    odd: list[tuple[Any, Any]] = [
        (("tuple",), {**current, "inventory": tuple(current["inventory"])}), (("set",), task_target({1, 2})),
        (("bytes",), {**current, "name": b"steve"}), (("huge",), {**current, "lastSeen": 2**70}),
        (("ext",), task_target(msgpack.ExtType(1, b""))),
    ]
    decoded = 0
    for where, wrong in [*_corruptions(current), *odd]:
        assert _outcome(lambda wrong=wrong: AGENT_STATE.encode(wrong)) == _outcome(
            lambda wrong=wrong: AGENT_STATE.encode_checked(wrong)), where
        try:
            data = msgpack.packb({"_type": "AgentState", "_v": 4, **wrong}, use_bin_type=True)
        except (TypeError, OverflowError):
            continue
        if (fields := typed.decode(data)) is not None:
            decoded += 1
            assert fields == AGENT_STATE.decode_checked(data), where
        else:
            assert _outcome(lambda data=data: AGENT_STATE.decode(data)) == _outcome(
                lambda data=data: AGENT_STATE.decode_checked(data)), where
    assert decoded > 20  # the type changes that stay within the declared kinds (an int for a float...)


@given(st.fixed_dictionaries({
    "name": st.text(max_size=8), "health": numbers, "maxHealth": numbers, "position": positions,
    "inventory": st.lists(st.fixed_dictionaries({"type": st.text(max_size=8), "count": st.integers(0, 64),
                                                 "slot": st.one_of(st.none(), st.integers(0, 35))}), max_size=3),
    "stats": st.fixed_dictionaries({k: st.integers(0, 9) for k in
                                    ("blocksMined", "blocksPlaced", "deaths", "tasksAssigned")}
                                   | {"distanceTraveled": numbers}),
    "tasks": st.lists(st.fixed_dictionaries({
        "id": st.text(max_size=4), "type": st.sampled_from(["mine", "move"]),
        "target": st.recursive(st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=4), st.binary(max_size=2)),
                               lambda inner: st.lists(inner, max_size=2)
                               | st.dictionaries(st.one_of(st.text(max_size=2), st.integers(0, 2)), inner, max_size=2),
                               max_leaves=6),
        "status": st.just("pending"), "createdAt": st.integers(0, 2**40), "updatedAt": st.integers(0, 2**40)}),
        max_size=2),
    "createdAt": st.integers(0, 2**40), "lastSeen": st.integers(0, 2**40),
}))
def test_any_current_record_reads_and_writes_the_same_both_ways(state: dict[str, Any]) -> None:
    data = msgpack.packb({"_type": "AgentState", "_v": 4, **state}, use_bin_type=True)
    typed = AGENT_STATE._typed
    assert typed is not None
    fields = typed.decode(data)
    assert AGENT_STATE.decode(data) == AGENT_STATE.decode_checked(data) == state
    if fields is not None:
        assert fields == state
    assert AGENT_STATE.encode(state) == data  # msgpack's bytes, whichever way they were made
