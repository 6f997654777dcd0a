"""Lodestone: a durable-state daemon for game AI agents, on LMDB and ZeroMQ.

Each object (an agent, a foreman, any entity) has a unique id, runs one turn
at a time, keeps its state in its own LMDB sub-database, and publishes what
changed. ``lodestone serve`` runs it; ``docs/`` describes it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
