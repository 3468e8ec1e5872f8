"""Server bootstrap shared by the four services.

``tuneforge serve all`` hosts every service in one process on one port (the embedded
default); ``tuneforge serve dataset`` hosts one. Each service package has a ``server.py``
with ``SERVICE_NAME`` and ``async def setup(ctx: ServiceContext)`` that adds its servicer
and registers its job kinds. Health turns SERVING only once every service is set up and the
job engine has reconciled; it turns NOT_SERVING when shutdown begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import re
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tuneforge.jobs.v1 import jobs_pb2_grpc

from tuneforge.runtime.config import Config
from tuneforge.runtime.errors import TuneforgeError, failed_precondition
from tuneforge.runtime.interceptor import ServerInterceptor
from tuneforge.runtime.transfer import sweep_partial_uploads
from tuneforge.runtime.job_service import SERVICE_NAME as JOB_SERVICE_NAME
from tuneforge.runtime.job_service import JobServicer
from tuneforge.runtime.jobs import JobEngine
from tuneforge.runtime.logging import get_logger
from tuneforge.runtime.metrics import Metrics
from tuneforge.runtime.server_lock import ServerLock
from tuneforge.runtime.store import Store, open_store

SERVICES = ("dataset", "trainer", "tts", "registry")
MIN_TOKEN_CHARS = 16  # for a bind beyond loopback
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # one gRPC message either way (docs/grpcurl.md says so)
log = get_logger("tuneforge.server")


@dataclass
class ServiceContext:
    """What a service's ``setup`` gets: the server, config, store, jobs and the data root."""

    server: grpc.aio.Server
    config: Config
    store: Store
    engine: JobEngine
    root: Path
    hosted: tuple[str, ...]
    metrics: Metrics
    address: str = ""
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def self_target(self) -> str:
        """Address other services use to reach this process."""
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"{host}:{self.config.port}"

    def path_roots(self, *, with_models: bool = False) -> list[Path]:
        """Where paths a client names may point: the data root and ``allowed_paths`` (and
        ``models_dir`` for models to read)."""
        from tuneforge.runtime.paths import allowed_roots

        return allowed_roots(self.root, self.config.allowed_paths, self.config.models_dir if with_models else "")

    def target_for(self, service: str, configured: str) -> str:
        if configured:
            return configured
        return self.self_target()

    def client_channel(self, target: str) -> grpc.aio.Channel:
        """A channel to another tuneforge service with this server's own credentials.

        With TLS, the peer is verified against ``tls_ca`` (or the server's own certificate
        when self-signed); with mTLS, this server's certificate is the client certificate.
        """
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        cfg = self.config
        if not cfg.tls_cert:
            return grpc.aio.insecure_channel(target, options=options)
        roots = Path(cfg.tls_ca or cfg.tls_cert).read_bytes()
        key = Path(cfg.tls_key).read_bytes() if cfg.tls_client_ca else None
        chain = Path(cfg.tls_cert).read_bytes() if cfg.tls_client_ca else None
        creds = grpc.ssl_channel_credentials(root_certificates=roots, private_key=key, certificate_chain=chain)
        return grpc.aio.secure_channel(target, creds, options=options)

    def call_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.config.auth_token}")] if self.config.auth_token else []


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_policy(config: Config) -> None:
    if config.auth_token and not re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", config.auth_token):
        raise failed_precondition(
            "INVALID_TOKEN",
            "auth_token must be an RFC 6750 bearer token: letters, digits and -._~+/ (then = padding)",
        )
    if is_loopback(config.host):
        return
    if not (config.auth_token or config.tls_cert):
        raise failed_precondition(
            "INSECURE_BIND",
            f"refusing to listen on {config.host}: beyond loopback set auth_token or TLS "
            "(tls_cert + tls_key), or listen on 127.0.0.1",
        )
    if config.auth_token and len(config.auth_token) < MIN_TOKEN_CHARS:
        raise failed_precondition(
            "WEAK_TOKEN",
            f"refusing to listen on {config.host} with an auth_token of {len(config.auth_token)} characters: "
            f"beyond loopback it needs at least {MIN_TOKEN_CHARS} (python -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )


def _credentials(config: Config) -> grpc.ServerCredentials | None:
    if not config.tls_cert:
        return None
    if not config.tls_key:
        raise failed_precondition("TLS_KEY_MISSING", "tls_cert is set but tls_key is not")
    key = Path(config.tls_key).read_bytes()
    cert = Path(config.tls_cert).read_bytes()
    ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def _executors(config: Config, root: Path) -> dict[str, Any]:
    from tuneforge.runtime.executors import build_executors

    return dict(build_executors(config, root))


class TuneforgeServer:
    """One gRPC server hosting one or more services."""

    def __init__(self, config: Config, services: tuple[str, ...] = SERVICES) -> None:
        for name in services:
            if name not in SERVICES:
                raise ValueError(f"unknown service {name!r}; choose from {', '.join(SERVICES)} or all")
        self.config = config
        self.services = services
        self.port = 0
        self.health = health.aio.HealthServicer()
        self.metrics = Metrics()
        self._server: grpc.aio.Server | None = None
        self.ctx: ServiceContext | None = None
        self._names: list[str] = []
        self._lock: ServerLock | None = None

    async def start(self) -> int:
        check_bind_policy(self.config)
        root = self.config.root
        root.mkdir(parents=True, exist_ok=True)
        if not self.config.database_url:  # SQLite: one server per service on this data root, for the process's life
            self._lock = ServerLock(root, self.services)
            self._lock.acquire()
        try:
            return await self._start(root)
        except BaseException:
            self._release_lock()
            raise

    async def _start(self, root: Path) -> int:
        store = open_store(root, self.config.database_url, self.config.database_busy_timeout_seconds)
        try:
            store.check()
        except BaseException:
            store.close()
            raise
        engine = JobEngine(
            store, root,
            max_parallel_jobs=self.config.max_parallel_jobs,
            stop_timeout=self.config.stop_timeout_seconds,
            worker_python=self.config.worker_python,
            executors=_executors(self.config, root),
            lease_seconds=self.config.job_lease_seconds,
        )
        server = grpc.aio.server(
            interceptors=[ServerInterceptor(self.config.auth_token, self.metrics.observe_rpc, data_root=root)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        self._server = server
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        address = f"{self.config.host}:{self.config.port}"
        creds = _credentials(self.config)
        self.port = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
        if self.port == 0:
            raise failed_precondition("BIND_FAILED", f"could not listen on {address}")
        self.config.port = self.port
        if self._lock:
            self._lock.set_address(f"{self.config.host}:{self.port}")
        ctx = ServiceContext(server, self.config, store, engine, root, self.services, self.metrics, address=f"{self.config.host}:{self.port}")
        self.ctx = ctx
        for name in self.services:
            module = importlib.import_module(f"tuneforge.services.{name}.server")
            await module.setup(ctx)
            self._names.append(module.SERVICE_NAME)
        # One JobService per process, for the jobs of the services hosted here.
        jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(engine, self.services), server)
        self._names.append(JOB_SERVICE_NAME)
        reflection.enable_server_reflection(
            [*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        if partials := sweep_partial_uploads(root / "uploads"):  # uploads cut off by a dead process
            log.info("partial_uploads_removed", count=partials)
        await server.start()
        await engine.start()
        self.metrics.bind_engine(engine)
        if self.config.metrics_port:
            self.metrics.serve(self.config.metrics_port, self.config.host)
        if self.config.upload_retention_hours > 0:
            ctx.background.append(asyncio.create_task(_sweep_uploads_forever(ctx)))
        for name in ["", *self._names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("server_started", address=f"{self.config.host}:{self.port}", services=list(self.services), data_root=str(root))
        return self.port

    async def stop(self, grace: float = 5.0, stop_workers: bool = False) -> None:
        for name in ["", *self._names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.ctx:
            for hook in self.ctx.on_shutdown:
                with contextlib.suppress(Exception):
                    await hook()
            for task in self.ctx.background:
                task.cancel()
        if self._server:
            await self._server.stop(grace)
        if self.ctx:
            await self.ctx.engine.close(stop_workers=stop_workers)
            self.ctx.store.close()
        self.metrics.shutdown()
        self._release_lock()
        log.info("server_stopped")

    def _release_lock(self) -> None:
        if self._lock:
            self._lock.release()
            self._lock = None

    async def wait(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


async def _sweep_uploads_forever(ctx: ServiceContext, interval: float = 600.0) -> None:
    """Uploads are inputs to jobs, not data: drop them after the retention period."""
    import re

    from tuneforge.runtime.transfer import sweep_uploads

    while True:
        try:
            live = ctx.engine.job_store.live_params_text()
            keep = {m for params in live for m in re.findall(r"up-[0-9a-f]{12}", params)}
            removed = await asyncio.to_thread(
                sweep_uploads, ctx.root / "uploads", ctx.config.upload_retention_hours * 3600, keep
            )
            if removed:
                log.info("uploads_swept", count=len(removed))
        except Exception:  # noqa: BLE001 - housekeeping must never stop the server
            log.exception("upload_sweep_failed")
        await asyncio.sleep(interval)


Companion = Callable[[int], Awaitable[contextlib.AbstractAsyncContextManager[Any]]]


async def serve_forever(config: Config, services: tuple[str, ...], ready: Callable[[int], None] | None = None,
                        companions: list[Companion] = ()) -> None:
    """Serve until SIGTERM/SIGINT. A companion (the web console) gets the gRPC port once the
    server is up and returns an async context that runs beside it until shutdown."""
    server = TuneforgeServer(config, services)
    port = await server.start()
    async with contextlib.AsyncExitStack() as stack:
        try:
            for companion in companions:
                await stack.enter_async_context(await companion(port))
        except BaseException:
            await server.stop()
            raise
        if ready:
            ready(port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    # In a container the workers die with this process: give them their graceful stop first.
    await server.stop(stop_workers=config.stop_workers_on_exit)
