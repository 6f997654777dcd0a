"""The process around the daemon: composition in one exit stack, reload, sd_notify, logs, metrics."""

from __future__ import annotations
