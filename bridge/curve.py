"""CURVE keys for a client of a daemon that has ``[security] curve = true``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.utils import z85


def _z85_key(text: str, what: str) -> str:
    try:
        if len(text) == 40 and len(z85.decode(text)) == 32:
            return text
    except (ValueError, KeyError, TypeError, OverflowError):
        pass
    raise ValueError(f"{what} is not a CURVE key (40 Z85 characters): {text!r}")


@dataclass(frozen=True)
class CurveKeys:
    """The daemon's public key and this client's key pair, each 40 characters of Z85.

    Give one to ``Client``, ``AsyncClient`` or ``Subscriber`` as ``curve=``:
    every socket they open is then a CURVE client of the daemon. Make the
    files with ``lodestone keys server`` and ``lodestone keys client NAME``,
    and read them with :meth:`load`. Raises ``ValueError`` for a key that is
    not 40 Z85 characters.
    """

    server_key: str
    public_key: str
    secret_key: str = field(repr=False)  # kept out of logs and tracebacks

    def __post_init__(self) -> None:
        _z85_key(self.server_key, "server_key")
        _z85_key(self.public_key, "public_key")
        _z85_key(self.secret_key, "secret_key")

    @classmethod
    def load(cls, server_key: str | os.PathLike[str], client_key_file: str | os.PathLike[str]) -> CurveKeys:
        """Keys from files: ``server_key`` is the daemon's public key (Z85 text, or its ``server.key``
        file); ``client_key_file`` is this client's ``NAME.key_secret``.

        Raises ``OSError`` for a missing file, ``ValueError`` for a file without the keys.
        """
        server = str(server_key)
        if not (len(server) == 40 and not Path(server).exists()):
            public, _ = zmq.auth.load_certificate(server)
            server = public.decode("ascii")
        public, secret = zmq.auth.load_certificate(client_key_file)
        if secret is None:
            raise ValueError(f"{client_key_file} holds no secret key; give the NAME.key_secret file")
        return cls(server, public.decode("ascii"), secret.decode("ascii"))

    def apply(self, socket: zmq.Socket[Any]) -> None:
        """Make ``socket`` a CURVE client of the daemon; call before it connects."""
        socket.setsockopt(zmq.CURVE_SERVERKEY, self.server_key.encode("ascii"))
        socket.setsockopt(zmq.CURVE_PUBLICKEY, self.public_key.encode("ascii"))
        socket.setsockopt(zmq.CURVE_SECRETKEY, self.secret_key.encode("ascii"))
