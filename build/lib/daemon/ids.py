"""Object identity: deterministic ids from names, random unique ids, validation.

An id is 32 bytes shown as 64 lowercase hex characters. The first half is
HMAC-SHA256(class key, name)[:16] for a named object, or 16 random bytes for a
unique one; the second half is HMAC-SHA256(class key, first half)[:16]. The
class key is HMAC-SHA256(deployment secret, class name), so an id made for
another class or another deployment fails the check in :meth:`IdFactory.from_string`.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from daemon.errors import BadRequest, DataDamaged, InvalidId, TooLarge

SECRET_FILE = "secret"
_SECRET_BYTES = 32
_HALF = 16
_CLASS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_NAME_BYTES = 2048


def check_class_name(class_name: object) -> str:
    """Return ``class_name`` if it is a valid class name, else raise ``BadRequest``.

    A class name is 1 to 64 characters: a letter, then letters, digits, ``_``
    or ``-``. Dots are excluded so that telemetry topics split cleanly.
    """
    if not isinstance(class_name, str) or not _CLASS_NAME.fullmatch(class_name):
        raise BadRequest(
            f"class {class_name!r} is not a valid class name: use 1-64 characters, "
            "a letter first, then letters, digits, '_' or '-'"
        )
    return class_name


def load_or_create_secret(data_dir: Path) -> bytes:
    """Read the deployment secret from ``data_dir``, creating it (mode 0600) if absent.

    The secret makes ids unguessable and ties them to this deployment: losing it
    changes every name's id, so backups include it.
    """
    path = data_dir / SECRET_FILE
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_bytes(_SECRET_BYTES)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secret)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    if len(secret) != _SECRET_BYTES:
        raise DataDamaged(
            f"the deployment secret {path} is damaged: it holds {len(secret)} bytes, expected {_SECRET_BYTES}; "
            "restore it from the backup of this data directory (every id depends on it)"
        )
    return secret


class IdFactory:
    """Makes and checks ids for one deployment (one secret).

    ``namespaces`` maps a renamed class to the name its ids are derived from
    (its first name), so a class migration that renames keeps every id.
    """

    def __init__(self, secret: bytes, namespaces: Mapping[str, str] | None = None) -> None:
        self._secret = secret
        self._namespaces = dict(namespaces or {})
        self._class_keys: dict[str, bytes] = {}

    def _class_key(self, class_name: str) -> bytes:
        key = self._class_keys.get(class_name)
        if key is None:
            check_class_name(class_name)
            namespace = self._namespaces.get(class_name, class_name)
            key = hmac.digest(self._secret, b"lodestone/class/" + namespace.encode(), "sha256")
            self._class_keys[class_name] = key
        return key

    def _complete(self, key: bytes, first: bytes) -> str:
        return (first + hmac.digest(key, first, "sha256")[:_HALF]).hex()

    def from_name(self, class_name: str, name: object) -> str:
        """The id of ``name`` in ``class_name``: the same every time, in this deployment."""
        if not isinstance(name, str) or not name:
            raise BadRequest(f"object name must be a non-empty string, got {name!r}")
        encoded = name.encode("utf-8", "surrogatepass")
        if len(encoded) > MAX_NAME_BYTES:
            raise TooLongName(name, len(encoded))
        key = self._class_key(class_name)
        return self._complete(key, hmac.digest(key, encoded, "sha256")[:_HALF])

    def new_unique(self, class_name: str) -> str:
        """A fresh random id for ``class_name``; it has no name."""
        return self._complete(self._class_key(class_name), secrets.token_bytes(_HALF))

    def from_string(self, class_name: str, text: object) -> str:
        """Return ``text`` if it is an id this deployment made for ``class_name``.

        Raises ``InvalidId`` for anything else: wrong length or characters, or an
        id made for another class or another deployment.
        """
        if not isinstance(text, str) or not _HEX64.fullmatch(text):
            raise InvalidId(
                f"{text!r} is not an object id: an id is 64 lowercase hex characters"
            )
        key = self._class_key(class_name)
        raw = bytes.fromhex(text)
        expected = hmac.digest(key, raw[:_HALF], "sha256")[:_HALF]
        if not hmac.compare_digest(expected, raw[_HALF:]):
            raise InvalidId(
                f"id {text[:16]}... was not made for class {class_name!r} by this "
                "deployment (another class, another data directory, or mistyped)"
            )
        return text


class TooLongName(TooLarge):
    """An object name over :data:`MAX_NAME_BYTES`."""

    def __init__(self, name: str, size: int) -> None:
        super().__init__(
            f"object name {name[:40]!r}... is {size} bytes; the limit is {MAX_NAME_BYTES} bytes"
        )
