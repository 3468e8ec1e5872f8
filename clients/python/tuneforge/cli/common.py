"""What every client command shares: connection options, output, errors, progress."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from google.protobuf.json_format import MessageToDict

from tuneforge.client import DEFAULT_TARGET, Client, TuneforgeClientError


DEFAULT_TIMEOUT = 60.0


def client_options() -> argparse.ArgumentParser:
    """Parent parser: --target, --json, --token, TLS options (env: TUNEFORGE_TARGET, _TOKEN)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument("--target", default=os.environ.get("TUNEFORGE_TARGET", DEFAULT_TARGET), help=f"server address (default {DEFAULT_TARGET}, env TUNEFORGE_TARGET)")
    group.add_argument("--json", action="store_true", help="print JSON instead of text")
    group.add_argument("--token", default=os.environ.get("TUNEFORGE_TOKEN", ""), help="bearer token (env TUNEFORGE_TOKEN)")
    group.add_argument("--tls", action="store_true", help="connect with TLS")
    group.add_argument("--ca", default=os.environ.get("TUNEFORGE_CA"), help="CA certificate (PEM) to verify the server")
    group.add_argument("--cert", default=os.environ.get("TUNEFORGE_CERT"), help="client certificate (PEM) for mTLS")
    group.add_argument("--key", default=os.environ.get("TUNEFORGE_KEY"), help="client key (PEM) for mTLS")
    group.add_argument("--timeout", type=float, default=None,
                       help=f"deadline per call in seconds (default {DEFAULT_TIMEOUT:g}; longer for commands that wait)")
    return parent


def deadline(args: argparse.Namespace) -> float:
    """``--timeout``, else the command's own default (``set_defaults(default_timeout=…)``:
    not on ``timeout`` itself, whose action object all subcommands share), else 60 s."""
    if getattr(args, "timeout", None) is not None:
        return args.timeout
    return getattr(args, "default_timeout", DEFAULT_TIMEOUT)


def connect(args: argparse.Namespace) -> Client:
    tls = args.tls or bool(args.ca or args.cert)
    return Client(args.target, token=args.token, tls=tls, ca=args.ca, cert=args.cert, key=args.key,
                  timeout=deadline(args))


def to_dict(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def emit(args: argparse.Namespace, message: Any, text: str | None = None) -> None:
    """Print a message as JSON (--json) or the given text (default: JSON too)."""
    if args.json or text is None:
        data = to_dict(message) if hasattr(message, "DESCRIPTOR") else message
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def parse_sets(message_cls: type, items: list[str], option: str = "--set") -> tuple[Any, list[str]]:
    """``["lora_rank=16", "target_modules=q_proj,v_proj"]`` → (message, field names), each
    value parsed by its field's type in the message descriptor (no table of types here)."""
    from tuneforge.client.fields import FieldParseError, parse_assignments

    try:
        return parse_assignments(message_cls, items)
    except FieldParseError as exc:
        print(f"error: {option} {exc}", file=sys.stderr)
        raise SystemExit(2) from None  # a usage error, caught before any call


def server_parts_missing(command: str, exc: ModuleNotFoundError, install: str = "tuneforge") -> int:
    """``tuneforge serve``/``config``/``demo``/``web`` where only the client is installed: say
    what to install, exit 2, no traceback. A missing module outside tuneforge is a broken
    install, not a missing part: re-raised."""
    if not (exc.name or "").startswith("tuneforge."):
        raise exc
    print(f"error: `tuneforge {command}` needs the server parts, which are not installed here "
          f"(no {exc.name}; this is the client alone): pip install {install}", file=sys.stderr)
    return 2


# One exit status per error class, so a script can tell "not there" from "server down"
# (the table is docs/cli.md's "Exit codes"). 1 stays "the command ran and the answer is no"
# (a job that did not succeed, an unhealthy server, a check that found invalid rows);
# 2 is a usage error (argparse's own), 130 an interrupt, 141 a closed pipe.
EXIT_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": 3, "OUT_OF_RANGE": 3,
    "NOT_FOUND": 4,
    "ALREADY_EXISTS": 5,
    "FAILED_PRECONDITION": 6, "ABORTED": 6,
    "UNAVAILABLE": 7,
    "UNAUTHENTICATED": 8, "PERMISSION_DENIED": 8,
    "RESOURCE_EXHAUSTED": 9,
    "INTERNAL": 10, "UNKNOWN": 10, "DATA_LOSS": 10,
    "DEADLINE_EXCEEDED": 11,
    "UNIMPLEMENTED": 12,
    "CANCELLED": 13,
}


def exit_code(error: TuneforgeClientError) -> int:
    return EXIT_CODES.get(error.code.name, 10)


def unreachable(error: TuneforgeClientError) -> bool:
    """UNAVAILABLE because nothing answered at the address (not a service saying it is busy)."""
    text = error.message.lower()
    return error.code.name == "UNAVAILABLE" and any(
        s in text for s in ("failed to connect", "connection refused", "dns resolution failed",
                            "name resolution", "connect failed", "unreachable", "no route to host"))


def hint_for(error: TuneforgeClientError, target: str = "") -> str:
    """The server's hint when it sends one (ErrorInfo metadata ``hint``), else what to do next
    for the classes where the client knows better than the server."""
    if error.metadata.get("hint"):
        return error.metadata["hint"]
    code = error.code.name
    where = target or "the --target address"
    if code == "UNAVAILABLE":
        text = error.message.lower()
        if "handshake" in text or "ssl" in text or "certificate" in text:
            return (f"the TLS handshake with {where} failed: check --tls, --ca (the server's CA) "
                    f"and, for mTLS, --cert/--key")
        if unreachable(error):
            return (f"is the server running at {where}? Start it with `tuneforge serve`, "
                    f"or point --target (env TUNEFORGE_TARGET) at it")
        if error.reason in ("", "UNAVAILABLE"):  # a reason of the server's own says more than a guess
            return "the service is busy or restarting; try again in a moment"
        return ""
    if code == "UNAUTHENTICATED":
        return "pass the server's token with --token (env TUNEFORGE_TOKEN)"
    if code == "PERMISSION_DENIED":
        return "this token may not do that; ask the operator for one that can"
    if code == "DEADLINE_EXCEEDED":
        return "the call took longer than --timeout; raise it (seconds) or check the server's load"
    if code == "UNIMPLEMENTED":
        return "the server does not offer this call: it is older than this client, or the service is not hosted there"
    return ""


def fail(error: TuneforgeClientError, args: argparse.Namespace | None = None) -> int:
    """Print a failed call (as a JSON object on stderr with --json) and return its class's exit code."""
    code = exit_code(error)
    hint = hint_for(error, getattr(args, "target", "") or "")
    if getattr(args, "json", False):
        print(json.dumps({"error": {
            "code": error.code.name, "exit_code": code, "reason": error.reason or error.code.name,
            "message": error.message, "hint": hint,
            "field_violations": [{"field": v.field, "description": v.description} for v in error.field_violations],
        }}, ensure_ascii=False), file=sys.stderr)
        return code
    text = str(error)
    print(f"error: {text}", file=sys.stderr)
    for violation in error.field_violations:
        if violation.description not in text:  # said once: not again as a violation
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return code


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def job_line(job: Any) -> str:
    from tuneforge.common.v1 import common_pb2

    state = common_pb2.Job.State.Name(job.state).removeprefix("STATE_")
    parts = [job.id, job.kind, state]
    if job.progress.total:
        parts.append(f"{job.progress.step}/{job.progress.total} ({job.progress.percent:.0f}%)")
    if job.progress.phase:
        parts.append(job.progress.phase)
    if job.error_reason or job.error_message:
        parts.append(f"{job.error_reason}: {job.error_message}".strip(": "))
    return "  ".join(parts)


def print_log_lines(lines: Any, as_json: bool) -> int:
    """Print a StreamJobLogs stream: JSON lines with --json, else `time [level] message`."""
    for line in lines:
        if as_json:
            print(json.dumps(to_dict(line), ensure_ascii=False), flush=True)
        else:
            stamp = line.time.ToDatetime().strftime("%H:%M:%S ") if line.time.seconds else ""
            print(f"{stamp}[{line.level}] {line.message}", flush=True)
    return 0


_WORKER_ERROR = re.compile(r"^[A-Z][A-Z0-9_]+: ")


def follow_job(client: Client, job_id: str, as_json: bool = False) -> int:
    """Print a live progress line until the job ends; exit status 0 only on SUCCEEDED."""
    from tuneforge.common.v1 import common_pb2

    interactive = sys.stderr.isatty() and not as_json
    latest = ""  # the last loss / lr, shown on the live progress line
    for event in client.watch_job(job_id, include_logs=not interactive):
        kind = event.WhichOneof("kind")
        if as_json:
            print(json.dumps(to_dict(event), ensure_ascii=False), flush=True)
            continue
        if kind == "progress":
            p = event.progress
            eta = f" ETA {p.eta.seconds // 60}m{p.eta.seconds % 60:02d}s" if p.HasField("eta") and p.eta.seconds else ""
            bar = _bar(p.percent)
            speed = f" {p.tokens_per_second:,.0f} tok/s" if p.HasField("tokens_per_second") else ""
            line = f"{p.phase:<12} {bar} {p.percent:5.1f}% {p.step}/{p.total}{eta}{speed}{latest} {p.message}"
            print(("\r" + line[:120].ljust(120)) if interactive else line, end="" if interactive else "\n", file=sys.stderr, flush=True)
        elif kind == "metrics":
            m = event.metrics
            bits = [f"step {m.step}"]
            for name in ("loss", "eval_loss", "learning_rate", "tokens_per_second"):
                if m.HasField(name):
                    bits.append(f"{name} {getattr(m, name):.4g}")
            bits += [f"{k} {m.extra[k]:.4g}" for k in sorted(m.extra) if k == "reward" or k.startswith("reward/")]  # GRPO
            short = {"loss": "loss", "eval_loss": "eval", "learning_rate": "lr"}
            latest = "".join(f" {label} {getattr(m, name):.3g}" for name, label in short.items() if m.HasField(name)) or latest
            if not interactive:
                print("  ".join(bits), file=sys.stderr, flush=True)
        elif kind == "log":
            if event.log.level == "error" and _WORKER_ERROR.match(event.log.message):
                continue  # the worker's error event: the final job line carries it, once
            print(f"[{event.log.level}] {event.log.message}", file=sys.stderr, flush=True)
        elif kind == "job":
            print(("\n" if interactive else "") + job_line(event.job), file=sys.stderr, flush=True)
    job = client.wait_job(job_id)
    return 0 if job.state == common_pb2.Job.STATE_SUCCEEDED else 1


def _bar(percent: float, width: int = 24) -> str:
    filled = int(width * max(0.0, min(percent, 100.0)) / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"
