"""structlog JSON logs: one line per RPC and per job transition, on stderr.

A logged value is capped (:func:`cap_values`): an error that quotes a 7 MiB request field,
or a traceback through it, writes a few KiB with a "…(N bytes more)" marker, never a line
that log shippers drop or that fills the disk.

Logging never raises into the code that logs: a line that cannot be written (stderr
redirected to a file on a full disk, a closed pipe) is dropped. A log call that raised in
the middle of ending a job once left its GPU lock held and the queue blocked.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
MAX_VALUE_CHARS = 4096  # one logged value (a message, an error, a path list)
MAX_TRACEBACK_CHARS = 8192  # a formatted exception: its last lines are the ones that matter


def _cap(text: str, limit: int, keep_tail: bool = False) -> str:
    if len(text) <= limit:
        return text
    cut = text[:-limit] if keep_tail else text[limit:]
    more = f"…({len(cut.encode('utf-8', 'replace'))} bytes more)"
    return more + text[-limit:] if keep_tail else text[:limit] + more


def cap_values(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Cut every string value (and any list or dict, rendered) to a bounded length."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = _cap(value, MAX_TRACEBACK_CHARS, keep_tail=True) if key == "exception" else _cap(value, MAX_VALUE_CHARS)
        elif isinstance(value, (list, tuple, dict, set)):
            text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, set) else str(sorted(map(str, value)))
            if len(text) > MAX_VALUE_CHARS:
                event_dict[key] = _cap(text, MAX_VALUE_CHARS)
    return event_dict


class DroppingWriter:
    """A stream for the logs whose writes never raise: a line it cannot write is counted in
    ``dropped`` and lost."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.dropped = 0

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (OSError, ValueError):  # ENOSPC, EPIPE, a closed file
            self.dropped += 1
            return 0

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            self.dropped += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    numeric = _LEVELS.get(level, logging.INFO)
    out = DroppingWriter(stream or sys.stderr)
    logging.basicConfig(stream=out, level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            cap_values,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
