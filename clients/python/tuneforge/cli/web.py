"""`tuneforge web`: the web console (the Finetune tab) as a client of running services.

    tuneforge web --target localhost:50051 --port 8080
    tuneforge serve all --web-port 8080      # the same, beside the services

Open the printed URL; with a token configured, log in with it.
"""

from __future__ import annotations

import argparse
import os
import sys

from tuneforge.cli.common import client_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", parents=[client_options()], help="the web console (Finetune tab: LLM and TTS) over gRPC",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    web.add_argument("--host", default=os.environ.get("TUNEFORGE_WEB_HOST", "127.0.0.1"), help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=int(os.environ.get("TUNEFORGE_WEB_PORT") or 8080), help="port (default 8080; 0 = any free port)")
    web.add_argument("--tls-cert", default=os.environ.get("TUNEFORGE_TLS_CERT", ""), help="certificate (PEM): serve the console over HTTPS")
    web.add_argument("--tls-key", default=os.environ.get("TUNEFORGE_TLS_KEY", ""), help="private key (PEM) for --tls-cert")
    web.set_defaults(func=run)


WEB_EXTRA_MISSING = "error: the web console needs its extra: pip install 'tuneforge[web]' (starlette, uvicorn, python-multipart)"


def run(args: argparse.Namespace) -> int:
    try:
        from tuneforge.web.server import InsecureBind, WebSettings, serve
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn", "multipart", "python_multipart"):
            raise
        print(WEB_EXTRA_MISSING, file=sys.stderr)
        return 2

    settings = WebSettings(
        target=args.target, host=args.host, port=args.port, token=args.token,
        tls_cert=args.tls_cert, tls_key=args.tls_key, grpc_tls=args.tls or bool(args.ca or args.cert),
        grpc_ca=args.ca or "", grpc_cert=args.cert or "", grpc_key=args.key or "",
    )
    try:
        serve(settings, lambda url: print(f"tuneforge web console on {url} (services at {args.target})", file=sys.stderr, flush=True))
    except InsecureBind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
