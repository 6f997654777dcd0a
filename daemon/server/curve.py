"""CURVE on the daemon's sockets: its key pair, and a ZAP handler that lets in allowed client keys only.

With CURVE on, the ROUTER and the XPUB are CURVE servers: every connection
is encrypted, and its handshake asks the ZAP handler (pyzmq's
``ThreadAuthenticator``, one thread of its own that answers handshakes and
never touches a request) whether the client's public key is on the
allow-list. A client with no key, or with a key not on the list, never
completes its handshake: it gets nothing, and the daemon goes on serving the
others. The sockets also enforce the ZAP domain, so if the handler were
gone every handshake would fail: the guard fails closed, never open.

The allow-list can be replaced while serving (:meth:`CurveGuard.allow`, on
reload); it applies to handshakes from then on, not to connections already
made.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import zmq
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

ZAP_DOMAIN = "lodestone"
ACCEPTED = "curve.accepted"
REFUSED = "curve.refused"
# Each refused key is logged once (then only counted), up to this many keys.
_LOGGED_KEYS_LIMIT = 1024


class CurveGuard:
    """The daemon's side of CURVE: its secret key on each socket, and the ZAP handler's allow-list.

    ``counters`` gets :data:`ACCEPTED` and :data:`REFUSED`, written only by the
    ZAP thread (the keys exist before it starts, so it never adds one).
    """

    def __init__(self, server_secret: str, client_keys: Iterable[str], counters: Counter[str]) -> None:
        self._secret = server_secret.encode("ascii")
        self._allowed = frozenset(key.encode("ascii") for key in client_keys)
        self._counters = counters
        counters[ACCEPTED] += 0
        counters[REFUSED] += 0
        self._logged: set[bytes] = set()
        self._authenticator: ThreadAuthenticator | None = None

    def start(self, context: zmq.Context[Any]) -> None:
        """Start the ZAP handler on ``context`` (the one the sockets are made in); before any bind."""
        authenticator = ThreadAuthenticator(context, log=logging.getLogger(f"{__name__}.zap"))
        authenticator.start()
        authenticator.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=self)
        self._authenticator = authenticator

    def secure(self, socket: zmq.Socket[Any]) -> None:
        """Make ``socket`` a CURVE server that asks the ZAP handler about every client; before it binds."""
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_SECRETKEY, self._secret)
        socket.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())
        # Without a ZAP handler, a handshake fails instead of passing.
        socket.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)

    def allow(self, client_keys: Iterable[str]) -> None:
        """Replace the allow-list (Z85 public keys); safe from the loop thread while the ZAP thread reads it."""
        self._allowed = frozenset(key.encode("ascii") for key in client_keys)

    def callback(self, domain: str, client_key: bytes) -> bool:
        """Whether ``client_key`` (Z85) may connect; pyzmq's authenticator calls it on the ZAP thread."""
        if client_key in self._allowed:
            self._counters[ACCEPTED] += 1
            return True
        self._counters[REFUSED] += 1
        if client_key not in self._logged and len(self._logged) < _LOGGED_KEYS_LIMIT:
            self._logged.add(client_key)
            log.warning(
                "refused a CURVE client whose public key %s is not in [security] client_keys "
                "(counted in curve.refused; logged once per key)", client_key.decode("ascii", "replace"),
            )
        return False

    def stop(self) -> None:
        """Stop the ZAP handler; after the sockets are closed."""
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
