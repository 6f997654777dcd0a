"""An agent's inventory as a list of stacks ``{type, count, slot}``: pure functions over it.

Adding a type the agent holds grows that stack; a new type takes the slot
asked for, or the lowest free one. Removing more than is held raises
``Conflict`` before anything changes, so a failed call leaves the list as it was.
"""

from __future__ import annotations

from typing import Any

from daemon import Conflict

Stack = dict[str, Any]


def held(inventory: list[Stack], kind: str) -> int:
    """How many of ``kind`` the inventory holds."""
    return sum(stack["count"] for stack in inventory if stack["type"] == kind)


def _free_slot(inventory: list[Stack]) -> int:
    taken = {stack["slot"] for stack in inventory}
    slot = 0
    while slot in taken:
        slot += 1
    return slot


def add(inventory: list[Stack], kind: str, count: int, slot: int | None = None) -> Stack:
    """Add ``count`` of ``kind``, stacking onto a stack of the same type; return that stack.

    Raises ``Conflict`` if ``slot`` is asked for a new stack and another type holds it.
    """
    for stack in inventory:
        if stack["type"] == kind:
            stack["count"] += count
            return stack
    if slot is None:
        slot = _free_slot(inventory)
    else:
        for stack in inventory:
            if stack["slot"] == slot:
                raise Conflict(f"slot {slot} holds {stack['type']}; pick a free slot or leave slot out")
    stack = {"type": kind, "count": count, "slot": slot}
    inventory.append(stack)
    return stack


def remove(inventory: list[Stack], items: list[dict[str, Any]], who: str) -> None:
    """Remove every ``{type, count}`` of ``items``, or raise ``Conflict`` and change nothing."""
    for item in items:
        have = held(inventory, item["type"])
        if have < item["count"]:
            raise Conflict(
                f"{who} holds {have} {item['type']}, cannot remove {item['count']}; nothing was changed"
            )
    for item in items:
        stack = next(stack for stack in inventory if stack["type"] == item["type"])
        stack["count"] -= item["count"]
        if stack["count"] == 0:
            inventory.remove(stack)
