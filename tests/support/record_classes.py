"""A class whose ``state`` key holds an AgentState record, for migration tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from daemon.runtime.classes import ObjectClass
from schemas.agent import AGENT_STATE
from schemas.records import RecordType


class Steve(ObjectClass):
    name = "Steve"
    records: ClassVar[Mapping[str, RecordType]] = {"state": AGENT_STATE}


CLASSES = [Steve]
