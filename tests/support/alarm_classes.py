"""Object classes with alarm handlers, loaded by test daemons through ``[classes] modules``."""

from __future__ import annotations

import time
from pathlib import Path

from daemon import AlarmInfo, ObjectClass, Turn


class Counter(ObjectClass):
    """Counts its alarm's firings and records what the handler saw."""

    name = "Counter"

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        _, fires = turn.storage.get("fires")
        turn.storage.put("fires", (fires or 0) + 1)
        turn.storage.put("seen", {"scheduled_ms": alarm.scheduled_ms, "retry_count": alarm.retry_count,
                                  "is_retry": alarm.is_retry, "alarm_get": turn.storage.get_alarm()})


class Blocking(ObjectClass):
    """Blocks inside its handler while the file named by its ``block_file`` key exists."""

    name = "Blocking"

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        _, block_file = turn.storage.get("block_file")
        with Path(block_file + ".entered").open("a") as entered:
            entered.write(f"{alarm.retry_count}\n")
        while Path(block_file).exists():
            time.sleep(0.05)
        _, fires = turn.storage.get("fires")
        turn.storage.put("fires", (fires or 0) + 1)


CLASSES = [Counter, Blocking]
