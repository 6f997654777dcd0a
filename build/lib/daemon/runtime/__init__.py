"""Turns and cycles: the runtime runs requests and due alarms as turns, with no ZeroMQ and no LMDB.

The server drives each :class:`Cycle` through its phases; :class:`Runtime`
dispatches every turn along one path; a turn's handler sees its object through
:class:`ObjectStorage` and the rest through its :class:`Turn`.
"""

from __future__ import annotations

from daemon.runtime.alarms import RetryPolicy
from daemon.runtime.cycle import Cycle, CycleResult
from daemon.runtime.dispatch import Runtime, RuntimeOptions, wall_clock_ms

__all__ = ["Cycle", "CycleResult", "RetryPolicy", "Runtime", "RuntimeOptions", "wall_clock_ms"]
