"""`tuneforge`: run the services, inspect config, and drive everything from a shell.

    tuneforge serve all|dataset|trainer|tts|registry [--port PORT] [--data-root DIR] [--web-port PORT]
    tuneforge admin migrate-store --to postgresql://… [--data-root DIR]
    tuneforge config show
    tuneforge health [--target HOST:PORT]
    tuneforge dataset ... | train ... | adapters ... | tts ... | demo | web
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import sys
from typing import Any

from tuneforge.cli.common import client_options, deadline, server_parts_missing

COMMAND_GROUPS = ("jobs", "dataset", "train", "adapters", "models", "tts", "demo", "web")


def _serve(args: argparse.Namespace) -> int:
    try:
        from tuneforge.runtime.config import load_config
        from tuneforge.runtime.errors import TuneforgeError
        from tuneforge.runtime.logging import configure_logging
        from tuneforge.runtime.server import SERVICES, serve_forever
    except ModuleNotFoundError as exc:
        return server_parts_missing("serve", exc)

    overrides = {"port": args.port, "data_root": args.data_root, "host": args.host, "metrics_port": args.metrics_port,
                 "web_port": args.web_port}
    try:
        config, _ = load_config(args.config, overrides)
    except TuneforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    services = SERVICES if args.service == "all" else (args.service,)

    def ready(port: int) -> None:
        print(f"tuneforge serving {', '.join(services)} on {config.host}:{port} (data root {config.root})", file=sys.stderr, flush=True)

    try:
        companions = [_web_companion(config)] if config.web_port else []
    except ModuleNotFoundError as exc:
        from tuneforge.cli.web import WEB_EXTRA_MISSING

        if exc.name not in ("starlette", "uvicorn", "multipart", "python_multipart"):
            return server_parts_missing("serve --web-port", exc, "'tuneforge[web]'")
        print(WEB_EXTRA_MISSING, file=sys.stderr)
        return 2
    except ValueError as exc:  # the console's bind rule (InsecureBind), checked before any port opens
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve_forever(config, services, ready, companions))
    except ModuleNotFoundError as exc:  # the runtime without the service asked for
        return server_parts_missing("serve", exc, f"tuneforge-{args.service}" if args.service != "all" else "tuneforge")
    except (TuneforgeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def _web_companion(config: Any) -> Any:
    """The web console beside the services (``--web-port``): a gRPC client of this server."""
    from tuneforge.web.server import WebSettings, check_bind_policy, running

    check_bind_policy(WebSettings(target="", host=config.host, token=config.auth_token, tls_cert=config.tls_cert))

    async def companion(port: int) -> Any:
        host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
        settings = WebSettings(
            target=f"{host}:{port}", host=config.host, port=config.web_port, token=config.auth_token,
            tls_cert=config.tls_cert, tls_key=config.tls_key, grpc_tls=bool(config.tls_cert),
            grpc_ca=config.tls_ca or config.tls_cert,
            grpc_cert=config.tls_cert if config.tls_client_ca else "", grpc_key=config.tls_key if config.tls_client_ca else "",
            allowed_hosts=config.web_allowed_hosts,
        )
        return _announced(running(settings))

    return companion


@contextlib.asynccontextmanager
async def _announced(console: Any) -> Any:
    async with console as url:
        print(f"tuneforge web console on {url}", file=sys.stderr, flush=True)
        yield url


def _migrate_store(args: argparse.Namespace) -> int:
    try:
        from tuneforge.runtime.config import load_config
        from tuneforge.runtime.errors import TuneforgeError
        from tuneforge.runtime.store_move import move
        from tuneforge.runtime.store_pg import redact
    except ModuleNotFoundError as exc:
        return server_parts_missing("admin migrate-store", exc, "tuneforge-runtime")

    if not args.to.startswith(("postgresql://", "postgres://")):
        print("error: --to must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        config, _ = load_config(args.config, {"data_root": args.data_root})
        counts = move(config.root, args.to)
    except TuneforgeError as exc:
        print(f"error: {exc.reason}: {exc}", file=sys.stderr)
        return 1
    for table, n in counts.items():
        print(f"{table:<32} {n:>8} rows")
    print(f"moved {sum(counts.values())} rows in {len(counts)} tables from {config.root} to {redact(args.to)}; "
          f"serve with database_url (TUNEFORGE_DATABASE_URL) set to it")
    return 0


def _config_show(args: argparse.Namespace) -> int:
    try:
        from tuneforge.runtime.config import describe, load_config
        from tuneforge.runtime.errors import TuneforgeError
    except ModuleNotFoundError as exc:
        return server_parts_missing("config show", exc, "tuneforge-runtime")

    try:
        config, origin = load_config(args.config, {"data_root": args.data_root})
    except TuneforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = describe(config, origin)
    if args.json:
        print(json.dumps({k: {"value": v, "source": o} for k, v, o, _ in rows}, indent=2))
        return 0
    width = max(len(r[0]) for r in rows)
    for key, value, source, help_text in rows:
        print(f"{key:<{width}}  {value!s:<28}  ({source})  {help_text}")
    return 0


def _health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from tuneforge.client.errors import from_rpc_error

    from tuneforge.cli.common import connect, exit_code, hint_for

    client = connect(args)
    stub = health_pb2_grpc.HealthStub(client.channel)
    names = {
        "": "server",
        "tuneforge.dataset.v1.DatasetService": "dataset",
        "tuneforge.trainer.v1.TrainerService": "trainer",
        "tuneforge.tts.v1.TtsService": "tts",
        "tuneforge.registry.v1.RegistryService": "registry",
    }
    results, ok, down = {}, True, None
    for service, label in names.items():
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline(args))
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        except grpc.RpcError as exc:
            status = "NOT_HOSTED" if exc.code() == grpc.StatusCode.NOT_FOUND else f"UNREACHABLE ({exc.code().name})"
            if label == "server" and exc.code() != grpc.StatusCode.NOT_FOUND:
                down = from_rpc_error(exc)
        results[label] = status
        if label == "server" and status != "SERVING":
            ok = False
    if down is not None:  # nothing answered: the table says so, stderr says what to do, the exit code which class
        hint = hint_for(down, args.target)
        if args.json:
            print(json.dumps({"target": args.target, "services": results}, indent=2))
        else:
            for label, status in results.items():
                print(f"{label:<9} {status}")
        print(f"error: {down}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr)
        return exit_code(down)
    if args.json:
        print(json.dumps({"target": args.target, "services": results}, indent=2))
    else:
        for label, status in results.items():
            print(f"{label:<9} {status}")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuneforge", description="Self-hosted fine-tuning: datasets, LoRA training, voice models, adapters.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run services (all in one process by default)")
    serve.add_argument("service", nargs="?", default="all", choices=["all", "dataset", "trainer", "tts", "registry"])
    serve.add_argument("--port", type=int, default=None, help="port (default 50051; 0 = any free port)")
    serve.add_argument("--host", default=None, help="address (default 127.0.0.1)")
    serve.add_argument("--data-root", default=None, help="data root (default ./var or $TUNEFORGE_HOME)")
    serve.add_argument("--config", default=None, help="TOML config file")
    serve.add_argument("--metrics-port", type=int, default=None, help="Prometheus metrics port")
    serve.add_argument("--web-port", type=int, default=None, help="also serve the web console on this port (default off)")
    serve.set_defaults(func=_serve)

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective configuration and where each value comes from")
    show.add_argument("--config", default=None)
    show.add_argument("--data-root", default=None)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_config_show)

    health = sub.add_parser("health", help="check a server's health, per service", parents=[client_options()])
    health.set_defaults(func=_health)

    admin = sub.add_parser("admin", help="operator tasks on a data root (servers stopped)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    move = admin_sub.add_parser("migrate-store", help="copy a data root's SQLite state into an empty PostgreSQL database")
    move.add_argument("--to", required=True, metavar="postgresql://…", help="the empty database (then set database_url to it)")
    move.add_argument("--data-root", default=None, help="data root holding state.db (default ./var or $TUNEFORGE_HOME)")
    move.add_argument("--config", default=None)
    move.set_defaults(func=_migrate_store)

    for group in COMMAND_GROUPS:
        try:
            module = importlib.import_module(f"tuneforge.cli.{group}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tuneforge.cli.{group}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from tuneforge.client import TuneforgeClientError

    from tuneforge.cli.common import fail

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TuneforgeClientError as exc:
        return fail(exc, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader went away (``tuneforge ... | head``): stop quietly, as Unix tools do. Point
    stdout at /dev/null so the interpreter's final flush raises nothing either."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe


if __name__ == "__main__":
    sys.exit(main())
