"""What every response of the console goes through, before any route: the Host allow-list and
the security headers.

DNS rebinding: a page on ``evil.example`` whose name is switched to resolve to 127.0.0.1 talks
to the console as its own origin, cookies and CSRF token included, unless the console refuses
requests whose ``Host`` is not its own. The console answers only:

* loopback names: ``localhost``, ``127.0.0.1`` (any 127/8 address), ``[::1]``;
* any IP address (``http://192.0.2.7:8080/``): a rebinding needs a *name*, and a page whose
  origin is an IP address is a page this very address served;
* the address it listens on, and the names in ``web_allowed_hosts`` (``--allowed-hosts``:
  ``console.example.com``, or ``console.example.com:443`` for that port only).

The port is not checked otherwise: the name is what a rebinding forges, and port maps (Docker,
a proxy) change the port a browser sees. Everything else gets 421 with a plain message, on every
route: pages, static files, the API, event streams, ``/healthz``.

Every response also carries the page headers (CSP, no framing, ``nosniff``, the referrer
policy) and HTML ``no-store``: set here once, so no route or static file can miss them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse

LOOPBACK_NAMES = frozenset({"localhost"})
# Pages load only their own scripts and styles: no inline script, nothing from elsewhere.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def split_host(value: str) -> tuple[str, str]:
    """``("name", "port")`` of a Host header or an allow-list entry; the name lower-cased,
    IPv6 without brackets, a trailing dot dropped; port ``""`` when absent."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.removeprefix(":")
    if value.count(":") > 1:  # a bare IPv6 address (an allow-list entry, never a valid Host)
        return value, ""
    name, _, port = value.partition(":")
    return name.removesuffix("."), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostAllowList:
    def __init__(self, names: Iterable[str] = ()) -> None:
        self.entries = {split_host(n) for n in names if n.strip()}

    def allows(self, header: str) -> bool:
        name, port = split_host(header)
        if not name:
            return False
        if name in LOOPBACK_NAMES or _is_ip(name):
            return True
        return (name, "") in self.entries or (name, port) in self.entries


def parse_names(text: str) -> list[str]:
    """The names of a comma-separated ``web_allowed_hosts`` / ``--allowed-hosts`` value."""
    return [n.strip() for n in text.split(",") if n.strip()]


class HostCheckMiddleware:
    """421 for a request whose ``Host`` the console does not answer to (see the module doc)."""

    def __init__(self, app: Any, allowed: HostAllowList) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if self.allowed.allows(host):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        shown = host[:100] or "(none)"
        message = (f"421 Misdirected Request: this console does not answer to the host {shown!r}. "
                   "If that name is yours, add it to web_allowed_hosts (tuneforge web --allowed-hosts).\n")
        return await PlainTextResponse(message, 421)(scope, receive, send)


class PageHeadersMiddleware:
    """Adds :data:`PAGE_HEADERS` to every response, and ``no-store`` to HTML."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in PAGE_HEADERS.items():
                    headers.setdefault(key, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        return await self.app(scope, receive, send_with_headers)
