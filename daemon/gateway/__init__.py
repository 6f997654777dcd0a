"""The gateway: WebSocket (msgpack) and HTTP (JSON) clients relayed to the daemon, with bearer tokens.

A process of its own (``lodestone gateway``, or started by ``lodestone serve``
when ``[gateway] listen`` is set) that speaks ZeroMQ to the daemon like any
other client. docs/gateway.md is its contract. Importing this package costs
nothing: the server (aiohttp) loads only when :mod:`daemon.gateway.app` is imported.
"""

from __future__ import annotations

from daemon.gateway.config import GatewayConfig, parse_gateway

__all__ = ["GatewayConfig", "parse_gateway"]
