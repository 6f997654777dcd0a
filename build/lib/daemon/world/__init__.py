"""Lodestone's built-in object classes: the agents' world.

``Agent`` (one per Steve), ``Foreman`` (the registry of agents and task
assignment), ``MissionControl`` and ``Telemetry``; the daemon loads them
unless the config says ``[classes] builtin = false``. They are also the
examples to copy when writing a class: see docs/classes.md.
"""

from __future__ import annotations

from daemon.world.agent import Agent
from daemon.world.foreman import Foreman
from daemon.world.missions import MissionControl
from daemon.world.telemetry import Telemetry

CLASSES = [Agent, Foreman, MissionControl, Telemetry]

__all__ = ["CLASSES", "Agent", "Foreman", "MissionControl", "Telemetry"]
