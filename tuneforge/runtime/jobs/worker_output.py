"""Reading what a worker writes: complete new lines of its stdout/stderr files, and the
JSON-line events among them (the protocol is in ``tuneforge.runtime.worker_events``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Seen:
    """What a worker has reported so far that decides how its job ends."""

    result: bool = False
    error: dict[str, Any] | None = None


class Tail:
    """Reads complete new lines of a growing file from a byte offset."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset

    def read_lines(self) -> list[tuple[str, int]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(8 * 1024 * 1024)
        except FileNotFoundError:
            return []
        lines = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            raw = data[start:nl]
            start = nl + 1
            for piece in raw.replace(b"\r", b"\n").split(b"\n"):
                text = piece.decode("utf-8", errors="replace").rstrip()
                if text:
                    lines.append((text, self.offset + start))
        self.offset += start
        return lines


def parse_worker_line(line: str) -> tuple[str, dict[str, Any]]:
    """(event type, data) of one stdout line; anything not an event is a log line."""
    if line.startswith("{"):
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            raw = None
        if isinstance(raw, dict) and isinstance(raw.get("event"), str):
            kind = raw.pop("event")
            raw.pop("time", None)
            if kind == "log":
                return "log", {"level": str(raw.get("level", "info")), "message": str(raw.get("message", "")), "source": "worker"}
            if kind in {"progress", "metrics", "checkpoint", "result", "error"}:
                return kind, raw
    return "log", {"level": "info", "message": line, "source": "worker"}


def with_percent(progress: dict[str, Any]) -> dict[str, Any]:
    out = dict(progress)
    step, total = out.get("step"), out.get("total")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        out["percent"] = round(100.0 * min(step, total) / total, 2)
    return out
