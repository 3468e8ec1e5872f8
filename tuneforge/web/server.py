"""Running the console: ``tuneforge web --target HOST:PORT`` alone, or beside the services
with ``tuneforge serve all --web-port PORT`` (same process and event loop, still a gRPC
client of them).

Like the gRPC server, the console listens on loopback unless a token or TLS is configured.
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_policy(settings: WebSettings) -> None:
    if not is_loopback(settings.host) and not (settings.token or settings.tls_cert):
        raise InsecureBind(
            f"refusing to serve the web console on {settings.host}: beyond loopback set a token "
            "(auth_token) or TLS (tls_cert + tls_key), or listen on 127.0.0.1")


class _Embedded(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (``serve all``, tests)."""

    def capture_signals(self) -> Any:
        return contextlib.nullcontext()


def build(settings: WebSettings, embedded: bool = False) -> tuple[uvicorn.Server, socket.socket]:
    """(server, its bound socket): bound now, so port 0 gets a real port at once."""
    check_bind_policy(settings)
    backend = Backend(settings.target, token=settings.token, tls=settings.grpc_tls, ca=settings.grpc_ca or None,
                      cert=settings.grpc_cert or None, key=settings.grpc_key or None)
    app = create_app(backend, token=settings.token, secure=bool(settings.tls_cert))
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
