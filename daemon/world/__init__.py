"""Lodestone's built-in object classes: the agents' world.

``Agent`` (one per Steve), ``Foreman`` (the registry of agents and task
assignment), ``MissionControl`` and ``Telemetry``; the daemon loads them
unless the config says ``[classes] builtin = false``. They are also the
examples to copy when writing a class: see docs/classes.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.errors import ConfigError
from daemon.world.agent import Agent, AgentOptions
from daemon.world.foreman import Foreman, ForemanOptions
from daemon.world.missions import MissionControl
from daemon.world.telemetry import Telemetry, TelemetryOptions

CLASSES = [Agent, Foreman, MissionControl, Telemetry]

__all__ = ["CLASSES", "Agent", "Foreman", "MissionControl", "Telemetry", "check_options"]


def check_options(class_options: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise ``ConfigError`` naming the table and key of any bad built-in class option."""
    AgentOptions.parse(class_options.get("Agent", {}))
    ForemanOptions.parse(class_options.get("Foreman", {}))
    TelemetryOptions.parse(class_options.get("Telemetry", {}))
    if class_options.get("MissionControl"):
        raise ConfigError("[classes.options.MissionControl] takes no options")
