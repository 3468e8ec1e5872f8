"""The worker side of the job protocol: JSON-line events on stdout, graceful stop on SIGTERM.

A worker is an ordinary command (``python -m tuneforge.services.<svc>.<worker> --spec
SPEC.json`` or the same under ``accelerate launch``). It reads its parameters from the spec
file and reports on **stdout**, one JSON object per line, with an ``event`` key:

``{"event": "log", "level": "info", "message": "..."}``
``{"event": "progress", "phase": "training", "step": 3, "total": 50, "epoch": 0.2,
  "eta_seconds": 12.5, "message": "..."}`` (every field but ``event`` optional)
``{"event": "metrics", "step": 3, "epoch": 0.2, "loss": 1.9, "eval_loss": 2.0,
  "learning_rate": 2e-4, "tokens_per_second": 5000.0, ...}`` (any numeric subset)
``{"event": "checkpoint", "step": 3, "path": "/abs/path/checkpoint-3"}``
``{"event": "result", "data": {...}}`` (what the job produced; the last one wins)
``{"event": "error", "reason": "UPPER_SNAKE", "message": "..."}`` (before a non-zero exit)

Anything else a worker prints (stderr, non-JSON stdout) is kept as a log line.

Exit status: 0 with a ``result`` → SUCCEEDED, or CANCELLED when a stop was requested; 0
without a result → FAILED (``NO_RESULT``); non-zero → FAILED with the reason of the last
``error`` event (or the exit code / signal). A stop is SIGTERM: the worker notices
:func:`stop_requested`, saves what it must (a checkpoint), reports it, reports a result with
``"stopped": true`` and exits 0; the service kills it if it takes longer than the configured
stop timeout. A SIGTERM that did not come through the API (``docker stop``, ``kubectl delete
pod``, systemd signalling the service and the worker together) is told apart by that
``stopped`` result: the job ends CANCELLED (``STOPPED_BY_SIGNAL``) with its checkpoint,
resumable, never SUCCEEDED with half its work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tuneforge.runtime.errors import invalid_argument

_stop = threading.Event()


def offline_hub() -> None:
    """Never reach the Hugging Face hub from a worker: the service sets these in a worker's
    environment; a worker started by hand gets them here."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def require(spec: dict[str, Any], *keys: str) -> None:
    """INVALID_ARGUMENT naming the first of ``keys`` the worker spec lacks (or leaves empty)."""
    for key in keys:
        if not spec.get(key):
            raise invalid_argument(key, "required in the worker spec")
_write_lock = threading.Lock()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit(event: str, **fields: Any) -> None:
    """Write one event line to stdout and flush it (thread-safe)."""
    payload = {"event": event, "time": time.time(), **_clean(fields)}
    line = json.dumps(payload, ensure_ascii=False, default=str)
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(message: str, level: str = "info") -> None:
    emit("log", level=level, message=message)


def progress(**fields: Any) -> None:
    emit("progress", **fields)


def metrics(**fields: Any) -> None:
    emit("metrics", **fields)


def checkpoint(step: int, path: Path | str) -> None:
    emit("checkpoint", step=int(step), path=str(path))


def result(data: dict[str, Any]) -> None:
    emit("result", data=data)


def error(reason: str, message: str) -> None:
    emit("error", reason=reason, message=message)


def install_stop_handler() -> None:
    """Turn SIGTERM (and SIGINT) into :func:`stop_requested` instead of dying."""

    def _handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        _stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def stop_requested() -> bool:
    return _stop.is_set()


def request_stop() -> None:
    """For in-process tests and for workers that decide to stop by themselves."""
    _stop.set()


def read_spec(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``--spec PATH`` and return the JSON object in it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True, help="path of the job's spec JSON file")
    args, _unknown = parser.parse_known_args(argv)
    with open(args.spec, encoding="utf-8") as fh:
        spec = json.load(fh)
    if not isinstance(spec, dict):
        raise SystemExit("spec must be a JSON object")
    return spec


def run_main(main: Any, argv: list[str] | None = None) -> None:
    """Standard worker entry: install the stop handler, read the spec, run ``main(spec)``.

    A :class:`tuneforge.runtime.errors.TuneforgeError` or any other exception becomes an
    ``error`` event and exit status 1, so the job fails with a readable reason; a full disk
    is reported as ``DISK_FULL`` with the path and the free space.
    """
    from tuneforge.runtime.errors import TuneforgeError
    from tuneforge.runtime.storage import DISK_FULL, disk_full_message, is_disk_full

    install_stop_handler()
    spec: dict[str, Any] = {}
    try:
        spec = read_spec(argv)
        main(spec)
    except TuneforgeError as exc:
        error(exc.reason, str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - report every failure to the service
        import traceback

        if is_disk_full(exc):
            # the job's directory is on the data root; "." (the worker's cwd) only for a hand-run worker
            where = spec.get("job_dir") or spec.get("data_root") or os.environ.get("TUNEFORGE_HOME") or "."
            error(DISK_FULL, disk_full_message(exc, where))
            sys.exit(1)

        for line in traceback.format_exc().splitlines():
            log(line, level="error")
        error("WORKER_ERROR", f"{type(exc).__name__}: {exc}")
        sys.exit(1)
