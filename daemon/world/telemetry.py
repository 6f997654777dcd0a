"""The ``Telemetry`` class: an event log (agent, type, data, time) with range queries and retention.

Each event is stored under three keys, so that every query is one range of
keys, never a scan of the log (``<stamp>`` is ``<ms, 13 digits>.<n, 6 digits>``,
unique and in time order; agent names hold no control characters, so ``\\0``
ends them):

==================================  ===========================================================
``e/<stamp>``                       ``TelemetryEvent``, by time: retention deletes from the front
``a/<agent>\\0<type>\\0<stamp>``      the same event, by agent and type: latest N, first seen
``t/<type>\\0<stamp>``               the same event, by type: a type's events in a time range
``s/<agent>\\0<type>``               ``TelemetryStats``: count, first and last seen of retained events
==================================  ===========================================================

Retention is the object's own alarm: it deletes events as old as
``retention_s`` (7 days by default) a batch per turn, fixes the counts, and
sets itself for when the next event expires. Every event is published twice,
with the event as body: as ``telemetry.<type>.<agent>`` for subscribers by
type, and as ``telemetry_by_agent.<agent>.<type>`` for subscribers by agent
(the server builds only the messages someone subscribed to).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon import MAX_ITEMS, AlarmInfo, Args, ObjectClass, ObjectRef, Options, Turn, op
from schemas.world import TELEMETRY_EVENT, TELEMETRY_STATS


@dataclass(frozen=True)
class TelemetryOptions:
    """``[classes.options.Telemetry]``: see docs/classes.md."""

    retention_ms: int = 7 * 24 * 3600 * 1000
    sweep_batch: int = 500

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> TelemetryOptions:
        read = Options("Telemetry", options, "retention_s", "sweep_batch")
        return cls(round(read.number("retention_s", 7 * 24 * 3600) * 1000), read.integer("sweep_batch", 500))


def _stamp_ms(stamp: str) -> int:
    return int(stamp[:13])


class Telemetry(ObjectClass):
    """A log of what agents did, queried by agent, by type and time, and summed per agent."""

    name = "Telemetry"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        TelemetryOptions.parse(options)

    def __init__(self, ref: ObjectRef, options: Mapping[str, Any]) -> None:
        super().__init__(ref, options)
        self.settings = TelemetryOptions.parse(options)

    # writing ---------------------------------------------------------------
    def _log(self, turn: Turn, events: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
        storage = turn.storage
        last = storage.list(prefix="e/", reverse=True, limit=1)
        at, n = turn.now_ms, 0
        if last:  # continue after the newest stamp: unique, and in order even if the clock stepped back
            last_ms, last_n = _stamp_ms(last[0][0][2:]), int(last[0][0][16:])
            if last_ms >= at:
                at, n = last_ms, last_n + 1
        logged = []
        for agent, kind, data in events:
            stamp = f"{at:013d}.{n:06d}"
            n += 1
            event = {"agent": agent, "type": kind, "data": data, "at": at}
            storage.put_record(f"e/{stamp}", TELEMETRY_EVENT, event)
            storage.put_record(f"a/{agent}\x00{kind}\x00{stamp}", TELEMETRY_EVENT, event)
            storage.put_record(f"t/{kind}\x00{stamp}", TELEMETRY_EVENT, event)
            stats_key = f"s/{agent}\x00{kind}"
            stats = storage.get_record(stats_key, TELEMETRY_STATS) or {"count": 0, "firstSeen": at, "lastSeen": at}
            stats.update(count=stats["count"] + 1, lastSeen=at)
            storage.put_record(stats_key, TELEMETRY_STATS, stats)
            turn.publish(f"telemetry.{kind}.{agent}", event)
            turn.publish(f"telemetry_by_agent.{agent}.{kind}", event)
            logged.append(event)
        if storage.get_alarm() is None:
            oldest = storage.list(prefix="e/", limit=1)
            storage.set_alarm(_stamp_ms(oldest[0][0][2:]) + self.settings.retention_ms)
        return logged

    @op()
    def log(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Log one event ``{agent, type, data}`` at the daemon's time; return it."""
        a = Args("Telemetry.log", args, "agent", "type", "data")
        return self._log(turn, [(a.name("agent"), a.token("type"), a.value("data", None))])[0]

    @op()
    def log_many(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Log up to 128 events at once (all or none); return how many."""
        a = Args("Telemetry.log_many", args, "events")
        raw = a.value("events")
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_ITEMS:
            raise a.fail(f"events must be a list of 1 to {MAX_ITEMS} {{agent, type, data}} maps")
        events = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise a.fail(f"events[{index}] must be a map {{agent, type, data}}")
            each = Args(f"Telemetry.log_many: events[{index}]", item, "agent", "type", "data")
            events.append((each.name("agent"), each.token("type"), each.value("data", None)))
        return {"logged": len(self._log(turn, events))}

    # queries ---------------------------------------------------------------
    @op(writes=False)
    def latest(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """An agent's newest ``limit`` events (100 by default), newest first."""
        a = Args("Telemetry.latest", args, "agent", "limit")
        agent, limit = a.name("agent"), a.limit(100, 1000)
        found: list[tuple[str, Any]] = []
        for key, _ in turn.storage.list(prefix=f"s/{agent}\x00"):
            prefix = f"a/{agent}\x00{key.split(chr(0), 1)[1]}\x00"
            found += [(row[len(prefix):], row_value)
                      for row, row_value in turn.storage.list(prefix=prefix, reverse=True, limit=limit)]
        found.sort(key=lambda pair: pair[0], reverse=True)
        return {"events": [TELEMETRY_EVENT.from_value(value) for _, value in found[:limit]]}

    @op(writes=False)
    def by_type(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Events of ``type`` with ``start_ms <= at <= end_ms`` (either may be left out), newest first."""
        a = Args("Telemetry.by_type", args, "type", "start_ms", "end_ms", "limit")
        kind, limit = a.token("type"), a.limit(1000, 10_000)
        start = a.integer("start_ms", 0, maximum=10**13 - 2)
        end = a.integer("end_ms", 10**13 - 2, maximum=10**13 - 2)
        if end < start:
            raise a.fail(f"end_ms ({end}) is before start_ms ({start})")
        rows = turn.storage.list(start=f"t/{kind}\x00{start:013d}", end=f"t/{kind}\x00{end + 1:013d}",
                                 reverse=True, limit=limit)
        return {"events": [TELEMETRY_EVENT.from_value(value) for _, value in rows]}

    @op(writes=False)
    def stats(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Per type: how many of the agent's events are retained, and when the first and last were."""
        agent = Args("Telemetry.stats", args, "agent").name("agent")
        rows = turn.storage.list(prefix=f"s/{agent}\x00")
        return {"agent": agent,
                "types": {key.split("\x00", 1)[1]: TELEMETRY_STATS.from_value(value) for key, value in rows}}

    # retention -------------------------------------------------------------
    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        """Delete events as old as the retention, a batch at a time; set the alarm for the next to expire."""
        storage = turn.storage
        cutoff = turn.now_ms - self.settings.retention_ms
        expired = storage.list(prefix="e/", end=f"e/{max(cutoff + 1, 0):013d}", limit=self.settings.sweep_batch)
        touched: Counter[tuple[str, str]] = Counter()
        for key, value in expired:
            stamp, event = key[2:], TELEMETRY_EVENT.from_value(value)
            agent, kind = event["agent"], event["type"]
            storage.delete_many([key, f"a/{agent}\x00{kind}\x00{stamp}", f"t/{kind}\x00{stamp}"])
            touched[(agent, kind)] += 1
        for (agent, kind), deleted in touched.items():
            stats_key = f"s/{agent}\x00{kind}"
            stats = storage.get_record(stats_key, TELEMETRY_STATS)
            first = storage.list(prefix=f"a/{agent}\x00{kind}\x00", limit=1)
            if stats is None or not first:
                storage.delete(stats_key)
                continue
            stats.update(count=max(stats["count"] - deleted, 1), firstSeen=_stamp_ms(first[0][0][-20:]))
            storage.put_record(stats_key, TELEMETRY_STATS, stats)
        if len(expired) == self.settings.sweep_batch:
            storage.set_alarm(turn.now_ms)  # more has expired: carry on in the next alarm cycle
            return
        oldest = storage.list(prefix="e/", limit=1)
        if oldest:
            storage.set_alarm(_stamp_ms(oldest[0][0][2:]) + self.settings.retention_ms)
