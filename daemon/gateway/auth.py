"""Who a client is (its bearer token) and what its scope lets it do.

The gateway keeps no list of the ops that write: a ``read`` token's requests
go to the daemon with ``"readonly": true``, and the daemon refuses any op that
may write with ``FORBIDDEN`` before it runs. What the gateway decides itself:
the admin-only ops, and which classes and topics a class-limited token reaches.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from daemon.gateway.config import GatewayConfig, TokenEntry, hash_token

# Ops only an admin token may call: they erase an object, or report on the whole daemon.
ADMIN_OPS = frozenset({"storage.delete_all", "stats"})
# Ops without a target that a class-limited token may call: ping and health take no class,
# the others take the class they work on as args["class"].
_CLASSLESS_OPS = frozenset({"ping", "health"})
_CLASS_ARG_OPS = frozenset({"id.from_name", "id.new_unique", "id.from_string", "objects.list"})
# Every op the daemon runs without a target; anything else names its object in ``target``.
TARGETLESS_OPS = _CLASSLESS_OPS | _CLASS_ARG_OPS | frozenset({"stats", "alarms.list"})
# Topic families of the change stream whose next segment is the class: change.<Class>.<id>, ...
CLASS_TOPICS = ("change.", "alarm.", "alarm_dropped.")
# The built-in classes' notice topics, and the class each belongs to.
NOTICE_TOPICS = {
    "agent.": "Agent",
    "foreman.": "Foreman",
    "mission.": "MissionControl",
    "telemetry.": "Telemetry",
    "telemetry_by_agent.": "Telemetry",
}


@dataclass(frozen=True)
class Grant:
    """What one authenticated client may do."""

    name: str
    scope: str
    # None: every class.
    classes: frozenset[str] | None = None

    @property
    def readonly(self) -> bool:
        """Whether this client's requests go to the daemon marked ``readonly``."""
        return self.scope == "read"

    def refusal(self, op: str, target: Any, args: Any) -> str | None:
        """Why this client may not send ``op`` to ``target``, as the FORBIDDEN message; None if it may."""
        if op in ADMIN_OPS and self.scope != "admin":
            return f"{op} needs an admin token; token {self.name!r} has scope {self.scope}"
        if self.classes is None:
            return None
        if op in TARGETLESS_OPS:
            if op in _CLASSLESS_OPS:
                return None
            if op in _CLASS_ARG_OPS:
                named = args.get("class") if isinstance(args, dict) else None
                return None if named in self.classes else self._outside(f"{op} names class {named!r}")
            return f"{op} spans every class; token {self.name!r} is limited to {self._class_list()}"
        named = target.get("class") if isinstance(target, dict) else None
        if named not in self.classes:
            return self._outside(f"the target's class is {named!r}" if named else "the target names no class")
        family, dot, _ = op.partition(".")
        if dot and family not in ("storage", "alarm") and family not in self.classes:
            return self._outside(f"{op} is an op of class {family!r}")
        return None

    def prefix_refusal(self, prefix: str) -> str | None:
        """Why this client may not subscribe to ``prefix``; None if it may."""
        if self.classes is None or any(prefix.startswith(allowed) for allowed in self.topic_prefixes()):
            return None
        return (
            f"token {self.name!r} may subscribe only inside its classes: prefixes that start with one of "
            f"{', '.join(self.topic_prefixes())}"
        )

    def topic_prefixes(self) -> tuple[str, ...]:
        """The narrowest prefixes a class-limited token may subscribe under (or extend)."""
        if self.classes is None:
            return ("",)
        own = sorted(self.classes)
        return (
            *(f"{family}{name}." for family in CLASS_TOPICS for name in own),
            *(topic for topic, name in NOTICE_TOPICS.items() if name in self.classes),
        )

    def _outside(self, what: str) -> str:
        return f"token {self.name!r} is limited to {self._class_list()}; {what}"

    def _class_list(self) -> str:
        assert self.classes is not None
        return "classes " + ", ".join(sorted(self.classes))


ADMIN = Grant("(no tokens configured)", "admin")


class Authenticator:
    """Turns a presented token into a :class:`Grant`, comparing hashes in constant time."""

    def __init__(self, config: GatewayConfig) -> None:
        self._entries: tuple[TokenEntry, ...] = config.tokens

    @property
    def open(self) -> bool:
        """No tokens configured: every (loopback) client is admin."""
        return not self._entries

    def grant(self, token: str | None) -> Grant | None:
        """The grant of ``token``; None if it is missing or matches no entry."""
        if self.open:
            return ADMIN
        if not token:
            return None
        digest = hash_token(token)
        found: TokenEntry | None = None
        for entry in self._entries:  # every entry, so the time taken says nothing about which matched
            if hmac.compare_digest(digest, entry.sha256):
                found = entry
        if found is None:
            return None
        classes = frozenset(found.classes) if found.classes is not None else None
        return Grant(found.name, found.scope, classes)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None if absent or of another scheme."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None

