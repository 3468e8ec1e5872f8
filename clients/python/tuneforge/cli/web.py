"""`tuneforge web`: the web console (the Finetune tab) as a client of running services.

    tuneforge web --target localhost:50051 --port 8080
    tuneforge serve all --web-port 8080      # the same, beside the services

Open the printed URL; with a token configured, log in with it.
"""

from __future__ import annotations

import argparse
import os
import sys

from tuneforge.cli.common import client_options, server_parts_missing


def add_parser(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", parents=[client_options()], help="the web console (Finetune tab: LLM and TTS) over gRPC",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    web.add_argument("--host", default=os.environ.get("TUNEFORGE_WEB_HOST", "127.0.0.1"), help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=int(os.environ.get("TUNEFORGE_WEB_PORT") or 8080), help="port (default 8080; 0 = any free port)")
    web.add_argument("--tls-cert", default=os.environ.get("TUNEFORGE_TLS_CERT", ""), help="certificate (PEM): serve the console over HTTPS")
    web.add_argument("--tls-key", default=os.environ.get("TUNEFORGE_TLS_KEY", ""), help="private key (PEM) for --tls-cert")
    web.add_argument("--allowed-hosts", default=os.environ.get("TUNEFORGE_WEB_ALLOWED_HOSTS", ""),
                     help="host names the console answers to besides loopback and IP addresses, comma-separated (DNS-rebinding guard)")
    web.set_defaults(func=run)


WEB_EXTRA_MISSING = "error: the web console needs its extra: pip install 'tuneforge[web]' (starlette, uvicorn, python-multipart)"


def run(args: argparse.Namespace) -> int:
    try:
        from tuneforge.web.server import InsecureBind, WebSettings, check_bind_policy, serve
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn", "multipart", "python_multipart"):
            return server_parts_missing("web", exc, "'tuneforge[web]'")
        print(WEB_EXTRA_MISSING, file=sys.stderr)
        return 2
    try:
        from tuneforge.runtime.config import Config
        from tuneforge.runtime.errors import TuneforgeError
        from tuneforge.runtime.logging import configure_logging
        from tuneforge.runtime.server import check_bind_policy as check_server_bind_policy
    except ModuleNotFoundError as exc:
        return server_parts_missing("web", exc, "'tuneforge[web]'")

    configure_logging("info")  # failed logins are logged (JSON on stderr, as the servers log)
    settings = WebSettings(
        target=args.target, host=args.host, port=args.port, token=args.token,
        tls_cert=args.tls_cert, tls_key=args.tls_key, grpc_tls=args.tls or bool(args.ca or args.cert),
        grpc_ca=args.ca or "", grpc_cert=args.cert or "", grpc_key=args.key or "", allowed_hosts=args.allowed_hosts,
    )
    try:
        check_bind_policy(settings)  # the console's rule, then the gRPC server's (token format, 16 characters)
        check_server_bind_policy(Config(host=settings.host, auth_token=settings.token, tls_cert=settings.tls_cert))
    except (InsecureBind, TuneforgeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(settings, lambda url: print(f"tuneforge web console on {url} (services at {args.target})", file=sys.stderr, flush=True))
    except InsecureBind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
