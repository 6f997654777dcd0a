"""The gateway is a ZeroMQ client of the daemon: it imports nothing of the daemon's insides."""

from __future__ import annotations

import sys

from tests.test_layers import GRAPH, _in, _libraries

ALLOWED_OURS = ("daemon.gateway", "daemon.errors", "daemon.config", "schemas")
ALLOWED_LIBRARIES = {"aiohttp", "zmq", "msgpack"}


def test_the_gateway_imports_only_what_it_may() -> None:
    gateway = [module for module in GRAPH if _in(module, "daemon.gateway")]
    assert "daemon.gateway.app" in gateway
    ours = sorted(f"{module} -> {target}" for module in gateway for target in GRAPH[module]
                  if not _in(target, *ALLOWED_OURS))
    assert ours == []
    libraries = sorted(f"{module} -> {library}" for module in gateway for library in _libraries(module)
                       if library not in ALLOWED_LIBRARIES and library not in sys.stdlib_module_names)
    assert libraries == []
