"""structlog JSON logs: one line per RPC and per job transition, on stderr.

Logging never raises into the code that logs: a line that cannot be written (stderr
redirected to a file on a full disk, a closed pipe) is dropped. A log call that raised in
the middle of ending a job once left its GPU lock held and the queue blocked.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


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
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
