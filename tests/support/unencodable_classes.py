"""A class whose replies and notices msgpack cannot encode, loaded by test daemons through ``[classes] modules``.

It stands for any bug that hands the server such a value: the daemon must
answer ``INTERNAL`` (or drop the notice) and serve on.
"""

from __future__ import annotations

from typing import Any

from daemon import ObjectClass, Turn, op


class Broken(ObjectClass):
    """Every op returns or publishes an integer past msgpack's 64 bits."""

    name = "Broken"

    @op(writes=False)
    def reply(self, turn: Turn, args: dict[str, Any]) -> Any:
        return {"n": 2**70}

    @op()
    def notice(self, turn: Turn, args: dict[str, Any]) -> Any:
        turn.storage.put("n", 1)
        turn.publish("broken.notice", {"n": 2**70})
        turn.publish("broken.fine", {"n": 1})
        return {}


CLASSES = [Broken]
