"""A class whose alarm handler always fails, so a test daemon retries and then drops an alarm."""

from __future__ import annotations

from daemon import AlarmInfo, ObjectClass, Turn


class Faulty(ObjectClass):
    """Raises in its alarm handler, every time."""

    name = "Faulty"

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        raise RuntimeError(f"Faulty's alarm fails on purpose (retry {alarm.retry_count})")


CLASSES = [Faulty]
