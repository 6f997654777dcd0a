"""An operator's own class with a slow write, loaded by test daemons through ``[classes] modules``."""

from __future__ import annotations

import time
from typing import Any

from daemon import ObjectClass, Turn, op


class Ctr(ObjectClass):
    """A counter whose increment takes longer than a short client timeout."""

    name = "Ctr"

    @op()
    def incr(self, turn: Turn, args: dict[str, Any]) -> Any:
        time.sleep(float(args.get("sleep_s", 0.3)))
        _, n = turn.storage.get("n")
        turn.storage.put("n", (n or 0) + 1)
        return {"n": (n or 0) + 1}

    @op(writes=False)
    def value(self, turn: Turn, args: dict[str, Any]) -> Any:
        return {"n": turn.storage.get("n")[1] or 0}


CLASSES = [Ctr]
