"""The gateway's configuration: the ``[gateway]`` table of the daemon's TOML file, and its tokens.

Tokens are kept hashed: the file holds the hex SHA-256 of each token, never
the token itself; :func:`new_token` makes one and the lines to paste.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8765"
SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "lst_"
_CLASS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ENDPOINT_SCHEMES = ("tcp://", "ipc://")
_TOKEN_KEYS = frozenset({"name", "sha256", "scope", "classes"})
_MAX_TOKEN_NAME = 64


@dataclass(frozen=True)
class TokenEntry:
    """One ``[[gateway.tokens]]`` entry: who, the token's hash, its scope and (optionally) its classes."""

    name: str
    sha256: bytes
    scope: str
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GatewayConfig:
    """Everything ``lodestone gateway`` reads; see docs/gateway.md."""

    # HOST:PORT to listen on. None: ``lodestone serve`` starts no gateway (``lodestone gateway``
    # then listens on DEFAULT_LISTEN).
    listen: str | None = None
    # The daemon's endpoints; None: the daemon's own (its rpc and pub).
    rpc: str | None = None
    pub: str | None = None
    max_connections: int = 1024
    max_in_flight: int = 1024
    batch_max_requests: int = 1024
    subscriber_buffer_bytes: int = 4 * 1024 * 1024
    max_frame_bytes: int = 4 * 1024 * 1024
    max_prefixes: int = 64
    upstream_sockets: int = 4
    upstream_timeout_s: float = 10.0
    write_timeout_s: float = 10.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tokens: tuple[TokenEntry, ...] = ()
    # The file the table came from (``lodestone serve`` hands it to the gateway it starts).
    source: Path | None = field(default=None, compare=False)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to listen on."""
        return parse_listen(self.listen or DEFAULT_LISTEN)

    @property
    def open(self) -> bool:
        """No tokens: every client is admin, and only loopback is served."""
        return not self.tokens


_INT_KEYS = ("max_connections", "max_in_flight", "batch_max_requests", "subscriber_buffer_bytes",
             "max_frame_bytes", "max_prefixes", "upstream_sockets")
_FLOAT_KEYS = ("upstream_timeout_s", "write_timeout_s")
_KEYS = frozenset(f.name for f in fields(GatewayConfig)) - {"source"}


def parse_gateway(table: Any, source: str, path: Path | None = None) -> GatewayConfig:
    """The :class:`GatewayConfig` of a raw ``[gateway]`` table read from ``path``; raises ``ConfigError``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: gateway must be a table ([gateway]), got {table!r}")
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown key gateway.{sorted(unknown)[0]}; [gateway] takes {sorted(_KEYS)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: gateway.{key}"
        if key == "listen":
            values[key] = _listen(value, where)
        elif key in ("rpc", "pub"):
            if not isinstance(value, str) or not value.startswith(_ENDPOINT_SCHEMES):
                raise ConfigError(f"{where} must be an endpoint starting with tcp:// or ipc://, got {value!r}")
            values[key] = value
        elif key in _INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where} must be a positive integer, got {value!r}")
            values[key] = value
        elif key in _FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86_400:
                raise ConfigError(f"{where} must be a number of seconds above 0, got {value!r}")
            values[key] = float(value)
        elif key in ("tls_cert", "tls_key"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where} must be a file path, got {value!r}")
            values[key] = Path(value)
        elif key == "tokens":
            values[key] = _tokens(value, where)
    return check(GatewayConfig(**values, source=path), source)


def with_overrides(config: GatewayConfig, overrides: Mapping[str, str | None], source: str) -> GatewayConfig:
    """``config`` with the command line's ``listen``, ``rpc`` and ``pub`` (those given), checked again."""
    listen, rpc, pub = overrides.get("listen"), overrides.get("rpc"), overrides.get("pub")
    for key, endpoint in (("rpc", rpc), ("pub", pub)):
        if endpoint is not None and not endpoint.startswith(_ENDPOINT_SCHEMES):
            raise ConfigError(f"{source}: --{key} must be an endpoint starting with tcp:// or ipc://")
    if listen is not None:
        _listen(listen, f"{source}: --listen")
    return check(replace(config, listen=listen or config.listen, rpc=rpc or config.rpc, pub=pub or config.pub),
                 source)


def check(config: GatewayConfig, source: str) -> GatewayConfig:
    """Refuse what cannot work together; return ``config``."""
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError(f"{source}: gateway.tls_cert and gateway.tls_key go together; give both or neither")
    if config.batch_max_requests > config.max_in_flight:
        raise ConfigError(
            f"{source}: gateway.batch_max_requests ({config.batch_max_requests}) is over gateway.max_in_flight "
            f"({config.max_in_flight}): a full batch could never be taken"
        )
    host, _ = config.address
    if config.open and not is_loopback(host):
        raise ConfigError(
            f"{source}: the gateway would listen on {host}, which is not loopback, without any "
            "[[gateway.tokens]]; add a token (lodestone gateway token NAME --scope read) or listen on 127.0.0.1"
        )
    return config


def parse_listen(text: str) -> tuple[str, int]:
    """``(host, port)`` from ``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0 takes an ephemeral one)."""
    host, colon, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT, e.g. {DEFAULT_LISTEN!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hash_token(token: str) -> bytes:
    """The SHA-256 digest of a token, as the configuration stores it (in hex)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token(name: str, scope: str, classes: tuple[str, ...] | None) -> tuple[str, str]:
    """A fresh random token, and the ``[[gateway.tokens]]`` lines (holding its hash) to paste."""
    _token_name(name, "the token name")
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if classes is not None:
        _classes(list(classes), scope, "--class")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lines = ["[[gateway.tokens]]", f"name = {json.dumps(name)}",
             f'sha256 = "{hash_token(token).hex()}"', f'scope = "{scope}"']
    if classes:
        lines.append(f"classes = [{', '.join(json.dumps(c) for c in classes)}]")
    return token, "\n".join(lines)


def _listen(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be HOST:PORT, got {value!r}")
    try:
        parse_listen(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return value


def _tokens(value: Any, where: str) -> tuple[TokenEntry, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of tables ([[gateway.tokens]])")
    entries: list[TokenEntry] = []
    for index, raw in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at} must be a table with name, sha256, scope and optionally classes")
        if set(raw) - _TOKEN_KEYS or not {"name", "sha256", "scope"} <= set(raw):
            raise ConfigError(f"{at} takes name, sha256, scope and optionally classes; got {sorted(raw)}")
        name = _token_name(raw["name"], f"{at}.name")
        digest = raw["sha256"]
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest.lower()):
            raise ConfigError(f"{at}.sha256 must be 64 hex digits (lodestone gateway token prints it)")
        scope = raw["scope"]
        if scope not in SCOPES:
            raise ConfigError(f"{at}.scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        classes = _classes(raw["classes"], scope, f"{at}.classes") if "classes" in raw else None
        entries.append(TokenEntry(name, bytes.fromhex(digest), scope, classes))
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: two tokens are named the same; names must be unique")
    if len({entry.sha256 for entry in entries}) != len(entries):
        raise ConfigError(f"{where}: two entries hold the same sha256; each token gets one entry")
    return tuple(entries)


def _token_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name or len(name) > _MAX_TOKEN_NAME or not name.isprintable():
        raise ConfigError(f"{where} must be 1 to {_MAX_TOKEN_NAME} printable characters, got {name!r}")
    return name


def _classes(value: Any, scope: str, where: str) -> tuple[str, ...]:
    if scope == "admin":
        raise ConfigError(f"{where}: an admin token reaches every class; leave classes out or use scope write")
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} must be a non-empty list of class names (leave it out for every class)")
    for name in value:
        if not isinstance(name, str) or not _CLASS_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: {name!r} is not a class name (a letter, then up to 63 letters, digits, _ or -)")
    return tuple(dict.fromkeys(value))
