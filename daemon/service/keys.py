"""CURVE key files: the daemon's key pair in the data directory, client key pairs, and their modes.

Each key pair is two files in ZeroMQ's certificate format (pyzmq's
``zmq.auth``, czmq's ``zcert``): ``NAME.key`` holds the public key,
``NAME.key_secret`` the public and the secret key, and is created with mode
0600 (it is never written with a wider mode, not even for a moment). Layout:

* ``DATA_DIR/curve/server.key`` and ``server.key_secret``: the daemon's pair;
* ``DATA_DIR/curve/clients/NAME.key`` and ``NAME.key_secret``: client pairs
  made by ``lodestone keys client NAME`` (copy the secret file to the client's
  host, and delete it here; the public file stays for ``lodestone keys list``).

A secret file that other users may read or write is refused with a sentence
that names ``chmod``: the daemon will not serve with a key anyone may copy.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import zmq
from zmq.utils import z85

from daemon.errors import ConfigError

CURVE_DIR = "curve"
CLIENTS_DIR = "clients"
SERVER_NAME = "server"
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_KEY_LINE = re.compile(r'^\s*(public|secret)-key\s*=\s*"(.{40})"\s*$')


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair in Z85 text; ``secret`` is ``None`` when only the public file was read."""

    public: str
    secret: str | None = None


def curve_dir(data_dir: Path) -> Path:
    """Where the daemon's key pair lives."""
    return data_dir / CURVE_DIR


def clients_dir(data_dir: Path) -> Path:
    """Where ``lodestone keys client`` puts client key pairs by default."""
    return curve_dir(data_dir) / CLIENTS_DIR


def check_name(name: str) -> str:
    """``name`` if it can name a key pair's files; raises ``ValueError`` naming the rule."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} cannot name a key: use 1-64 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    return name


def check_key(text: str, what: str) -> str:
    """``text`` if it is a CURVE key in Z85 (40 characters that decode to 32 bytes); raises ``ValueError``."""
    try:
        if len(text) == 40 and len(z85.decode(text)) == 32:
            return text
    except (ValueError, KeyError, TypeError, OverflowError):
        pass
    raise ValueError(f"{what} {text!r} is not a CURVE key (40 Z85 characters)")


def check_private(path: Path) -> None:
    """Refuse a secret file that users other than its owner may read or write; raises ``ConfigError``."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} holds a secret key and other users may read or write it (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )


def create_pair(directory: Path, name: str) -> KeyPair:
    """Make a fresh key pair as ``directory/NAME.key`` and ``NAME.key_secret`` (0600).

    Creates ``directory`` (0700) if needed. Raises ``FileExistsError`` if either
    file exists: a key pair is never overwritten.
    """
    check_name(name)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_path, secret_path = directory / (name + PUBLIC_SUFFIX), directory / (name + SECRET_SUFFIX)
    for path in (public_path, secret_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; a key pair is never overwritten (delete it first to replace it)")
    public, secret = (key.decode("ascii") for key in zmq.curve_keypair())
    _write(secret_path, _certificate(name, public, secret, "Secret"), 0o600)
    _write(public_path, _certificate(name, public, None, "Public"), 0o644)
    return KeyPair(public, secret)


def read_pair(path: Path) -> KeyPair:
    """The key pair in a ``.key_secret`` file, or the public key of a ``.key`` file.

    A secret file is checked with :func:`check_private` first. Raises
    ``ConfigError`` if the file is missing, unreadable or holds no valid key.
    """
    try:
        if path.name.endswith(SECRET_SUFFIX):
            check_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from exc
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    try:
        public = check_key(found.get("public", ""), f"the public key in {path}")
        secret = found.get("secret")
        if secret is not None:
            check_key(secret, f"the secret key in {path}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if path.name.endswith(SECRET_SUFFIX) and secret is None:
        raise ConfigError(f"{path} holds no secret-key line")
    return KeyPair(public, secret)


def server_pair(data_dir: Path) -> KeyPair:
    """The daemon's key pair, for serving with CURVE; raises ``ConfigError`` that names the fix."""
    path = curve_dir(data_dir) / (SERVER_NAME + SECRET_SUFFIX)
    if not path.exists():
        raise ConfigError(
            f"[security] curve = true, but the daemon has no key pair: {path} does not exist; "
            f"create it with: lodestone keys server --data-dir {data_dir}"
        )
    return read_pair(path)


def ensure_server_pair(data_dir: Path) -> tuple[KeyPair, bool]:
    """The daemon's key pair, made first if there is none; and whether it was made now."""
    if (curve_dir(data_dir) / (SERVER_NAME + SECRET_SUFFIX)).exists():
        return server_pair(data_dir), False
    return create_pair(curve_dir(data_dir), SERVER_NAME), True


def client_publics(directory: Path) -> dict[str, str]:
    """``{name: public key}`` of every ``NAME.key`` in ``directory`` (none if it does not exist)."""
    if not directory.is_dir():
        return {}
    return {
        path.name.removesuffix(PUBLIC_SUFFIX): read_pair(path).public
        for path in sorted(directory.glob("*" + PUBLIC_SUFFIX))
    }


def listing(data_dir: Path, allowed: Sequence[str]) -> list[dict[str, object]]:
    """The daemon's key and every client key: those with files in ``DATA_DIR/curve/clients``, then
    those of ``allowed`` (the configuration's ``client_keys``) without one; each says if it is allowed."""
    entries: list[dict[str, object]] = []
    server = curve_dir(data_dir) / (SERVER_NAME + PUBLIC_SUFFIX)
    if server.exists():
        entries.append({"role": "server", "name": SERVER_NAME, "public_key": read_pair(server).public})
    named = client_publics(clients_dir(data_dir))
    for name, public in named.items():
        entries.append({"role": "client", "name": name, "public_key": public, "allowed": public in allowed})
    for public in allowed:
        if public not in named.values():
            entries.append({"role": "client", "name": None, "public_key": public, "allowed": True})
    return entries


def command(action: str, data_dir: Path, allowed: Sequence[str], name: str | None, out: Path | None) -> None:
    """``lodestone keys ACTION``: print to stdout what a script reads, the explanations to stderr.

    ``server`` makes the daemon's pair if needed and prints its public key;
    ``client`` makes the pair ``name`` in ``out`` (default
    ``DATA_DIR/curve/clients``) and prints its public key and the
    ``client_keys`` line that allows it next to ``allowed``; ``list`` prints
    :func:`listing` as JSON lines. Raises ``ConfigError``, ``ValueError`` or ``OSError``.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if action == "server":
        pair, made = ensure_server_pair(data_dir)
        where = curve_dir(data_dir) / (SERVER_NAME + SECRET_SUFFIX)
        print(f"{'made' if made else 'read'} {where}; clients need this public key:", file=sys.stderr)
        print(pair.public)
    elif action == "client":
        directory = out or clients_dir(data_dir)
        pair = create_pair(directory, check_name(name or ""))
        keys = ", ".join(f'"{key}"' for key in (*allowed, pair.public))
        print(pair.public)
        print(f"made {directory / (str(name) + SECRET_SUFFIX)}: copy it to the client's host, then delete it here.\n"
              f"Allow the key in the daemon's configuration, and reload it (systemctl reload lodestone):\n"
              f"[security]\ncurve = true\nclient_keys = [{keys}]", file=sys.stderr)
    else:
        for entry in listing(data_dir, allowed):
            print(json.dumps(entry))


def _certificate(name: str, public: str, secret: str | None, kind: str) -> str:
    lines = [
        f"#   ****  Generated on {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC by lodestone keys  ****",
        f"#   ZeroMQ CURVE {kind} Certificate",
        "#   Keep this file private: anyone who has it can connect as this key." if secret else
        "#   The public half: safe to share.",
        "",
        "metadata",
        f"    name = {name}",
        "curve",
        f'    public-key = "{public}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
