"""Who may reach the daemon: the loopback rule, and CURVE from the configuration and the key files.

The rpc and pub sockets accept requests and publish every change, so they
are bound to loopback or an ``ipc://`` path unless CURVE guards them: a
configuration that binds either elsewhere without ``[security] curve = true``
is refused before anything is opened or bound. The metrics endpoint has no
authentication at all (CURVE does not cover it), so it too stays on
loopback. ``[security] insecure_remote = true`` is the operator saying they
accept the exposure (a trusted network, a firewall in front): the daemon
then starts, and warns at every start.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter

from daemon.config import Config, metrics_address
from daemon.errors import ConfigError
from daemon.server.curve import CurveGuard
from daemon.service import keys

log = logging.getLogger(__name__)

_LOCAL_SCHEMES = ("ipc://", "inproc://")


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` (an address or ``localhost``) listens on loopback only.

    Names other than ``localhost``, interface names and wildcards (``*``,
    ``0.0.0.0``) count as remote: the check never resolves a name.
    """
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_endpoint(endpoint: str) -> bool:
    """Whether a ZeroMQ bind endpoint is reachable from this machine only (loopback TCP, ipc, inproc)."""
    if endpoint.startswith(_LOCAL_SCHEMES):
        return True
    host, _, _ = endpoint.removeprefix("tcp://").rpartition(":")
    return is_loopback_host(host)


def unauthenticated(config: Config) -> list[str]:
    """The endpoints reachable beyond loopback without authentication, as ``name endpoint`` phrases.

    rpc and pub off loopback without CURVE, and metrics off loopback (it has no authentication).
    """
    exposed = [] if config.curve else [
        f"{name} {endpoint}" for name, endpoint in (("rpc", config.rpc), ("pub", config.pub))
        if not is_local_endpoint(endpoint)
    ]
    if config.metrics is not None and not is_loopback_host(metrics_address(config.metrics)[0]):
        exposed.append(f"metrics {config.metrics}")
    return exposed


def check_exposure(config: Config) -> None:
    """Refuse an unauthenticated non-loopback bind (``ConfigError``), or warn if the operator allowed it."""
    exposed = unauthenticated(config)
    if not exposed:
        return
    listed = " and ".join(exposed)
    if config.insecure_remote:
        log.warning(
            "insecure_remote: %s listen beyond loopback without authentication: anyone who can reach "
            "them can use them (turn on [security] curve for rpc and pub; keep metrics on loopback)", listed,
        )
        return
    why = []
    if not exposed[-1].startswith("metrics") or len(exposed) > 1:
        why.append(
            "anyone who can reach rpc or pub could read and change every object: bind them to 127.0.0.1 or "
            "an ipc:// path, or turn on CURVE ([security] curve = true with client_keys; docs/configuration.md)"
        )
    if exposed[-1].startswith("metrics"):
        why.append("metrics has no authentication (CURVE does not cover it): bind it to 127.0.0.1")
    raise ConfigError(
        f"{listed} would listen beyond loopback without authentication; {'; '.join(why)}; "
        "or, to accept the risk, set [security] insecure_remote = true"
    )


def curve_guard(config: Config, counters: Counter[str]) -> CurveGuard | None:
    """The CURVE guard the configuration asks for, with the daemon's key pair; ``None`` if CURVE is off.

    Checks the exposure first (:func:`check_exposure`). Raises ``ConfigError``
    if CURVE is on and the key pair is missing, damaged or readable by others.
    """
    check_exposure(config)
    if not config.curve:
        return None
    pair = keys.server_pair(config.data_dir)
    assert pair.secret is not None
    if not config.curve_client_keys:
        log.warning("[security] curve is on and client_keys is empty: every client will be refused")
    log.info("CURVE on: server public key %s, %d client keys allowed", pair.public, len(config.curve_client_keys))
    return CurveGuard(pair.secret, config.curve_client_keys, counters)
