"""A reload applies each live setting everywhere it is used."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from daemon.config import Config
from daemon.runtime import Runtime
from daemon.server import Server
from daemon.service.reload import apply_live


def test_a_reloaded_cycle_size_bounds_requests_and_alarm_batches_alike(runtime: Runtime) -> None:
    config = Config(cycle_max_requests=1024)
    server = Server(config, runtime, Counter())
    try:
        apply_live(server, replace(config, cycle_max_requests=7))
        assert server.cycle_max_requests == 7
        assert runtime.alarm_batch == 7
    finally:
        server.close()
