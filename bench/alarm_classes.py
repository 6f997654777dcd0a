"""Object classes the alarm benchmark loads into the daemon (``[classes] modules``)."""

from __future__ import annotations

from daemon.runtime.classes import AlarmInfo, ObjectClass, Turn


class Ticker(ObjectClass):
    """Fires every ``period_ms`` (its ``period`` key): counts, writes its state, re-arms, reports lateness."""

    name = "Ticker"

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        _, period = turn.storage.get("period")
        _, ticks = turn.storage.get("ticks")
        turn.storage.put("ticks", (ticks or 0) + 1)
        turn.storage.put("state", {"last_ms": turn.now_ms, "late_ms": turn.now_ms - alarm.scheduled_ms})
        turn.storage.set_alarm(alarm.scheduled_ms + int(period or 1000))
        turn.publish("tick", {"late_ms": turn.now_ms - alarm.scheduled_ms})


CLASSES = [Ticker]
