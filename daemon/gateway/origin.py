"""What keeps other web sites out of a gateway that has no tokens.

Without tokens the gateway serves loopback clients as admins. A browser on
the same machine is such a client, and any page it shows may open a
WebSocket or send a POST to 127.0.0.1: browsers apply no same-origin check to
WebSocket upgrades, and a cross-site "simple" POST is sent even though its
response cannot be read. So, while no tokens are configured:

* a request whose ``Origin`` names another origin than the gateway's own is
  refused (pages served by the gateway itself, such as the dashboard, send
  their own origin; scripts, curl and server-side clients send none);
* a request whose ``Host`` is not a loopback name or address is refused, so
  a site whose name was made to resolve to 127.0.0.1 (DNS rebinding) reaches
  nothing either.

With tokens configured neither applies: a page on another origin cannot know
a token, and a page that has one may use it from wherever it is served.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from daemon.gateway.jsonvalues import dumps
from schemas.wire import ErrorCode, error_reply

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a Host header: a name or address, with or without a port) names this machine."""
    name = urlsplit(f"//{host}").hostname or ""
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refusal(origin: str | None, host: str | None, scheme: str) -> str | None:
    """Why a request to a gateway without tokens is refused; None when it may go on."""
    if host is None or not is_loopback_host(host):
        return (f"the Host header {host!r} is not a loopback name; a gateway without tokens answers only "
                "requests addressed to 127.0.0.1, ::1 or localhost (configure tokens to serve others)")
    if origin is not None and origin != f"{scheme}://{host}":
        return (f"a page at {origin} may not use a gateway without tokens (served at {scheme}://{host}); "
                "configure tokens and give the page one, or open the page from this gateway")
    return None


def guard(active: Callable[[], bool]) -> Middleware:
    """An aiohttp middleware that refuses what :func:`refusal` refuses while ``active()`` holds."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if active():
            reason = refusal(request.headers.get("Origin"), request.headers.get("Host"), request.scheme)
            if reason is not None:
                return forbidden(reason)
        return await handler(request)

    return middleware


def forbidden(reason: str) -> web.Response:
    """The refusal as the gateway's other errors look: a FORBIDDEN reply map as JSON, HTTP 403."""
    return web.Response(text=dumps(error_reply(None, ErrorCode.FORBIDDEN, reason)), status=403,
                        content_type="application/json")
