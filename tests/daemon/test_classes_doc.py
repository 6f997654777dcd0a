"""The example class in docs/classes.md, run as written: a module an operator would copy."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime, RuntimeOptions
from daemon.runtime.classes import load_classes
from daemon.storage import Store, StoreOptions
from tests.conftest import REPO, SECRET

DOC = REPO / "docs" / "classes.md"


@pytest.fixture
def furnaces(tmp_path: Path) -> Iterator[tuple[Runtime, list[int]]]:
    source = re.search(r"## A class of your own.*?```python\n(.*?)```", DOC.read_text(), re.S)
    assert source is not None, "docs/classes.md lost its example"
    (tmp_path / "furnace_example.py").write_text(source.group(1))
    sys.path.insert(0, str(tmp_path))
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 24))
    store.open()
    now = [1_000_000]
    options = RuntimeOptions(class_options={"Furnace": {"smelt_s": 2}})
    try:
        yield Runtime(store, IdFactory(SECRET), "test", options, load_classes(["furnace_example"]),
                      lambda: now[0]), now
    finally:
        store.close()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("furnace_example", None)


def run(runtime: Runtime, op: str, **args: Any) -> dict[str, Any]:
    reply: dict[str, Any] = runtime.run_cycle([Request(1, op, {"class": "Furnace", "name": "f1"}, args, None)]
                                              ).replies[0]
    return reply


def test_the_documented_furnace_works(furnaces: tuple[Runtime, list[int]]) -> None:
    runtime, now = furnaces
    assert run(runtime, "Furnace.load", item="iron_ore", count=2)["result"] == {
        "input": "iron_ore", "queued": 2, "smelted": 0}
    assert run(runtime, "Furnace.load", item="sand", count=1)["error"]["code"] == "CONFLICT"
    assert run(runtime, "Furnace.load", item="gold", count=1)["error"]["code"] == "BAD_REQUEST"
    notices = []
    for _ in range(3):
        now[0] += 2000
        notices += runtime.run_alarms().notices
    assert run(runtime, "Furnace.state")["result"] == {"input": "iron_ore", "queued": 0, "smelted": 2}
    assert [topic for topic, _ in notices] == [b"furnace.smelted.f1"] * 2
