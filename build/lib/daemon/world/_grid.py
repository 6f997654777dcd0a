"""A uniform grid over the horizontal plane (x, z): the Foreman's spatial index.

Each entry sits in the cell ``(floor(x / size), floor(z / size))``. A query
walks rings of cells outward from the query's cell and stops once the k-th
best distance found is no farther than the nearest cell not yet walked
(after ring ``r`` every unwalked point is more than ``r * size`` away
horizontally, and the 3-D distance is never less than the horizontal one).
A query far from every entry would walk many empty cells, so once the rings
have cost more than visiting every occupied cell, it visits those instead:
a query costs at most the size of the index, usually a few cells.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from typing import Any

Entry = dict[str, Any]
Cell = tuple[int, int]


class Grid:
    """Entries with a ``position`` ``{x, y, z}``, keyed by name, indexed by cell."""

    def __init__(self, cell_size: float) -> None:
        self.size = cell_size
        self.entries: dict[str, Entry] = {}
        self._cell_of: dict[str, Cell] = {}
        self._cells: dict[Cell, dict[str, Entry]] = {}
        self._bounds: tuple[int, int, int, int] | None = None  # min and max cell x, min and max cell z

    def __len__(self) -> int:
        return len(self.entries)

    def cell(self, x: float, z: float) -> Cell:
        return math.floor(x / self.size), math.floor(z / self.size)

    def put(self, name: str, entry: Entry) -> None:
        """Add or replace ``name``'s entry, moving it to its position's cell."""
        position = entry["position"]
        cell = self.cell(position["x"], position["z"])
        old = self._cell_of.get(name)
        if old is not None and old != cell:
            members = self._cells[old]
            del members[name]
            if not members:
                del self._cells[old]
        self._cells.setdefault(cell, {})[name] = entry
        bounds = self._bounds or (cell[0], cell[0], cell[1], cell[1])
        self._bounds = (min(bounds[0], cell[0]), max(bounds[1], cell[0]), min(bounds[2], cell[1]),
                        max(bounds[3], cell[1]))
        self._cell_of[name] = cell
        self.entries[name] = entry

    def _ring(self, cx: int, cz: int, r: int) -> Iterator[Cell]:
        if r == 0:
            yield cx, cz
            return
        for dx in range(-r, r + 1):
            yield cx + dx, cz - r
            yield cx + dx, cz + r
        for dz in range(-r + 1, r):
            yield cx - r, cz + dz
            yield cx + r, cz + dz

    def nearest(
        self, point: dict[str, float], k: int, accept: Callable[[Entry], bool], max_distance: float | None = None
    ) -> list[tuple[float, Entry]]:
        """Up to ``k`` accepted entries nearest ``point`` (3-D distance), nearest first, ties by name."""
        x, y, z = point["x"], point["y"], point["z"]
        best: list[tuple[float, str, Entry]] = []  # a max-heap by distance: (-distance, name, entry)
        limit = math.inf if max_distance is None else max_distance

        def consider(members: dict[str, Entry]) -> None:
            for name, entry in members.items():
                p = entry["position"]
                distance = math.dist((x, y, z), (p["x"], p["y"], p["z"]))
                if distance > limit or not accept(entry):
                    continue
                item = (-distance, name, entry)
                if len(best) < k:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)

        if self._bounds is not None:
            cx, cz = self.cell(x, z)
            walked, r = 0, 0
            low_x, high_x, low_z, high_z = self._bounds
            span = max(cx - low_x, high_x - cx, cz - low_z, high_z - cz)
            while r <= span:
                if walked > 2 * len(self._cells) + 64:  # far from everything: visit what is there
                    best.clear()
                    for members in self._cells.values():
                        consider(members)
                    break
                for cell in self._ring(cx, cz, r):
                    walked += 1
                    found = self._cells.get(cell)
                    if found:
                        consider(found)
                if (len(best) == k and -best[0][0] <= r * self.size) or r * self.size > limit:
                    break
                r += 1
        return [(-negative, entry) for negative, _, entry in sorted(best, key=lambda item: (-item[0], item[1]))]
