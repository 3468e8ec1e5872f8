"""Running the console: ``tuneforge web --target HOST:PORT`` alone, or beside the services
with ``tuneforge serve all --web-port PORT`` (same process and event loop, still a gRPC
client of them).

Beyond loopback the console needs a token, TLS or not: the console is a client of the
services with their token (or the server's own client certificate), so whoever reaches it
without logging in would act with the server's rights; TLS encrypts but does not say who the
browser's user is. ``tuneforge web`` also applies the gRPC server's own rule
(``tuneforge.runtime.server.check_bind_policy``: an RFC 6750 token of 16 characters or more
beyond loopback); ``serve all --web-port`` applies it to the shared config before either
listens. This package imports no server code, so the CLI calls that rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from tuneforge.web.app import create_app
from tuneforge.web.grpc_api import Backend
from tuneforge.web.guards import parse_names


class InsecureBind(ValueError):
    pass


@dataclass
class WebSettings:
    target: str
    host: str = "127.0.0.1"
    port: int = 8080
    # The bearer token of the services: what the console sends them and what users log in with.
    token: str = ""
    # HTTPS for the console itself.
    tls_cert: str = ""
    tls_key: str = ""
    # TLS towards the services (CA that signed them; client cert + key for mTLS).
    grpc_tls: bool = False
    grpc_ca: str = ""
    grpc_cert: str = ""
    grpc_key: str = ""
    log_level: str = "warning"
    # Names the console answers to besides loopback and IP addresses (comma-separated,
    # ``name`` or ``name:port``): the DNS-rebinding guard (guards.py; web_allowed_hosts).
    allowed_hosts: str = ""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_policy(settings: WebSettings) -> None:
    """Beyond loopback, a token (see the module doc for why TLS alone is not enough)."""
    if not is_loopback(settings.host) and not settings.token:
        raise InsecureBind(
            f"refusing to serve the web console on {settings.host}: beyond loopback it needs a token "
            "(auth_token, --token; TLS alone does not say who the browser's user is), or listen on 127.0.0.1")


class _Embedded(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (``serve all``, tests)."""

    def capture_signals(self) -> Any:
        return contextlib.nullcontext()


def build(settings: WebSettings, embedded: bool = False) -> tuple[uvicorn.Server, socket.socket]:
    """(server, its bound socket): bound now, so port 0 gets a real port at once."""
    check_bind_policy(settings)
    backend = Backend(settings.target, token=settings.token, tls=settings.grpc_tls, ca=settings.grpc_ca or None,
                      cert=settings.grpc_cert or None, key=settings.grpc_key or None)
    app = create_app(backend, token=settings.token, secure=bool(settings.tls_cert),
                     allowed_hosts=[settings.host, *parse_names(settings.allowed_hosts)])
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
        ssl_certfile=settings.tls_cert or None, ssl_keyfile=settings.tls_key or None,
        timeout_graceful_shutdown=3, proxy_headers=False,
    )
    server = (_Embedded if embedded else uvicorn.Server)(config)
    return server, config.bind_socket()


def url_of(settings: WebSettings, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"{'https' if settings.tls_cert else 'http'}://{shown}:{port}/"


def serve(settings: WebSettings, ready: Callable[[str], None] | None = None) -> None:
    """Run the console in the foreground until Ctrl-C / SIGTERM."""
    check_bind_policy(settings)

    async def main() -> None:  # the gRPC channel belongs to the loop that serves
        server, sock = build(settings)
        if ready:
            ready(url_of(settings, sock))
        await server.serve(sockets=[sock])

    asyncio.run(main())


@contextlib.asynccontextmanager
async def running(settings: WebSettings) -> Any:
    """The console as a task on the current loop; yields its URL, stops on exit."""
    server, sock = build(settings, embedded=True)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
    try:
        yield url_of(settings, sock)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
