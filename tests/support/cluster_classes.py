"""A class whose op reads a Foreman through a call, for the cluster tests (``[classes] modules``)."""

from __future__ import annotations

from typing import Any

from daemon import ObjectClass, Turn, op


class Scout(ObjectClass):
    """Asks the Foreman where an agent is: a read of a ``home`` object inside a turn."""

    name = "Scout"

    @op()
    def look(self, turn: Turn, args: dict[str, Any]) -> Any:
        return turn.call("Foreman", "global", "agent", agent=str(args.get("agent", "steve")))


CLASSES = [Scout]
