"""The Foreman's spatial grid against brute force, near and far, with moves and filters."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from daemon.world._grid import Grid


def entry(name: str, x: float, y: float, z: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "position": {"x": x, "y": y, "z": z}, **extra}


def brute(entries: list[dict[str, Any]], point: tuple[float, float, float], k: int) -> list[str]:
    def distance(e: dict[str, Any]) -> float:
        return math.dist(point, (e["position"]["x"], e["position"]["y"], e["position"]["z"]))

    return [e["name"] for e in sorted(entries, key=lambda e: (distance(e), e["name"]))[:k]]


@pytest.mark.parametrize("cell_size", [1, 16, 32, 500])
def test_nearest_matches_brute_force_near_and_far(cell_size: float) -> None:
    rng = random.Random(cell_size)
    grid = Grid(cell_size)
    entries = [entry(f"a{i}", rng.gauss(0, 300), rng.uniform(0, 300), rng.gauss(0, 300)) for i in range(300)]
    for e in entries:
        grid.put(e["name"], e)
    for point in [(0, 64, 0), (250, 0, -250), (1e6, 64, -1e6), (-0.5, 0, -0.5)]:
        for k in (1, 3, 25, 400):
            found = grid.nearest({"x": point[0], "y": point[1], "z": point[2]}, k, lambda e: True)
            assert [e["name"] for _, e in found] == brute(entries, point, k)
            assert [d for d, _ in found] == sorted(d for d, _ in found)


def test_moves_filters_and_max_distance() -> None:
    grid = Grid(10)
    grid.put("a", entry("a", 0, 0, 0, ok=True))
    grid.put("b", entry("b", 5, 0, 0, ok=False))
    grid.put("c", entry("c", 100, 0, 0, ok=True))
    grid.put("c", entry("c", 3, 0, 4, ok=True))  # moved into a's cell
    assert len(grid) == 3
    assert [e["name"] for _, e in grid.nearest({"x": 0, "y": 0, "z": 0}, 3, lambda e: e["ok"])] == ["a", "c"]
    assert [d for d, _ in grid.nearest({"x": 0, "y": 0, "z": 0}, 3, lambda e: True, max_distance=5)] == [0, 5, 5]
    assert grid.nearest({"x": 100, "y": 0, "z": 0}, 1, lambda e: True, max_distance=50) == []
    assert Grid(10).nearest({"x": 0, "y": 0, "z": 0}, 1, lambda e: True) == []
