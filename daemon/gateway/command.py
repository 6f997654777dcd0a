"""``lodestone gateway`` (run it) and ``lodestone gateway token`` (make a token)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.gateway.config import DEFAULT_LISTEN, SCOPES, GatewayConfig, new_token, with_overrides

EXIT_SYSTEM = 71
EXIT_CONFIG = 78


class DaemonLimits(NamedTuple):
    """The daemon's limits on one request frame, from its configuration: the gateway stays within them."""

    max_frame_bytes: int
    batch_max_requests: int


def add_parser(commands: Any) -> None:
    """Add ``gateway`` (and its ``token`` command) to the ``lodestone`` command's subparsers."""
    gateway = commands.add_parser(
        "gateway", help="relay WebSocket and HTTP clients to the daemon (foreground)",
        description="Relay WebSocket (msgpack) and HTTP (JSON) clients to the daemon, with bearer tokens. "
        "Reads the [gateway] table of the configuration file; docs/gateway.md has the details.")
    gateway.add_argument("--config", type=Path, help="TOML configuration file (its [gateway] table)")
    gateway.add_argument("--listen", help=f"HOST:PORT to listen on (default {DEFAULT_LISTEN})")
    gateway.add_argument("--rpc", help="the daemon's ROUTER endpoint (default: the daemon's rpc)")
    gateway.add_argument("--pub", help="the daemon's PUB endpoint (default: the daemon's pub)")
    gateway.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    # Given by `lodestone serve` to the gateway it starts: stop when that daemon is gone.
    gateway.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    sub = gateway.add_subparsers(dest="gateway_command", metavar="[token]")
    token = sub.add_parser("token", help="make a token: print it once, and the lines to paste into [gateway]",
                           description="Make a random token; print it once, and the [[gateway.tokens]] lines "
                           "(with its SHA-256, never the token) to paste into the configuration.")
    token.add_argument("name", metavar="NAME", help="who the token is for (shown in the gateway's log)")
    token.add_argument("--scope", required=True, choices=SCOPES)
    token.add_argument("--class", dest="classes", action="append", metavar="CLASS",
                       help="limit the token to this class (repeat for more; default every class)")


def gateway_config(args: argparse.Namespace) -> tuple[GatewayConfig, str, str, DaemonLimits, str]:
    """The gateway's configuration with the flags applied, the daemon's endpoints, its frame limits, log level."""
    config = load_config(args.config, {}, os.environ)
    source = str(args.config) if args.config else "the command line"
    gateway = with_overrides(config.gateway or GatewayConfig(),
                             {"listen": args.listen, "rpc": args.rpc, "pub": args.pub}, source)
    limits = DaemonLimits(config.max_frame_bytes, config.batch_max_requests)
    return gateway, gateway.rpc or config.rpc, gateway.pub or config.pub, limits, args.log_level or config.log_level


def run(args: argparse.Namespace, gateway: GatewayConfig, rpc: str, pub: str, daemon: DaemonLimits) -> int:
    """Serve in the foreground until SIGTERM or SIGINT; return the exit code."""
    from daemon.gateway.app import serve

    parent = os.getppid() if args.exit_with_parent else None
    try:
        return asyncio.run(serve(gateway, rpc, pub, daemon.max_frame_bytes, parent, daemon.batch_max_requests))
    except ConfigError as exc:
        print(f"lodestone gateway: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"lodestone gateway: cannot listen on {gateway.listen or DEFAULT_LISTEN}: {exc}", file=sys.stderr)
        return EXIT_SYSTEM


def token(args: argparse.Namespace) -> int:
    """Print a new token once, and the configuration lines that hold its hash."""
    try:
        secret, lines = new_token(args.name, args.scope, tuple(args.classes) if args.classes else None)
    except ConfigError as exc:
        print(f"lodestone gateway token: {exc}", file=sys.stderr)
        return 2
    print(f"token: {secret}")
    print("# Give the token above to its client; it is not stored anywhere. Paste these lines into the")
    print("# configuration and restart the gateway:")
    print(lines)
    return 0
